"""`fairxbar-aihw seeds`: replicate a study over seeds; the cross-seed report's numbers come from
each seed's own database rows."""
import json
import math
import sqlite3

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from test_study import TINY, _cli

SEEDS_STUDY = {**TINY, "sweep": {**TINY["sweep"], "trials": 3}}


def _rows(db, kind):
    with sqlite3.connect(db) as conn:
        df = pd.read_sql_query("SELECT cell, trial, data_json FROM trials", conn)
    data = pd.DataFrame([json.loads(s) for s in df.data_json])
    return pd.concat([df[["cell", "trial"]], data], axis=1).query("kind == @kind")


def test_seeds_report_matches_each_seed_run(tmp_path):
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "tiny.yaml").write_text(yaml.safe_dump(SEEDS_STUDY))
    out = _cli(tmp_path, "seeds", "tiny", "--seeds", "0,1,2", "--no-progress")
    assert out.stdout.strip().endswith("tiny-seeds/README.md")
    runs = tmp_path / "runs"
    assert sorted(p.name for p in runs.iterdir()) == ["tiny", "tiny-seed1", "tiny-seed2"]  # seed 0 is the study's
    dbs = {0: runs / "tiny" / "results.sqlite", 1: runs / "tiny-seed1" / "results.sqlite",
           2: runs / "tiny-seed2" / "results.sqlite"}
    base = {s: _rows(db, "baseline").iloc[0] for s, db in dbs.items()}
    assert len({round(b["f1_macro"], 6) for b in base.values()}) > 1  # the seeds are real replicates
    text = (tmp_path / "reports" / "tiny-seeds" / "README.md").read_text()
    assert "across 3 training seeds" in text and "SYNTHETIC" in text
    for s in dbs:
        assert f"| {s} | {base[s]['f1_macro']:.3f} | {base[s]['eodds']:.3f} |" in text
    # across-seed interval: a t-interval over the three seeds' paired mean differences, checked with scipy
    table = pd.read_csv(tmp_path / "reports" / "tiny-seeds" / "seed_comparisons.csv")
    part = table[table.comparison == "F+A R vs FR"]
    assert len(part) == 3  # F+A R targets weights in every seed at x = 50%
    per_seed = []
    for s, db in dbs.items():
        sweep = _rows(db, "sweep")
        a = sweep[sweep.method == "F+A R"].set_index("trial")["eodds"]
        b = sweep[sweep.method == "FR"].set_index("trial")["eodds"]
        per_seed.append(float((a - b).mean()))
    np.testing.assert_allclose(sorted(part.d_eodds), sorted(per_seed), rtol=1e-6)
    half = stats.t.ppf(0.975, 2) * np.std(per_seed, ddof=1) / math.sqrt(3)
    assert f"{np.mean(per_seed):+.3f} ± {half:.3f}" in text
    # bad input: one line, exit 2
    bad = _cli(tmp_path, "seeds", "tiny", "--seeds", "0,x", check=False)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--seeds" in bad.stderr
