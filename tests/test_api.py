"""The stable Python API: names resolve to what they say, and the command line starts without torch."""
import subprocess
import sys
import types

import pytest

import fairxbar_aihw as fx
from fairxbar_aihw.errors import ConfigError, UserError

STABLE = {
    "data": ["load", "check"], "models": ["build"], "metrics": ["compute", "metrics_from_csv"],
    "hardware": ["load_preset", "to_analog", "program", "drift", "effective_weights"],
    "saliency": ["curvature", "masks"],
}


@pytest.mark.parametrize("package", sorted(STABLE))
def test_stable_names_are_functions_not_modules(package):
    module = getattr(fx, package)
    assert set(STABLE[package]) <= set(module.__all__)
    for name in module.__all__:
        value = getattr(module, name)
        assert not isinstance(value, types.ModuleType), f"fx.{package}.{name} is a module"


def test_light_commands_import_neither_torch_nor_aihwkit():
    code = ("import sys; import fairxbar_aihw.cli, fairxbar_aihw.study.config; "
            "from fairxbar_aihw.study import load_study; load_study('demo'); "
            "print(sorted(m for m in ('torch', 'aihwkit', 'backpack') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_user_errors_are_value_errors():
    assert issubclass(UserError, ValueError) and issubclass(ConfigError, UserError)
    with pytest.raises(ValueError):
        fx.hardware.load_preset("paper-variation", noise_rate=-1)
