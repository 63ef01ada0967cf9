"""ONNX model files for the tests: exported by torch.onnx (what users hold), or built by hand with
onnx.helper (what an attacker or another framework writes)."""
from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper


def export_onnx(model: torch.nn.Module, path: Path, size: int, inline: bool = False) -> Path:
    """``model`` exported as torch.onnx's dynamo exporter writes it (weights beside it in
    ``PATH.data`` unless ``inline``), with a free batch size."""
    model = model.eval()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        program = torch.onnx.export(model, (torch.rand(2, 3, size, size),), dynamo=True, verbose=False,
                                    dynamic_shapes=({0: torch.export.Dim("batch")},))
        program.save(str(path), external_data=not inline)
    return path


def tensor(name: str, array: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(array), name)


def save_graph(path: Path, nodes: list, initializers: list, size: int, classes: int, opset: int = 17,
               input_name: str = "image", output_name: str = "logits") -> Path:
    """A one-input, one-output ONNX model from hand-made nodes (batch dimension free)."""
    graph = helper.make_graph(
        nodes, "hand_made",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", classes])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.save(model, str(path))
    return path
