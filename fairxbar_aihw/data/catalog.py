"""The datasets a study may name, and where each one's loader lives (imported only when used).

A new dataset is one entry here plus its loader (a table function like those in ``real.py``
for images on disk, or a generator like ``synthderm.load_splits``) and its test. Its name becomes a
valid ``dataset.name``: regenerate ``docs/config-reference.md``
(``python -m fairxbar_aihw.config_reference > docs/config-reference.md``).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    loader_path: str  # "module:function"; a synthetic loader returns Splits, a real one a Table
    synthetic: bool
    root_env: str | None = None  # environment variable naming the data root
    how_to_get: str = ""  # one line on what the root must hold
    groups_optional: bool = False  # its table loader takes group_column=None: no groups to read (group_from: ita)

    def loader(self) -> Callable[..., Any]:
        module, func = self.loader_path.split(":")
        return getattr(importlib.import_module(module), func)


DATASETS = {d.name: d for d in (
    DatasetInfo("synthderm", "fairxbar_aihw.data.synthderm:load_splits", synthetic=True),
    DatasetInfo("fitzpatrick17k", "fairxbar_aihw.data.real:fitzpatrick_table", synthetic=False,
                root_env="FAIRXBAR_FITZ_ROOT",
                how_to_get="put fitzpatrick17k.csv and images/<md5hash>.jpg under the root "
                           "(see docs/user-guide.md#fitzpatrick-17k)"),
    DatasetInfo("isic2019", "fairxbar_aihw.data.real:isic_table", synthetic=False, root_env="FAIRXBAR_ISIC_ROOT",
                how_to_get="put ISIC_2019_Training_GroundTruth.csv, ISIC_2019_Training_Metadata.csv and "
                           "ISIC_2019_Training_Input/ under the root (see docs/user-guide.md#isic-2019)"),
    DatasetInfo("csv", "fairxbar_aihw.data.user_table:csv_table", synthetic=False, root_env="FAIRXBAR_DATA_ROOT",
                how_to_get="put a CSV with image (path relative to the root), label and group columns under the "
                           "root (see docs/bring-your-own.md)", groups_optional=True),
    DatasetInfo("folder", "fairxbar_aihw.data.user_table:folder_table", synthetic=False,
                root_env="FAIRXBAR_DATA_ROOT",
                how_to_get="put images in root/<label>/ and a groups CSV (image, group) in the root "
                           "(see docs/bring-your-own.md)", groups_optional=True),
)}
DATASET_NAMES = tuple(DATASETS)
