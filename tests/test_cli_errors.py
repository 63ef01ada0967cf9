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
from fairxbar_aihw.errors import UserError
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
    ("label,pred,group\n0,0,F\n1,1,M\n", "for group values other than codes 0..G-1 use --groups group"),
    ("label,pred,group\n" + "0,0,0\n1,1,1\n" * 20 + "1,1,2\n", "group 2 has only 1 row(s), fewer than --min-group-size 30"),
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


def _main_error(monkeypatch, capsys, exc: BaseException) -> list[str]:
    """What ``main`` prints when opening the study raises ``exc`` (asserting exit code 2)."""
    def failing(**kw):
        raise exc

    monkeypatch.setattr(cli_module.study, "open_study", failing)
    monkeypatch.setattr(sys, "argv", ["fairxbar-aihw", "study", "demo"])
    with pytest.raises(SystemExit) as exit_:
        cli_module.main()
    assert exit_.value.code == 2
    return capsys.readouterr().err.strip().splitlines()


def test_disk_full_is_one_line_and_exit_2(monkeypatch, capsys):
    err = _main_error(monkeypatch, capsys, OSError(errno.ENOSPC, "No space left on device",
                                                   "/runs/demo/results.sqlite"))
    assert len(err) == 1 and "/runs/demo/results.sqlite: No space left on device" in err[0]


def test_a_name_too_long_says_so_and_how_to_fix_it(monkeypatch, capsys):
    """ENAMETOOLONG is not a full disk: the line names the cause and the fix, not "free space"."""
    err = _main_error(monkeypatch, capsys, OSError(errno.ENAMETOOLONG, "File name too long",
                                                   "/data/" + "a" * 300 + ".png"))
    assert len(err) == 1 and "File name too long" in err[0] and "use a shorter name" in err[0]
    assert "free space" not in err[0] and "a" * 200 not in err[0]  # a long path is cut


def test_a_name_ending_in_a_newline_is_refused_and_makes_no_folder(home):
    """``re.match`` with ``$`` let "nl\\n" pass the name check and become the folder runs/nl\\n."""
    path = home / "studies" / "nl\n.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    proc = _cli(home, "study", str(path), "--no-progress", check=False)
    line = _one_line_error(proc, "name 'nl\\n' is not allowed")
    assert not (home / "runs").exists() or not list((home / "runs").iterdir()), line


def test_interrupt_closes_progress_bars_first(monkeypatch, capsys):
    from tqdm import tqdm

    bar = tqdm(total=10)

    def interrupted(**kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module.study, "open_study", interrupted)
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


@pytest.mark.parametrize("changes,fragment", [
    ({"sweep__targets": []}, "sweep.targets must list at least 1 value(s), got 0"),
    ({"seeds": [2**63]}, f"seeds.0={2**63} must be ≤ {2**63 - 1}"),
    ({"train__epochs": True}, "train.epochs=True must be an integer"),
    ({"train__lr": True}, "train.lr=True must be a number"),
    ({"sweep__targets": [0.5, False]}, "sweep.targets=[0.5, False]: true/false is not a number"),
    ({"dataset__unprivileged": True}, "dataset.unprivileged=True must be an integer"),
    ({"drift__times": [1e300], "drift__presets": ["pcm-ibm"]}, "drift.times must be seconds from 0 to 3.1536e+09"),
    ({"seeds": list(range(50)) * 2}, "seeds must be distinct; repeated: 0, 1, 2, 3, 4, 5, 6, 7 ... and 42 more"),
])
def test_bad_study_values_stop_before_any_work(home, changes, fragment):
    name = _study(home, "bad", **changes)
    _one_line_error(_cli(home, "train", name, check=False), fragment)
    assert not (home / "runs" / name).exists()  # refused before a run folder or a seed folder is made


@pytest.mark.parametrize("n,fragment", [
    (10**11, "synthderm n=100000000000 at 16×16 pixels needs 76800.0 GB for its images, over half this machine's"),
    ("1e11", "synthderm n (dataset.params.n) must be a whole number of images, got '1e11'"),
])
def test_synthderm_size_is_bounded_by_memory(home, n, fragment):
    name = _study(home, "big", dataset__params={"n": n, "num_classes": 3})
    line = _one_line_error(_cli(home, "train", name, check=False), fragment)
    assert n == "1e11" or "use dataset.params.n ≤" in line


def test_seeds_option_range(home):
    _one_line_error(_cli(home, "train", "tiny", "--seeds", str(2**63), check=False),
                    f"--seeds takes distinct comma-separated integers from 0 to {2**63 - 1}")


def test_missing_gpu_is_one_line(home, monkeypatch):
    from fairxbar_aihw.study.pipeline import resolve_device

    _one_line_error(_cli(home, "train", "tiny", "--device", "cuda:99", check=False), "--device cuda:99")
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setattr("torch.cuda.device_count", lambda: 2)
    assert resolve_device("cuda:1") == "cuda:1"
    for device in ("cuda:2", "cuda:x"):
        with pytest.raises(UserError, match=f"--device {device}: this machine has 2 CUDA GPU"):
            resolve_device(device)


def test_entry_point_failures_name_the_entry_point(home, tmp_path, monkeypatch):
    code = tmp_path / "code"
    code.mkdir()
    (code / "my_models.py").write_text("def needs(x):\n    return x\n\n\ndef boom():\n"
                                       "    raise RuntimeError('checkpoint /x/model.pt not found')\n")
    (code / "broken_module.py").write_text("raise ValueError('half-written module')\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(code), os.environ.get("PYTHONPATH", "")]))
    for entry, fragment in (("my_models:needs", "model entry point my_models:needs failed when called with no "
                             "arguments (TypeError: needs() missing 1 required positional argument: 'x')"),
                            ("my_models:boom", "(RuntimeError: checkpoint /x/model.pt not found)"),
                            ("broken_module:build", "cannot import model entry point broken_module:build "
                             "(ValueError: half-written module)")):
        name = _study(home, "ep", model__entry=entry)
        _one_line_error(_cli(home, "train", name, check=False), fragment)


def test_yaml_nesting_and_duplicate_keys(home):
    (home / "studies" / "deep.yaml").write_text("description: " + "[" * 5000 + "]" * 5000 + "\n")
    (home / "studies" / "twice.yaml").write_text(yaml.safe_dump(SMALL) + "train:\n  epochs: 2\n")
    out = _cli(home, "studies").stdout  # the listing survives both and shows the good file
    assert "tiny " in out and "deep               INVALID" in out and "twice              INVALID" in out
    _one_line_error(_cli(home, "train", "deep", check=False), "deep.yaml is not valid YAML: values nest deeper "
                    "than 50 levels (line 1)")
    lines = yaml.safe_dump(SMALL).splitlines()
    first = 1 + lines.index("train:")
    _one_line_error(_cli(home, "train", "twice", check=False), f"twice.yaml is not valid YAML: key 'train' is "
                    f"given twice (lines {first} and {len(lines) + 1}); keep one")


def test_unwritable_checkpoint_names_the_file(home, monkeypatch, tmp_path):
    import torch

    from fairxbar_aihw.torchfiles import atomic_torch_save

    blocked = home / "runs" / "tiny" / "seed-0" / "model.partial.pt"
    blocked.mkdir(parents=True)  # a folder where the checkpoint goes
    (home / "runs" / "tiny" / "fairxbar-run.json").write_text('{"study": "tiny"}\n')  # a run folder: not refused
    _one_line_error(_cli(home, "train", "tiny", "--no-progress", check=False),
                    f"cannot write {blocked} (Is a directory); check that its folder is writable")

    def read_only(obj, f):  # what torch raises on a read-only mount
        raise RuntimeError("[enforce fail at inline_container.cc:747] . open file failed with strerror: "
                           "Read-only file system")

    monkeypatch.setattr(torch, "save", read_only)
    target = tmp_path / "cache" / "x.pt"
    with pytest.raises(UserError, match=f"cannot write {target} .*Read-only file system"):
        atomic_torch_save({"a": 1}, target)
    assert list(target.parent.iterdir()) == []  # no temporary file left behind


def test_export_never_overwrites_without_force(home):
    _cli(home, "inject", "tiny", "--no-progress")
    out = home / "rows.csv"
    out.write_text("my own file\n")
    _one_line_error(_cli(home, "export", "tiny", "--out", str(out), check=False),
                    f"{out} already exists; choose another --out, or add --force to replace it")
    assert out.read_text() == "my own file\n"
    assert "wrote" in _cli(home, "export", "tiny", "--out", str(out), "--force").stdout
    assert out.read_text().startswith("cell,trial,seed,") and sorted(p.name for p in home.iterdir()
                                                                     if p.name.startswith(".rows")) == []


@pytest.mark.parametrize("forward,fragment", [
    ({"inp_res": -1}, "forward.inp_res=-1 is out of range; expected DAC resolution ≥ 0"),
    ({"out_noise": float("nan")}, "forward.out_noise=nan is out of range"),
    ({"out_bound": 0}, "forward.out_bound=0 is out of range; expected ADC output bound > 0"),
    ({"is_perfect": 1}, "forward.is_perfect=1 has the wrong type"),
    ({"bound_management": "Sometimes"}, "forward.bound_management='Sometimes' is out of range; expected an "
                                        "aihwkit BoundManagementType value"),
])
def test_preset_forward_settings_are_checked(home, forward, fragment):
    path = home / "fwd.yaml"
    path.write_text(yaml.safe_dump({"noise_model": "pcm", "forward": forward}))
    _one_line_error(_cli(home, "presets", "show", str(path), check=False), fragment)


def test_preset_forward_management_names_become_aihwkit_enums(tmp_path):
    from aihwkit.simulator.parameters.enums import BoundManagementType, NoiseManagementType

    from fairxbar_aihw.hardware import load_preset
    from fairxbar_aihw.hardware.analog import rpu_config

    path = tmp_path / "managed.yaml"
    path.write_text(yaml.safe_dump({"noise_model": "pcm", "forward": {"bound_management": "None",
                                                                      "noise_management": "AbsMax"}}))
    fwd = rpu_config(load_preset(path)).forward
    assert fwd.bound_management is BoundManagementType.NONE and fwd.noise_management is NoiseManagementType.ABS_MAX


def test_long_lists_in_errors_are_capped(home, monkeypatch, capsys):
    name = _study(home, "params", dataset__params={**{f"p{i:03d}": 1 for i in range(300)}, "n": 240})
    _one_line_error(_cli(home, "train", name, check=False), "p000, p001, p002, p003, p004, p005, p006, p007 ... and "
                    "292 more; use n, num_classes")
    wide = home / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(3000)) + "\n" + ",".join("0" * 3000) + "\n")
    line = _one_line_error(_cli(home, "metrics", str(wide), check=False), "c7 ... and 2992 more")
    assert len(line) < 300

    def long_message(**kw):
        raise UserError("x" * 9000)

    monkeypatch.setattr(cli_module.study, "open_study", long_message)
    monkeypatch.setattr(sys, "argv", ["fairxbar-aihw", "study", "demo"])
    with pytest.raises(SystemExit):
        cli_module.main()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and len(err[0]) == len("error: ") + cli_module.MAX_ERROR_CHARS


def test_a_broken_weights_file_of_yours_is_never_called_disposable(tmp_path):
    from fairxbar_aihw.models.user import load_state_dict_model

    bad = tmp_path / "mine.pt"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(UserError) as exc:
        load_state_dict_model("small-cnn", str(bad), 3, 16)
    assert str(exc.value) == (f"state dict {bad} is unreadable or corrupt; save the weights again as tensors only: "
                              "torch.save(model.state_dict(), PATH), or as safetensors")


def test_results_in_a_read_only_folder_can_still_be_reported(tmp_path, monkeypatch):
    """In a folder nobody may write, SQLite cannot make a WAL database's index file, so a plain
    read-only open fails ("unable to open database file"); the file is then read as immutable,
    unless a -wal file holds rows the database does not have yet."""
    import sqlite3

    from fairxbar_aihw.store import ResultsStore
    from fairxbar_aihw.store import results as results_module

    db = tmp_path / "results.sqlite"
    with ResultsStore(db) as store:
        run = store.register_run("ro", {"a": 1})
        store.write_trial(run, "cell", 0, 7, {"value": 1.5})
    connect = sqlite3.connect

    def no_wal_index(database, *args, **kw):  # what SQLite does in a read-only folder
        if "immutable=1" not in str(database):
            raise sqlite3.OperationalError("unable to open database file")
        return connect(database, *args, **kw)

    monkeypatch.setattr(results_module.sqlite3, "connect", no_wal_index)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with ResultsStore(db, read_only=True) as store:
        assert store.to_frame(run)[["cell", "seed", "value"]].values.tolist() == [["cell", 7, 1.5]]
    (tmp_path / "results.sqlite-wal").write_bytes(b"uncommitted frames")
    with pytest.raises(UserError, match=f"results database {db} cannot be opened"):
        ResultsStore(db, read_only=True)


def test_a_preset_whose_drift_cannot_be_simulated_is_refused_at_load(tmp_path, monkeypatch, capsys):
    """--preset replaces the drift presets before validation: reram-wan2022 knows drift at 1 s,
    1 day and 2 days only, and demo reads chips up to 10 years, so the study is refused before
    any run folder is opened (it used to train first and fail at the drift stage)."""
    monkeypatch.delenv("FAIRXBAR_STUDIES", raising=False)
    monkeypatch.setenv("FAIRXBAR_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(sys, "argv", ["fairxbar-aihw", "study", "demo", "--preset", "reram-wan2022", "--quick"])
    with pytest.raises(SystemExit) as exc:
        cli_module.main()
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1, err
    assert err[0] == ("error: study 'demo': drift preset 'reram-wan2022' only supports times 1.0, 86400.0, 172800.0 "
                      "s; drift.times has 3600.0, 2592000.0, 31536000.0, 315360000.0")
    assert not (tmp_path / "runs").exists()


# Computed with the code before options became typed overrides (cli._run splicing dotted keys).
PINNED_RUNS = [
    ({"preset": "pcm-ibm", "quick": True}, "-pcm-ibm-quick", ["188441cc15105d65", "76c5b7fd29f8a7a2"],
     "4e0526be03afd4d6", ["pcm-ibm"], 3),
    ({"preset": "paper-saf"}, "-paper-saf", ["8131751f900cd262", "a3e781a2f6f52218", "fc8d5dff2242518e",
                                              "982432e1ac6e453d", "a61283483faf31ca"], "a7b7565fabf69d59",
     ["paper-saf"], 5),
    ({"quick": True, "seeds": "3", "trials": 2}, "-quick", ["36f7e0735c53b6fd"], "7d257066a665dbbf", ["pcm-ibm"], 2),
    ({"preset": "reram-cmo", "quick": True, "seeds": "1,4"}, "-reram-cmo-quick",
     ["76c5b7fd29f8a7a2", "87f2d584caa0d9d6"], "e3351cdfa586d353", ["reram-cmo"], 3),
]


@pytest.mark.parametrize("options,tag,run_ids,cells,drift_presets,trials", PINNED_RUNS)
def test_preset_quick_seeds_and_trials_select_the_same_runs_as_before(monkeypatch, options, tag, run_ids, cells,
                                                                      drift_presets, trials):
    """The folder tag, each seed's run id and every row key of `study demo` with these options."""
    import hashlib

    import fairxbar_aihw.study as study_package
    from fairxbar_aihw.store import config_hash
    from fairxbar_aihw.study.stored import run_config_for_hash
    from fairxbar_aihw.study.plan import StudyPlan

    monkeypatch.delenv("FAIRXBAR_STUDIES", raising=False)
    opened = {}
    monkeypatch.setattr(study_package, "Study", lambda cfg, tag, **kw: opened.update(cfg=cfg, tag=tag))
    cli_module.open_study("demo", read_only=True, **options)
    cfg = opened["cfg"]
    assert opened["tag"] == tag
    assert [config_hash(run_config_for_hash(cfg.for_seed(s))) for s in cfg.seeds] == run_ids
    keys = "\n".join(sorted(StudyPlan(cfg.for_seed(cfg.seeds[0])).expected_cells()))
    assert hashlib.sha256(keys.encode()).hexdigest()[:16] == cells
    assert (cfg.drift.presets, cfg.sweep.trials, cfg.quick_mode) == (drift_presets, trials, bool(options.get("quick")))


def _key_body(seed: int = 0) -> list[str]:
    """The body lines of a made-up OpenSSH private key (base64, 70 characters a line)."""
    import base64
    import random

    text = base64.b64encode(random.Random(seed).randbytes(260)).decode()
    return [text[i:i + 70] for i in range(0, len(text), 70)]


def _shows_none_of(proc: subprocess.CompletedProcess, secrets: list[str]) -> None:
    out = proc.stdout + proc.stderr
    for secret in secrets:
        assert all(secret[i:i + 12] not in out for i in range(0, len(secret) - 12)), out


def test_a_key_file_given_as_the_labels_csv_is_named_never_shown(home):
    """Column options set to a key's first line made its lines group values, listed in the error."""
    root = home / "data"
    (root / ".ssh").mkdir(parents=True)
    body = _key_body()
    key = root / ".ssh" / "id_rsa"
    key.write_text("\n".join(["-----BEGIN OPENSSH PRIVATE KEY-----", *body, "-----END OPENSSH PRIVATE KEY-----"]))
    first = key.read_text().splitlines()[0]
    columns = ["--image-column", first, "--label-column", first, "--group-column", first]
    for extra in ([], ["--privileged", "x"], ["--privileged", body[1]]):
        proc = _cli(home, "data", "check", "--dataset", "csv", "--data-root", str(root), "--file", ".ssh/id_rsa",
                    "--no-decode", *columns, *extra, check=False)
        _one_line_error(proc, "each must be a column of its own")
        _shows_none_of(proc, body[:1] + body[2:])  # body[1] was given on the command line
    proc = _cli(home, "metrics", str(key), check=False)
    _one_line_error(proc, "lacks column(s) label, pred, group")
    _shows_none_of(proc, body)


def test_a_group_column_of_unique_values_is_counted_not_listed(home):
    root = home / "data"
    root.mkdir()
    secrets = _key_body(1)
    (root / "labels.csv").write_text("image,label,token\n" + "".join(f"img/{i}.png,a,{s}\n"
                                                                      for i, s in enumerate(secrets)))
    check = ["data", "check", "--dataset", "csv", "--data-root", str(root), "--no-decode", "--group-column", "token"]
    for extra in ([], ["--privileged", "x"]):
        proc = _cli(home, *check, *extra, check=False)
        _one_line_error(proc, f"found {len(secrets)} distinct values in {len(secrets)} rows, not shown")
        _shows_none_of(proc, secrets)


def test_an_extra_field_in_every_row_is_refused_not_echoed(home):
    """pandas took the first column as an index and shifted the rest, so the extra field became
    the group column and its values were listed."""
    root = home / "data"
    root.mkdir()
    (root / "labels.csv").write_text("image,label,group\n" + "".join(f"img/{i}.png,a,m,TOPSECRET{i}\n"
                                                                      for i in range(6)))
    proc = _cli(home, "data", "check", "--dataset", "csv", "--data-root", str(root), "--privileged", "m",
                "--no-decode", check=False)
    _one_line_error(proc, "csv: line 2 of labels.csv has more fields than its header row")
    assert "TOPSECRET" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("path,fragment", [
    ("img/0\x00.png", "csv: data row 3: the image path holds a NUL byte; fix that row"),
    ("img/" + "a" * 300 + ".png", "csv: data row 3: cannot look up image path 'img/aaaa"),
])
def test_an_image_path_the_system_cannot_take_is_a_data_error_naming_its_row(home, path, fragment):
    root = home / "data"
    (root / "img").mkdir(parents=True)
    for i in range(4):
        Image.new("RGB", (8, 8), (i, 80, 60)).save(root / "img" / f"{i}.png")
    rows = ["img/1.png,a,m", "img/2.png,b,f", f"{path},a,f", "img/3.png,b,m"]
    (root / "labels.csv").write_text("image,label,group\n" + "\n".join(rows) + "\n")
    proc = _cli(home, "data", "check", "--dataset", "csv", "--data-root", str(root), "--privileged", "m",
                "--no-decode", check=False)
    line = _one_line_error(proc, fragment)
    assert "free space" not in line and "a" * 60 not in line
    if "a" * 300 in path:
        assert "use a shorter name" in line


def test_a_study_that_fails_before_computing_leaves_nothing_in_the_current_folder(home):
    """``study fitz-resnet18 --data-root /nonexistent`` left runs/ and docs/reports/ (a report
    marker) in the folder it ran in."""
    env = {k: v for k, v in os.environ.items() if k not in ("FAIRXBAR_RUNS", "FAIRXBAR_REPORTS", "FAIRXBAR_STUDIES")}
    env["FAIRXBAR_CACHE"] = str(home / "cache")
    before = sorted(os.listdir(home))
    proc = subprocess.run([sys.executable, "-m", "fairxbar_aihw.cli", "study", "fitz-resnet18", "--data-root",
                           str(home / "nonexistent"), "--no-progress"], env=env, cwd=home, capture_output=True,
                          text=True, timeout=600)
    _one_line_error(proc, "is not a directory")
    assert sorted(os.listdir(home)) == before


def test_a_predictions_file_without_a_printable_header_is_named_not_shown(home):
    """Its first line was listed as the columns found (escape codes and all)."""
    path = home / "p.csv"
    path.write_text("\x1b[2JTOPSECRET-line-one\x07,more\n1,2\n")
    proc = _cli(home, "metrics", str(path), check=False)
    _one_line_error(proc, "its first line is not a header of column names")
    assert "TOPSECRET" not in proc.stdout + proc.stderr and "\x1b" not in proc.stderr
