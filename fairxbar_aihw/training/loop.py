"""Baseline training: Adam, best-on-val checkpoint with metadata, resumable after a kill.

A partial checkpoint (model, optimiser, epoch, best so far, RNG) is written atomically after
every epoch; a rerun with the same config and data resumes from it. The final checkpoint
records the config hash, the dataset fingerprint and the val/test metrics by group.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from ..data.splits import Splits, to_float
from ..errors import UserError
from ..store import config_hash
from ..torchfiles import atomic_torch_save, load_torch_file
from .augment import get_augment
from .config import TrainConfig
from .evaluation import evaluate
from .steps import optimise


def checkpoint_key(model_name: str, cfg: TrainConfig, fingerprint: str, init: dict[str, Any] | None = None) -> str:
    """Everything the trained model depends on: architecture, recipe, data, and its starting
    weights (``init``: e.g. the digest of a pretrained weights file)."""
    return config_hash({"model": model_name, "train": cfg.model_dump(), "data": fingerprint, **({"init": init} if init else {})})


def file_digest(path: str | Path) -> str:
    """sha256 of a file's content (a changed weights file retrains even under the same name)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A training checkpoint (tensors and plain data only: a crafted file is refused unread)."""
    ckpt = load_torch_file(path, "training checkpoint")
    if not isinstance(ckpt, dict):
        raise UserError(f"training checkpoint {path} is not a fairxbar-aihw checkpoint; delete it to retrain")
    return ckpt


def train(
    model: nn.Module,
    model_name: str,
    splits: Splits,
    cfg: TrainConfig,
    out: Path,
    device: str = "cpu",
    progress: bool = True,
    init: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train to ``out`` (best-on-val macro-F1) and return the checkpoint dict; resumes if possible.
    ``init`` names the starting weights (see ``checkpoint_key``).

    A resumed run equals an uninterrupted one bit for bit: the partial checkpoint carries the
    global RNG state too, evaluation leaves the model's memory layout alone, and the returned
    model is in the default (NCHW) layout either way.
    """
    key = checkpoint_key(model_name, cfg, splits.fingerprint(), init)
    if out.is_file():
        ckpt = load_checkpoint(out)
        if ckpt.get("key") == key:
            model.load_state_dict(ckpt["state_dict"])
            return ckpt
    partial = out.with_suffix(".partial.pt")
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start_epoch, best = 0, {"f1": -1.0, "state": None, "epoch": -1}
    history: list[dict[str, float]] = []
    seconds_before = 0.0
    if partial.is_file():
        state = load_checkpoint(partial)
        if state.get("key") == key:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            gen.set_state(state["gen"])
            torch.set_rng_state(state["torch_rng"])
            start_epoch, best, history = state["epoch"] + 1, state["best"], state["history"]
            seconds_before = float(state.get("seconds", 0.0))
    augment = get_augment(cfg.augment)
    t0 = time.time()
    with tqdm(range(start_epoch, cfg.epochs), desc=f"train {model_name}", disable=not progress,
              initial=start_epoch, total=cfg.epochs, unit="epoch") as bar:
        for epoch in bar:
            history, best = _epoch(model, opt, splits, cfg, augment, gen, epoch, device, history, best, bar)
            atomic_torch_save({"key": key, "model": model.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                               "torch_rng": torch.get_rng_state(), "epoch": epoch, "best": best,
                               "history": history, "seconds": seconds_before + time.time() - t0}, partial)
    model.load_state_dict(best["state"])
    ckpt = {
        "key": key,
        "model_name": model_name,
        "num_classes": splits.num_classes,
        "image_size": splits.image_size,
        "train": cfg.model_dump(),
        "data_fingerprint": splits.fingerprint(),
        "best_epoch": best["epoch"],
        "history": history,
        "seconds": seconds_before + time.time() - t0,
        "val": evaluate(model, splits.val, device, splits.num_classes),
        "test": evaluate(model, splits.test, device, splits.num_classes),
        "state_dict": best["state"],
    }
    atomic_torch_save(ckpt, out)
    partial.unlink(missing_ok=True)
    return ckpt


def _epoch(model: nn.Module, opt: torch.optim.Optimizer, splits: Splits, cfg: TrainConfig, augment: Any,
           gen: torch.Generator, epoch: int, device: str, history: list[dict[str, float]], best: dict[str, Any],
           bar: Any) -> tuple[list[dict[str, float]], dict[str, Any]]:
    """One epoch, then validation; returns the history with this epoch and the best state so far."""
    train_split = splits.train
    n = len(train_split)
    model.train()
    perm = torch.randperm(n, generator=gen)
    batches = [perm[i : i + cfg.batch_size] for i in range(0, n, cfg.batch_size)]

    def draw(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = batches[step]
        return to_float(augment(train_split.images[idx], gen)).to(device), train_split.labels[idx].to(device)

    losses = optimise(model, opt, len(batches), draw, lambda batch: F.cross_entropy(model(batch[0]), batch[1]))
    total = sum(loss * len(idx) for loss, idx in zip(losses, batches))
    val = evaluate(model, splits.val, device, splits.num_classes)
    history = history + [{"epoch": epoch, "loss": total / n, "val_f1": val["f1_macro"], "val_eodds": val["eodds"]}]
    if val["f1_macro"] > best["f1"]:
        best = {"f1": val["f1_macro"], "epoch": epoch,
                "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
    bar.set_postfix(loss=f"{total / n:.3f}", val_f1=f"{val['f1_macro']:.3f}", eodds=f"{val['eodds']:.3f}")
    return history, best
