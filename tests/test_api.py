"""The stable Python API: names resolve to what they say, and the command line starts without torch."""
import importlib
import subprocess
import sys
import types

import pytest

import fairxbar_aihw as fx
from fairxbar_aihw.errors import ConfigError, UserError

STABLE = {
    "data": ["load", "check", "ita"], "models": ["build"], "metrics": ["compute", "compare", "metrics_from_csv"], "retrain": ["finetune"],
    "hardware": ["load_preset", "to_analog", "program", "drift", "effective_weights"],
    "saliency": ["curvature", "masks"],
}


@pytest.mark.parametrize("package", sorted(STABLE))
def test_stable_names_are_functions_not_modules(package):
    module = importlib.import_module(f"fairxbar_aihw.{package}")
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


def _module_graph():
    """Module-level imports between the package's modules (a module also runs its parents' __init__)."""
    import ast
    from pathlib import Path

    root = Path(fx.__file__).parent
    mods = {}
    for p in root.rglob("*.py"):
        parts = list(p.relative_to(root.parent).with_suffix("").parts)
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    graph = {}
    for mod, p in mods.items():
        base = mod.split(".") if p.name == "__init__.py" else mod.split(".")[:-1]
        deps = set()
        for node in ast.parse(p.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.level:
                target = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else []))
                deps |= {f"{target}.{a.name}" if f"{target}.{a.name}" in mods else target for a in node.names}
        for d in list(deps):
            parts = d.split(".")
            deps |= {".".join(parts[:i]) for i in range(2, len(parts)) if not mod.startswith(".".join(parts[:i]))}
        graph[mod] = {d for d in deps if d in mods and d != mod}
    return graph


def test_no_import_cycles():
    graph = _module_graph()
    assert graph["fairxbar_aihw.study.executors"] >= {"fairxbar_aihw.study.chips"}  # the graph sees imports
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for nxt in graph[node]:
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join(path + [nxt])}"
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])
