"""Bring your own model and data: `fairxbar-aihw audit` on a CSV dataset with three group values,
for an exported program, a TorchScript model and the same model as a state dict; its numbers
checked against `fairxbar-aihw metrics` on the predictions it wrote, and every bad input a
one-line error."""
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import fairxbar_aihw as fx
from fairxbar_aihw.models import build
from onnx_models import export_onnx
from test_safety import _one_line_error
from test_study import _cli, _env

SIZE = 16


def _dataset(root: Path, rare: int = 0) -> list[str]:
    """synthderm written as PNGs + labels.csv; group 0 split into "dark" and "medium" (and
    ``rare`` images of a value "rare"). Returns the class names in the model's output order."""
    s = fx.data.load("synthderm", seed=0, size=SIZE, n=360, num_classes=3)
    (root / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows, k, left = ["image,label,group"], 0, rare
    for split in (s.train, s.val, s.test):
        for img, y, g in zip(split.images, split.labels, split.groups):
            name = f"img/{k:04d}.png"
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(root / name)
            value = "light" if int(g) == 1 else ("rare" if left else "dark" if rng.random() < 0.5 else "medium")
            left -= value == "rare"
            rows.append(f"{name},{s.class_names[int(y)]},{value}")
            k += 1
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return list(s.class_names)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("audit")
    classes = _dataset(home / "data")
    torch.manual_seed(0)
    model = build("small-cnn", 3, SIZE).eval()
    export_onnx(model, home / "model.onnx", SIZE)
    # TorchScript (deprecated in torch 2.14) only because users still hold such files: the audit reads
    # them, as code, with --trust-code
    torch.jit.save(torch.jit.script(model), str(home / "model.ts"))
    program = torch.export.export(model, (torch.rand(2, 3, SIZE, SIZE),), dynamic_shapes=({0: torch.export.Dim("b")},))
    torch.export.save(program, str(home / "model.pt2"))
    torch.save(model.state_dict(), home / "model_state.pt")
    (home / "studies").mkdir()
    return home, ",".join(classes)


def _audit(home: Path, name: str, *args: str, check: bool = True):
    return _cli(home, "audit", name, "--data-root", str(home / "data"), "--size", str(SIZE), "--chips", "2",
                "--preset", "paper-variation", "--no-progress", *args, check=check)


def _ideal_row(text: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith("| ideal (pre-trained) |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_audit_of_onnx_compiled_and_state_dict_models_matches_metrics(home):
    home, classes = home
    _audit(home, "onnx", "--model", str(home / "model.onnx"), "--privileged", "light", "--classes", classes)
    _audit(home, "ts", "--model", str(home / "model.ts"), "--trust-code", "--privileged", "light", "--classes",
           classes, "--no-drift")
    _audit(home, "sd", "--weights", str(home / "model_state.pt"), "--arch", "small-cnn", "--privileged", "light",
           "--classes", classes, "--no-drift")
    _audit(home, "pt2", "--model", str(home / "model.pt2"), "--trust-code", "--privileged", "light", "--classes",
           classes, "--no-drift")
    reports = {k: home / "reports" / k for k in ("onnx", "ts", "sd", "pt2")}
    pre = {k: pd.read_csv(r / "pretrained_predictions.csv") for k, r in reports.items()}
    for kind in ("onnx", "ts", "pt2"):  # the same weights, loaded four ways
        pd.testing.assert_frame_equal(pre[kind], pre["sd"])
    chips = {k: pd.read_csv(reports[k] / "predictions.csv") for k in ("onnx", "ts", "pt2")}
    pd.testing.assert_frame_equal(chips["pt2"], chips["ts"])  # the same chips through either compiled form
    pd.testing.assert_frame_equal(chips["onnx"], chips["ts"])  # uniform chips: ONNX's crossbars are the same layers
    assert "(torch.export program); 5 conv/linear layers on crossbars" in (reports["pt2"] / "README.md").read_text()
    assert "(ONNX model); 5 conv/linear layers on crossbars" in (reports["onnx"] / "README.md").read_text()
    del reports["ts"], reports["pt2"]
    for name, report in reports.items():
        text = (report / "README.md").read_text()
        m = json.loads(_cli(home, "metrics", str(report / "pretrained_predictions.csv"), "--json").stdout)
        row = _ideal_row(text)  # ideal | | | acc unpriv | acc priv | F1 unpriv | F1 priv | pooled F1 | EOdds | EOpp0
        assert row[7].startswith(f"{m['f1_micro']:.3f} [") and row[8].startswith(f"{m['eodds']:.3f} [")
        assert row[9].startswith(f"{m['eopp0']:.3f} [")
        assert row[3] == f"{m['per_group']['0']['accuracy']:.3f}" and row[4] == f"{m['per_group']['1']['accuracy']:.3f}"
        # per-chip predictions in the long form MetricFrame reads; the group-value table is computed from them
        preds = pd.read_csv(report / "predictions.csv")
        n_test = len(pre[name])
        assert len(preds) == 3 * n_test and set(preds.group_value) == {"dark", "light", "medium"}
        by_group = pd.read_csv(report / "by_group.csv")
        ideal = preds[preds.preset == "ideal"]
        acc = (ideal.y_true == ideal.y_pred).groupby(ideal.group_value).mean()
        mine = by_group[by_group.preset == "ideal"].set_index("group_value")["accuracy"]
        pd.testing.assert_series_equal(mine.sort_index(), acc.sort_index(), check_names=False)
        assert "## Which layers hurt which group" in text and "## The paper's claims" in text
        # the population section: per-group churn of each uniform chip against the digital model, counted
        # from the predictions written beside it
        assert "## Fairness across the chip population" in text and (report / "fig_yield.png").is_file()
        chips = preds[preds.chip >= 0].merge(ideal[["image", "y_pred"]], on="image", suffixes=("", "_digital"))
        chips["changed"] = chips.y_pred != chips.y_pred_digital
        churn = chips.groupby(["chip", "group"])["changed"].mean().unstack()
        pop = pd.read_csv(report / "population.csv")
        uniform = pop[pop.method == "uniform"].iloc[0]
        for g in (0, 1):
            assert uniform[f"churn_g{g}_p50"] == pytest.approx(np.percentile(churn[g], 50), abs=1e-6)
            assert uniform[f"churn_g{g}_worst"] == pytest.approx(churn[g].max(), abs=1e-6)
        assert "| dark |" in text and "| medium |" in text
    assert "## Fairness over time (drift)" not in (reports["sd"] / "README.md").read_text()


def test_audit_bad_inputs_are_one_line_errors(home, tmp_path):
    home, classes = home
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    _one_line_error(_audit(home, "e1", "--model", str(junk), "--privileged", "light", check=False),
                    "is not an ONNX model")
    for compiled in ("model.ts", "model.pt2"):  # code: never loaded without the user's word
        _one_line_error(_audit(home, "e0", "--model", str(home / compiled), "--privileged", "light", check=False),
                        "which is code, so it was not loaded; export ONNX instead")
    _one_line_error(_audit(home, "e2", "--model", str(home / "model.onnx"), "--privileged", "light",
                           "--group-column", "skin", check=False), "lacks column(s) skin")
    wrong = tmp_path / "four_classes.pt"
    torch.save(build("small-cnn", 4, SIZE).state_dict(), wrong)
    _one_line_error(_audit(home, "e3", "--weights", str(wrong), "--arch", "small-cnn", "--privileged", "light",
                           check=False), "does not fit architecture small-cnn")
    _one_line_error(_audit(home, "e4", "--model", str(home / "model.onnx"), check=False), "needs dataset.privileged")
    _one_line_error(_audit(home, "e5", "--model", str(home / "model.onnx"), "--privileged", "purple", check=False),
                    "privileged value 'purple' does not occur")
    rare = tmp_path / "rare"
    _dataset(rare, rare=1)
    out = _cli(home, "audit", "e6", "--data-root", str(rare), "--size", str(SIZE), "--model", str(home / "model.onnx"),
               "--privileged", "light", "--no-progress", check=False)
    _one_line_error(out, "group value(s) rare have no image in the test split")


def test_folder_layout_reads_labels_from_folders(tmp_path):
    root = tmp_path / "folder"
    rows = ["image,group"]
    rng = np.random.default_rng(1)
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(root / label / f"{label}{i}.png")
            rows.append(f"{label}/{label}{i}.png,{'f' if i % 2 else 'm'}")
    (root / "groups.csv").write_text("\n".join(rows) + "\n")
    out = _cli(tmp_path, "data", "check", "--dataset", "folder", "--data-root", str(root), "--privileged", "m",
               "--size", "12")
    assert "12 usable images" in out.stdout
    assert "group value f: 6 images" in out.stdout and "group value m: 6 images" in out.stdout


def test_entry_point_model_is_audited_like_the_same_weights(home, tmp_path, monkeypatch):
    home, classes = home
    (tmp_path / "ep").mkdir()
    (tmp_path / "ep" / "audit_entry_model.py").write_text(
        "import torch\nfrom fairxbar_aihw.models import build\n\n\ndef load():\n"
        f"    m = build('small-cnn', 3, {SIZE})\n"
        f"    m.load_state_dict(torch.load({str(home / 'model_state.pt')!r}, weights_only=True))\n    return m\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "ep"))
    _audit(home, "ep", "--entry", "audit_entry_model:load", "--privileged", "light", "--classes", classes,
           "--no-drift")
    ts = home / "reports" / "onnx" / "pretrained_predictions.csv"
    if not ts.exists():  # run alone: audit the ONNX export for the reference
        _audit(home, "onnx", "--model", str(home / "model.onnx"), "--privileged", "light", "--classes", classes)
    pd.testing.assert_frame_equal(pd.read_csv(home / "reports" / "ep" / "pretrained_predictions.csv"),
                                  pd.read_csv(ts))


def _colour_dataset(root: Path) -> None:
    """Solid-colour images whose brightest channel is the class (red, green, blue), named so the
    sorted labels (blue, green, red) are not the colour order; one row has a blank group cell."""
    (root / "img").mkdir(parents=True)
    rng = np.random.default_rng(3)
    rows = ["image,label,group"]
    for i in range(90):
        c = i % 3
        pixel = np.full(3, 40, dtype=np.uint8)
        pixel[c] = 200
        img = np.clip(pixel + rng.integers(-20, 20, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / "img" / f"{i}.png")
        rows.append(f"img/{i}.png,{['red', 'green', 'blue'][c]},{' ' if i == 0 else 'ab'[(i // 3) % 2]}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")


def test_chance_accuracy_without_classes_hints_at_the_class_order(tmp_path, monkeypatch):
    from fairxbar_aihw.study.audit import Audit, audit_config

    for var, value in _env(tmp_path).items():
        monkeypatch.setenv(var, value)
    _colour_dataset(tmp_path / "data")
    model = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 3)).eval()
    with torch.no_grad():  # output k = channel k: perfect in the order red, green, blue
        model[2].weight.copy_(torch.eye(3))
        model[2].bias.zero_()
    export_onnx(model, tmp_path / "colour.onnx", SIZE)
    (tmp_path / "studies").mkdir()
    ds = {"name": "csv", "root": str(tmp_path / "data"), "size": SIZE, "privileged": "a", "balance": False}
    audits = {k: Audit(audit_config(f"colour-{k}", {"name": "given", "file": str(tmp_path / "colour.onnx")},
                                    {**ds, **extra}, ["paper-variation"], chips=2), progress=False)
              for k, extra in (("sorted", {}), ("ordered", {"classes": ["red", "green", "blue"]}))}
    hint = audits["sorted"].class_order_hint()
    assert audits["sorted"].only.train_baseline()[1]["test"]["accuracy"] < 0.5  # blue and red swapped: only green right
    assert hint is not None and "class order probably differs from the sorted labels (blue, green, red)" in hint
    assert audits["ordered"].only.train_baseline()[1]["test"]["accuracy"] == 1.0
    assert audits["ordered"].class_order_hint() is None
    # on the command line: one warning line each for the skipped row and the class order, and the audit runs on
    proc = _cli(tmp_path, "audit", "colour-cli", "--data-root", str(tmp_path / "data"), "--size", str(SIZE),
                "--chips", "2", "--preset", "paper-variation", "--no-progress", "--no-drift", "--model",
                str(tmp_path / "colour.onnx"), "--privileged", "a")
    warned = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert warned == ["warning: csv: 1 row(s) skipped (1 blank group cell); `fairxbar-aihw data check --dataset csv` "
                      "lists them", "warning: " + hint], proc.stderr


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)


def test_skipped_images_and_rows_are_counted_in_check_audit_and_report(home, tmp_path):
    """A corrupt, a truncated and a decompression-bomb image and a row with a blank group cell:
    each kind counted by `data check`, the audit's output and its report."""
    home, classes = home
    root = tmp_path / "bad"
    _dataset(root)
    imgs = sorted((root / "img").iterdir())
    imgs[0].write_bytes(b"not an image")
    imgs[1].write_bytes(imgs[1].read_bytes()[:60])  # header intact, pixels cut short
    imgs[2].write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 10000, 8, 2, 0, 0, 0))
                        + _png_chunk(b"IEND", b""))  # 200 megapixels declared in a 45-byte file
    rows = (root / "labels.csv").read_text().splitlines()
    rows[5] = rows[5].rsplit(",", 1)[0] + ","  # a blank group cell
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    counts = ("skipped: 0 × listed image not found, 1 × corrupt or unreadable image, 1 × truncated or damaged "
              "image, 1 × decompression bomb (too many pixels), 1 × row dropped (blank group cell)")
    check = _cli(home, "data", "check", "--dataset", "csv", "--data-root", str(root), "--privileged", "light",
                 "--size", str(SIZE))
    assert check.stdout.strip().splitlines()[-1] == counts
    assert f"warning: truncated or damaged image, skipped: {imgs[1]}" in check.stdout
    assert f"warning: decompression bomb (too many pixels), skipped: {imgs[2]}" in check.stdout
    out = _cli(home, "audit", "skips", "--data-root", str(root), "--size", str(SIZE), "--chips", "2", "--preset",
               "paper-variation", "--no-progress", "--no-drift", "--model", str(home / "model.onnx"), "--privileged",
               "light", "--classes", classes)
    assert out.stdout.strip().splitlines()[-1] == counts
    assert f"- Data {counts}." in (home / "reports" / "skips" / "README.md").read_text()


@pytest.mark.parametrize("refused,fragment", [
    (("--weights", "four_classes.pt", "--arch", "small-cnn", "--privileged", "light"), "does not fit architecture"),
    (("--weights", "model_state.pt", "--arch", "small-cnn", "--privileged", "purple"), "does not occur"),
])
def test_a_refused_model_or_dataset_leaves_no_run_folder_report_or_cache(home, refused, fragment):
    """The run folder (lock, marker, database), the report folder and the decoded-image cache were
    left behind by a refused input; now the refusal removes what it made (and only that)."""
    home, _ = home
    torch.save(build("small-cnn", 4, SIZE).state_dict(), home / "four_classes.pt")
    cache = home / "cache"
    before = sorted(cache.iterdir()) if cache.is_dir() else None
    args = [str(home / a) if a.endswith(".pt") else a for a in refused]
    _one_line_error(_audit(home, "refused", *args, check=False), fragment)
    assert not (home / "runs" / "refused").exists() and not (home / "reports" / "refused").exists()
    assert (sorted(cache.iterdir()) if cache.is_dir() else None) == before


def test_audit_over_every_group_value_scores_each_group_on_each_chip(home):
    """`audit --groups all`: every chip's per-group accuracy and churn over the three values, the
    worst-pair gap the claims judge, the yield per group, all checked against the predictions the
    audit wrote beside its report."""
    home, classes = home
    _audit(home, "every", "--model", str(home / "model.onnx"), "--privileged", "light", "--classes", classes,
           "--no-drift", "--groups", "all", "--min-group-size", "5")
    report = home / "reports" / "every"
    text = (report / "README.md").read_text()
    preds = pd.read_csv(report / "predictions.csv")
    names = sorted(preds.group_value.unique())  # the values, coded in sorted order
    assert names == ["dark", "light", "medium"]
    assert "## Every group (3 groups)" in text and "### Yield per group" in text
    assert "worst-pair EOdds over every group" in text  # what the claims are judged on
    pop = pd.read_csv(report / "population.csv")
    uniform = pop[pop.method == "uniform"].iloc[0]
    ideal = preds[preds.preset == "ideal"]
    chips = preds[preds.chip >= 0]
    acc = (chips.y_true == chips.y_pred).groupby([chips.chip, chips.group_value]).mean().unstack()
    base = (ideal.y_true == ideal.y_pred).groupby(ideal.group_value).mean()
    for i, name in enumerate(names):
        assert uniform[f"k_acc_g{i}_p50"] == pytest.approx(np.percentile(acc[name], 50), abs=1e-6)
        assert uniform[f"yield_g{i}"] == pytest.approx(float((acc[name] >= base[name] - 0.05 - 1e-12).mean()), abs=1e-6)
    # the worst-pair gap of one chip, recomputed from its predictions with the paper's two-group formula
    chip0 = chips[chips.chip == chips.chip.min()]
    codes = chip0.group_value.map({n: i for i, n in enumerate(names)}).to_numpy()
    pairwise = []
    for a in range(3):
        for b in range(a + 1, 3):
            keep = np.isin(codes, [a, b])
            two = fx.metrics.compute(chip0.y_true.to_numpy()[keep], chip0.y_pred.to_numpy()[keep],
                                     (codes[keep] == b).astype(int), num_classes=3)
            pairwise.append(two["eodds"])
    k = fx.metrics.compute(chip0.y_true.to_numpy(), chip0.y_pred.to_numpy(), codes, num_classes=3)
    assert k["eodds_worst_pair"] == pytest.approx(max(pairwise)) and k["eodds"] == pytest.approx(max(pairwise))
