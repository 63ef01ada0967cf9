"""A compiled model is code: a TorchScript or torch.export file is never read by torch unless the
user says they trust it (``--trust-code``), whatever its name or its bytes claim; trusted, clean
models load and compute what the eager model computes."""
import io
import json
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
from fairxbar_aihw.models.programs import compiled_kind
from fairxbar_aihw.models.registry import crossbar_layers
from fairxbar_aihw.models.user import is_compiled, load_trained
from test_audit import SIZE, _dataset
from test_safety import _one_line_error
from test_study import _cli

PRECIOUS = "user data, never to be touched\n"
warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit.* is deprecated in torch 2.14


def _given(path: Path, trust: bool = False) -> SimpleNamespace:
    return SimpleNamespace(file=str(path), weights=None, entry=None, trust_code=trust)


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


# ---- crafted .pt2 archives: each ran code inside torch.export.load or ep.module() (torch 2.14); the
# old allow-list refused these, and the flatbuffer case stepped around it: now none is read untrusted ----
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
    "input name pasted into generated code": lambda r, c, m: _edit_program(r, lambda d: _rename_input(d, c)),
    "shape expression evaluated": lambda r, c, m: _edit_program(r, lambda d: _first_expression(d, c)),
    "weight stored as a pickle": lambda r, c, m: _pickled_weight(r, m),
    "sample inputs that fail the safe loader": lambda r, c, m: _pickled_sample_inputs(r, m),
    "guard code": lambda r, c, m: _edit_program(r, lambda d: d.update(guards_code=[f"0#\n,{c}"])),
    "compiled code": lambda r, c, m: r.update({"data/aotinductor/model/model.so": b"\x7fELF"}),
}


@pytest.fixture
def loaders_unused(monkeypatch):
    """torch's code loaders, replaced by ones that record being called: an untrusted file must
    never reach them."""
    calls = []
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: calls.append("torch.jit.load"))
    monkeypatch.setattr(torch.export, "load", lambda *a, **k: calls.append("torch.export.load"))
    return calls


def _flatbuffer_with_zip(path: Path, clean: Path) -> Path:
    """The audit's finding: "PTMF" at bytes 4-8 makes torch.jit.load read a flatbuffer and ignore
    the clean TorchScript zip appended after it, which the old checks read instead."""
    path.write_bytes(b"\x00\x00\x00\x00PTMF" + b"\x00" * 56 + clean.read_bytes())
    return path


@pytest.fixture(scope="module")
def clean_files(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("compiled")
    model = build("small-cnn", 3, SIZE).eval()
    return _script(model, folder / "small.ts"), _export(model, folder / "small.pt2")


def test_untrusted_compiled_files_never_reach_torchs_loaders(tmp_path, clean_files, loaders_unused):
    victim = tmp_path / "precious.txt"
    victim.write_text(PRECIOUS)
    ts, pt2 = clean_files
    files = {"clean TorchScript": ts, "clean .pt2": pt2, ".pt2 named .onnx": tmp_path / "model.onnx",
             "flatbuffer before a clean zip": _flatbuffer_with_zip(tmp_path / "flat.ts", ts),
             "__setstate__ writing a file": _script(WritesOnLoad(str(victim)), tmp_path / "onload.ts"),
             "forward writing a file": _script(WritesFile(str(victim)), tmp_path / "writes.ts")}
    files[".pt2 named .onnx"].write_bytes(pt2.read_bytes())  # the kind is read from the bytes, not the name
    for what, path in files.items():
        with pytest.raises(UserError, match="which is code, so it was not loaded; export ONNX instead") as err:
            load_trained(_given(path), 3, SIZE)
        assert "--trust-code" in str(err.value) and "\n" not in str(err.value), what
    assert loaders_unused == [] and victim.read_text() == PRECIOUS


def test_compiled_kind_is_read_from_the_bytes(tmp_path, clean_files):
    ts, pt2 = clean_files
    head = lambda p: p.read_bytes()[:8]  # noqa: E731
    assert compiled_kind(head(ts), ts) == "torchscript" and compiled_kind(head(pt2), pt2) == "pt2"
    flat = _flatbuffer_with_zip(tmp_path / "flat.bin", ts)
    assert compiled_kind(head(flat), flat) == "torchscript"
    onnx_like = tmp_path / "m.onnx"
    onnx_like.write_bytes(b"\x08\x08\x12\x07pytorch")
    assert compiled_kind(head(onnx_like), onnx_like) is None


@pytest.mark.parametrize("attack", list(CRAFTED))
def test_crafted_pt2_is_refused_unread_without_trust(clean_files, tmp_path, attack, loaders_unused):
    mark = tmp_path / "ran.txt"
    code = f'__import__("pathlib").Path("{mark}").write_text("ran")'
    path = _rewrite(clean_files[1], tmp_path / "crafted.pt2", lambda records: CRAFTED[attack](records, code, str(mark)))
    with pytest.raises(UserError, match="torch.export program, which is code, so it was not loaded"):
        load_trained(_given(path), 3, SIZE)
    assert not mark.exists() and loaders_unused == []


@pytest.mark.parametrize("arch", ["small-cnn", "resnet18"])
def test_trusted_scripted_and_exported_models_give_the_eager_logits(tmp_path, arch):
    torch.manual_seed(0)
    eager = (build(arch, 3, SIZE) if arch == "small-cnn" else torchvision.models.resnet18(num_classes=3)).eval()
    x = torch.rand(5, 3, SIZE, SIZE)  # a batch size the export never saw
    with torch.no_grad():
        want = eager(x)
    for path in (_script(eager, tmp_path / "model.ts"), _export(eager, tmp_path / "model.pt2")):
        model = load_trained(_given(path, trust=True), 3, SIZE)
        with torch.no_grad():
            torch.testing.assert_close(model(x), want, rtol=1e-5, atol=1e-5)
        assert is_compiled(model)
        assert list(crossbar_layers(model)) == list(crossbar_layers(eager))  # the same layers go on crossbars


@pytest.mark.parametrize("layer, op", [(nn.Dropout(0.2), "dropout"), (nn.BatchNorm1d(3), "batch_norm")])
def test_exported_in_training_mode_is_refused(tmp_path, layer, op):
    """Batch statistics or dropout would make each chip's result depend on the batch."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, 3), layer).train()
    with pytest.raises(UserError, match=rf"exported in training mode \(aten::{op} with training=True\); call "
                                        r"model.eval\(\) before exporting"):
        load_trained(_given(_export(model, tmp_path / "train.pt2"), trust=True), 3, SIZE)


def test_exported_for_one_batch_size_is_refused(tmp_path):
    path = tmp_path / "static.pt2"
    torch.export.save(torch.export.export(build("small-cnn", 3, SIZE).eval(), (torch.rand(2, 3, SIZE, SIZE),)), path)
    with pytest.raises(UserError, match=r"exported for batches of exactly 2 images; export with a free batch size"):
        load_trained(_given(path, trust=True), 3, SIZE)


def test_cli_audit_of_a_file_writing_model_exits_2_with_one_line(tmp_path):
    classes = _dataset(tmp_path / "data")
    victim = tmp_path / "precious.txt"
    victim.write_text(PRECIOUS)
    model = _script(WritesOnLoad(str(victim)), tmp_path / "model.ts")
    (tmp_path / "studies").mkdir()
    out = _cli(tmp_path, "audit", "hostile", "--model", str(model), "--data-root", str(tmp_path / "data"),
               "--size", str(SIZE), "--chips", "2", "--preset", "paper-variation", "--privileged", "light",
               "--classes", ",".join(classes), "--no-progress", check=False)
    _one_line_error(out, "is a TorchScript model, which is code, so it was not loaded; export ONNX instead")
    assert victim.read_text() == PRECIOUS
