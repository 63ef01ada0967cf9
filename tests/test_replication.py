"""Replication on fresh seeds (``report NAME --replicate OTHER``): every outcome of a label, the
rate and the acceptance bar on constructed tables with a known answer, the README's link, and the
command end to end on a tiny 2 + 2-seed study with its one-line errors."""
import json
import math
import shutil

import pandas as pd
import pytest
import yaml

from fairxbar_aihw.report import replication as rep
from test_safety import _one_line_error
from test_study import TINY, _cli

H, N, E, U, S = "holds", "does not hold", "equivalent", "undetermined", "suggestive"
TRADE = "trade-off (fairer, less accurate)"


@pytest.mark.parametrize("column,first,second,expected", [
    ("verdict", H, H, rep.REPLICATED),
    ("verdict", N, N, rep.REPLICATED),
    ("verdict", TRADE, TRADE, rep.REPLICATED),
    ("verdict", H, N, rep.CONTRADICTED),
    ("verdict", E, H, rep.CONTRADICTED),
    ("verdict", TRADE, H, rep.CONTRADICTED),
    ("verdict", H, U, rep.NOW_OPEN),
    ("verdict", E, S, rep.NOW_OPEN),  # suggestive is no decision
    ("verdict", N, "", rep.NOW_OPEN),
    ("verdict", U, H, rep.NEWLY),
    ("verdict", S, N, rep.NEWLY),
    ("verdict", float("nan"), E, rep.NEWLY),
    ("verdict", U, S, rep.OPEN),
    ("verdict", S, S, rep.OPEN),
    ("vs_paper", "reproduced", "reproduced", rep.REPLICATED),
    ("vs_paper", "ruled out", "ruled out", rep.REPLICATED),
    ("vs_paper", "reproduced", "ruled out", rep.CONTRADICTED),
    ("vs_paper", "ruled out", U, rep.NOW_OPEN),
    ("vs_paper", U, "reproduced", rep.NEWLY),
    ("vs_paper", U, U, rep.OPEN),
])
def test_each_outcome_of_a_label(column, first, second, expected):
    assert rep.outcome(column, first, second) == expected


def _table(rows, scope=True):
    """A claims table from (claim, preset, scope, verdict, vs_paper) rows."""
    out = pd.DataFrame([{"claim": c, "reading": "F+A R", "comparison": f"{c} pair", "preset": p, "scope": s,
                         "verdict": v, "vs_paper": vp} for c, p, s, v, vp in rows])
    return out if scope else out.drop(columns="scope")


def test_rows_are_matched_on_their_key_missing_rows_are_listed_and_scope_defaults_to_average():
    first = _table([("a", "pcm", "average", H, ""), ("e", "pcm", "average", H, "reproduced"),
                    ("e", "pcm", "best", H, "reproduced"), ("b", "rram", "average", S, "")])
    second = _table([("e", "pcm", "average", H, U), ("b", "rram", "average", H, ""),
                     ("d", "pcm", "average", N, "")], scope=False)  # an older claims.csv: average rows only
    table = rep.replication_table(first, second)
    by = {(r.claim, r.scope): r for r in table.itertuples()}
    assert list(by) == [("a", "average"), ("e", "average"), ("e", "best"), ("b", "average"), ("d", "average")]
    assert (by["e", "average"].verdict_outcome, by["e", "average"].vs_paper_outcome) == (rep.REPLICATED, rep.NOW_OPEN)
    assert by["b", "average"].verdict_outcome == rep.NEWLY  # suggestive in run 1 was no decision
    assert by["b", "average"].vs_paper_outcome == ""  # no paper magnitude: skipped
    for key, where in ((("a", "average"), "run 2"), (("e", "best"), "run 2"), (("d", "average"), "run 1")):
        assert by[key].verdict_outcome == rep.MISSING and by[key].missing_in == where
    assert by["a", "average"].vs_paper_outcome == "" and by["e", "best"].vs_paper_outcome == rep.MISSING
    t = rep.tally(table)
    # run 1 decided: a, e avg, e best (verdicts) + e avg, e best (vs paper) = 5; a, e best ×2 are missing
    assert (t.decided, t.replicated, t.now_open, t.missing, t.newly, t.contradicted) == (5, 1, 1, 3, 1, 0)
    lines = "\n".join(rep.markdown_lines(table, "seeds [0]", "seeds [1]"))
    assert "- (a) FR errors lower EOdds a pair, pcm, average (F+A R): missing in run 2." in lines
    assert "(d) targeted beats random d pair, pcm, average (F+A R): missing in run 1." in lines


def _pair(replicated, contradicted=0, now_open=0, papers=(0, 0), newly=0, open_=0):
    """Two claims tables with known counts: verdict rows ``replicated`` holds/holds, ``contradicted``
    holds/does not hold, ``now_open`` holds/undetermined, ``newly`` undetermined/holds, ``open_``
    undetermined in both; ``papers`` = (reproduced in both, reproduced then missing)."""
    first, second = [], []
    plan = ([(H, H)] * replicated + [(H, N)] * contradicted + [(H, U)] * now_open + [(U, H)] * newly
            + [(U, S)] * open_)
    for i, (a, b) in enumerate(plan):
        first.append((f"v{i}", "pcm", "average", a, ""))
        second.append((f"v{i}", "pcm", "average", b, ""))
    for i in range(papers[0]):
        first.append((f"p{i}", "pcm", "best", U, "reproduced"))
        second.append((f"p{i}", "pcm", "best", U, "reproduced"))
    first += [(f"q{i}", "pcm", "best", U, "ruled out") for i in range(papers[1])]
    return rep.replication_table(_table(first), _table(second))


def test_the_rate_and_the_bar_on_a_constructed_pair():
    table = _pair(8, contradicted=1, now_open=1, papers=(2, 1), newly=2, open_=1)
    t, v, p = rep.tally(table), rep.tally(table, ["verdict"]), rep.tally(table, ["vs_paper"])
    assert (v.decided, v.replicated, p.decided, p.replicated) == (10, 8, 3, 2)
    assert (t.decided, t.replicated, t.contradicted, t.now_open, t.missing, t.newly) == (13, 10, 1, 1, 1, 2)
    assert math.isclose(t.rate, 10 / 13) and t.meets_bar is False
    line = rep.summary_line(table)
    assert line == ("Replication: 10 of 13 decided labels replicated (76.9%; verdicts 8 of 10, vs paper 2 of 3); "
                    "1 contradicted, 1 now undetermined, 1 missing in run 2; 2 newly decided; acceptance bar "
                    "(≥ 90% replicated, none contradicted): not met.")
    assert rep.tally(_pair(9, now_open=1)).meets_bar is True  # exactly 90%
    assert rep.tally(_pair(19, contradicted=1)).meets_bar is False  # 95%, but one contradicted
    assert rep.tally(_pair(8, now_open=1)).meets_bar is False  # 89%
    assert "(90%;" in rep.summary_line(_pair(9, now_open=1)) and "(100%;" in rep.summary_line(_pair(3))
    assert "(99.9%;" in rep.summary_line(_pair(999, now_open=1))  # 99.9%, never rounded up
    empty = _pair(0, newly=2)
    assert rep.tally(empty).meets_bar is None and "not assessable" in rep.summary_line(empty)
    assert "| (v0) | F+A R | v0 pair | pcm | average | holds | holds | replicated |" in "\n".join(
        rep.markdown_lines(table, "a", "b"))


def test_a_cell_cannot_break_the_markdown_table():
    table = rep.replication_table(_table([("a", "my|preset\nx", "average", H, "")]), _table([]))
    row = next(line for line in rep.markdown_lines(table, "a", "b") if line.startswith("| (a)"))
    assert "my\\|preset x" in row and row.count(" | ") == 10


def test_the_readme_links_a_replication_only_while_it_matches_the_report(tmp_path):
    claims = _table([("a", "pcm", "average", H, ""), ("e", "pcm", "average", U, "ruled out")])
    claims.to_csv(tmp_path / "claims.csv", index=False)
    assert rep.readme_lines(tmp_path, [0, 1]) == []
    table = rep.replication_table(claims, claims)
    rep.write_replication(tmp_path, table, rep.markdown_lines(table, "a", "b"), [0, 1], [2, 3])
    fresh = rep.readme_lines(tmp_path, [0, 1])[0]
    assert fresh.startswith("**Replication: 2 of 2 decided labels replicated") and "seeds 2,3" in fresh
    assert "(replication.md)" in fresh
    assert "earlier version" in rep.readme_lines(tmp_path, [0, 2])[0]  # the report now has other seeds
    claims.assign(verdict=[N, U]).to_csv(tmp_path / "claims.csv", index=False)
    assert "earlier version" in rep.readme_lines(tmp_path, [0, 1])[0]  # ... or other verdicts


REPLICATION_STUDY = {**TINY, "seeds": [0, 1],
                     "dataset": {**TINY["dataset"], "params": {"n": 160, "num_classes": 3}},
                     "saliency": {**TINY["saliency"], "samples_per_group": 16},
                     "sweep": {**TINY["sweep"], "methods": ["FR", "F+A R"], "trials": 2},
                     "drift": {"times": []}, "retrain": {"arms": []}, "prune": {"kinds": []}}


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    """Seeds 0–3 of a tiny study in one run folder (the file's seeds: 0 and 1), and a copy of the
    report of seeds 2 and 3 as another run's report folder."""
    home = tmp_path_factory.mktemp("replication")
    (home / "studies").mkdir()
    (home / "studies" / "tiny.yaml").write_text(yaml.safe_dump(REPLICATION_STUDY))
    _cli(home, "study", "tiny", "--seeds", "0,1,2,3", "--no-progress")
    _cli(home, "report", "tiny", "--seeds", "2,3")
    shutil.copytree(home / "reports" / "tiny", home / "elsewhere" / "tiny")
    return home


def _run_folder(home):
    """Every file of the run folder with its size and time (not the lock, nor SQLite's shared-memory
    index, which a reader updates)."""
    folder = home / "runs" / "tiny"
    return sorted((p.relative_to(folder).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in folder.rglob("*") if p.is_file() and p.name != ".lock" and not p.name.endswith("-shm"))


def test_report_replicate_fresh_seeds_end_to_end(computed):
    before = _run_folder(computed)
    out = _cli(computed, "report", "tiny", "--replicate", "2,3")
    report = computed / "reports" / "tiny"
    lines = out.stdout.strip().splitlines()
    assert lines[0] == f"report: {report / 'README.md'}" and lines[1] == f"replication: {report / rep.MD}"
    assert lines[2].startswith("Replication: ") and "acceptance bar (≥ 90% replicated, none contradicted)" in lines[2]
    assert _run_folder(computed) == before  # read-only: no chip computed, nothing in the run folder touched
    text = (report / rep.MD).read_text()
    assert "**Run 1**: this report, seeds [0, 1]. **Run 2**: seeds [2, 3] of the same study" in text
    assert "| claim | reading | A vs B | error type | scope | verdict run 1 | verdict run 2 | outcome |" in text
    assert lines[2] in text
    table = pd.read_csv(report / rep.CSV, dtype=str, keep_default_na=False)
    claims = pd.read_csv(report / "claims.csv", dtype=str, keep_default_na=False)
    assert list(table["verdict_1"]) == list(claims["verdict"]) and set(table["run_2_seeds"]) == {"2,3"}
    assert (table["missing_in"] == "").all() and len(table) == len(claims) > 0
    readme = (report / "README.md").read_text()
    assert "across 2 training seeds" in readme and f"[{rep.MD}]({rep.MD})" in readme and lines[2] in readme

    # another run's report folder of this study, read as written
    other = computed / "elsewhere" / "tiny"
    files = {p.name: p.read_bytes() for p in other.iterdir() if p.is_file()}
    out = _cli(computed, "report", "tiny", "--replicate", str(other))
    assert out.stdout.splitlines()[2].startswith("Replication: ")
    assert f"the report in `{other}`, seeds [2, 3]" in (report / rep.MD).read_text()
    assert {p.name: p.read_bytes() for p in other.iterdir() if p.is_file()} == files


def test_replicate_errors_are_one_line(computed, tmp_path):
    _one_line_error(_cli(computed, "report", "tiny", "--replicate", "1,2", check=False),
                    "the report already holds seed(s) 1 (its seeds: 0, 1)")
    line = _one_line_error(_cli(computed, "report", "tiny", "--replicate", "5,6", check=False),
                           "seed(s) 5, 6 of study 'tiny' have no results")
    assert "run `fairxbar-aihw study tiny --seeds 5,6` first" in line
    stranger = tmp_path / "stranger"
    shutil.copytree(computed / "elsewhere" / "tiny", stranger)
    (stranger / "fairxbar-report.json").write_text(json.dumps({"study": "demo"}))
    _one_line_error(_cli(computed, "report", "tiny", "--replicate", str(stranger), check=False),
                    "holds the report of study 'demo', not of 'tiny'")
    (stranger / "fairxbar-report.json").write_text(json.dumps({"study": "tiny"}))
    (stranger / "claims.csv").unlink()
    _one_line_error(_cli(computed, "report", "tiny", "--replicate", str(stranger), check=False),
                    "holds no claims.csv")


def test_expected_rate_is_the_mean_of_run_1s_own_estimates():
    import math

    import pandas as pd

    from fairxbar_aihw.report.replication import expected_rate

    first = pd.DataFrame({"replication_power": [0.5, float("nan"), 0.9], "paper_replication_power": [0.7, 1.0, None]})
    assert expected_rate(first) == pytest.approx((0.5 + 0.9 + 0.7 + 1.0) / 4)
    assert math.isnan(expected_rate(pd.DataFrame({"verdict": ["holds"]})))  # older tables: no estimate
