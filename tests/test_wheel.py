"""A built wheel (not the editable checkout) carries its studies and presets and runs from any folder."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from test_safety import SMALL

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The package built as a wheel from a copy of the tracked files."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    if not files:
        pytest.skip("not a git checkout")
    for f in files:
        if (REPO / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, src / f)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp / "dist"), str(src)], check=True, capture_output=True)
    return next((tmp / "dist").glob("*.whl"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel installed into a fresh folder."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    return site


def test_wheel_carries_every_bundled_yaml_from_the_top_level_folders(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for source, shipped in (("device_presets", "presets"), ("studies", "studies")):
        folder = f"fairxbar_aihw/bundled/{shipped}/"
        expected = {folder + p.name for p in (REPO / source).glob("*.yaml")}
        assert len(expected) >= 5 and expected == {n for n in names if n.startswith(folder)}


def _installed_env(site: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAIRXBAR_")}
    return {**env, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}


def _run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fairxbar_aihw.cli", *args], cwd=cwd, env=_installed_env(site),
                          capture_output=True, text=True, timeout=600)


def test_wheel_lists_bundled_studies_and_presets_from_anywhere(installed, tmp_path):
    probe = _run_installed(installed, tmp_path, "--version")
    assert probe.returncode == 0, probe.stderr
    where = subprocess.run([sys.executable, "-c", "import fairxbar_aihw.paths as p; "
                            "print(p.presets_dir()); print(p.studies_dir())"], cwd=tmp_path,
                           env=_installed_env(installed), capture_output=True, text=True)
    bundled = installed / "fairxbar_aihw" / "bundled"  # the installed copy, not the checkout
    assert where.stdout.split() == [str(bundled / "presets"), str(bundled / "studies")], where.stderr
    for command, source in (("studies", "studies"), ("presets", "device_presets")):
        listed = [line.split()[0] for line in _run_installed(installed, tmp_path, command).stdout.splitlines()]
        expected = sorted(p.stem for p in (REPO / source).glob("*.yaml"))
        assert len(expected) >= 5 and sorted(listed) == expected


def test_wheel_runs_a_study_into_the_current_folder(installed, tmp_path):
    study = tmp_path / "mine.yaml"
    study.write_text(yaml.safe_dump(SMALL))
    proc = _run_installed(installed, tmp_path, "study", str(study), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "runs" / "mine" / "results.sqlite").is_file()
    assert (tmp_path / "docs" / "reports" / "mine" / "README.md").is_file()
    assert proc.stdout.strip().endswith(str(Path("docs", "reports", "mine", "README.md")))
    assert not list(installed.glob("**/runs")) and not list(installed.glob("**/reports"))
