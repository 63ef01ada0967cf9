"""More than two groups on the data side (issue 34): Fitzpatrick types, ITA bands, privileged sets,
intersections of group columns, the minimum group size, and the study settings that ask for them."""
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import fairxbar_aihw as fx
from fairxbar_aihw.data.groups import binary_from_values, check_group_sizes, intersect, privileged_set
from fairxbar_aihw.data.skin_tone import ITA_CATEGORIES, band_bounds, bands_from_pixels, ita
from fairxbar_aihw.data.synthderm import generate
from fairxbar_aihw.errors import DataError, UserError


def test_synthderm_all_groups_are_the_generated_types_and_the_two_groups_stay_the_papers():
    s = fx.data.load("synthderm", seed=3, size=16, groups="all", n=1500)
    plain = fx.data.load("synthderm", seed=3, size=16, n=1500)
    assert s.info["group_values"] == ["I", "II", "III", "IV", "V", "VI"]
    # the same images, labels and two groups as the two-group study: only the values are added
    for a, b in ((s.train, plain.train), (s.test, plain.test)):
        assert torch.equal(a.images, b.images) and torch.equal(a.groups, b.groups)
    assert plain.test.values is None and plain.test.value_names is None
    assert s.test.value_names == s.info["group_values"]
    # light (group 1) is exactly types I-III, as generated
    images, labels, light, fitz = generate(n=1500, size=16, seed=3)
    assert np.array_equal(light, (fitz <= 3).astype(int))
    assert np.array_equal(s.test.groups.numpy(), (s.test.values.numpy() <= 2).astype(int))
    assert np.bincount(s.test.values.numpy(), minlength=6).min() >= 30


def test_a_group_below_the_minimum_size_is_a_one_line_error_naming_it_and_the_fixes():
    with pytest.raises(DataError) as err:
        fx.data.load("synthderm", seed=0, size=16, groups="all", n=600)
    text = str(err.value)
    assert "fewer than the minimum group size 30" in text and "min_group_size" in text and "\n" not in text
    assert fx.data.load("synthderm", seed=0, size=16, groups="all", n=600, min_group_size=5).test.value_names
    counts = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    with pytest.raises(DataError, match="group value 'b' has 2 test image"):
        check_group_sizes(counts, ["a", "b", "c"], 3, "csv")
    check_group_sizes(counts, ["a", "b", "c"], 2, "csv")


def test_ita_bands_follow_del_bino_and_bernerd_and_a_user_split():
    images, *_ = generate(n=400, size=16, seed=1)
    angles = ita(images)
    groups, names, bands, band_names = bands_from_pixels(images, "ita")
    # the standard categories, lightest first, by the lower bounds 55, 41, 28, 10, -30
    expected = np.select([angles > 55, angles > 41, angles > 28, angles > 10, angles > -30], [0, 1, 2, 3, 4], 5)
    used = np.unique(expected)
    assert band_names == [ITA_CATEGORIES[i][0] for i in used]
    assert np.array_equal(bands, np.searchsorted(used, expected))
    assert np.array_equal(groups, (angles > 28).astype(int))  # the paper's two groups at the threshold
    _, _, mine, mine_names = bands_from_pixels(images, "ita", bands=[20.0, -20.0])
    assert mine_names == ["ITA > 20°", "-20° < ITA ≤ 20°", "ITA ≤ -20°"]
    assert np.array_equal(mine, np.select([angles > 20, angles > -20], [0, 1], 2))
    for bad in ([10.0, 20.0], [], [100.0]):
        with pytest.raises(DataError, match="ita_bands"):
            band_bounds(bad)


def test_privileged_sets_and_intersections():
    assert privileged_set("I, II,III") == ["I", "II", "III"] and privileged_set(["a", " b "]) == ["a", "b"]
    values = np.array([0, 1, 2, 3, 2, 0])
    groups, names = binary_from_values(values, ["I", "II", "III", "IV"], ["I", "II"], "x")
    assert groups.tolist() == [1, 1, 0, 0, 0, 1] and names == {0: "III + IV", 1: "I + II"}
    with pytest.raises(DataError, match="do not occur"):
        binary_from_values(values, ["I", "II"], ["VII"], "x")
    with pytest.raises(DataError, match="second group"):
        binary_from_values(values, ["I", "II"], ["I", "II"], "x")
    both = intersect([pd.Series(["light", "dark", None]), pd.Series(["F", "M", "F"])])
    assert both.tolist()[:2] == ["light × F", "dark × M"] and pd.isna(both.iloc[2])


def _root(tmp_path, monkeypatch, n=240):
    monkeypatch.setenv("FAIRXBAR_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "root"
    (root / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / "img" / f"{i}.png")
        rows.append((f"img/{i}.png", "ab"[i % 2], ["I", "II", "V"][(i // 2) % 3], "FM"[(i // 6) % 2]))
    pd.DataFrame(rows, columns=["image", "label", "skin", "sex"]).to_csv(root / "labels.csv", index=False)
    return root


def test_a_table_reads_a_privileged_set_and_intersections_of_columns(tmp_path, monkeypatch):
    root = _root(tmp_path, monkeypatch)
    s = fx.data.load("csv", root=root, size=8, balance=False, group_column="skin", privileged="I,II",
                     groups="all", min_group_size=5)
    assert s.info["group_values"] == ["I", "II", "V"] and s.group_names == {0: "V", 1: "I + II"}
    names = np.array(s.info["group_values"])[s.test.values.numpy()]
    assert np.array_equal(s.test.groups.numpy(), np.isin(names, ["I", "II"]).astype(int))
    s = fx.data.load("csv", root=root, size=8, balance=False, group_column=["skin", "sex"],
                     privileged=["I × F", "I × M"], groups="all", min_group_size=5)
    assert s.info["group_values"] == ["I × F", "I × M", "II × F", "II × M", "V × F", "V × M"]


def _fitz_root(tmp_path, monkeypatch):
    """A Fitzpatrick-17k root of 84 solid-colour images, types 1-6 in turn (and some unknown)."""
    monkeypatch.setenv("FAIRXBAR_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "fitz"
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(84):
        h = f"{i:032x}"
        rows.append({"md5hash": h, "fitzpatrick_scale": [-1, 1, 2, 3, 4, 5, 6][i % 7],
                     "label": ["acne", "psoriasis"][i % 2], "nine_partition_label": "a", "three_partition_label": "x"})
        Image.new("RGB", (10, 10), tuple(int(v) for v in rng.integers(0, 255, 3))).save(root / "images" / f"{h}.jpg")
    pd.DataFrame(rows).to_csv(root / "fitzpatrick17k.csv", index=False)
    return root


def test_fitzpatrick17k_reads_its_labelled_types_and_a_dataset_without_values_is_refused(tmp_path, monkeypatch):
    from fairxbar_aihw.data.groups import FITZPATRICK
    from fairxbar_aihw.data.loading import labelled_types
    from fairxbar_aihw.data.real import Table

    root = _fitz_root(tmp_path, monkeypatch)
    with pytest.warns(fx.errors.DataWarning):
        s = fx.data.load("fitzpatrick17k", root=root, size=8, balance=False, groups="all", min_group_size=1)
    names = s.info["group_values"]
    assert names == list(FITZPATRICK)
    for split in (s.train, s.val, s.test):  # light (group 1) is exactly types I-III, row by row
        assert np.array_equal(split.groups.numpy(), (split.values.numpy() <= 2).astype(int))
    assert np.bincount(np.concatenate([x.values.numpy() for x in (s.train, s.val, s.test)])).tolist() == [12] * 6
    table = Table(paths=[], labels=np.zeros(0), groups=np.zeros(0), class_names=[], group_names={})
    with pytest.raises(DataError, match="no group values beyond"):
        labelled_types(table, "isic2019")


def test_study_settings_for_every_group_are_checked_and_leave_two_group_runs_alone():
    from fairxbar_aihw.study.config import validate
    from fairxbar_aihw.study.stored import run_id_of

    base = {"seeds": [0], "dataset": {"name": "synthderm"}}
    every = validate({**base, "dataset": {"name": "synthderm", "groups": "all"}}, "x")
    plain = validate(base, "x")
    assert every.reads_every_group and every.gap_column("eodds_bc") == "k_eodds_bc"
    assert not plain.reads_every_group and plain.gap_column("eodds_bc") == "eodds_bc"
    assert run_id_of(plain) == run_id_of(validate({**base, "dataset": {"name": "synthderm", "groups": None}}, "x"))
    assert run_id_of(every) != run_id_of(plain)
    for bad, why in (({"ita_bands": [30, 10]}, "ita_bands needs"), ({"min_group_size": 10}, "min_group_size applies")):
        with pytest.raises(UserError, match=why):
            validate({**base, "dataset": {"name": "synthderm", **bad}}, "x")
