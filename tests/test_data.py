"""Datasets: synthderm determinism, split protocol, real-dataset roots and every error path."""
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import fairxbar_aihw as fx
from fairxbar_aihw.data import balance_groups, check, stratified_split
from fairxbar_aihw.errors import DataError, UserError


def test_synthderm_is_seeded_and_shaped():
    a = fx.data.load("synthderm", seed=3, size=16, n=400, num_classes=3)
    b = fx.data.load("synthderm", seed=3, size=16, n=400, num_classes=3)
    c = fx.data.load("synthderm", seed=4, size=16, n=400, num_classes=3)
    assert torch.equal(a.train.images, b.train.images)
    assert not torch.equal(a.train.images[:10], c.train.images[:10])
    assert a.train.images.shape[1:] == (3, 16, 16) and a.train.images.dtype == torch.uint8
    assert a.synthetic and a.num_classes == 3
    x, y, g = a.train[0]
    assert x.dtype == torch.float32 and 0 <= y < 3 and g in (0, 1)


def test_darker_skin_has_lower_lesion_contrast():
    from fairxbar_aihw.data.synthderm import generate

    images, labels, groups, fitz = generate(n=600, size=32, seed=0)
    img = images.float()
    centre = img[:, :, 12:20, 12:20].mean((2, 3))
    corner = img[:, :, :4, :4].mean((2, 3))
    contrast = (centre - corner).abs().sum(1).numpy()
    assert contrast[fitz <= 3].mean() > 1.5 * contrast[fitz >= 4].mean()


def test_split_is_disjoint_deterministic_and_stratified():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 1000)
    groups = rng.integers(0, 2, 1000)
    tr, va, te = stratified_split(labels, groups, seed=1)
    tr2, _, _ = stratified_split(labels, groups, seed=1)
    assert np.array_equal(tr, tr2)
    assert len(set(tr) & set(va)) == len(set(tr) & set(te)) == len(set(va) & set(te)) == 0
    assert len(tr) + len(va) + len(te) == 1000
    assert abs(len(tr) / 1000 - 0.6) < 0.02 and abs(len(te) / 1000 - 0.2) < 0.02
    for s in range(8):  # each label×group stratum keeps its proportion
        members = np.flatnonzero(labels * 2 + groups == s)
        assert abs(np.isin(members, tr).mean() - 0.6) < 0.05


def test_balance_gives_equal_groups():
    groups = np.array([0] * 30 + [1] * 70)
    keep = balance_groups(np.zeros(100, int), groups, seed=0)
    assert (groups[keep] == 0).sum() == (groups[keep] == 1).sum() == 30
    s = fx.data.load("synthderm", seed=0, size=16, n=600, light_fraction=0.8)
    all_groups = torch.cat([s.train.groups, s.val.groups, s.test.groups])
    assert (all_groups == 0).sum() == (all_groups == 1).sum()


def test_synthderm_bad_parameters():
    with pytest.raises(UserError, match="num_classes"):
        fx.data.load("synthderm", num_classes=115)
    with pytest.raises(UserError, match="num_classes"):
        fx.data.load("synthderm", num_classes=1)
    with pytest.raises(UserError, match="light_fraction"):
        fx.data.load("synthderm", light_fraction=1.5)
    with pytest.raises(UserError, match="unknown synthderm parameter"):
        fx.data.load("synthderm", colour=3)
    with pytest.raises(UserError, match="unknown dataset"):
        fx.data.load("mnist")


def test_synthderm_reaches_the_papers_class_count_and_keeps_its_first_classes():
    """Up to Fitzpatrick-17k's 114 classes; the first six are the hand-made ones, and a 4-class
    dataset is the same whatever the maximum (the demo's images never change)."""
    from fairxbar_aihw.data.synthderm import CLASS_SPECS, class_names, class_specs

    assert class_specs(4) == CLASS_SPECS[:4] and len(set(class_names(114))) == 114
    s = fx.data.load("synthderm", seed=1, size=8, n=114 * 12, num_classes=114, balance=False)
    assert s.num_classes == 114 and len(s.class_names) == 114
    counts = np.bincount(torch.cat([s.train.labels, s.val.labels, s.test.labels]).numpy(), minlength=114)
    assert counts.min() > 0
    # procedural classes differ from each other in what the generator draws (colour, shape, texture)
    specs = np.array([[*c[1], *c[2:]] for c in class_specs(114)])
    assert np.unique(specs.round(6), axis=0).shape[0] == 114


def _image(path, colour=(120, 80, 60)):
    Image.new("RGB", (20, 24), colour).save(path)


@pytest.fixture
def fitz_root(tmp_path, monkeypatch):
    monkeypatch.setenv("FAIRXBAR_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "fitz"
    (root / "images").mkdir(parents=True)
    rows = []
    rng = np.random.default_rng(0)
    for i in range(60):
        h = f"{i:032x}"
        scale = [-1, 1, 2, 3, 4, 5, 6][i % 7]
        rows.append({"md5hash": h, "fitzpatrick_scale": scale, "label": ["acne", "psoriasis", "melanoma"][i % 3],
                     "nine_partition_label": ["a", "b"][i % 2], "three_partition_label": "x" if i % 2 else "y"})
        _image(root / "images" / f"{h}.jpg", tuple(int(v) for v in rng.integers(0, 255, 3)))
    pd.DataFrame(rows).to_csv(root / "fitzpatrick17k.csv", index=False)
    return root


def test_fitzpatrick_loads_with_groups_and_granularity(fitz_root):
    s = fx.data.load("fitzpatrick17k", root=fitz_root, size=16, balance=False)
    n = len(s.train) + len(s.val) + len(s.test)
    assert n == 60 - 9  # scale -1 rows dropped (i % 7 == 0)
    assert s.class_names == ["acne", "melanoma", "psoriasis"]
    assert not s.synthetic and s.info["dropped_rows"]["unknown_fitzpatrick_scale"] == 9
    s9 = fx.data.load("fitzpatrick17k", root=fitz_root, size=16, num_labels=9)
    assert s9.num_classes == 2


def test_fitzpatrick_error_paths(fitz_root, tmp_path):
    with pytest.raises(DataError, match="needs a data root"):
        fx.data.load("fitzpatrick17k")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="missing fitzpatrick17k.csv"):
        fx.data.load("fitzpatrick17k", root=empty)
    df = pd.read_csv(fitz_root / "fitzpatrick17k.csv")
    df.drop(columns=["fitzpatrick_scale"]).to_csv(fitz_root / "fitzpatrick17k.csv", index=False)
    with pytest.raises(DataError, match="lacks column.*fitzpatrick_scale"):
        fx.data.load("fitzpatrick17k", root=fitz_root)
    df.assign(fitzpatrick_scale=-1).to_csv(fitz_root / "fitzpatrick17k.csv", index=False)
    with pytest.raises(DataError, match="no rows left"):
        fx.data.load("fitzpatrick17k", root=fitz_root)


def test_missing_and_corrupt_images_are_named_and_skipped(fitz_root):
    imgs = sorted((fitz_root / "images").iterdir())
    imgs[1].unlink()
    imgs[2].write_bytes(b"not a jpeg")
    imgs[3].unlink()
    imgs[3].symlink_to(fitz_root / "nowhere.jpg")  # a broken link: missing, not a crash
    r = check("fitzpatrick17k", fitz_root, size=8)
    text = " ".join(r["problems"])
    assert "2 image(s) listed in the CSV are missing or unreadable" in text
    assert f"corrupt or unreadable image, skipped: {imgs[2]}" in r["problems"]
    assert r["usable"] == 51 - 3
    assert np.array(r["counts"]).sum() == r["usable"]


def test_cache_is_reused_and_invalidated(fitz_root, tmp_path):
    fx.data.load("fitzpatrick17k", root=fitz_root, size=8)
    cached = list((tmp_path / "cache").glob("*.pt"))
    assert len(cached) == 1
    fx.data.load("fitzpatrick17k", root=fitz_root, size=8)
    assert list((tmp_path / "cache").glob("*.pt")) == cached
    img = sorted((fitz_root / "images").iterdir())[3]
    _image(img, (1, 2, 3))
    import os

    os.utime(img, ns=(1, 1))
    fx.data.load("fitzpatrick17k", root=fitz_root, size=8)
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 2


def test_isic_layout_and_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("FAIRXBAR_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "isic"
    (root / "ISIC_2019_Training_Input").mkdir(parents=True)
    classes = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK"]
    gt, meta = [], []
    for i in range(40):
        name = f"ISIC_{i:07d}"
        onehot = {c: 0.0 for c in classes}
        onehot[classes[i % 8]] = 1.0
        gt.append({"image": name, **onehot})
        meta.append({"image": name, "age_approx": 50, "sex": ["male", "female", None][i % 3] if i < 39 else "male"})
        _image(root / "ISIC_2019_Training_Input" / f"{name}.jpg")
    pd.DataFrame(gt).to_csv(root / "ISIC_2019_Training_GroundTruth.csv", index=False)
    pd.DataFrame(meta).to_csv(root / "ISIC_2019_Training_Metadata.csv", index=False)
    s = fx.data.load("isic2019", root=root, size=8, balance=False)
    assert s.num_classes == 8 and s.group_names == {0: "female", 1: "male"}
    assert len(s.train) + len(s.val) + len(s.test) == 40 - 13  # rows without sex dropped
    pd.DataFrame(meta).drop(columns=["sex"]).to_csv(root / "ISIC_2019_Training_Metadata.csv", index=False)
    with pytest.raises(DataError, match="lacks column.*sex"):
        fx.data.load("isic2019", root=root)


def test_data_check_warns_about_empty_groups_and_classes():
    from fairxbar_aihw.data import empty_cells

    names = {0: "dark", 1: "light"}
    counts = np.array([[5, 4], [0, 3], [0, 0]])
    warnings = empty_cells(counts, ["a", "b", "c"], names)
    assert warnings == ["class b has no images in group dark: its rate gaps are undefined there",
                        "class c has no usable images"]
    assert empty_cells(np.array([[5, 0], [2, 0]]), ["a", "b"], names) == [
        "group 1 (light) has no usable images: fairness cannot be measured"]


def test_fitzpatrick_groups_are_coded_row_by_row(fitz_root):
    from fairxbar_aihw.data.real import fitzpatrick_table

    csv = pd.read_csv(fitz_root / "fitzpatrick17k.csv").set_index("md5hash")
    table = fitzpatrick_table(fitz_root)
    assert len(table.paths) == 51
    for path, label, group in zip(table.paths, table.labels, table.groups):
        row = csv.loc[path.stem]
        assert group == (1 if row["fitzpatrick_scale"] <= 3 else 0)  # light 1-3 = 1, dark 4-6 = 0
        assert table.class_names[label] == row["label"]


def test_isic_groups_are_coded_row_by_row(tmp_path):
    from fairxbar_aihw.data.real import ISIC_CLASSES, isic_table

    root = tmp_path / "isic"
    (root / "ISIC_2019_Training_Input").mkdir(parents=True)
    rng = np.random.default_rng(1)
    gt, meta = [], []
    for i in range(30):
        name = f"ISIC_{i:07d}"
        k = int(rng.integers(0, 8))
        gt.append({"image": name, **{c: float(j == k) for j, c in enumerate(ISIC_CLASSES + ["UNK"])}})
        meta.append({"image": name, "sex": str(rng.choice(["male", "female", "Male"]))})
        _image(root / "ISIC_2019_Training_Input" / f"{name}.jpg")
    pd.DataFrame(gt[::-1]).to_csv(root / "ISIC_2019_Training_GroundTruth.csv", index=False)  # other row orders
    pd.DataFrame(meta).to_csv(root / "ISIC_2019_Training_Metadata.csv", index=False)
    table = isic_table(root)
    sex = {m["image"]: m["sex"].lower() for m in meta}
    label = {g["image"]: next(j for j, c in enumerate(ISIC_CLASSES) if g[c] == 1.0) for g in gt}
    for path, y, group in zip(table.paths, table.labels, table.groups):
        assert group == (1 if sex[path.stem] == "male" else 0)
        assert y == label[path.stem]


# ---- your own CSV: inputs that read outside the root or were silently wrong (issue 25)
SECRET = "TOPSECRET-root:$6$hash:19000"


def _csv_root(tmp_path, rows, monkeypatch):
    """A csv dataset root with 12x12 PNGs img/0.png.. and labels.csv from (image, label, group) rows."""
    monkeypatch.setenv("FAIRXBAR_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "root"
    (root / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(root / "img" / f"{i}.png")
    pd.DataFrame(rows, columns=["image", "label", "group"]).to_csv(root / "labels.csv", index=False)
    return root


def _rows(n=40):
    return [(f"img/{i}.png", "ab"[i % 2], "mf"[(i // 2) % 2]) for i in range(n)]


def test_label_files_outside_the_root_are_refused_and_never_echoed(tmp_path, monkeypatch):
    root = _csv_root(tmp_path, _rows(), monkeypatch)
    (tmp_path / "secret.txt").write_text(SECRET + "\nmore\n")
    (root / "link.csv").symlink_to(tmp_path / "secret.txt")
    for file in ("../secret.txt", str(tmp_path / "secret.txt"), "link.csv"):
        with pytest.raises(DataError, match="leads outside the data root") as err:
            fx.data.load("csv", root=root, file=file, privileged="m")
        assert SECRET not in str(err.value)
    with pytest.raises(DataError, match="groups file '../secret.txt' leads outside"):
        fx.data.load("folder", root=root, groups_file="../secret.txt", privileged="m")
    (root / "notes.txt").write_text(SECRET + "\n")  # inside the root but not the table: name columns, no text
    with pytest.raises(DataError, match=r"notes.txt lacks column\(s\) image, label, group; its header") as err:
        fx.data.load("csv", root=root, file="notes.txt", privileged="m")
    assert SECRET not in str(err.value) and "TOPSECRET" not in str(err.value)


def test_duplicate_classes_are_an_error(tmp_path, monkeypatch):
    root = _csv_root(tmp_path, _rows(), monkeypatch)
    with pytest.raises(DataError, match="names a more than once; list each label once"):
        fx.data.load("csv", root=root, privileged="m", classes=["a", "b", "a"])
    assert fx.data.load("csv", root=root, privileged="m", classes=["b", "a"], size=8).class_names == ["b", "a"]


def test_16_bit_png_decodes_like_its_8_bit_version(tmp_path):
    from fairxbar_aihw.data.real import _decode

    grey = np.random.default_rng(2).integers(0, 256, (20, 24), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "g8.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "g16.png")  # the same picture in 16 bits
    Image.fromarray(grey.astype(np.int32) * 257, "I").save(tmp_path / "g32.tif")  # 16-bit values in mode I
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    eight = _decode(tmp_path / "g8.png", 16)
    assert eight.float().mean() < 200  # not the all-white picture
    assert torch.equal(_decode(tmp_path / "g16.png", 16), eight)
    assert torch.equal(_decode(tmp_path / "g32.tif", 16), eight)
    Image.fromarray(grey.astype(np.float32) / 255).save(tmp_path / "f.tif")  # float pixels: no known scale
    assert _decode(tmp_path / "f.tif", 16) is None  # skipped and counted, never guessed


def test_blank_and_whitespace_groups_are_dropped_counted_and_warned(tmp_path, monkeypatch):
    from fairxbar_aihw.data.user_table import csv_table
    from fairxbar_aihw.errors import DataWarning

    rows = [(im, label, "   " if i < 3 else "" if i < 5 else group) for i, (im, label, group) in enumerate(_rows())]
    root = _csv_root(tmp_path, rows, monkeypatch)
    table = csv_table(root, privileged="m")
    assert table.value_names == ["f", "m"]  # whitespace is no group value ""
    assert table.skipped["blank_group_cell"] == 5 and len(table.paths) == 35
    with pytest.warns(DataWarning, match=r"csv: 5 row\(s\) skipped \(5 blank group cell\)"):
        s = fx.data.load("csv", root=root, privileged="m", size=8, balance=False)
    assert s.info["skipped"]["blank_group_cell"] == 5 and len(s.train) + len(s.val) + len(s.test) == 35
    r = check("csv", root, size=8, privileged="m")
    assert "5 row(s) dropped: blank group cell" in r["problems"] and r["rows"] == 40 and r["usable"] == 35


def test_duplicate_image_rows_are_dropped_with_a_count_and_conflicts_refused(tmp_path, monkeypatch):
    from fairxbar_aihw.data.user_table import csv_table

    rows = _rows()
    root = _csv_root(tmp_path, rows + [rows[4], ("./" + rows[6][0], *rows[6][1:])], monkeypatch)
    table = csv_table(root, privileged="m")
    assert table.skipped["duplicate_image_row"] == 2 and len(table.paths) == 40 == len(set(table.paths))
    assert "2 row(s) dropped: duplicate image row" in check("csv", root, size=8, privileged="m")["problems"]
    other = "b" if rows[7][1] == "a" else "a"
    pd.DataFrame(rows + [(rows[7][0], other, rows[7][2])]).to_csv(root / "labels.csv", index=False,
                                                                  header=["image", "label", "group"])
    with pytest.raises(DataError, match="image 'img/7.png' is listed with different labels or groups"):
        csv_table(root, privileged="m")


def test_latin1_csv_gets_a_save_as_utf8_hint(tmp_path, monkeypatch):
    root = _csv_root(tmp_path, _rows(), monkeypatch)
    text = "image,label,group\n" + "".join(f"img/{i}.png,café,{'mf'[i % 2]}\n" for i in range(40))
    (root / "labels.csv").write_bytes(text.encode("latin-1"))
    with pytest.raises(DataError, match="labels.csv is not UTF-8 text .*save it as UTF-8"):
        fx.data.load("csv", root=root, privileged="m")
