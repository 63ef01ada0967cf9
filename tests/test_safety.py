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
from fairxbar_aihw.study.runfolder import MARKER, existing_run_folder, open_run_folder
from fairxbar_aihw.torchfiles import load_torch_file
from fairxbar_aihw.yaml_files import read_mapping
from test_study import TINY, _cli

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
