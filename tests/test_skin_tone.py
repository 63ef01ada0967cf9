"""Skin tone from pixels (ITA): the colour conversion against closed-form colours and skimage, ITA
against its formula and synthderm's true Fitzpatrick types, and groups from pixels for datasets
without a group column."""
import math
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image
from scipy import stats

import fairxbar_aihw as fx
import fairxbar_aihw.cli as cli_module
from fairxbar_aihw.data import check
from fairxbar_aihw.data.skin_tone import ita, ita_category, srgb_to_lab
from fairxbar_aihw.data.synthderm import SKIN_RGB, generate
from fairxbar_aihw.errors import ConfigError, DataError


@pytest.mark.parametrize("rgb,lab", [
    ((255, 255, 255), (100.0, 0.0, 0.0)),  # the D65 white point
    ((0, 0, 0), (0.0, 0.0, 0.0)),
    ((255, 0, 0), (53.2408, 80.0925, 67.2032)),
    ((0, 255, 0), (87.7347, -86.1827, 83.1793)),
    ((0, 0, 255), (32.2970, 79.1875, -107.8602)),
    ((128, 128, 128), (53.5850, 0.0, 0.0)),  # L* of sRGB mid-grey; greys have a* = b* = 0
])
def test_lab_of_closed_form_colours(rgb, lab):
    got = srgb_to_lab(torch.tensor(rgb, dtype=torch.float64) / 255)
    assert got.tolist() == pytest.approx(lab, abs=2e-3)


def test_lab_matches_skimage_on_random_colours():
    color = pytest.importorskip("skimage.color")
    rgb = np.random.default_rng(0).integers(0, 256, (500, 3)).astype(np.float64) / 255
    ours = srgb_to_lab(torch.from_numpy(rgb)).numpy()
    theirs = color.rgb2lab(rgb[None])[0]  # D65, 2° observer
    assert np.abs(ours - theirs).max() < 0.02  # the two use the sRGB matrix to 4 vs 7 digits


def _skin_image(skin, lesion=(40, 20, 15), size=20, lesion_half=5):
    """uint8 (3, size, size): a uniform skin colour with a square lesion in the middle."""
    img = np.empty((size, size, 3), np.uint8)
    img[:] = skin
    c = size // 2
    img[c - lesion_half: c + lesion_half, c - lesion_half: c + lesion_half] = lesion
    return torch.from_numpy(img).permute(2, 0, 1)


def test_ita_is_the_formula_on_the_skin_around_the_lesion():
    skins = [(240, 205, 180), (200, 150, 120), (120, 80, 55), (70, 45, 35)]
    images = torch.stack([_skin_image(s) for s in skins])
    lab = srgb_to_lab(torch.tensor(skins, dtype=torch.float64) / 255).numpy()
    expected = np.degrees(np.arctan((lab[:, 0] - 50) / lab[:, 2]))  # Chardon et al. 1991
    assert ita(images) == pytest.approx(expected, abs=1e-9)
    assert np.all(np.diff(ita(images)) < 0)  # darker skin, lower angle
    assert fx.data.ita(images).dtype == np.float64 and fx.data.ita is ita  # the public name
    # the lesion does not count, even a large one reaching into a third of the ring
    big = torch.stack([_skin_image(s, lesion=(250, 30, 30), lesion_half=9) for s in skins])
    assert ita(big) == pytest.approx(expected, abs=1e-9)
    with pytest.raises(DataError, match=r"uint8 RGB images shaped \(N, 3, H, W\)"):
        ita(images.float())


def test_a_dermoscopy_vignette_is_left_out_and_an_all_black_border_is_named():
    from fairxbar_aihw.data.skin_tone import groups_from_pixels, ring_mask

    skins = [(240, 205, 180), (70, 45, 35)]
    images = torch.stack([_skin_image(s) for s in skins])
    lin = torch.linspace(-1, 1, 20)
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    dark_corners = (xx ** 2 + yy ** 2).sqrt() > 0.95  # a circular field of view: black outside
    assert dark_corners[ring_mask(20, 20)].float().mean() > 0.6  # most of the border ring is vignette
    vignetted = images.clone()
    vignetted[:, :, dark_corners] = 0
    assert ita(vignetted) == pytest.approx(ita(images), abs=1e-9)
    vignetted[1, :, ring_mask(20, 20)] = 3  # nothing but near-black in the border
    angles = ita(vignetted)
    assert not np.isnan(angles[0]) and np.isnan(angles[1])
    with pytest.raises(DataError, match="1 image.* have no skin in their border.*first: image 1"):
        groups_from_pixels(vignetted, "ita")


def test_del_bino_categories():
    names = ["very light", "light", "intermediate", "tan", "brown", "dark"]
    got = ita_category(np.array([70.0, 55.0, 41.0, 30.0, 28.0, 10.0, 0.0, -29.9, -30.0, -60.0]))
    assert [names[i] for i in got] == ["very light", "light", "intermediate", "intermediate", "tan", "brown",
                                       "brown", "brown", "dark", "dark"]


def test_ita_ranks_synthderms_true_skin_types():
    images, _, groups, fitz = generate(n=1200, size=16, seed=0)
    angles = ita(images)
    rho = stats.spearmanr(fitz, angles).statistic
    assert rho < -0.95
    medians = [np.median(angles[fitz == t]) for t in range(1, 7)]
    assert np.all(np.diff(medians) < -10)  # each type at least 10° darker than the one before
    assert np.mean((angles > 28) == (groups == 1)) > 0.98  # light (I-III) vs dark (IV-VI) at 28°
    # the pure background colour of each type lands in its expected Del Bino category
    lab = srgb_to_lab(SKIN_RGB.double()).numpy()
    pure = np.degrees(np.arctan((lab[:, 0] - 50) / lab[:, 2]))
    assert ita_category(pure).tolist() == [0, 0, 2, 4, 5, 5]


def _images(root, colours, lesion=(60, 25, 20)):
    """PNG files img/<i>.png of skin colour ``colours[i]`` with a central lesion."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    names = []
    for i, skin in enumerate(colours):
        Image.fromarray(_skin_image(skin, lesion).permute(1, 2, 0).numpy()).save(root / "img" / f"{i}.png")
        names.append(f"img/{i}.png")
    return names


LIGHT, DARK = (215, 170, 140), (95, 62, 45)  # ITA 46.5° (intermediate) and −51.4° (dark)


def test_a_csv_without_group_column_gets_groups_from_skin_tone(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FAIRXBAR_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "root"
    light = [i % 3 != 0 for i in range(48)]
    names = _images(root, [LIGHT if x else DARK for x in light])
    pd.DataFrame({"image": names, "label": ["ab"[i % 2] for i in range(48)]}).to_csv(root / "labels.csv", index=False)
    with pytest.raises(DataError, match="lacks column"):  # without group_from the group column is required
        fx.data.load("csv", root=root, privileged="x")
    s = fx.data.load("csv", root=root, size=16, balance=False, group_from="ita")
    assert s.group_names == {0: "dark (ITA ≤ 28°)", 1: "light (ITA > 28°)"}
    groups = np.concatenate([p.groups.numpy() for p in (s.train, s.val, s.test)])
    assert np.bincount(groups).tolist() == [16, 32] and s.test.values is None
    with pytest.raises(DataError, match="puts all 48 images in the dark group"):
        fx.data.load("csv", root=root, size=16, group_from="ita", ita_threshold=60)
    # the folder layout needs no groups file either
    folder = tmp_path / "folder"
    for i, (name, x) in enumerate(zip(names, light)):
        (folder / "ab"[i % 2]).mkdir(parents=True, exist_ok=True)
        (root / name).rename(folder / "ab"[i % 2] / f"{i}.png")
    r = check("folder", folder, size=16, group_from="ita")
    assert np.array(r["counts"]).sum(axis=0).tolist() == [16, 32]
    assert r["ita"]["by_group"]["light (ITA > 28°)"]["median"] == pytest.approx(46.53, abs=0.01)
    monkeypatch.setattr(sys, "argv", ["fairxbar-aihw", "data", "check", "--dataset", "folder", "--data-root",
                                      str(folder), "--size", "16", "--group-from", "ita", "--ita-threshold", "10"])
    cli_module.main()
    out = capsys.readouterr().out
    assert "dark (ITA ≤ 10°)" in out and "light (ITA > 10°)" in out and "median   46.5" in out
    monkeypatch.setattr(sys, "argv", ["fairxbar-aihw", "data", "check", "--dataset", "folder", "--data-root",
                                      str(folder), "--group-from", "ita", "--no-decode"])
    with pytest.raises(SystemExit) as exc:
        cli_module.main()
    assert exc.value.code == 2 and "drop --no-decode" in capsys.readouterr().err


def test_data_check_shows_ita_per_labelled_fitzpatrick_type(tmp_path, monkeypatch):
    monkeypatch.setenv("FAIRXBAR_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "fitz"
    (root / "images").mkdir(parents=True)
    rows = []
    for i in range(36):
        scale = 1 + i % 6
        skin = tuple(int(round(255 * v)) for v in SKIN_RGB[scale - 1].tolist())
        Image.fromarray(_skin_image(skin).permute(1, 2, 0).numpy()).save(root / "images" / f"{i:032x}.png")
        rows.append({"md5hash": f"{i:032x}", "fitzpatrick_scale": scale, "label": "ab"[i % 2],
                     "nine_partition_label": "a", "three_partition_label": "x"})
    pd.DataFrame(rows).to_csv(root / "fitzpatrick17k.csv", index=False)
    (root / "images" / f"{0:032x}.png").write_bytes(b"not a png")  # a type I image fails to decode
    r = check("fitzpatrick17k", root, size=16)
    by_type = r["ita"]["by_type"]
    assert [by_type[t]["n"] for t in range(1, 7)] == [5, 6, 6, 6, 6, 6]  # types stay aligned with the images
    assert np.all(np.diff([by_type[t]["median"] for t in range(1, 7)]) < 0)
    assert r["ita"]["spearman_rho"] == pytest.approx(-1.0) and r["ita"]["agreement"] == 1.0


def test_study_keys_for_groups_from_pixels(tmp_path, monkeypatch):
    from fairxbar_aihw.store import config_hash
    from fairxbar_aihw.study import load_study
    from fairxbar_aihw.study.stored import run_config_for_hash

    monkeypatch.setenv("FAIRXBAR_STUDIES", str(tmp_path))
    base = {"dataset": {"name": "csv", "root": str(tmp_path), "group_from": "ita"}}
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(base))
    assert load_study("mine").dataset.loader_params() == {"group_from": "ita"}  # no privileged value needed
    for change, fragment in [({"privileged": "m"}, "dataset.privileged does not apply with group_from: ita"),
                             ({"group_from": None, "ita_threshold": 20}, "ita_threshold needs dataset.group_from"),
                             ({"group_from": "hue"}, "group_from")]:
        (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"dataset": {**base["dataset"], **change}}))
        with pytest.raises(ConfigError, match=fragment):
            load_study("bad")
    # set, the keys make a run of its own; unset, they leave every existing run id alone
    (tmp_path / "synth.yaml").write_text(yaml.safe_dump({"dataset": {"name": "synthderm"}}))
    (tmp_path / "synth_ita.yaml").write_text(yaml.safe_dump({"dataset": {"name": "synthderm", "group_from": "ita"}}))
    plain = run_config_for_hash(load_study("synth"))
    assert "group_from" not in plain["dataset"] and "ita_threshold" not in plain["dataset"]
    assert config_hash(run_config_for_hash(load_study("synth_ita"))) != config_hash(plain)
    assert not math.isnan(fx.data.load("synthderm", size=16, n=400, group_from="ita").test.groups.float().mean())
