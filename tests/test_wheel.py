"""A built wheel (not the editable checkout) carries its studies and presets and runs from any folder."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from test_safety import SMALL

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The package built as a wheel from a copy of the tracked files and installed into a folder."""
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
    wheel = next((tmp / "dist").glob("*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(tmp / "site"),
                    str(wheel)], check=True, capture_output=True)
    return tmp / "site"


def _run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAIRXBAR_")}
    env["PYTHONPATH"] = str(site)
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([sys.executable, "-m", "fairxbar_aihw.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_wheel_lists_bundled_studies_and_presets_from_anywhere(installed, tmp_path):
    probe = _run_installed(installed, tmp_path, "--version")
    assert probe.returncode == 0, probe.stderr
    where = subprocess.run([sys.executable, "-c", "import fairxbar_aihw.paths as p; print(p.BUNDLED)"], cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(installed)}, capture_output=True, text=True)
    assert where.stdout.strip().startswith(str(installed))  # the installed copy, not the checkout
    studies = _run_installed(installed, tmp_path, "studies").stdout
    assert "demo" in studies and "fitz-resnet18" in studies
    assert "paper-variation" in _run_installed(installed, tmp_path, "presets").stdout


def test_wheel_runs_a_study_into_the_current_folder(installed, tmp_path):
    study = tmp_path / "mine.yaml"
    study.write_text(yaml.safe_dump(SMALL))
    proc = _run_installed(installed, tmp_path, "study", str(study), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "runs" / "mine" / "results.sqlite").is_file()
    assert (tmp_path / "reports" / "mine" / "README.md").is_file()
    assert not list(installed.glob("**/runs")) and not list(installed.glob("**/reports"))
