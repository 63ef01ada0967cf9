"""The one optimisation loop every trainer shares: draw a batch, compute a loss, step, repeat.

Why one loop: the baseline, the retraining arms, aihwkit's HWA training and pruning fine-tunes
differ only in how they draw batches, which loss they take, what wraps the forward/backward
(emulated chip errors) and what follows a step (pruned weights back to zero).
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, ContextManager

import torch
import torch.nn as nn
from tqdm import tqdm


def optimise(model: nn.Module, opt: torch.optim.Optimizer, steps: int, draw: Callable[[int], Any],
             loss_of: Callable[[Any], torch.Tensor], *, before: Callable[[int], None] | None = None,
             around: Callable[[int], ContextManager[Any]] | None = None,
             after: Callable[[int], None] | None = None, stop: Callable[[int], bool] | None = None,
             progress: bool = False, desc: str = "train") -> list[float]:
    """``steps`` optimiser steps; returns each step's loss.

    Per step: ``before(step)``; train mode; ``batch = draw(step)``; inside ``around(step)`` the
    loss and its gradient; the optimiser step (outside ``around``: gradients from perturbed
    weights update the clean ones); ``after(step)``; then ``stop(step)`` may end the loop early.
    """
    history: list[float] = []
    with tqdm(range(steps), desc=desc, disable=not progress, unit="step") as bar:
        for step in bar:
            if before is not None:
                before(step)
            model.train()
            batch = draw(step)
            with around(step) if around is not None else contextlib.nullcontext():
                loss = loss_of(batch)
                opt.zero_grad(set_to_none=True)
                loss.backward()
            opt.step()
            if after is not None:
                after(step)
            history.append(float(loss.detach()))
            bar.set_postfix(loss=f"{history[-1]:.3f}")
            if stop is not None and stop(step):
                break
    return history
