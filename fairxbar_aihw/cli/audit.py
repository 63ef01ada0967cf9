"""The ``audit`` command: your trained model and labelled data on analog chips."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import UserError
from ..threads import use_threads
from .options import TABLE_OPTIONS, table_params, with_options


@click.command()
@click.argument("name")
@click.option("--model", "model_file", default=None, help="Your trained model as an ONNX file (data: rebuilt from "
              "vetted operators, no code runs). A .pt2 or TorchScript file is code: it needs --trust-code.")
@click.option("--trust-code", is_flag=True, help="Load a .pt2 or TorchScript --model, running the file's code "
              "(only for files you trust, like --entry); ONNX never needs it.")
@click.option("--weights", default=None, help="Weights for --arch: a .safetensors file or a state dict (loaded "
              "weights_only); data, no code runs.")
@click.option("--arch", default=None, help="Architecture of --weights: small-cnn, resnet18, vgg11, vgg11_bn or a "
              "torchvision classification model name.")
@click.option("--entry", default=None, help="Trusted Python module:function returning your nn.Module (runs code).")
@click.option("--dataset", default="csv", show_default=True, help="csv, folder, or a built-in dataset.")
@click.option("--data-root", required=True, help="Dataset root folder (paths in the CSV are relative to it).")
@with_options(TABLE_OPTIONS)
@click.option("--groups", "group_reading", type=click.Choice(["two", "all"]), default="two", show_default=True,
              help="two: the paper's privileged/unprivileged pair; all: every value of the group column(s) (or ITA "
              "band), with per-group chips and yield, claims on the worst-pair gap.")
@click.option("--min-group-size", type=click.IntRange(min=1), default=None, help="With --groups all: the test "
              "images every group value needs [30].")
@click.option("--size", type=click.IntRange(8, 512), default=32, show_default=True,
              help="Image side the model expects (pixels).")
@click.option("--preset", "presets", multiple=True, help="Technology to audit (repeat for several) "
              "[paper-variation, pcm-ibm].")
@click.option("--chips", type=click.IntRange(min=2), default=10, show_default=True, help="Chips per technology.")
@click.option("--target", type=click.FloatRange(0, 1, min_open=True), default=0.4, show_default=True,
              help="F+A R target fraction x.")
@click.option("--no-drift", is_flag=True, help="Skip the drift-over-time section.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Split and chip seed.")
@click.option("--fresh", is_flag=True, help="Delete this audit's cached results first.")
@click.option("--no-progress", "--quiet", "no_progress", is_flag=True, help="Hide progress bars.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for torch.")
def audit(name: str, model_file: str | None, trust_code: bool, weights: str | None, arch: str | None,
          entry: str | None, dataset: str, data_root: str, group_reading: str, min_group_size: int | None, size: int,
          presets: tuple[str, ...], chips: int, target: float, no_drift: bool, seed: int, fresh: bool,
          no_progress: bool, threads: int | None, **kw: Any) -> None:
    """Audit your trained model on analog chips: per group on each technology, over drift time,
    per layer, and whether F+A R targeting helps (report in docs/reports/NAME/)."""
    from ..app import run_audit
    from ..study.audit import Audit, audit_config

    given = [k for k, v in (("--model", model_file), ("--weights", weights), ("--entry", entry)) if v]
    if len(given) != 1:
        raise UserError("audit needs exactly one of --model (an ONNX file), --weights (with --arch) or --entry; "
                        "got "
                        + (" and ".join(given) or "none"))
    if weights and not arch:
        raise UserError("--weights needs --arch: the architecture the state dict belongs to")
    if trust_code and not model_file:
        raise UserError("--trust-code applies to a --model file only (.pt2 or TorchScript)")
    model = {"name": arch or "given", "file": model_file, "weights": weights, "entry": entry,
             "trust_code": trust_code or None}
    if min_group_size is not None and group_reading != "all":
        raise UserError("--min-group-size applies with --groups all")
    reading = {"groups": "all", "min_group_size": min_group_size} if group_reading == "all" else {}
    ds = {"name": dataset, "root": str(Path(data_root).expanduser().resolve()), "size": size, **table_params(kw),
          **{k: v for k, v in reading.items() if v is not None}}
    cfg = audit_config(name, {k: v for k, v in model.items() if v is not None}, ds,
                       list(presets) or ["paper-variation", "pcm-ibm"], chips, seed, target, not no_drift)
    use_threads(threads)
    audited = Audit(cfg, progress=not no_progress, fresh=fresh)
    click.echo(f"report: {run_audit(audited)}")
    skipped = audited.only.splits.info.get("skipped")
    if skipped:
        from ..data.skips import describe_skips

        click.echo(describe_skips(skipped))


COMMANDS = [audit]
