"""Writes cannot be redirected, and a folder the tool did not make is never adopted or emptied
(issue 30, cases 5 and 6): links planted in a prepared run or report folder are refused with one
line and their targets keep their bytes; report CSVs neutralise text from the user's files."""
import json
import os
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest
import torch

from fairxbar_aihw.csv_files import neutral_cell, neutralise, write_csv
from fairxbar_aihw.errors import UserError
from fairxbar_aihw.models import build
from fairxbar_aihw.safe_files import safe_mkdir, write_atomic
from fairxbar_aihw.store import ResultsStore
from fairxbar_aihw.study.runfolder import MARKER, Owner, existing_run_folder, open_run_folder, report_folder
from fairxbar_aihw.torchfiles import atomic_torch_save
from test_audit import SIZE, _dataset
from test_safety import _one_line_error
from test_study import _cli

EVIL = {"dark": "dark;touch pwned;#", "medium": "=1+2"}  # group values an attacker's labels carry
AUDIT = ("--arch", "small-cnn", "--size", str(SIZE), "--chips", "2", "--preset", "paper-variation", "--privileged",
         "light", "--no-progress")
FIX = "delete it (or choose another folder) and rerun"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A user's folder with a labels CSV whose group values are an attacker's, a state dict, and
    one finished audit ``done``."""
    home = tmp_path_factory.mktemp("safe")
    (home / "classes.txt").write_text(",".join(_dataset(home / "data")))
    labels = home / "data" / "labels.csv"
    text = labels.read_text()
    for plain, evil in EVIL.items():
        text = text.replace(f",{plain}\n", f",{evil}\n")
    labels.write_text(text)
    torch.manual_seed(0)
    torch.save(build("small-cnn", 3, SIZE).eval().state_dict(), home / "model_state.pt")
    (home / "studies").mkdir()
    _audit(home, "done")
    return home


def _audit(home: Path, name: str, *args: str, check: bool = True):
    return _cli(home, "audit", name, "--weights", str(home / "model_state.pt"), "--data-root", str(home / "data"),
                "--classes", (home / "classes.txt").read_text(), *AUDIT, *args, check=check)


def _victim(home: Path, name: str) -> tuple[Path, bytes]:
    victim = home / f"victim-{name}.txt"
    victim.write_bytes(f"precious {name}\n".encode())
    return victim, victim.read_bytes()


def _refused(proc, path: Path, fix: str = FIX) -> None:
    line = _one_line_error(proc, str(path))
    assert fix in line, line


@pytest.mark.parametrize("where", ["runs/{}/.lock", "reports/{}/README.md", "reports/{}/by_group.csv",
                                   "reports/{}/fig_yield.png", "reports/{}/study/README.md",
                                   "runs/{}/results.sqlite-wal", "runs/{}/results.sqlite-shm"])
def test_a_link_planted_where_a_finished_audit_writes_is_refused(home, where):
    victim, before = _victim(home, "planted")
    planted = home / where.format("done")
    planted.unlink(missing_ok=True)
    planted.symlink_to(victim)
    try:
        _refused(_audit(home, "done", check=False), planted)
        assert victim.read_bytes() == before
    finally:
        planted.unlink()
    _audit(home, "done")  # the link gone, the audit writes its files again


@pytest.mark.parametrize("where", ["README.md", "by_group.csv"])
def test_a_link_in_a_report_folder_with_a_forged_marker_is_refused(home, where):
    victim, before = _victim(home, where)
    folder = home / "reports" / f"forged-{where}"
    folder.mkdir(parents=True)
    (folder / "fairxbar-report.json").write_text(json.dumps({"study": folder.name, "owner": {"kind": "audit"}}))
    (folder / where).symlink_to(victim)
    _refused(_audit(home, folder.name, check=False), folder / where)
    assert victim.read_bytes() == before


def test_a_lock_link_in_an_empty_run_folder_is_refused(home):
    victim, before = _victim(home, "lock")
    (home / "runs" / "locked").mkdir()
    (home / "runs" / "locked" / ".lock").symlink_to(victim)
    _refused(_audit(home, "locked", check=False), home / "runs" / "locked" / ".lock")
    assert victim.read_bytes() == before


def test_a_marker_temp_link_makes_the_folder_foreign(home):
    victim, before = _victim(home, "tmp")
    folder = home / "runs" / "tmpcase"
    folder.mkdir()
    (folder / f"{MARKER}.tmp").symlink_to(victim)
    line = _one_line_error(_audit(home, "tmpcase", check=False), f"resume refused: {folder} is not a run folder")
    assert "move those files elsewhere" in line
    assert victim.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == [f"{MARKER}.tmp"]


def test_linked_report_and_seed_folders_are_refused(home):
    report = home / "reports" / "done" / "README.md"
    before = report.read_bytes()
    (home / "reports" / "alias").symlink_to(home / "reports" / "done")  # inside the reports folder
    _refused(_audit(home, "alias", check=False), home / "reports" / "alias")
    assert report.read_bytes() == before
    seeded = home / "runs" / "seeded"
    seeded.mkdir()
    (home / "outside").mkdir()
    (seeded / "seed-0").symlink_to(home / "outside")
    with pytest.raises(UserError, match="not a run folder"):  # no marker: not ours
        open_run_folder(home / "runs", "seeded", Owner("audit"))
    (seeded / MARKER).write_text(json.dumps({"study": "seeded", "owner": {"kind": "audit", "source": ""}}))
    _refused(_audit(home, "seeded", check=False), seeded / "seed-0")  # the curvature cache would go there
    assert list((home / "outside").iterdir()) == []


def test_an_unmarked_folder_is_never_adopted_or_emptied(home):
    """The reported case: ``audit adopt`` claimed ``runs/adopt`` holding a thesis and notes, and
    ``audit adopt --fresh`` then deleted both."""
    folder = home / "runs" / "adopt"
    (folder / "notes").mkdir(parents=True)
    (folder / "thesis.txt").write_text("my thesis")
    (folder / "notes" / "n.txt").write_text("notes")
    for args, action in (((), "resume"), (("--fresh",), "--fresh")):
        line = _one_line_error(_audit(home, "adopt", *args, check=False), f"{action} refused: {folder} is not a run "
                               "folder of audit 'adopt'")
        assert "neither uses nor deletes a folder it did not make; move those files elsewhere" in line
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == ["notes", "notes/n.txt", "thesis.txt"]
    assert (folder / "thesis.txt").read_text() == "my thesis" and not (home / "reports" / "adopt").exists()
    mine = home / "reports" / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    line = _one_line_error(_audit(home, "mine", check=False), f"writing the report refused: {mine} holds files")
    assert "FAIRXBAR_REPORTS" in line
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_every_command_refuses_an_unmarked_folder(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    (runs / "tiny").mkdir(parents=True)
    (runs / "tiny" / "thesis.tex").write_text("not a run")
    for fresh in (False, True):
        with pytest.raises(UserError, match="neither uses nor deletes a folder it did not make"):
            open_run_folder(runs, "tiny", fresh=fresh)
    assert sorted(p.name for p in (runs / "tiny").iterdir()) == ["thesis.tex"]  # not even a lock
    ResultsStore(runs / "other" / "results.sqlite").close()  # a database naming no run of 'other'
    with pytest.raises(UserError, match="reading refused: .* is not a run folder of study 'other'"):
        existing_run_folder(runs, "other", "other")
    monkeypatch.setenv("FAIRXBAR_REPORTS", str(tmp_path / "reports"))
    (tmp_path / "reports" / "tiny").mkdir(parents=True)
    (tmp_path / "reports" / "tiny" / "README.md").write_text("my own readme")
    for claim in (False, True):
        with pytest.raises(UserError, match="holds files but no fairxbar-report.json"):
            report_folder("tiny", Owner("study"), claim=claim)
    assert (tmp_path / "reports" / "tiny" / "README.md").read_text() == "my own readme"


def test_checkpoints_and_caches_never_write_through_a_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = safe_mkdir(tmp_path, "runs/x/seed-0")
    # the temporary name the tool used before (``NAME.PID.tmp``) no longer leads anywhere
    (folder / f"model.pt.{os.getpid()}.tmp").symlink_to(victim)
    atomic_torch_save({"a": torch.ones(2)}, folder / "model.pt")
    assert victim.read_text() == "precious" and torch.load(folder / "model.pt")["a"].sum() == 2
    (folder / "curvature-abc.pt").symlink_to(victim)
    with pytest.raises(UserError, match=f"refusing to write {folder / 'curvature-abc.pt'}: it is a symbolic link"):
        atomic_torch_save({"a": 1}, folder / "curvature-abc.pt")
    with pytest.raises(UserError, match="refusing to use folder .*seed-1: it is a symbolic link"):
        (tmp_path / "runs" / "x" / "seed-1").symlink_to(tmp_path)
        safe_mkdir(tmp_path / "runs", "x/seed-1")
    assert victim.read_text() == "precious"


def test_a_temporary_name_taken_before_the_write_is_refused(tmp_path, monkeypatch):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    monkeypatch.setattr("secrets.token_hex", lambda n: "guessed")
    (tmp_path / f".README.md.{os.getpid()}.guessed.tmp").symlink_to(victim)
    with pytest.raises(UserError, match="appeared before the tool made it"):
        write_atomic(tmp_path / "README.md", b"report")
    assert victim.read_text() == "precious" and not (tmp_path / "README.md").exists()


@pytest.mark.parametrize("side", ["", "-journal", "-wal", "-shm"])
def test_results_database_side_files_are_checked_before_sqlite_opens_them(tmp_path, side):
    """sqlite3 follows a link at the database (a user's own database got the tool's tables);
    its side files are checked too, since SQLite writes them where they lie."""
    victim = tmp_path / "victim.sqlite"
    with sqlite3.connect(victim) as conn:
        conn.execute("CREATE TABLE mine (x)")
    before = victim.read_bytes()
    db = tmp_path / "r.sqlite"
    (tmp_path / f"r.sqlite{side}").symlink_to(victim)
    for read_only in (False, True):
        with pytest.raises(UserError, match=f"refusing to write {tmp_path / f'r.sqlite{side}'}: it is a symbolic"):
            ResultsStore(db, read_only=read_only)
    assert victim.read_bytes() == before


def test_export_never_writes_through_a_link(tmp_path):
    victim = tmp_path / "victim.csv"
    victim.write_text("precious")
    with ResultsStore(tmp_path / "r.sqlite") as store:
        run = store.register_run("x", {"a": 1})
        store.write_trial(run, "sweep|pcm|0.1|uniform", 0, 0, {"method": "=cmd|' /C calc'!A0", "acc": -0.5})
        (tmp_path / "out.csv").symlink_to(victim)
        with pytest.raises(UserError, match="it is a symbolic link"):
            store.export(run, tmp_path / "out.csv", force=True)
        out = pd.read_csv(store.export(run, tmp_path / "rows.csv"))
    assert victim.read_text() == "precious"
    assert out["cell"][0] == "sweep|pcm|0.1|uniform" and out["method"][0] == "'=cmd%7C' /C calc'!A0"
    assert out["acc"][0] == -0.5 and pd.api.types.is_float_dtype(out["acc"])


def test_csv_cells_from_user_input_are_neutralised_and_numbers_stay_numbers(tmp_path):
    frame = pd.DataFrame({
        "group_value": ["=HYPERLINK(\"http://x\")", "+1+2", "-x", "@SUM(A1)", "\tlead", "\rlead", "dark;touch x;#",
                        "a|b", "a&b", "$(id)", "`id`", "bell\x07", "plain", "-1.5", "+3", "2e-3", None],
        "images": range(17), "accuracy": [0.25] * 17})
    path = write_csv(tmp_path / "by_group.csv", frame, float_format="%.6g")
    back = pd.read_csv(path, keep_default_na=False)
    assert list(back["group_value"]) == [
        "'=HYPERLINK(\"http://x\")", "'+1+2", "'-x", "'@SUM(A1)", "'\ufffdlead", "'\ufffdlead", "dark%3Btouch x%3B#",
        "a%7Cb", "a%26b", "%24(id)", "%60id%60", "'bell\ufffd", "plain", "-1.5", "+3", "2e-3", ""]
    assert pd.api.types.is_integer_dtype(back["images"]) and pd.api.types.is_float_dtype(back["accuracy"])
    assert list(back["images"]) == list(range(17)) and set(back["accuracy"]) == {0.25}
    assert not any(c in path.read_text() for c in "\t\r\x07")
    # pandas writes a float ±inf as "-inf": read back as text it stays as it is, like any number
    assert [neutral_cell(v) for v in ("-inf", "inf", "+inf", "nan", "-info", "-nan(x)")] == [
        "-inf", "inf", "+inf", "nan", "'-info", "'-nan(x)"]
    odd = neutralise(pd.DataFrame({"=a": ["x"], "note": ["`tool` text"]}), tool_text=["note"])
    assert list(odd.columns) == ["'=a", "note"] and odd["note"][0] == "`tool` text"


def test_the_audit_csvs_neutralise_the_attackers_group_values(home):
    reports = home / "reports" / "done"
    by_group = pd.read_csv(reports / "by_group.csv")
    assert set(by_group["group_value"]) == {"light", "dark%3Btouch pwned%3B#", "'" + EVIL["medium"]}
    assert unquote("dark%3Btouch pwned%3B#") == EVIL["dark"]  # the value, recoverable
    for csv in ("by_group.csv", "predictions.csv"):  # a shell sourcing the report runs no injected command
        subprocess.run(["bash", "-c", f"source {reports / csv}"], cwd=home, capture_output=True, timeout=60)
        assert not (home / "pwned").exists()
    assert pd.api.types.is_integer_dtype(by_group["images"]) and pd.api.types.is_float_dtype(by_group["accuracy"])
    predictions = pd.read_csv(reports / "predictions.csv")
    assert set(predictions["group_value"]) == set(by_group["group_value"])
    assert pd.api.types.is_integer_dtype(predictions["y_pred"]) and pd.api.types.is_float_dtype(predictions["intensity"])


def test_committed_report_csvs_are_unchanged_by_neutralising():
    """The tool's own text columns (``claims.TOOL_TEXT``) are exempt, so regenerating the
    committed reports changes no byte of their CSVs."""
    from fairxbar_aihw.report.claims_text import TOOL_TEXT

    paths = sorted((Path(__file__).parent.parent / "docs" / "reports").rglob("*.csv"))
    assert paths
    for path in paths:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert neutralise(frame, TOOL_TEXT).to_csv(index=False) == frame.to_csv(index=False), path


def test_figures_are_written_whole_and_not_through_a_link(tmp_path):
    import matplotlib.pyplot as plt

    from fairxbar_aihw.report.figures import _save

    fig = plt.figure()
    assert _save(fig, tmp_path / "fig.png") == "fig.png"
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"precious")
    (tmp_path / "fig2.png").symlink_to(victim)
    with pytest.raises(UserError, match="symbolic link"):
        _save(plt.figure(), tmp_path / "fig2.png")
    assert victim.read_bytes() == b"precious"


def test_run_folder_writes_leave_no_temporary_files(tmp_path):
    folder, lock = open_run_folder(tmp_path / "runs", "tiny")
    lock.close()
    assert sorted(p.name for p in folder.iterdir()) == [".lock", MARKER]
    assert json.loads((folder / MARKER).read_text())["study"] == "tiny"


def test_hard_links_at_the_lock_and_database_are_refused(tmp_path):
    """Both are written where they lie, so a hard link planted there would change its other name."""
    victim = tmp_path / "victim.sqlite"
    with sqlite3.connect(victim) as conn:
        conn.execute("CREATE TABLE mine (x)")
    before = victim.read_bytes()
    folder = tmp_path / "runs" / "tiny"
    folder.mkdir(parents=True)
    opens = {".lock": lambda: open_run_folder(tmp_path / "runs", "tiny"),
             "results.sqlite": lambda: ResultsStore(folder / "results.sqlite")}
    for name, opening in opens.items():
        os.link(victim, folder / name)
        with pytest.raises(UserError, match=f"refusing to write {folder / name}: it is a hard link .*copy of its own"):
            opening()
        (folder / name).unlink()
    assert victim.read_bytes() == before
