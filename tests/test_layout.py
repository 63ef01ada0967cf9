"""The checkout's layout: the bundled presets and studies live once, at the top level, and the
package finds them there; reports go to ``docs/reports`` so the README's command regenerates the
committed ones."""
import subprocess
import tomllib
from pathlib import Path

import pytest

from fairxbar_aihw import paths
from fairxbar_aihw.errors import UserError
from fairxbar_aihw.study.config import load_study
from fairxbar_aihw.study.runfolder import Owner, owner_of, report_folder

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def _tracked(*pathspec: str) -> list[str]:
    proc = subprocess.run(["git", "ls-files", *pathspec], cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip("not a git checkout")
    return proc.stdout.split()


@pytest.fixture
def no_overrides(monkeypatch):
    for var in ("FAIRXBAR_PRESETS", "FAIRXBAR_STUDIES", "FAIRXBAR_REPORTS"):
        monkeypatch.delenv(var, raising=False)


def test_bundled_files_live_once_at_the_top_level():
    presets, studies = _tracked("device_presets/*.yaml"), _tracked("studies/*.yaml")
    assert "device_presets/paper-variation.yaml" in presets and len(presets) >= 10
    assert "studies/demo.yaml" in studies and len(studies) >= 7
    assert not [f for f in _tracked("fairxbar_aihw") if f.endswith((".yaml", ".yml"))]


def test_the_checkout_resolves_the_top_level_folders(no_overrides, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # from any folder
    assert paths.presets_dir().resolve() == REPO / "device_presets"
    assert paths.studies_dir().resolve() == REPO / "studies"
    assert load_study("demo").owner == ("study", "bundled:demo")
    monkeypatch.setenv("FAIRXBAR_STUDIES", str(tmp_path))
    assert paths.studies_dir() == tmp_path


def test_the_packaged_copy_wins_only_when_it_holds_yaml_files(monkeypatch, tmp_path):
    """A wheel's ``fairxbar_aihw/bundled/presets``; in a checkout, a stale empty one is ignored."""
    monkeypatch.setattr(paths, "PACKAGE", tmp_path / "fairxbar_aihw")
    shipped = tmp_path / "fairxbar_aihw" / "bundled" / "presets"
    shipped.mkdir(parents=True)
    assert paths._bundled("presets", "device_presets") == tmp_path / "device_presets"
    (shipped / "ideal.yaml").write_text("noise_model: none\n")
    assert paths._bundled("presets", "device_presets") == shipped


def test_a_missing_bundled_folder_says_reinstall(no_overrides, monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "BUNDLED_STUDIES", tmp_path / "gone")
    with pytest.raises(UserError, match=r"bundled studies folder .*gone is missing: reinstall fairxbar-aihw"):
        paths.studies_dir()


def test_the_wheel_maps_the_top_level_folders_into_the_package():
    assert PYPROJECT["package-dir"] == {"fairxbar_aihw.bundled.presets": "device_presets",
                                        "fairxbar_aihw.bundled.studies": "studies"}
    assert all(PYPROJECT["package-data"][pkg] == ["*.yaml"] for pkg in PYPROJECT["package-dir"])
    # packages are listed by hand (setuptools cannot mix `find` with mapped folders): none missing
    on_disk = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "fairxbar_aihw").rglob("__init__.py")}
    assert set(PYPROJECT["packages"]) == on_disk | set(PYPROJECT["package-dir"])


def test_reports_go_to_docs_reports_under_the_current_folder(no_overrides, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert paths.reports_dir() == tmp_path / "docs" / "reports"
    monkeypatch.setenv("FAIRXBAR_REPORTS", str(tmp_path / "elsewhere"))
    assert paths.reports_dir() == tmp_path / "elsewhere"


@pytest.mark.parametrize("study", ["demo", "compare-presets"])
def test_the_committed_report_is_its_bundled_study_own(no_overrides, monkeypatch, study):
    """Running the README's command from the repo root rewrites docs/reports/NAME instead of refusing."""
    monkeypatch.chdir(REPO)
    owner = owner_of(load_study(study))
    assert owner == Owner("study", f"bundled:{study}")
    assert report_folder(study, owner) == Path("docs", "reports", study).absolute()  # claim=False: writes nothing
    with pytest.raises(UserError, match="writing the report refused"):
        report_folder(study, Owner("study", str(REPO / "elsewhere" / f"{study}.yaml")))
