"""What the package asks pip for on each supported Python, and what this interpreter got.

Why: aihwkit 1.1.0 ships wheels for CPython <= 3.12 and 1.2.0 for 3.12-3.14, so one pin cannot
install everywhere (on 3.13 pip fell back to building 1.1.0 from source and failed). The pins are
environment markers; these tests read them as pip does (``packaging``), and check that the
environment the suite runs in holds exactly the release its Python's marker names.
"""
import ast
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
SUPPORTED = ("3.11", "3.12", "3.13", "3.14")


def _pins(python: str) -> dict[str, Requirement]:
    """The requirements pip installs on ``python`` (markers evaluated for that version)."""
    env = {"python_version": python, "python_full_version": f"{python}.0"}
    reqs = [Requirement(r) for r in PROJECT["dependencies"]]
    return {r.name: r for r in reqs if r.marker is None or r.marker.evaluate(env)}


def test_requires_python_admits_exactly_the_supported_pythons():
    spec = SpecifierSet(PROJECT["requires-python"])
    assert all(Version(f"{v}.0") in spec for v in SUPPORTED)
    assert Version("3.10.12") not in spec and Version("3.15.0") not in spec


@pytest.mark.parametrize("python, aihwkit", [("3.11", "1.1.0"), ("3.12", "1.2.0"), ("3.13", "1.2.0"),
                                             ("3.14", "1.2.0")])
def test_each_python_gets_the_aihwkit_release_that_has_wheels_for_it(python, aihwkit):
    pins = _pins(python)
    assert str(pins["aihwkit"].specifier) == f"=={aihwkit}"
    # one torch for every Python: aihwkit 1.2.0 builds against torch >= 2.14, 1.1.0 runs on it
    assert str(pins["torch"].specifier) == "==2.14.1" and str(pins["torchvision"].specifier) == "==0.29.1"


def test_no_python_gets_two_aihwkit_pins():
    for python in SUPPORTED:
        env = {"python_version": python, "python_full_version": f"{python}.0"}
        hits = [r for r in map(Requirement, PROJECT["dependencies"])
                if r.name == "aihwkit" and (r.marker is None or r.marker.evaluate(env))]
        assert len(hits) == 1, python


def test_this_environment_holds_the_pinned_releases():
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    pins = _pins(python)
    for name in ("aihwkit", "torch", "torchvision"):
        installed = Version(metadata.version(name)).base_version  # torch's "+cu130" / "+cpu" local tag aside
        assert pins[name].specifier.contains(installed), (name, installed, str(pins[name].specifier))
    import aihwkit

    assert aihwkit.__version__ == metadata.version("aihwkit")


def test_the_tool_never_scripts_with_torch_jit():
    """``torch.jit.script``/``trace`` are deprecated in torch 2.14: nothing the tool needs may use
    them (test fixtures that build TorchScript files say why they still do)."""
    uses = []
    for path in (REPO / "fairxbar_aihw").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in {"script", "trace", "trace_module"} \
                    and isinstance(node.value, ast.Attribute) and node.value.attr == "jit":
                uses.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not uses
