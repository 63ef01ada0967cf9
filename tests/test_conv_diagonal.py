"""The exact conv-weight curvature diagonal: both contractions against independent references."""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn as nn

from fairxbar_aihw.saliency import conv_diagonal
from fairxbar_aihw.saliency.estimators import curvature


def _brute(unfolded: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Σ_{v,n} (X_n S_{v,n}ᵀ)² one sample and one column at a time."""
    out = torch.zeros(factor.shape[2], unfolded.shape[1], dtype=torch.float64)
    for v in range(factor.shape[0]):
        for n in range(factor.shape[1]):
            out += (factor[v, n].double() @ unfolded[n].double().T) ** 2
    return out


@pytest.mark.parametrize("positions,columns", [(1, 4), (4, 4), (9, 2), (16, 4), (36, 3)])
def test_weight_diagonal_equals_the_per_sample_sum(positions: int, columns: int, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(positions)
    x, s = torch.randn(7, 5, positions), torch.randn(columns, 7, 3, positions)
    want = _brute(x, s)
    # whichever contraction the shape picks, and each one forced, in one piece and in chunks
    for square, whole, chunk, sq in ((None, None, None, None), (True, None, None, 1), (False, 10**9, None, None),
                                     (False, 0, 2 * 3 * 5, None)):
        if square is not None:
            monkeypatch.setattr(conv_diagonal, "uses_expanded_square", lambda p, v, square=square: square)
        for name, value in (("_WHOLE_FLOATS", whole), ("_CHUNK_FLOATS", chunk),
                            ("_SQUARE_FLOATS", None if sq is None else positions ** 2 * 5 * 2)):
            if value is not None:
                monkeypatch.setattr(conv_diagonal, name, value)
        got = conv_diagonal.weight_diagonal(x, s).double()
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_the_expanded_square_takes_few_positions_and_many_columns() -> None:
    assert conv_diagonal.uses_expanded_square(4, 4) and not conv_diagonal.uses_expanded_square(64, 4)
    assert conv_diagonal.uses_expanded_square(36, 114)  # the paper's 114 classes


class _Residual(nn.Module):
    """Conv layers at 2×2 positions (the expanded square), a grouped conv and a skip connection."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.grouped = nn.Conv2d(4, 4, 3, padding=1, groups=2)
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()
        self.flatten = nn.Flatten()
        self.head = nn.Linear(4 * 2 * 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu1(self.bn(self.stem(x)))
        h = self.relu2(self.grouped(h) + h)
        return self.head(self.flatten(h))


def _ggn_diagonal(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Σ_n diag(J_nᵀ H_n J_n) / N from the explicit per-sample Jacobian (the mean CE's GGN)."""
    params = {k: p.detach() for k, p in model.named_parameters()}
    out = {k: torch.zeros_like(p, dtype=torch.float64) for k, p in params.items()}
    for xn in x:
        def logits(*ps: torch.Tensor, xn: torch.Tensor = xn) -> torch.Tensor:
            return torch.func.functional_call(model, dict(zip(params, ps)), (xn[None],))[0]
        jac = torch.autograd.functional.jacobian(logits, tuple(params.values()))
        p = torch.softmax(logits(*params.values()), 0).double()
        h = torch.diag(p) - torch.outer(p, p)
        for (k, _), j in zip(params.items(), jac):
            j = j.double().reshape(j.shape[0], -1)
            out[k] += torch.einsum("cw,cd,dw->w", j, h, j).reshape(out[k].shape) / len(x)
    return out


def test_exact_ggn_of_a_residual_conv_net_equals_the_explicit_jacobian(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, ...]] = []
    rule = conv_diagonal.weight_diagonal
    monkeypatch.setattr(conv_diagonal, "weight_diagonal", lambda x, s: calls.append(tuple(s.shape)) or rule(x, s))
    torch.manual_seed(0)
    model = _Residual().eval()
    model.bn.running_mean.uniform_(-0.5, 0.5)
    model.bn.running_var.uniform_(0.5, 2.0)
    x, y = torch.randn(6, 3, 4, 4), torch.randint(0, 3, (6,))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no fallback to Hutchinson
        got = curvature(model, {0: [(x, y)]}, "ggn-exact")[0]
    want = _ggn_diagonal(model, x)
    assert calls == [(3, 6, 2, 4), (3, 6, 2, 4), (3, 6, 4, 4)]  # our rule ran: grouped conv in two parts, then the stem
    assert set(got) == {"stem.weight", "grouped.weight", "head.weight"}
    for k, v in got.items():
        torch.testing.assert_close(v.double(), want[k], rtol=1e-4, atol=1e-9)


def test_small_models_keep_backpacks_numbers_bit_for_bit() -> None:
    from backpack import backpack, extend
    from backpack.extensions import DiagHessian

    import fairxbar_aihw as fx

    torch.manual_seed(1)
    model = fx.models.build("small-cnn", 4, 32).eval()
    x, y = torch.rand(128, 3, 32, 32), torch.randint(0, 4, (128,))
    got = curvature(model, {0: [(x, y)]}, "hessian-exact")[0]
    ref_model = extend(model)
    loss = extend(nn.CrossEntropyLoss())(ref_model(x), y)
    with backpack(DiagHessian()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss.backward()
    for name, p in ref_model.named_parameters():
        if name in got:
            assert torch.equal(got[name], p.diag_h), name
