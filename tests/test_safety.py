"""Nothing the tool reads may run code, escape its folders or delete what is not its own."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from fairxbar_aihw.errors import ConfigError, UserError
from fairxbar_aihw.store import ResultsStore
from fairxbar_aihw.study.runfolder import MARKER, Owner, existing_run_folder, open_run_folder, report_folder
from fairxbar_aihw.torchfiles import load_torch_file
from fairxbar_aihw.yaml_files import read_mapping
from test_study import TINY, _cli, _env

SMALL = {**TINY, "sweep": {**TINY["sweep"], "methods": ["uniform"], "trials": 2}, "drift": {"times": []},
         "retrain": {"arms": []}, "prune": {"kinds": []}}


@pytest.fixture
def home(tmp_path):
    """A study folder with a small study and a file the tool must never touch."""
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "tiny.yaml").write_text(yaml.safe_dump(SMALL))
    (tmp_path / "precious.txt").write_text("user data")
    return tmp_path


def _one_line_error(proc: subprocess.CompletedProcess, fragment: str) -> str:
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith("note:")]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and fragment in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.mark.parametrize("stem", [".", ".."])
def test_dot_study_names_are_refused_and_fresh_deletes_nothing(home, stem):
    (home / "studies" / f"{stem}.yaml").write_text(yaml.safe_dump(SMALL))  # "..yaml" / "...yaml"
    (home / "runs").mkdir()
    (home / "runs" / "keep.txt").write_text("x")
    for args in (["study", stem, "--fresh"], ["study", str(home / "studies" / f"{stem}.yaml"), "--fresh"]):
        _one_line_error(_cli(home, *args, check=False), "is not allowed")
    assert (home / "precious.txt").read_text() == "user data"
    assert (home / "runs" / "keep.txt").is_file() and (home / "studies" / "tiny.yaml").is_file()


def test_preset_paths_cannot_place_run_folders_outside_the_runs_folder(home, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    preset = outside / "mine.yaml"
    preset.write_text(yaml.safe_dump({"noise_model": "paper-variation", "noise_rate": 0.05}))
    rel = os.path.relpath(preset, Path.cwd())  # a relative path with ../ in it
    for given in (str(preset), rel):
        _cli(home, "inject", "tiny", "--preset", given, "--no-progress")
    assert sorted(p.name for p in (home / "runs").iterdir()) == ["tiny-mine"]
    assert sorted(p.name for p in outside.iterdir()) == ["mine.yaml"]


def test_fresh_deletes_only_a_marked_run_folder_of_that_study(tmp_path):
    runs = tmp_path / "runs"
    (runs / "tiny").mkdir(parents=True)
    (runs / "tiny" / "thesis.tex").write_text("not a run")
    with pytest.raises(UserError, match="--fresh refused"):
        open_run_folder(runs, "tiny", fresh=True)
    assert (runs / "tiny" / "thesis.tex").is_file()
    (runs / "other").mkdir()
    (runs / "other" / MARKER).write_text('{"study": "someone-else"}')
    (runs / "other" / "results.sqlite").write_text("")
    with pytest.raises(UserError, match="not a run folder of study 'other'"):
        open_run_folder(runs, "other", fresh=True)
    folder, lock = open_run_folder(runs, "mine")
    (folder / "model.pt").write_text("cached")
    lock.close()
    folder, lock = open_run_folder(runs, "mine", fresh=True)
    assert sorted(p.name for p in folder.iterdir()) == [".lock", MARKER]
    lock.close()


def _files(*folders: Path) -> dict[str, bytes]:
    """Every file under ``folders`` with its bytes (the SQLite side files aside: readers may touch them)."""
    return {str(p): p.read_bytes() for f in folders for p in sorted(f.rglob("*"))
            if p.is_file() and not p.name.endswith(("-shm", "-wal", ".lock"))}


def test_audit_fresh_on_a_study_folder_is_refused_and_deletes_nothing(home):
    _cli(home, "inject", "tiny", "--no-progress")
    _cli(home, "report", "tiny")
    before = _files(home / "runs", home / "reports")
    assert any(p.endswith("model.pt") for p in before) and any(p.endswith("README.md") for p in before)
    audit = ["audit", "tiny", "--model", str(home / "model.ts"), "--data-root", str(home), "--privileged", "a"]
    line = _one_line_error(_cli(home, *audit, "--fresh", check=False), "--fresh refused: run folder")
    assert f"belongs to the study file {home / 'studies' / 'tiny.yaml'}, not to audit 'tiny'" in line
    _one_line_error(_cli(home, *audit, check=False), "resume refused: run folder")
    assert _files(home / "runs", home / "reports") == before


def test_study_files_with_one_file_name_keep_their_own_folders(home, tmp_path):
    (home / "other").mkdir()
    other = home / "other" / "tiny.yaml"
    other.write_text(yaml.safe_dump({**SMALL, "description": "another study, same file name"}))
    _cli(home, "inject", "tiny", "--no-progress")
    before = _files(home / "runs")
    for args, refusal in ((["inject", str(other), "--no-progress"], "resume refused"),
                          (["inject", str(other), "--fresh", "--no-progress"], "--fresh refused"),
                          (["report", str(other)], "reading refused")):
        line = _one_line_error(_cli(home, *args, check=False), refusal)
        assert f"belongs to the study file {home / 'studies' / 'tiny.yaml'}, not to the study file {other}" in line
    assert _files(home / "runs") == before
    # in another runs folder it runs, but may not overwrite the first one's report
    _cli(home, "report", "tiny")
    report = _files(home / "reports")
    env = {**_env(home), "FAIRXBAR_RUNS": str(tmp_path / "runs2")}
    proc = subprocess.run([sys.executable, "-m", "fairxbar_aihw.cli", "inject", str(other), "--no-progress"],
                          env=env, capture_output=True, text=True, timeout=600)
    _one_line_error(proc, "writing the report refused: report folder")
    assert _files(home / "reports") == report and _files(home / "runs") == before


def test_owner_less_run_folders_belong_to_a_study_of_that_name(tmp_path):
    """Folders made before markers recorded an owner: a study of that name resumes (and adopts)
    them, an audit may neither resume nor delete them, unless its per-layer rows show it made them."""
    runs = tmp_path / "runs"
    for name in ("old", "oldaudit"):
        (runs / name).mkdir(parents=True)
        (runs / name / MARKER).write_text(f'{{"study": "{name}"}}\n')
        with ResultsStore(runs / name / "results.sqlite") as store:
            run = store.register_run(name, {"x": 1})
            store.write_trial(run, "layer|pcm|0.0|layer 1|None|ab" if name == "oldaudit" else "baseline", 0, 0, {})
    audit, study, elsewhere = Owner("audit"), Owner("study", "/a/old.yaml"), Owner("study", "/b/old.yaml")
    with pytest.raises(UserError, match="--fresh refused: .* belongs to a study named 'old' .*not to audit 'old'"):
        open_run_folder(runs, "old", audit, fresh=True)
    assert (runs / "old" / "results.sqlite").stat().st_size > 0
    folder, lock = open_run_folder(runs, "old", study)
    lock.close()
    assert '"source": "/a/old.yaml"' in (folder / MARKER).read_text()  # adopted
    with pytest.raises(UserError, match="resume refused: .* belongs to the study file /a/old.yaml"):
        open_run_folder(runs, "old", elsewhere)
    with pytest.raises(UserError, match="resume refused: .* belongs to audit 'oldaudit'"):
        open_run_folder(runs, "oldaudit", study)
    _, lock = open_run_folder(runs, "oldaudit", audit)
    lock.close()
    assert existing_run_folder(runs, "old", "old", study) == folder


def test_report_folders_belong_to_one_study(tmp_path, monkeypatch):
    monkeypatch.setenv("FAIRXBAR_REPORTS", str(tmp_path / "reports"))
    (tmp_path / "reports" / "old").mkdir(parents=True)  # written before reports recorded an owner: taken over
    mine, theirs = Owner("study", "bundled:old"), Owner("audit")
    assert report_folder("old", mine, claim=True) == tmp_path / "reports" / "old"
    assert report_folder("old", mine) == tmp_path / "reports" / "old"
    with pytest.raises(UserError, match="belongs to the bundled study 'old', not to audit 'old'"):
        report_folder("old", theirs, claim=True)


def test_symlinked_run_folder_pointing_outside_is_refused(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    (tmp_path / "victim").mkdir()
    (runs / "tiny").symlink_to(tmp_path / "victim")
    with pytest.raises(UserError, match="outside"):
        open_run_folder(runs, "tiny", fresh=True)


def test_second_process_on_a_run_folder_gets_the_holders_pid(tmp_path):
    runs = tmp_path / "runs"
    folder, lock = open_run_folder(runs, "tiny")
    with pytest.raises(UserError, match=f"in use by another fairxbar-aihw process \\(PID {os.getpid()}\\)"):
        open_run_folder(runs, "tiny")
    lock.close()
    _, again = open_run_folder(runs, "tiny")  # released: the next run may proceed
    again.close()


def test_second_cli_run_on_the_same_folder_is_refused(home):
    code = ("import sys, time; from pathlib import Path; from fairxbar_aihw.study.runfolder import open_run_folder;"
            "held = open_run_folder(Path(sys.argv[1]), 'tiny'); print('locked', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(home / "runs")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        line = _one_line_error(_cli(home, "inject", "tiny", "--no-progress", check=False), "in use by another")
        assert f"PID {holder.pid}" in line
    finally:
        holder.kill()
        holder.wait()


class _Payload:
    """Pickles to a call of os.system: what a crafted checkpoint would carry."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_crafted_checkpoint_is_refused_unread(home):
    marker = home / "pwned"
    (home / "runs" / "tiny" / "seed-0").mkdir(parents=True)
    (home / "runs" / "tiny" / MARKER).write_text('{"study": "tiny"}\n')  # a run folder (unmarked ones are refused)
    torch.save({"key": "x", "state_dict": _Payload(marker)}, home / "runs" / "tiny" / "seed-0" / "model.pt")
    line = _one_line_error(_cli(home, "train", "tiny", "--no-progress", check=False), "model.pt")
    assert "refused unread" in line
    assert not marker.exists()


def test_corrupt_cache_file_names_the_file_to_delete(tmp_path):
    bad = tmp_path / "curvature-abc.pt"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(UserError, match=f"{bad} is unreadable or corrupt.*delete it"):
        load_torch_file(bad, "curvature cache")


def test_report_and_export_are_read_only(home):
    proc = _cli(home, "export", "tiny", "--fresh", "--out", str(home / "x.csv"), check=False)
    _one_line_error(proc, "No such option '--fresh'")
    proc = _cli(home, "export", "tiny", "--out", str(home / "x.csv"), check=False)
    _one_line_error(proc, "has no results")
    proc = _cli(home, "report", "tiny", check=False)
    _one_line_error(proc, "has no results")
    assert not (home / "runs").exists() and not (home / "x.csv").exists() and not (home / "reports").exists()
    _cli(home, "inject", "tiny", "--no-progress")
    db = home / "runs" / "tiny" / "results.sqlite"
    before = db.read_bytes()
    _cli(home, "export", "tiny", "--out", str(home / "x.csv"))
    # the report renders from the database alone: neither torch nor aihwkit is loaded (seconds of start-up)
    code = ("import sys; from fairxbar_aihw.cli.main import main; sys.argv = ['fairxbar-aihw', 'report', 'tiny']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('loaded:', sorted(m for m in ('torch', 'aihwkit') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], env=_env(home), capture_output=True, text=True, timeout=600)
    assert proc.stdout.strip().endswith("loaded: []") and (home / "reports" / "tiny" / "README.md").is_file(), \
        proc.stdout + proc.stderr
    for option in ("--trials", "--backend", "--device", "--data-root"):
        _one_line_error(_cli(home, "report", "tiny", option, "1", check=False), f"No such option '{option}'")
    assert db.read_bytes() == before and (home / "x.csv").stat().st_size > 0
    with pytest.raises(UserError, match="has no results"):
        existing_run_folder(home / "runs", "never", "never")
    changed = {**SMALL, "train": {**SMALL["train"], "epochs": 2}}  # another model: another run
    (home / "studies" / "tiny.yaml").write_text(yaml.safe_dump(changed))
    _one_line_error(_cli(home, "report", "tiny", check=False), "as configured now")


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [*{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}, "
                     f"*{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines))
    t0 = time.time()
    with pytest.raises(ConfigError, match="aliases .* are not allowed"):
        read_mapping(bomb, "study")
    assert time.time() - t0 < 5
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * 2_000_000)
    with pytest.raises(ConfigError, match="limit"):
        read_mapping(big, "study")


def test_local_ray_cluster_settings_keep_it_offline(monkeypatch):
    from fairxbar_aihw.study.executors import keep_local_cluster_offline

    for var in ("RAY_USAGE_STATS_ENABLED", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(var, raising=False)
    keep_local_cluster_offline()
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0"
    assert os.environ["RAY_AUTH_MODE"] == "token" and len(os.environ["RAY_AUTH_TOKEN"]) == 64
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a user's own choice wins
    monkeypatch.delenv("RAY_AUTH_TOKEN")
    keep_local_cluster_offline()
    assert "RAY_AUTH_TOKEN" not in os.environ
