"""Where a result came from: software versions, CPU model and instruction set, torch build, threads.

Why: a single trained model's numbers change with the CPU and the torch build (different
kernels, different rounding), so every report says which machine produced it.
"""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from . import __version__


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what the platform module says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance_note(env: dict[str, Any], seeds: int = 1) -> str:
    """The report's line on where its numbers came from and why another machine may differ."""
    caveat = ("A single trained model's numbers change with the CPU, the torch build and the aihwkit release (other "
              "kernels, other rounding, another model)")
    caveat += (f"; this study judges its verdicts across {seeds} training seeds for that reason." if seeds > 1 else
               ": set `seeds: [0, 1, 2]` in the study (or `--seeds 0,1,2`) to see what holds across training runs.")
    if not env.get("cpu"):
        return f"> Produced by a run that did not record its machine. {caveat}"
    stack = f"torch {env.get('torch')}" + (f", aihwkit {env['aihwkit']}, Python {env.get('python')}" if env.get("aihwkit") else "")
    return (f"> Produced on {env['cpu']} ({env.get('cpu_capability')}), {stack} with "
            f"{env.get('torch_threads')} thread(s), device {env.get('device')}. {caveat}")


def environment_info(device: str) -> dict[str, Any]:
    """Versions and machine facts recorded with every run."""
    import aihwkit
    import torch

    return {"fairxbar_aihw": __version__, "torch": torch.__version__, "aihwkit": aihwkit.__version__,
            "python": platform.python_version(), "device": device, "cpu": cpu_model(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch_threads": torch.get_num_threads(),
            "torch_cuda": torch.version.cuda or "none"}
