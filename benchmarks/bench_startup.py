"""Start-up time of the light commands (--help, studies, presets, metrics), now vs a git ref.

Why: every command used to import torch and aihwkit; they now load on first use. Both trees
run side by side in one run (interleaved), so machine noise hits them alike.

    python benchmarks/bench_startup.py --ref 9df16ce   # 9df16ce: before lazy imports
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved, print_ratios  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def command(tree: Path, args: list[str], csv: Path) -> callable:
    argv = [sys.executable, "-m", "fairxbar_aihw.cli", *[str(csv) if a == "CSV" else a for a in args]]
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "FAIRXBAR_STUDIES": str(tree / "studies")
           if (tree / "studies").is_dir() else ""}
    env = {k: v for k, v in env.items() if v}
    return lambda: subprocess.run(argv, env=env, cwd=tree, capture_output=True, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ref", default=None, help="git ref to compare with (e.g. the commit before a change)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "p.csv"
        csv.write_text("label,pred,group\n0,0,0\n1,1,1\n0,1,0\n1,0,1\n")
        trees = {"now": REPO}
        if args.ref:
            old = Path(tmp) / "old"
            old.mkdir()
            archive = subprocess.run(["git", "archive", args.ref], cwd=REPO, capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
            trees[args.ref] = old
        print(f"python {sys.version.split()[0]}; each command in a fresh process\n")
        for cmd in (["--help"], ["studies"], ["presets"], ["metrics", "CSV"]):
            times = interleaved({name: command(tree, cmd, csv) for name, tree in trees.items()}, args.repeats)
            print_ratios(f"fairxbar-aihw {' '.join(cmd).replace('CSV', 'p.csv')}", times, "now")


if __name__ == "__main__":
    main()
