"""Bad input ends in one line that names the problem and the fix, exit code 2, no traceback."""
import errno
import os
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

import fairxbar_aihw.cli as cli_module
from test_safety import SMALL, _one_line_error
from test_study import _cli


@pytest.fixture
def home(tmp_path):
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "tiny.yaml").write_text(yaml.safe_dump(SMALL))
    return tmp_path


def _study(home, name, **changes):
    cfg = yaml.safe_load(yaml.safe_dump(SMALL))
    for dotted, value in changes.items():
        node = cfg
        *parents, last = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    (home / "studies" / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
    return name


@pytest.mark.parametrize("changes,fragment", [
    ({"seeds": "abc"}, "seeds='abc' must be a list"),
    ({"seeds": [0, -1]}, "seeds.1=-1 must be ≥ 0"),
    ({"seeds": [1, 1]}, "seeds must be distinct"),
    ({"seeds": None, "seed": -5}, "seed=-5 must be ≥ 0"),
    ({"seed": 3}, "give seeds: [..] or seed: N, not both"),
    ({"train__lr": "abc"}, "train.lr='abc' must be a number"),
    ({"train__batch_size": "abc"}, "train.batch_size='abc' must be an integer"),
    ({"saliency__samples_per_group": "many"}, "saliency.samples_per_group='many' must be an integer"),
    ({"model__name": "vgg11", "dataset__size": 8}, "model vgg11 needs dataset.size ≥ 32"),
    ({"description": 5}, "description=5 must be text"),
    ({"train": 5}, "train=5 must be a mapping of keys to values"),
    ({"retrain__lr": "fast"}, "retrain.lr='fast' must be a number"),
    ({"prune__beta": -1.0}, "prune.beta=-1.0 must be ≥ 0"),
    ({"sweep__methods": ["FR", "best"]}, "sweep.methods.1='best': unknown targeting method 'best'"),
    ({"saliency__fa_rule": "union"}, "saliency.fa_rule='union' is unknown; choose one of"),
    ({"retrain__colour": 1}, "unknown key 'retrain.colour'; allowed: arms, steps"),
])
def test_badly_typed_study_values_name_the_key(home, changes, fragment):
    name = _study(home, "bad", **changes)
    _one_line_error(_cli(home, "study", name, check=False), fragment)


def test_numeric_strings_from_yaml_become_numbers(home, monkeypatch):
    from fairxbar_aihw.study import load_study

    _study(home, "sci", train__lr="1e-3")  # YAML 1.1 reads 1e-3 (no dot) as text
    monkeypatch.setenv("FAIRXBAR_STUDIES", str(home / "studies"))
    assert load_study("sci").train.lr == 0.001


def test_one_bad_file_does_not_break_the_listings(home, tmp_path):
    _study(home, "broken", description=5)
    _study(home, "long", description="word " * 40)
    out = _cli(home, "studies").stdout
    assert "broken" in out and "INVALID" in out and "tiny" in out
    long_line = next(line for line in out.splitlines() if line.startswith("long"))
    assert long_line.endswith("word …")  # cut at a word boundary
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "good.yaml").write_text(yaml.safe_dump({"noise_model": "paper-variation"}))
    (presets / "bad.yaml").write_text(yaml.safe_dump({"noise_model": "paper-variation", "noise_rate": "lots"}))
    env = dict(os.environ, FAIRXBAR_PRESETS=str(presets))
    proc = CliRunner(env=env).invoke(cli_module.cli, ["presets"])
    assert proc.exit_code == 0 and "good" in proc.output and "bad                INVALID" in proc.output


def test_presets_show_lists_only_the_keys_a_technology_uses(home):
    out = _cli(home, "presets", "show", "pcm-ibm").stdout
    assert "prog_noise_scale" in out and "drift_compensation" in out
    for unused in ("noise_rate", "saf_rate", "bits_per_device", "weight_bits"):
        assert unused not in out


@pytest.mark.parametrize("rows,fragment", [
    ("label,pred,group\n", "has a header but no rows"),
    ("label,pred,group\n30000,1,0\n1,1,1\n", "at most 2000 classes"),
    ("label,pred,group,score_0,score_1\n0,0,0,0.9,0.1\n1,1,1,,0.8\n", "blank or NaN score"),
])
def test_metrics_file_errors(home, rows, fragment):
    path = home / "p.csv"
    path.write_text(rows)
    _one_line_error(_cli(home, "metrics", str(path), check=False), fragment)


def test_data_check_errors_and_option_names(home):
    _one_line_error(_cli(home, "data", "check", "--dataset", "synthderm", "--size", "0", check=False),
                    "image size must be an integer from 8 to 512")
    line = _one_line_error(_cli(home, "data", "check", "--dataset", "isic2019", check=False), "needs a data root")
    assert "--data-root" in line  # the option the message names exists
    _one_line_error(_cli(home, "data", "check", "--dataset", "isic2019", "--data-root", str(home / "no"),
                         check=False), "is not a directory")


def test_data_inputs_outside_the_root_or_ambiguous_are_one_line_errors(home):
    from test_data import SECRET, _rows

    root = home / "data"
    (root / "img").mkdir(parents=True)
    for i in range(40):
        Image.new("RGB", (12, 12), (i, 80, 60)).save(root / "img" / f"{i}.png")
    (root / "labels.csv").write_text("image,label,group\n" + "".join(",".join(r) + "\n" for r in _rows()))
    (home / "secret.txt").write_text(SECRET + "\n")
    check = ["data", "check", "--dataset", "csv", "--data-root", str(root), "--privileged", "m", "--size", "8"]
    for file in ("../secret.txt", "../../../../../../../../" + str(home / "secret.txt")):
        proc = _cli(home, *check, "--file", file, check=False)
        _one_line_error(proc, "leads outside the data root")
        assert "TOPSECRET" not in proc.stdout + proc.stderr
    _study(home, "outside", dataset={"name": "csv", "root": str(root), "file": "../secret.txt", "privileged": "m",
                                     "size": 8})
    proc = _cli(home, "study", "outside", "--no-progress", check=False)
    _one_line_error(proc, "csv: file '../secret.txt' leads outside the data root")
    assert "TOPSECRET" not in proc.stdout + proc.stderr
    _one_line_error(_cli(home, *check, "--classes", "b,a,b", check=False), "names b more than once")
    (root / "latin.csv").write_bytes("image,label,group\nimg/0.png,café,m\n".encode("latin-1"))
    _one_line_error(_cli(home, *check, "--file", "latin.csv", check=False), "save it as UTF-8")
    (root / "labels.csv").write_text("image,label,group\n" + "".join(f"{im},{y},{'  ' if i < 4 else g}\n"
                                                                      for i, (im, y, g) in enumerate(_rows())))
    out = _cli(home, *check).stdout
    assert "36 usable images of 40 rows" in out and "warning: 4 row(s) dropped: blank group cell" in out


def test_missing_configured_folders_are_named(home):
    env = dict(os.environ, FAIRXBAR_STUDIES=str(home / "nowhere"))
    proc = CliRunner(env=env).invoke(cli_module.cli, ["studies"])
    assert proc.exit_code != 0 and "does not exist (set by FAIRXBAR_STUDIES)" in str(proc.exception)


def test_unwritable_places_give_one_line(home):
    _cli(home, "inject", "tiny", "--no-progress")
    line = _one_line_error(_cli(home, "export", "tiny", "--out", str(home / "missing" / "x.csv"), check=False),
                           "folder")
    assert "does not exist" in line
    blocker = home / "reports"
    blocker.write_text("a file where the reports folder should be")
    _one_line_error(_cli(home, "report", "tiny", check=False), "cannot write or read")
    env_runs = home / "runs-file"
    env_runs.write_text("")
    proc = _cli(home, "inject", "tiny", "--no-progress", check=False)
    assert proc.returncode == 0  # the normal runs folder still works
    env = dict(os.environ, FAIRXBAR_STUDIES=str(home / "studies"), FAIRXBAR_RUNS=str(env_runs))
    proc = subprocess.run([sys.executable, "-m", "fairxbar_aihw.cli", "inject", "tiny", "--no-progress"], env=env,
                          capture_output=True, text=True)
    _one_line_error(proc, "set FAIRXBAR_RUNS to a writable folder")


def test_disk_full_is_one_line_and_exit_2(monkeypatch, capsys):
    def full(**kw):
        raise OSError(errno.ENOSPC, "No space left on device", "/runs/demo/results.sqlite")

    monkeypatch.setattr(cli_module, "_run", full)
    monkeypatch.setattr(sys, "argv", ["fairxbar-aihw", "study", "demo"])
    with pytest.raises(SystemExit) as exc:
        cli_module.main()
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1
    assert "/runs/demo/results.sqlite: No space left on device" in err[0]


def test_interrupt_closes_progress_bars_first(monkeypatch, capsys):
    from tqdm import tqdm

    bar = tqdm(total=10)

    def interrupted(**kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "_run", interrupted)
    monkeypatch.setattr(sys, "argv", ["fairxbar-aihw", "study", "demo"])
    with pytest.raises(SystemExit) as exc:
        cli_module.main()
    assert exc.value.code == 130 and bar.disable  # closed bars are disabled and never redrawn
    assert capsys.readouterr().err.strip().endswith("rerun the same command to resume")


def test_threads_option(home):
    _one_line_error(_cli(home, "train", "tiny", "--threads", "0", check=False), "'--threads': 0 is not in the range")
    assert cli_module.default_threads() == len(os.sched_getaffinity(0))
    out = _cli(home, "train", "tiny", "--threads", "1", "--no-progress")
    assert "baseline: test macro-F1" in out.stdout


def test_seeds_command_has_no_single_seed_option(home):
    _one_line_error(_cli(home, "seeds", "tiny", "--seed", "3", check=False), "No such option '--seed'")
