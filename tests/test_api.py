"""The stable Python API: names resolve to what they say, and the command line starts without torch."""
import ast
import importlib
import subprocess
import sys
import types
from pathlib import Path

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


# Layers, lowest first: a module may import its own layer or a lower one, never a higher one.
# Everything not named here (data, models, hardware, saliency, metrics, store, training, retrain,
# rng, errors, paths, ...) is a floor below the engine.
# The config-reference generator reads the engine's typed config to write docs: a tool beside the application.
LAYERS = {"fairxbar_aihw.study": 1, "fairxbar_aihw.report": 2, "fairxbar_aihw.app": 3, "fairxbar_aihw.config_reference": 3,
          "fairxbar_aihw.cli": 4}
LAYER_NAMES = ["floor", "engine (study)", "report", "application", "command line"]


def layer(module: str) -> int:
    return max((rank for prefix, rank in LAYERS.items() if module == prefix or module.startswith(prefix + ".")),
               default=0)


def _type_only(tree: ast.AST) -> set[int]:
    """The ids of the import nodes under ``if TYPE_CHECKING:`` (read by type checkers, never run)."""
    blocks = [n for n in ast.walk(tree) if isinstance(n, ast.If)
              and getattr(n.test, "id", getattr(n.test, "attr", "")) == "TYPE_CHECKING"]
    return {id(n) for b in blocks for stmt in b.body for n in ast.walk(stmt)}


def _module_graph(root: Path | None = None, type_only: bool = True) -> dict[str, set[str]]:
    """Every import between the package's modules, wherever it is written (module level or inside
    a function): ``import a.b``, ``from a import b`` and ``from .a import b``. Importing a module
    also runs its parents' ``__init__``, so a parent package counts as imported too. With
    ``type_only`` False, imports under ``if TYPE_CHECKING:`` are left out: they never run, so they
    close no cycle (they still count for the layer order: a type names what it depends on).

    A package's ``lazy_exports`` table counts too: its relative submodules (``".pipeline"``) are
    what ``from package import Name`` imports. Registry entries naming a plugin as
    ``"module:function"`` (dataset loaders, ``model.entry``) do not: they point from a registry
    to the code it lists, are loaded only when that entry is used, and may name your own module.
    """
    root = root or Path(fx.__file__).parent
    mods = {}
    for p in root.rglob("*.py"):
        parts = list(p.relative_to(root.parent).with_suffix("").parts)
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    graph = {}
    for mod, p in mods.items():
        package = mod.split(".") if p.name == "__init__.py" else mod.split(".")[:-1]
        tree = ast.parse(p.read_text())
        lazy = any(isinstance(n, ast.Call) and getattr(n.func, "id", "") == "lazy_exports" for n in ast.walk(tree))
        deps = set()
        skipped = set() if type_only else _type_only(tree)
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                target = (".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
                          if node.level else node.module)
                deps |= {f"{target}.{a.name}" if f"{target}.{a.name}" in mods else target for a in node.names}
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if lazy and node.value.startswith(".") and f"{'.'.join(package)}{node.value}" in mods:
                    deps.add(f"{'.'.join(package)}{node.value}")
        for d in list(deps):
            parts = d.split(".")
            deps |= {".".join(parts[:i]) for i in range(1, len(parts)) if not mod.startswith(".".join(parts[:i]))}
        graph[mod] = {d for d in deps if d in mods and d != mod}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """An import cycle in ``graph`` as the path that closes it, or None."""
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path + [nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node, [node])):
            return found
    return None


def _upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a higher layer (the engine importing the report, the report the CLI, ...)."""
    return sorted(f"{mod} ({LAYER_NAMES[layer(mod)]}) imports {dep} ({LAYER_NAMES[layer(dep)]})"
                  for mod, deps in graph.items() for dep in deps if layer(dep) > layer(mod))


def test_the_graph_sees_imports_inside_functions_and_lazy_tables():
    graph = _module_graph()
    assert "fairxbar_aihw.study.chips" in graph["fairxbar_aihw.study.executors"]  # module level, relative
    assert "fairxbar_aihw.study.executors" in graph["fairxbar_aihw.cli.options"]  # inside a function
    assert "fairxbar_aihw.models.user" in graph["fairxbar_aihw.study.pipeline"]  # inside a method
    assert "fairxbar_aihw.study.study" in graph["fairxbar_aihw.study"]  # the lazy table's ".study"
    assert "fairxbar_aihw.study" in graph["fairxbar_aihw.report.markdown"]  # a parent package runs first
    assert "fairxbar_aihw.study.pipeline" in graph["fairxbar_aihw.study.stages"]  # a type-only import
    running = _module_graph(type_only=False)  # ... left out where only what runs counts
    assert "fairxbar_aihw.study.pipeline" not in running["fairxbar_aihw.study.stages"]
    assert "fairxbar_aihw.study.seed_records" in running["fairxbar_aihw.study.stages"]  # inside a function


def test_no_import_cycles():
    cycle = _cycle(_module_graph(type_only=False))
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_no_module_imports_a_higher_layer():
    """Compute, then render: floors < engine < report < application < command line."""
    assert _upward_imports(_module_graph()) == []


def test_the_upper_layers_have_no_class_over_300_and_no_function_over_80_lines():
    """What a reviewer can hold in mind at once: in the engine, the report, the application and the
    command line, a class stays under 300 lines and a function (or method) under 80."""
    root = Path(fx.__file__).parent
    too_long = []
    for folder in ("study", "report", "app", "cli"):
        for p in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(p.read_text())):
                limit = 300 if isinstance(node, ast.ClassDef) else 80 if isinstance(
                    node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
                if limit is not None and node.end_lineno - node.lineno + 1 > limit:
                    too_long.append(f"{p.relative_to(root)}:{node.lineno} {node.name} "
                                    f"({node.end_lineno - node.lineno + 1} lines, limit {limit})")
    assert too_long == []


def test_report_modules_import_neither_torch_nor_aihwkit():
    """The report renders from the results database: importing every report module loads no torch."""
    code = ("import sys, importlib, pkgutil, fairxbar_aihw.report as r; "
            "[importlib.import_module('fairxbar_aihw.report.' + m.name) for m in pkgutil.iter_modules(r.__path__)]; "
            "print(sorted(m for m in ('torch', 'aihwkit') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

