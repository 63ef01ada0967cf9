"""Results-store write throughput: one transaction per trial (the resumable default) vs batched.

    python benchmarks/bench_store.py [--rows 2000]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved, print_ratios  # noqa: E402
from fairxbar_aihw.store import ResultsStore  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2000)
    args = ap.parse_args()
    row = {f"m{i}": 0.123456 * i for i in range(30)}
    tmp = Path(tempfile.mkdtemp())
    counter = {"n": 0}

    def per_trial() -> None:
        counter["n"] += 1
        with ResultsStore(tmp / f"a{counter['n']}.sqlite") as store:
            run = store.register_run("bench", {})
            for t in range(args.rows):
                store.write_trial(run, "cell", t, t, row)

    def batched() -> None:
        counter["n"] += 1
        with ResultsStore(tmp / f"b{counter['n']}.sqlite") as store:
            run = store.register_run("bench", {})
            store.write_trials(run, [("cell", t, t, row) for t in range(args.rows)])

    times = interleaved({"batched (one transaction)": batched, "one transaction per trial": per_trial}, 3)
    print_ratios(f"store: {args.rows} rows of 30 metrics", times, "batched (one transaction)")
    print(f"per-trial commits: {args.rows / times['one transaction per trial']:.0f} rows/s")


if __name__ == "__main__":
    main()
