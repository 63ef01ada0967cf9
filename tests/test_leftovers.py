"""A failed command removes what it created before computing anything, and nothing else."""
from pathlib import Path

import pytest

from fairxbar_aihw import leftovers


@pytest.fixture(autouse=True)
def fresh_record():
    leftovers.forget()
    yield
    leftovers.forget()


def _tool_folder(base: Path) -> Path:
    folder = base / "runs" / "demo"
    assert leftovers.make_folder(folder, (".lock", "results.sqlite"), lambda f: (f / "seed-0").exists())
    (folder / ".lock").write_text("123")
    (folder / "results.sqlite").write_text("")
    cache = base / "cache" / "x.pt"
    leftovers.make_folder(cache.parent)
    cache.write_text("decoded")
    leftovers.made_file(cache)
    return folder


def test_what_a_failed_command_made_is_removed_with_the_folders_it_created(tmp_path):
    _tool_folder(tmp_path)
    removed = leftovers.remove_created()
    assert not (tmp_path / "runs").exists() and not (tmp_path / "cache").exists()
    assert len(removed) == 4  # the cache file, its folder, the run folder and runs/


def test_computed_work_keeps_everything(tmp_path):
    folder = _tool_folder(tmp_path)
    (folder / "seed-0").mkdir()
    assert leftovers.remove_created() == []
    assert (folder / "results.sqlite").exists() and (tmp_path / "cache" / "x.pt").exists()


def test_a_file_the_tool_did_not_write_is_never_deleted(tmp_path):
    (tmp_path / "runs").mkdir()  # there before: not this process's to remove
    folder = _tool_folder(tmp_path)
    (folder / "notes.txt").write_text("someone else's")
    leftovers.remove_created()
    assert (folder / "notes.txt").read_text() == "someone else's"  # the folder stays with it
    assert not (folder / ".lock").exists() and (tmp_path / "runs").is_dir()


def test_an_older_folder_with_new_work_keeps_the_new_cache(tmp_path):
    cache = tmp_path / "x.pt"
    cache.write_text("decoded")
    leftovers.made_file(cache)
    leftovers.watch(lambda: True)  # rows were added to a folder that existed before
    assert leftovers.remove_created() == [] and cache.exists()
