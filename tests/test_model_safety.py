"""A compiled model is code: a TorchScript or torch.export file is refused, before it is loaded or
called, unless it calls side-effect-free tensor operations only, and a crafted .pt2 cannot run
code while it is read. Clean models load and compute what the eager model computes."""
import io
import json
import re
import warnings
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
import torchvision

from fairxbar_aihw.errors import UserError
from fairxbar_aihw.models import build
from fairxbar_aihw.models.allowed_ops import ATEN, PRIM, is_allowed
from fairxbar_aihw.models.graphcheck import check_ops, exported_ops
from fairxbar_aihw.models.programs import load_program
from fairxbar_aihw.models.registry import crossbar_layers
from fairxbar_aihw.models.user import is_compiled, load_trained
from test_audit import SIZE, _dataset
from test_safety import _one_line_error
from test_study import _cli

PRECIOUS = "user data, never to be touched\n"
warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit.* is deprecated in torch 2.14


def _given(path: Path) -> SimpleNamespace:
    return SimpleNamespace(torchscript=str(path), weights=None, entry=None)


def _script(model: nn.Module, path: Path) -> Path:
    """A TorchScript file, built with the deprecated ``torch.jit.script`` because crafted files of that
    format are what these tests attack: the tool itself never scripts."""
    torch.jit.save(torch.jit.script(model.eval()), str(path))
    return path


def _export(model: nn.Module, path: Path, size: int = SIZE) -> Path:
    program = torch.export.export(model, (torch.rand(2, 3, size, size),),
                                  dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, str(path))
    return path


class WritesFile(nn.Module):
    """The audit's finding: maps a file the user owns and overwrites it from ``forward``."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.fc = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mapped = torch.from_file(self.path, True, 4, dtype=torch.uint8)
        return self.fc(x.mean((2, 3))) + mapped.fill_(65).sum() * 0


class ReadsFile(WritesFile):
    """Reads any file into the logits (where a report would carry it away)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        read = torch.from_file(self.path, False, 4, dtype=torch.uint8)
        return self.fc(x.mean((2, 3))) + read.float().sum() * 0


class WritesOnLoad(nn.Module):
    """``torch.jit.load`` runs ``__setstate__`` while unpickling: code before any call."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.fc = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean((2, 3)))

    @torch.jit.export
    def __getstate__(self) -> tuple[str, bool]:
        return (self.path, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, bool]) -> None:
        mapped = torch.from_file(state[0], True, 4, dtype=torch.uint8)
        self.training = bool(mapped.fill_(66).sum() > 0) and state[1]


def test_allow_list_names_real_ops_none_of_which_takes_a_file():
    schemas = torch._C._jit_get_all_schemas()
    registered = {s.name for s in schemas}
    assert not [n for n in ATEN if f"aten::{n}" not in registered and f"aten::{n}_" not in registered]
    takes_file = {s.name for s in schemas if any(re.search("file|path", a.name) for a in s.arguments)}
    assert {"aten::from_file", "aten::save"} <= takes_file
    assert not [op for op in takes_file if is_allowed(op) and op != "aten::einsum"]  # einsum's "path" is a plan
    assert is_allowed("aten::conv2d") and is_allowed("aten::relu_") and is_allowed("prim::If")
    for op in ("aten::from_file", "aten::save", "prim::Print", "prim::CallFunction", "prim::CallMethod",
               "prim::rpc_async", "prim::fork", "torchvision::nms", "quantized::linear", "aten::set_"):
        assert not is_allowed(op), op
    assert "Print" not in PRIM


@pytest.mark.parametrize("hostile", [WritesFile, ReadsFile])
def test_scripted_model_calling_from_file_is_refused_and_the_file_untouched(tmp_path, hostile):
    victim = tmp_path / "precious.txt"
    victim.write_text(PRECIOUS)
    path = _script(hostile(str(victim)), tmp_path / "model.ts")
    with pytest.raises(UserError, match=r"calls aten::from_file, which is not a side-effect-free tensor "
                                        r"operation.*--entry"):
        load_trained(_given(path), 3, SIZE)
    assert victim.read_text() == PRECIOUS


def test_scripted_setstate_runs_while_loading_so_the_file_is_refused_unread(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text(PRECIOUS)
    path = _script(WritesOnLoad(str(victim)), tmp_path / "model.ts")
    with pytest.raises(UserError, match="defines __setstate__, TorchScript code torch.jit.load runs while loading"):
        load_program(path)
    assert victim.read_text() == PRECIOUS


@pytest.mark.parametrize("arch", ["small-cnn", "resnet18"])
def test_clean_scripted_and_exported_models_give_the_eager_logits(tmp_path, arch):
    torch.manual_seed(0)
    eager = (build(arch, 3, SIZE) if arch == "small-cnn" else torchvision.models.resnet18(num_classes=3)).eval()
    x = torch.rand(5, 3, SIZE, SIZE)  # a batch size the export never saw
    with torch.no_grad():
        want = eager(x)
    for path in (_script(eager, tmp_path / "model.ts"), _export(eager, tmp_path / "model.pt2")):
        model = load_trained(_given(path), 3, SIZE)
        with torch.no_grad():
            torch.testing.assert_close(model(x), want, rtol=1e-5, atol=1e-5)
        assert is_compiled(model)
        assert list(crossbar_layers(model)) == list(crossbar_layers(eager))  # the same layers go on crossbars


def _fairxbar_touch_op() -> None:
    """A custom op that writes the file it is given: native code outside the allow-list."""
    if hasattr(torch.ops.fairxbar_test, "touch"):
        return

    @torch.library.custom_op("fairxbar_test::touch", mutates_args=())
    def touch(x: torch.Tensor, path: str) -> torch.Tensor:
        Path(path).write_text("written by the model")
        return x.clone()

    @touch.register_fake
    def _(x: torch.Tensor, path: str) -> torch.Tensor:
        return torch.empty_like(x)


class CallsCustomOp(nn.Module):
    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.fc = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.ops.fairxbar_test.touch(x, self.path).mean((2, 3)))


def test_exported_program_calling_a_non_allowed_op_is_refused(tmp_path):
    _fairxbar_touch_op()
    target = tmp_path / "written.txt"
    model = CallsCustomOp(str(target)).eval()
    program = torch.export.export(model, (torch.rand(2, 3, SIZE, SIZE),))
    with pytest.raises(UserError, match="calls fairxbar_test::touch, which is not a side-effect-free"):
        check_ops(exported_ops(program.graph_module), "model.pt2")  # the check of a loaded graph
    torch.export.save(program, str(tmp_path / "model.pt2"))
    with pytest.raises(UserError, match="calls fairxbar_test::touch, which is not a side-effect-free"):
        load_trained(_given(tmp_path / "model.pt2"), 3, SIZE)
    assert not target.exists()


@pytest.mark.parametrize("layer, op", [(nn.Dropout(0.2), "dropout"), (nn.BatchNorm1d(3), "batch_norm")])
def test_exported_in_training_mode_is_refused(tmp_path, layer, op):
    """Batch statistics or dropout would make each chip's result depend on the batch."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, 3), layer).train()
    with pytest.raises(UserError, match=rf"exported in training mode \(aten::{op} with training=True\); call "
                                        r"model.eval\(\) before torch.export.export"):
        load_program(_export(model, tmp_path / "train.pt2"))


def test_exported_for_one_batch_size_is_refused(tmp_path):
    path = tmp_path / "static.pt2"
    torch.export.save(torch.export.export(build("small-cnn", 3, SIZE).eval(), (torch.rand(2, 3, SIZE, SIZE),)), path)
    with pytest.raises(UserError, match=r"exported for batches of exactly 2 images; export with a free batch size"):
        load_program(path)


# ---- crafted .pt2 archives: each ran code inside torch.export.load or ep.module() (torch 2.14) ----
class _Runs:
    """Pickles to a call that writes ``MARK``."""
    mark = ""

    def __reduce__(self):
        return (exec, (f"__import__('pathlib').Path({self.mark!r}).write_text('ran')",))


def _rewrite(src: Path, dst: Path, edit) -> Path:
    with zipfile.ZipFile(src) as z:
        files = {i.filename: z.read(i.filename) for i in z.infolist()}
    root = next(iter(files)).split("/")[0]
    records = {name[len(root) + 1:]: data for name, data in files.items()}
    edit(records)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as z:
        for name, data in records.items():
            z.writestr(f"{root}/{name}", data)
    return dst


def _edit_program(records: dict, edit) -> None:
    doc = json.loads(records["models/model.json"])
    edit(doc)
    records["models/model.json"] = json.dumps(doc).encode()


def _rename_input(doc: dict, code: str) -> None:
    """The user input's name goes into the Python torch generates for the module and execs."""
    new = f"x={code}"

    def walk(o):
        if isinstance(o, dict):
            return {k: ({"name": new} if k == "as_tensor" and v.get("name") == "input" else walk(v))
                    for k, v in o.items()}
        return [walk(v) for v in o] if isinstance(o, list) else o

    doc.update(walk(doc))
    values = doc["graph_module"]["graph"]["tensor_values"]
    values[new] = values.pop("input")


def _first_expression(doc: dict, code: str) -> None:
    """Shape expressions are sympified (evaluated) by torch.export.load."""
    def walk(o) -> bool:
        if isinstance(o, dict):
            if "expr_str" in o:
                o["expr_str"] = code
                return True
            return any(walk(v) for v in o.values())
        return any(walk(v) for v in o) if isinstance(o, list) else False

    assert walk(doc)


def _pickled_weight(records: dict, mark: str) -> None:
    config = json.loads(records["data/weights/model_weights_config.json"])
    payload = next(iter(config["config"].values()))
    payload["use_pickle"] = True
    records["data/weights/model_weights_config.json"] = json.dumps(config).encode()
    buf = io.BytesIO()
    torch.save(type("Runs", (_Runs,), {"mark": mark})(), buf)
    records["data/weights/" + payload["path_name"]] = buf.getvalue()


def _pickled_sample_inputs(records: dict, mark: str) -> None:
    buf = io.BytesIO()
    torch.save(type("Runs", (_Runs,), {"mark": mark})(), buf)
    records["data/sample_inputs/model.pt"] = buf.getvalue()


CRAFTED = {
    "input name pasted into generated code": (lambda r, c, m: _edit_program(r, lambda d: _rename_input(d, c)),
                                              "holds name 'x=__import__"),
    "shape expression evaluated": (lambda r, c, m: _edit_program(r, lambda d: _first_expression(d, c)),
                                   "holds expr_str '__import__"),
    "weight stored as a pickle": (lambda r, c, m: _pickled_weight(r, m), "as a pickle"),
    "sample inputs that fail the safe loader": (lambda r, c, m: _pickled_sample_inputs(r, m),
                                                "sample inputs that are not plain tensors"),
    "guard code": (lambda r, c, m: _edit_program(r, lambda d: d.update(guards_code=[f"0#\n,{c}"])),
                   "carries guard code"),
    "compiled code": (lambda r, c, m: r.update({"data/aotinductor/model/model.so": b"\x7fELF"}),
                      "holds data/aotinductor/model/model.so"),
}


@pytest.fixture(scope="module")
def clean_pt2(tmp_path_factory):
    torch.manual_seed(0)
    return _export(build("small-cnn", 3, SIZE).eval(), tmp_path_factory.mktemp("pt2") / "small.pt2")


@pytest.mark.parametrize("attack", list(CRAFTED))
def test_crafted_pt2_is_refused_before_torch_reads_it(clean_pt2, tmp_path, attack):
    mark = tmp_path / "ran.txt"
    code = f'__import__("pathlib").Path("{mark}").write_text("ran")'
    edit, message = CRAFTED[attack]
    path = _rewrite(clean_pt2, tmp_path / "crafted.pt2", lambda records: edit(records, code, str(mark)))
    with pytest.raises(UserError, match=re.escape(message)) as err:
        load_trained(_given(path), 3, SIZE)
    assert "refused unread" in str(err.value) and "\n" not in str(err.value)
    assert not mark.exists()


def test_cli_audit_of_a_file_writing_model_exits_2_with_one_line(tmp_path):
    classes = _dataset(tmp_path / "data")
    victim = tmp_path / "precious.txt"
    victim.write_text(PRECIOUS)
    model = _script(WritesFile(str(victim)), tmp_path / "model.ts")
    (tmp_path / "studies").mkdir()
    out = _cli(tmp_path, "audit", "hostile", "--model", str(model), "--data-root", str(tmp_path / "data"),
               "--size", str(SIZE), "--chips", "2", "--preset", "paper-variation", "--privileged", "light",
               "--classes", ",".join(classes), "--no-progress", check=False)
    _one_line_error(out, "calls aten::from_file, which is not a side-effect-free tensor operation")
    assert victim.read_text() == PRECIOUS
