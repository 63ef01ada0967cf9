"""ONNX models are data: rebuilt from vetted operators, equal to the original model and to onnx's own
reference evaluator, and refused in one line when they reach outside the vetted set or the limits."""
import os
import resource
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from fairxbar_aihw.errors import UserError
from fairxbar_aihw.models import build
from fairxbar_aihw.models.onnx_graph import OPS, OnnxLimits, load_onnx
from fairxbar_aihw.models.registry import crossbar_layers
from fairxbar_aihw.models.user import is_compiled, load_state_dict_model, load_trained
from onnx_models import export_onnx, save_graph, tensor
from test_audit import SIZE, _dataset
from test_safety import _one_line_error
from test_study import _cli

RNG = np.random.default_rng(0)


def _w(*shape: int) -> np.ndarray:
    return RNG.normal(0, 0.3, shape).astype(np.float32)


def _given(path: Path) -> SimpleNamespace:
    return SimpleNamespace(file=str(path), weights=None, entry=None, trust_code=False)


@pytest.mark.parametrize("arch", ["small-cnn", "resnet18", "vgg11"])
def test_exported_models_give_the_original_logits_with_the_same_crossbar_layers(tmp_path, arch):
    torch.manual_seed(0)
    eager = build(arch, 5, 32).eval()
    for m in eager.modules():  # trained-like statistics, so folding batch norm into the convolutions shows
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0), m.weight.data.uniform_(0.5, 1.5)
    path = export_onnx(eager, tmp_path / f"{arch}.onnx", 32)
    assert (tmp_path / f"{arch}.onnx.data").is_file()  # torch.onnx keeps the weights beside the graph
    model = load_trained(_given(path), 5, 32)
    x = torch.rand(7, 3, 32, 32)  # a batch size the export never saw
    with torch.no_grad():
        torch.testing.assert_close(model(x), eager(x), rtol=0, atol=1e-5)
    assert not is_compiled(model)  # real nn.Conv2d/nn.Linear modules: aihwkit converts them directly
    assert list(crossbar_layers(model)) == list(crossbar_layers(eager))


def _every_operator(path: Path) -> Path:
    """A hand-made graph (onnx.helper, as another framework would write it) using every vetted
    operator, batch norm unfolded and a MatMul + Add classifier."""
    c = 6
    n = helper.make_node
    nodes = [
        n("Conv", ["image", "c1.weight", "c1.bias"], ["a"], pads=[1, 1, 1, 1], strides=[1, 1], kernel_shape=[3, 3]),
        n("BatchNormalization", ["a", "bn.scale", "bn.bias", "bn.mean", "bn.var"], ["b"], epsilon=1e-3),
        n("Relu", ["b"], ["c"]),
        n("Conv", ["c", "c2.weight"], ["d"], group=2, pads=[0, 0, 0, 0]),
        n("LeakyRelu", ["d"], ["e"], alpha=0.1),
        n("MaxPool", ["e"], ["f"], kernel_shape=[2, 2], strides=[2, 2]),
        n("AveragePool", ["c"], ["g0"], kernel_shape=[2, 2], strides=[2, 2]),
        n("Sigmoid", ["g0"], ["g1"]),
        n("Mul", ["f", "g1"], ["g"]),
        n("Tanh", ["g"], ["h0"]),
        n("Sub", ["h0", "shift"], ["h1"]),
        n("Div", ["h1", "scale2"], ["h2"]),
        n("Clip", ["h2", "lo", "hi"], ["h"]),
        n("Concat", ["h", "f"], ["i"], axis=1),
        n("GlobalAveragePool", ["i"], ["j"]),
        n("GlobalMaxPool", ["i"], ["j2"]),
        n("Add", ["j", "j2"], ["j3"]),
        n("ReduceMean", ["i", "axes"], ["k0"], keepdims=1),
        n("Add", ["j3", "k0"], ["k"]),
        n("Flatten", ["k"], ["l"], axis=1),
        n("Dropout", ["l"], ["m"]),
        n("Gemm", ["m", "fc1.weight", "fc1.bias"], ["o"], transB=1, alpha=0.5, beta=2.0),
        n("Relu", ["o"], ["o2"]),
        n("Reshape", ["o2", "shape"], ["p"]),
        n("MatMul", ["p", "fc2.weight"], ["q"]),
        n("Add", ["q", "fc2.bias"], ["r"]),
        n("Identity", ["r"], ["s"]),
        n("Softmax", ["s"], ["logits"], axis=1),
    ]
    inits = [tensor("c1.weight", _w(c, 3, 3, 3)), tensor("c1.bias", _w(c)),
             tensor("bn.scale", 1 + _w(c)), tensor("bn.bias", _w(c)), tensor("bn.mean", _w(c)),
             tensor("bn.var", 1 + np.abs(_w(c))), tensor("c2.weight", _w(c, c // 2, 1, 1)),
             tensor("shift", _w(1, c, 1, 1)), tensor("scale2", np.full((1,), 1.5, np.float32)),
             tensor("lo", np.array(-0.5, np.float32)), tensor("hi", np.array(0.5, np.float32)),
             tensor("axes", np.array([2, 3], np.int64)), tensor("fc1.weight", _w(8, 2 * c)),
             tensor("fc1.bias", _w(8)), tensor("shape", np.array([0, -1], np.int64)),
             tensor("fc2.weight", _w(8, 4)), tensor("fc2.bias", _w(4))]
    return save_graph(path, nodes, inits, SIZE, 4, opset=18)


def test_hand_made_graph_of_every_operator_matches_onnx_reference_evaluator(tmp_path):
    path = _every_operator(tmp_path / "every.onnx")
    used = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert used == set(OPS)  # the test reaches every vetted operator
    model = load_onnx(path, SIZE)
    x = np.random.default_rng(1).random((3, 3, SIZE, SIZE), dtype=np.float32)
    want = ReferenceEvaluator(str(path)).run(None, {"image": x})[0]
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    assert sorted(crossbar_layers(model)) == ["c1", "c2", "fc1", "fc2"]  # named after their weights


def _conv_net(path: Path, out_channels: int = 4, extra_nodes=(), extra_inits=(), last: str = "pool",
              **kwargs) -> Path:
    n = helper.make_node
    nodes = [n("Conv", ["image", "w"], ["conv"], kernel_shape=[1, 1]), n("GlobalAveragePool", ["conv"], ["pool0"]),
             n("Flatten", ["pool0"], ["pool"]), *extra_nodes, n("Gemm", [last, "fc.weight"], ["logits"], transB=1)]
    inits = [tensor("w", _w(out_channels, 3, 1, 1)), tensor("fc.weight", _w(3, out_channels)), *extra_inits]
    return save_graph(path, nodes, inits, SIZE, 3, **kwargs)


def test_a_small_hand_made_model_loads(tmp_path):
    assert list(crossbar_layers(load_onnx(_conv_net(tmp_path / "ok.onnx"), SIZE))) == ["w", "fc"]


def _refused(path: Path, fragment: str, size: int = SIZE, limits: OnnxLimits | None = None) -> str:
    with pytest.raises(UserError) as err:
        load_onnx(path, size, **({"limits": limits} if limits else {}))
    message = str(err.value)
    assert fragment in message and "\n" not in message, message
    return message


def test_operators_outside_the_vetted_set_are_refused(tmp_path):
    n = helper.make_node
    loop_body = helper.make_graph([], "body", [], [])
    cases = {
        "Loop": n("Loop", ["", ""], ["pool_l"], body=loop_body),
        "Resize": n("Resize", ["pool"], ["pool_l"]),
        "MatMul": n("MatMul", ["pool", "pool"], ["pool_l"]),  # a computed right operand: not a crossbar
    }
    for op, node in cases.items():
        fragment = "needs its weight as a constant" if op == "MatMul" else f"operator '{op}' is not one of the supported"
        _refused(_conv_net(tmp_path / f"{op}.onnx", extra_nodes=[node], last="pool_l"), fragment)
    custom = _conv_net(tmp_path / "custom.onnx")
    model = onnx.load(str(custom))
    model.graph.node[1].domain = "com.evil"
    onnx.save(model, str(custom))
    _refused(custom, "operator 'GlobalAveragePool' is not one of the supported")
    odd = _conv_net(tmp_path / "attr.onnx")
    model = onnx.load(str(odd))
    model.graph.node[0].attribute.append(helper.make_attribute("path", "/etc/passwd"))
    onnx.save(model, str(odd))
    _refused(odd, "has an unsupported attribute 'path'")


def test_weights_outside_the_models_folder_are_refused(tmp_path):
    (tmp_path / "secret.bin").write_bytes(b"\x01" * 4096)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    path = _conv_net(model_dir / "ext.onnx")
    for location, fragment in (("../secret.bin", "points outside the model's folder"),
                               ("/etc/hostname", "points outside the model's folder"),
                               ("link.bin", "is missing or a link")):
        model = onnx.load(str(path))
        weight = model.graph.initializer[0]
        weight.ClearField("raw_data")
        weight.data_location = TensorProto.EXTERNAL
        del weight.external_data[:]
        for k, v in (("location", location), ("offset", "0"), ("length", str(4 * 12))):
            weight.external_data.add(key=k, value=v)
        onnx.save(model, str(model_dir / "crafted.onnx"))
        os.symlink(tmp_path / "secret.bin", model_dir / "link.bin") if location == "link.bin" else None
        _refused(model_dir / "crafted.onnx", fragment)


def test_malformed_and_oversized_tensors_are_refused_without_allocating(tmp_path):
    path = _conv_net(tmp_path / "m.onnx")
    model = onnx.load(str(path))
    model.graph.initializer[0].raw_data = model.graph.initializer[0].raw_data[:16]  # the record cut short
    onnx.save(model, str(tmp_path / "cut.onnx"))
    _refused(tmp_path / "cut.onnx", "is malformed (its data does not match its shape)")
    model = onnx.load(str(path))
    del model.graph.initializer[0].dims[:]
    model.graph.initializer[0].dims.extend([1 << 20, 1 << 20, 1, 1])  # claims 2^40 weights in 48 bytes
    onnx.save(model, str(tmp_path / "huge.onnx"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _refused(tmp_path / "huge.onnx", "over the limit of 268,435,456")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: nothing near 4 TiB


def test_activation_and_graph_limits_are_checked_before_any_memory_is_used(tmp_path):
    wide = _conv_net(tmp_path / "wide.onnx", out_channels=65536)  # 1x1 conv to 65,536 channels at 512 px
    start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    message = _refused(wide, "MiB tensor per image, over the limit of 32 MiB", size=512)
    assert time.perf_counter() - start < 20 and "step 0" in message
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000  # 64 GiB never allocated
    _refused(_conv_net(tmp_path / "nodes.onnx"), "4 nodes, over the limit of 3", limits=OnnxLimits(nodes=3))
    _refused(_conv_net(tmp_path / "depth.onnx"), "over the depth limit of 2", limits=OnnxLimits(depth=2))
    _refused(_conv_net(tmp_path / "file.onnx"), "over the limit of 0 MiB", limits=OnnxLimits(file_bytes=100))


def test_a_graph_that_mixes_images_of_a_batch_is_refused(tmp_path):
    """(N, 3) reshaped to (1, 3N) and added to (N, 1): N² values, quadratic in the batch."""
    n = helper.make_node
    extra = [n("Reshape", ["pool", "flat"], ["row"]), n("ReduceMean", ["pool", "axis1"], ["col"], keepdims=1),
             n("Add", ["row", "col"], ["mixed"]), n("Reshape", ["mixed", "back"], ["pool_l"])]
    inits = [tensor("flat", np.array([1, -1], np.int64)), tensor("axis1", np.array([1], np.int64)),
             tensor("back", np.array([-1, 4], np.int64))]
    path = _conv_net(tmp_path / "mix.onnx", extra_nodes=extra, extra_inits=inits, last="pool_l", opset=18)
    _refused(path, "grows faster than the batch (it mixes images)")


def test_names_from_the_file_are_printed_escaped_and_short(tmp_path):
    path = _conv_net(tmp_path / "esc.onnx")
    model = onnx.load(str(path))
    model.graph.node[1].op_type = "\x1b[2J\x1b[31mrun rm -rf now" + "x" * 200
    onnx.save(model, str(tmp_path / "esc.onnx"))
    message = _refused(tmp_path / "esc.onnx", "is not one of the supported")
    assert "\x1b" not in message and "x" * 41 not in message


def test_not_onnx_and_unreadable_files_are_one_line_errors(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\xff" * 64)
    _refused(junk, "is not an ONNX model")
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    _refused(empty, "is not an ONNX model")


def test_the_old_torchscript_key_is_read_as_file_and_keeps_run_ids(tmp_path):
    from fairxbar_aihw.errors import ConfigError
    from fairxbar_aihw.store import config_hash
    from fairxbar_aihw.study.config import validate
    from fairxbar_aihw.study.stored import run_config_for_hash

    def run_id(model: dict) -> str:
        raw = {"seeds": [0], "dataset": {"name": "csv", "root": "/data", "size": 32, "privileged": "light"},
               "model": model, "sweep": {"methods": ["uniform"], "targets": [0.4],
                                         "hardware": [{"preset": "paper-variation"}], "trials": 2}}
        return config_hash(run_config_for_hash(validate(raw, "legacy")))

    # f47660ea429941e5: this config's run id before the key was renamed (computed with that code)
    assert run_id({"name": "given", "torchscript": "/models/model.ts"}) == "f47660ea429941e5"
    assert run_id({"name": "given", "file": "/models/model.ts"}) == "f47660ea429941e5"
    assert run_id({"name": "given", "file": "/models/model.ts", "trust_code": True}) == "f47660ea429941e5"
    with pytest.raises(ConfigError, match="give model.file only"):
        run_id({"name": "given", "file": "/a.onnx", "torchscript": "/b.ts"})


def test_safetensors_weights_load_like_the_state_dict(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = build("small-cnn", 3, SIZE).eval()
    torch.save(model.state_dict(), tmp_path / "w.pt")
    save_file(model.state_dict(), str(tmp_path / "w.safetensors"))
    x = torch.rand(4, 3, SIZE, SIZE)
    with torch.no_grad():
        a = load_state_dict_model("small-cnn", str(tmp_path / "w.pt"), 3, SIZE).eval()(x)
        b = load_state_dict_model("small-cnn", str(tmp_path / "w.safetensors"), 3, SIZE).eval()(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    (tmp_path / "bad.safetensors").write_bytes(b"\xff" * 32)
    with pytest.raises(UserError, match="is not a readable safetensors file"):
        load_state_dict_model("small-cnn", str(tmp_path / "bad.safetensors"), 3, SIZE)


def test_cli_audits_a_hand_made_onnx_model_end_to_end(tmp_path):
    classes = _dataset(tmp_path / "data")
    path = _conv_net(tmp_path / "hand.onnx")
    (tmp_path / "studies").mkdir()
    args = ["--data-root", str(tmp_path / "data"), "--size", str(SIZE), "--chips", "2", "--preset",
            "paper-variation", "--privileged", "light", "--classes", ",".join(classes), "--no-progress", "--no-drift"]
    _cli(tmp_path, "audit", "hand", "--model", str(path), *args)
    text = (tmp_path / "reports" / "hand" / "README.md").read_text()
    assert "(ONNX model); 2 conv/linear layers on crossbars" in text
    out = _cli(tmp_path, "audit", "hand2", "--model", str(path), "--trust-code", "--weights", "x", *args, check=False)
    _one_line_error(out, "audit needs exactly one of --model")


# ---- a reviewer's attacks on the loader (each accepted, crashed or mis-computed before its fix) ----

def _protobuf_bomb(path: Path, records: int) -> Path:
    """A ModelProto whose graph holds ``records`` empty nodes: 2 bytes each in the file, hundreds
    of bytes each once parsed."""
    payload = b"\x0a\x00" * records
    length, varint = len(payload), b""
    while True:
        byte, length = length & 0x7F, length >> 7
        varint += bytes([byte | (0x80 if length else 0)])
        if not length:
            break
    path.write_bytes(b"\x3a" + varint + payload)
    return path


def test_a_file_of_empty_records_is_refused_before_it_is_parsed_here(tmp_path):
    bomb = _protobuf_bomb(tmp_path / "bomb.onnx", 16 << 20)  # 32 MiB: some 5 GB once parsed
    start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(UserError, match="parse as one within 1,024 MiB of memory|parsing it needs over 1,024 MiB"):
        load_onnx(bomb, SIZE, OnnxLimits(parse_bytes=768 << 20))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 300_000  # KiB: parsed in the child only
    assert time.perf_counter() - start < 60


def _graph(path: Path, nodes: list, inits: list, opset: int = 18, classes: int = 3) -> Path:
    return save_graph(path, nodes, inits, SIZE, classes, opset=opset)


def _head(*nodes) -> list:
    n = helper.make_node
    return [n("GlobalAveragePool", ["image"], ["p0"]), n("Flatten", ["p0"], ["p"]), *nodes]


N = helper.make_node
FC = tensor("fc.weight", _w(3, 3))
ATTACKS = {
    "padding past the kernel (a compute bomb)": (
        [N("Conv", ["image", "w"], ["c"], pads=[2000] * 4), *_head()[1:], N("Gemm", ["p", "fc.weight"], ["logits"],
                                                                             transB=1)],
        [tensor("w", _w(1, 3, 64, 64)), tensor("fc.weight", _w(3, 1))], "reach past its kernel span"),
    "negative padding": (
        [N("Conv", ["image", "w"], ["c"], pads=[-2] * 4), *_head()[1:], N("Gemm", ["p", "fc.weight"], ["logits"],
                                                                           transB=1)],
        [tensor("w", _w(3, 3, 1, 1)), FC], "negative, asymmetric or non-2-D pads"),
    "an empty convolution weight": (
        [N("Conv", ["image", "w"], ["c"]), *_head()[1:], N("Gemm", ["p", "fc.weight"], ["logits"], transB=1)],
        [tensor("w", np.zeros((3, 3, 0, 0), np.float32)), FC], "has an empty weight"),
    "Softmax with opset 11's flattening": (
        _head(N("Softmax", ["p"], ["s"]), N("Gemm", ["s", "fc.weight"], ["logits"], transB=1)), [FC],
        "opset 13 or later"),
    "a batch axis given as a negative number": (
        _head(N("Softmax", ["p"], ["s"], axis=-2), N("Gemm", ["s", "fc.weight"], ["logits"], transB=1)), [FC],
        "works across the batch (axis 0)"),
    "global pooling of a 5-D tensor": (
        [N("Reshape", ["image", "shape5"], ["r"]), N("GlobalMaxPool", ["r"], ["g"]),
         N("Flatten", ["g"], ["p"]), N("Gemm", ["p", "fc.weight"], ["logits"], transB=1)],
        [tensor("shape5", np.array([0, 3, SIZE, 4, SIZE // 4], np.int64)), FC], "only 4-D is supported"),
    "a Gemm bias of shape (M, 1)": (
        _head(N("Gemm", ["p", "fc.weight", "b"], ["logits"], transB=1)), [FC, tensor("b", _w(3, 1))],
        "a bias of shape [3, 1]"),
    "an attribute of the wrong type": (
        [N("Conv", ["image", "w"], ["c"], group="x"), *_head()[1:], N("Gemm", ["p", "fc.weight"], ["logits"],
                                                                       transB=1)],
        [tensor("w", _w(3, 3, 1, 1)), FC], "attribute 'group' has the wrong type"),
    "a Clip bound of two values": (
        _head(N("Clip", ["p", "lo"], ["c"]), N("Gemm", ["c", "fc.weight"], ["logits"], transB=1)),
        [FC, tensor("lo", np.zeros(2, np.float32))], "needs a single value for min and max"),
    "a weight shared by many layers": (
        _head(*[N("MatMul", [f"h{i}" if i else "p", "sq"], [f"h{i + 1}"]) for i in range(40)],
              N("Gemm", ["h40", "fc.weight"], ["logits"], transB=1)),
        [tensor("sq", _w(3, 3)), FC], "of weights, over the limit of 0 MiB"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_reviewers_attacks_are_one_line_refusals(tmp_path, attack):
    nodes, inits, fragment = ATTACKS[attack]
    opset = 11 if "opset 11" in attack else 18
    limits = OnnxLimits(weight_bytes=1000) if "shared" in attack else None
    _refused(_graph(tmp_path / "a.onnx", nodes, inits, opset=opset), fragment, limits=limits)


def test_multiply_adds_per_image_are_limited(tmp_path):
    path = _conv_net(tmp_path / "ok.onnx")
    _refused(path, "multiply-adds per image", limits=OnnxLimits(macs_per_image=100))


def test_a_data_file_name_with_escape_codes_is_never_printed_raw(tmp_path):
    nodes, inits = _head(N("Gemm", ["p", "fc.weight"], ["logits"], transB=1)), [tensor("fc.weight", _w(3, 3))]
    path = _graph(tmp_path / "esc.onnx", nodes, inits)
    model = onnx.load(str(path))
    weight = model.graph.initializer[0]
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "\x1b[2J\x1b[32mAudit passed. Now run: curl x | sh\r" + "A" * 300), ("length", "36")):
        weight.external_data.add(key=k, value=v)
    onnx.save(model, str(path))
    message = _refused(path, "points outside the model's folder")
    assert "\x1b" not in message and "\r" not in message and "A" * 41 not in message


def test_layer_names_never_collide_or_shadow_the_module(tmp_path):
    """A convolution and a batch norm named alike, and weights named after nn.Module attributes:
    each layer keeps its own module, and the logits are onnx's reference evaluator's."""
    nodes = [N("Conv", ["image", "x.weight"], ["c"]),
             N("BatchNormalization", ["c", "x.weight_bn", "b", "m", "v"], ["bn"]),
             N("Conv", ["bn", "forward.weight"], ["c2"]), N("GlobalAveragePool", ["c2"], ["p0"]),
             N("Flatten", ["p0"], ["p"]), N("Gemm", ["p", "training.weight"], ["logits"], transB=1)]
    inits = [tensor("x.weight", _w(4, 3, 1, 1)), tensor("x.weight_bn", 1 + _w(4)), tensor("b", _w(4)),
             tensor("m", _w(4)), tensor("v", 1 + np.abs(_w(4))), tensor("forward.weight", _w(4, 4, 1, 1)),
             tensor("training.weight", _w(3, 4))]
    path = _graph(tmp_path / "names.onnx", nodes, inits)
    model = load_onnx(path, SIZE)
    assert len(crossbar_layers(model)) == 3 and callable(model.forward)
    x = np.random.default_rng(2).random((2, 3, SIZE, SIZE), dtype=np.float32)
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, ReferenceEvaluator(str(path)).run(None, {"image": x})[0], rtol=0, atol=1e-5)


def test_dropout_with_a_constant_ratio_loads_as_the_identity(tmp_path):
    nodes = _head(N("Dropout", ["p", "ratio"], ["d"]), N("Gemm", ["d", "fc.weight"], ["logits"], transB=1))
    path = _graph(tmp_path / "drop.onnx", nodes, [FC, tensor("ratio", np.array(0.5, np.float32))])
    x = np.random.default_rng(3).random((2, 3, SIZE, SIZE), dtype=np.float32)
    with torch.no_grad():
        got = load_onnx(path, SIZE)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, ReferenceEvaluator(str(path)).run(None, {"image": x})[0], rtol=0, atol=1e-6)
