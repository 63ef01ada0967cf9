"""`--device cuda` end to end on a simulated GPU (tests/simulated_cuda.py): every stage must keep
its tensors on one device, and since the simulation runs CPU kernels, the results must equal the
CPU run's bit for bit. On a machine with a real GPU the last test runs the same study on it."""
import contextlib
import json
import sqlite3

import pandas as pd
import pytest
import torch
import yaml

import fairxbar_aihw as fx
from fairxbar_aihw import cli
from simulated_cuda import DeviceMismatch, simulated_cuda
from test_study import TINY

STUDY = {
    **TINY,
    "sweep": {**TINY["sweep"], "hardware": [{"preset": "paper-variation", "intensities": [0.2]},
                                            {"preset": "pcm-io-realistic"}], "trials": 2},
    "retrain": {**TINY["retrain"], "arms": ["va", "vfa", "hwa", "fair-loss", "boundary"]},
    "prune": {"kinds": ["magnitude", "fairprune"], "sparsities": [0.5]},
}


def _study(tmp_path, monkeypatch, device: str) -> pd.DataFrame:
    root = tmp_path / device
    (root / "studies").mkdir(parents=True)
    (root / "studies" / "tiny.yaml").write_text(yaml.safe_dump(STUDY))
    for var, sub in (("STUDIES", "studies"), ("RUNS", "runs"), ("REPORTS", "reports")):
        monkeypatch.setenv(f"FAIRXBAR_{var}", str(root / sub))
    cli.cli.main(["study", "tiny", "--device", device, "--no-progress"], standalone_mode=False)
    with sqlite3.connect(root / "runs" / "tiny" / "results.sqlite") as conn:
        return pd.read_sql_query("SELECT cell, trial, seed, data_json FROM trials ORDER BY cell, trial", conn)


def test_simulation_catches_cross_device_bugs():
    with simulated_cuda():
        lin = torch.nn.Linear(3, 2).to("cuda")
        x = torch.randn(4, 3)
        with pytest.raises(DeviceMismatch):
            lin(x)  # input left on the cpu
        y = lin(x.to("cuda"))
        assert y.is_meta and torch.equal(y.cpu(), torch.nn.functional.linear(x, lin.weight.cpu(), lin.bias.cpu()))
        with pytest.raises(DeviceMismatch):
            torch.randn(3, device="cuda", generator=torch.Generator().manual_seed(0))
        with pytest.raises(DeviceMismatch):
            y.detach().numpy()
        # what CUDA allows: cpu scalars, cpu indices, cross-device copies
        assert (y * torch.tensor(2.0)).is_meta and y[torch.tensor([0, 2])].shape == (2, 2)
        y.detach().copy_(torch.zeros(4, 2))


# aihwkit 1.2.0 rebinds a tile's weights with `Parameter.data = tensor` under DisableTorchFunction
# (AnalogContext._replace_raw_data), out of reach of the simulation's function mode, and a CPU
# Parameter cannot hold the simulation's wrapper tensor; a real GPU has no such limit. So this
# check runs where aihwkit 1.1.0 is installed (Python 3.11, the CI's whole-suite run), and the CUDA
# path on aihwkit 1.2.0 is left to test_study_on_real_cuda_close_to_cpu on a GPU.
_AIHWKIT_REBINDS_DATA = tuple(int(p) for p in __import__("aihwkit").__version__.split(".")[:2]) >= (1, 2)


@pytest.mark.skipif(_AIHWKIT_REBINDS_DATA, reason="aihwkit >= 1.2 sets Parameter.data past the simulated GPU; "
                    "runs on aihwkit 1.1.0 (Python 3.11) and on a real GPU")
def test_study_on_simulated_cuda_matches_cpu(tmp_path, monkeypatch):
    cpu = _study(tmp_path, monkeypatch, "cpu")
    with simulated_cuda() as ops:
        gpu = _study(tmp_path, monkeypatch, "cuda")
    # every forward/backward pass ran on the (simulated) GPU; chips are programmed on the CPU
    assert ops["cuda", "convolution"] > 1000 and ops["cuda", "convolution_backward"] > 100
    assert ops["cpu", "convolution"] == 0 and ops["cpu", "convolution_backward"] == 0
    assert len(cpu) == len(gpu) > 40
    pd.testing.assert_frame_equal(cpu, gpu)


@pytest.mark.parametrize("estimator", ["hutchinson", "ggn-mc", "ggn-exact"])
def test_curvature_on_simulated_cuda_matches_cpu(estimator):
    splits = fx.data.load("synthderm", seed=0, size=16, n=200, num_classes=3)
    torch.manual_seed(0)
    model = fx.models.build("small-cnn", 3, 16).eval()
    expected = fx.saliency.curvature(model, fx.saliency.group_batches(splits.train, 32, 16, 0, "cpu"), estimator)
    with simulated_cuda() as ops:
        batches = fx.saliency.group_batches(splits.train, 32, 16, 0, "cuda")
        got = fx.saliency.curvature(model.to("cuda"), batches, estimator)
        got = {c: {k: v.cpu() for k, v in h.items()} for c, h in got.items()}
    assert ops["cuda", "convolution"] > 0 and ops["cpu", "convolution"] == 0
    for c in expected:
        for k in expected[c]:
            torch.testing.assert_close(got[c][k], expected[c][k], rtol=0, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_study_on_real_cuda_close_to_cpu(tmp_path, monkeypatch):
    cpu = _study(tmp_path, monkeypatch, "cpu")
    gpu = _study(tmp_path, monkeypatch, "cuda")
    assert len(cpu) == len(gpu)
    # GPU kernels round differently, so compare the headline metric loosely, chip by chip
    f1 = lambda df: df.data_json.map(lambda s: json.loads(s)["f1_macro"])  # noqa: E731
    assert (f1(cpu) - f1(gpu)).abs().max() < 0.05
    with contextlib.suppress(Exception):
        torch.cuda.empty_cache()
