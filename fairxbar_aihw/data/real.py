"""Real dermatology datasets read from a local root: Fitzpatrick-17k and ISIC-2019.

Nothing is downloaded. Each loader turns the root into a table of (image path, label, group),
validates it with one clear message per problem, and decodes + resizes the images once into a
uint8 cache keyed by (dataset, resolution, root, file stats), so epochs and Monte-Carlo trials
never touch JPEGs again. Corrupt images are skipped with a count.
"""
from __future__ import annotations

import csv
import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..errors import PATH_LIMIT, DataError, quote_value, quoted_listing
from ..leftovers import made_file, make_folder
from ..paths import cache_dir
from .catalog import DATASETS
from ..torchfiles import atomic_torch_save, load_torch_file

FITZ_CSV = "fitzpatrick17k.csv"
FITZ_LABELS = {114: "label", 9: "nine_partition_label", 3: "three_partition_label"}
ISIC_GT = "ISIC_2019_Training_GroundTruth.csv"
ISIC_META = "ISIC_2019_Training_Metadata.csv"
ISIC_IMAGES = "ISIC_2019_Training_Input"
ISIC_CLASSES = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC"]


@dataclass
class Table:
    """A validated dataset index: one row per usable image."""

    paths: list[Path]
    labels: np.ndarray
    groups: np.ndarray
    class_names: list[str]
    group_names: dict[int, str]
    missing: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    values: np.ndarray | None = None  # each row's group value id when a dataset has more than two values
    value_names: list[str] = field(default_factory=list)
    skin_types: np.ndarray | None = None  # each row's labelled Fitzpatrick type (1-6), where the dataset has one

    @property
    def skipped(self) -> dict[str, int]:
        """Rows left out, by reason (dropped rows and listed images not found): what warnings,
        ``data check`` and reports count."""
        return {**self.dropped, "image_not_found": len(self.missing)}


def _read_csv(path: Path, dataset: str, required: list[str], dtype: Any = None, fix: str = "") -> pd.DataFrame:
    """The CSV as a frame. Errors name the file and the missing columns but never echo its text:
    a file that is not the expected CSV may hold anything (``fix``: how to name other columns)."""
    if not path.is_file():
        raise DataError(f"{dataset}: missing {path.name} in {path.parent}; {DATASETS[dataset].how_to_get}")
    try:
        with warnings.catch_warnings():  # rows longer than the header: pandas would shift every column
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(path, dtype=dtype, index_col=False)
    except pd.errors.ParserWarning:
        raise DataError(f"{dataset}: line {_first_long_line(path)} of {path.name} has more fields than its header "
                        "row; quote cells that hold commas, or fix that row") from None
    except UnicodeDecodeError:
        raise DataError(f"{dataset}: {path.name} is not UTF-8 text (Latin-1 or another encoding); save it as UTF-8 "
                        "(spreadsheets: Save As → CSV UTF-8) and rerun") from None
    except Exception as exc:  # pandas' parser errors name a line number, never the text
        why = str(exc).splitlines()[0][:160] if isinstance(exc, pd.errors.ParserError | pd.errors.EmptyDataError) \
            else type(exc).__name__
        raise DataError(f"{dataset}: cannot parse {path.name} as CSV ({why}); it must be a comma-separated table "
                        "with a header row") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(f"{dataset}: {path.name} lacks column(s) {', '.join(missing)}; its header row must name "
                        f"them{fix or '; ' + DATASETS[dataset].how_to_get}")
    return df


def _first_long_line(path: Path) -> int | None:
    """The line number of the first row with more fields than the header (None if none)."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        width = len(next(reader, []))
        return next((reader.line_num for row in reader if len(row) > width), None)


def _find_images(folder: Path, stems: list[str], dataset: str) -> tuple[list[Path | None], list[str]]:
    if not folder.is_dir():
        raise DataError(f"{dataset}: image folder {folder} does not exist; {DATASETS[dataset].how_to_get}")
    present = {}
    for entry in os.scandir(folder):
        stem, ext = os.path.splitext(entry.name)
        if ext.lower() in (".jpg", ".jpeg", ".png") and entry.is_file():  # a broken link counts as missing
            present.setdefault(stem, Path(entry.path))
    paths = [present.get(s) for s in stems]
    missing = [s for s, p in zip(stems, paths) if p is None]
    return paths, missing


def _finish(dataset: str, df: pd.DataFrame, paths: list[Path | None], missing: list[str],
            class_names: list[str], group_names: dict[int, str], dropped: dict[str, int]) -> Table:
    keep = np.array([p is not None for p in paths], dtype=bool)
    if not keep.any():
        raise DataError(
            f"{dataset}: none of the {len(paths)} images listed in the CSV were found "
            f"(first missing: {quoted_listing(missing, 3)}); {DATASETS[dataset].how_to_get}"
        )
    return Table(
        paths=[p for p in paths if p is not None],
        labels=df["_label"].to_numpy()[keep].astype(np.int64),
        groups=df["_group"].to_numpy()[keep].astype(np.int64),
        class_names=class_names,
        group_names=group_names,
        missing=missing,
        dropped=dropped,
    )


def fitzpatrick_table(root: Path, num_labels: int = 114, drop_unknown_scale: bool = True) -> Table:
    """Fitzpatrick-17k index: light = types 1–3 (group 1), dark = 4–6 (group 0)."""
    if num_labels not in FITZ_LABELS:
        raise DataError(f"fitzpatrick17k label granularity must be 114, 9 or 3, got {num_labels}")
    label_col = FITZ_LABELS[num_labels]
    df = _read_csv(root / FITZ_CSV, "fitzpatrick17k", ["md5hash", "fitzpatrick_scale", label_col])
    n0 = len(df)
    scale = pd.to_numeric(df["fitzpatrick_scale"], errors="coerce")
    valid = scale.between(1, 6)
    dropped = {"unknown_fitzpatrick_scale": int((~valid).sum())}
    if not drop_unknown_scale and dropped["unknown_fitzpatrick_scale"]:
        raise DataError("fitzpatrick17k: rows with scale -1 need a group; keep drop_unknown_scale on")
    df = df[valid & df[label_col].notna()].copy()
    dropped["no_label"] = n0 - dropped["unknown_fitzpatrick_scale"] - len(df)
    if df.empty:
        raise DataError("fitzpatrick17k: no rows left after dropping unknown Fitzpatrick scale / labels")
    class_names = sorted(df[label_col].astype(str).unique().tolist())
    df["_label"] = df[label_col].astype(str).map({c: i for i, c in enumerate(class_names)})
    df["_group"] = (pd.to_numeric(df["fitzpatrick_scale"]) <= 3).astype(int)
    paths, missing = _find_images(root / "images", df["md5hash"].astype(str).tolist(), "fitzpatrick17k")
    table = _finish("fitzpatrick17k", df, paths, missing, class_names,
                    {0: "dark (Fitzpatrick 4-6)", 1: "light (Fitzpatrick 1-3)"}, dropped)
    found = np.array([p is not None for p in paths], dtype=bool)
    table.skin_types = pd.to_numeric(df["fitzpatrick_scale"]).to_numpy()[found].astype(np.int64)
    return table


def isic_table(root: Path) -> Table:
    """ISIC-2019 index: 8 diagnostic classes (UNK dropped), group = sex (1 = male, 0 = female)."""
    gt = _read_csv(root / ISIC_GT, "isic2019", ["image", *ISIC_CLASSES])
    meta = _read_csv(root / ISIC_META, "isic2019", ["image", "sex"])
    df = gt.merge(meta[["image", "sex"]], on="image", how="left")
    onehot = df[ISIC_CLASSES].to_numpy(dtype=np.float64)
    has_label = onehot.sum(axis=1) == 1
    sex = df["sex"].astype(str).str.lower()
    has_sex = sex.isin(["male", "female"])
    dropped = {"no_single_label": int((~has_label).sum()), "no_sex": int((has_label & ~has_sex).sum())}
    df = df[has_label & has_sex].copy()
    if df.empty:
        raise DataError("isic2019: no rows left after dropping images without one label and a sex")
    df["_label"] = onehot[has_label & has_sex].argmax(axis=1)
    df["_group"] = (sex[has_label & has_sex] == "male").astype(int).to_numpy()
    paths, missing = _find_images(root / ISIC_IMAGES, df["image"].astype(str).tolist(), "isic2019")
    return _finish("isic2019", df, paths, missing, list(ISIC_CLASSES), {0: "female", 1: "male"}, dropped)




DECODER = 2  # part of the cache key: bump when decoding changes (2: 16-bit grey scaled, not clipped)


def _eight_bit(img: Any) -> Any:
    """16-bit grey images (PIL modes I;16*, and I within 0..65535) scaled to 8 bits: PIL's own
    conversion clips them, so nearly every pixel came out white. Float or wider images are refused."""
    from PIL import Image

    if not (img.mode.startswith("I;16") or img.mode in ("I", "F")):
        return img
    arr = np.asarray(img).astype(np.int64) if img.mode != "F" else None
    if arr is None or arr.min() < 0 or arr.max() > 65535:
        raise ValueError(f"{img.mode} pixels outside 0..65535")
    return Image.fromarray(((arr * 255 + 32767) // 65535).astype(np.uint8), "L")


def _decode(path: Path, size: int) -> torch.Tensor | None:
    from PIL import Image

    try:
        with Image.open(path) as img:
            img = _eight_bit(img).convert("RGB").resize((size, size), Image.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    except Exception:
        return None
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def skip_kind(path: Path) -> str:
    """Why an image failed to decode: "decompression_bomb" (more pixels than PIL allows),
    "corrupt" (not readable as an image at all) or "truncated" (its header reads, its pixels do not)."""
    from PIL import Image

    try:
        with Image.open(path):
            pass
    except Image.DecompressionBombError:
        return "decompression_bomb"
    except Exception:
        return "corrupt"
    return "truncated"


def _cache_key(dataset: str, table: Table, size: int) -> str:
    h = hashlib.sha256(f"{dataset}|{size}|decoder {DECODER}".encode())
    for p in table.paths:
        try:
            st = p.stat()
        except OSError as exc:
            raise DataError(f"{dataset}: cannot read {quote_value(p, PATH_LIMIT)} ({exc.strerror}); fix or remove "
                            "it") from exc
        h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    h.update(table.labels.tobytes())
    h.update(table.groups.tobytes())
    if table.values is not None:
        h.update(table.values.tobytes())
    return h.hexdigest()[:20]


def decode_cached(dataset: str, table: Table, size: int, progress: bool = True
                  ) -> tuple[torch.Tensor, np.ndarray, np.ndarray, dict[str, str], np.ndarray | None]:
    """Decoded uint8 images (cached on disk), labels, groups, the files that failed to decode (each
    with its ``skip_kind``), and each kept image's group value id (None for two-group datasets)."""
    path = cache_dir() / f"{dataset}-{size}px-{_cache_key(dataset, table, size)}.pt"
    if path.is_file():
        blob = load_torch_file(path, "decoded-image cache")
        values = blob.get("values")
        return (blob["images"], blob["labels"].numpy(), blob["groups"].numpy(),
                {p: skip_kind(Path(p)) for p in blob["corrupt"]}, None if values is None else values.numpy())
    images, keep = [], []
    for i, p in enumerate(tqdm(table.paths, desc=f"decode {dataset} @{size}px", disable=not progress,
                               unit="img")):
        t = _decode(p, size)
        if t is not None:
            images.append(t)
            keep.append(i)
    kept = set(keep)
    corrupt = {str(p): skip_kind(p) for i, p in enumerate(table.paths) if i not in kept}
    if not images:
        raise DataError(f"{dataset}: every image failed to decode ({len(corrupt)} files, first "
                        f"{quote_value(next(iter(corrupt)), PATH_LIMIT)}); check the files")
    idx = np.asarray(keep)
    values = None if table.values is None else table.values[idx]
    out = (torch.stack(images), table.labels[idx], table.groups[idx], corrupt, values)
    make_folder(path.parent)
    atomic_torch_save({"images": out[0], "labels": torch.as_tensor(out[1]), "groups": torch.as_tensor(out[2]),
                       "corrupt": list(corrupt), **({} if values is None else {"values": torch.as_tensor(values)})},
                      path)  # atomic: a killed decode never leaves a half cache
    made_file(path)  # a command that then fails (a refused model) removes it again (leftovers.py)
    return out
