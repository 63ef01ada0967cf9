"""The exact conv-weight curvature diagonal: both contractions against independent references."""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn as nn

from fairxbar_aihw.saliency import conv_diagonal, estimators, exact_ggn
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
                                     (False, 0, 2 * 3 * 5, None), (False, 0, columns * 5, None)):
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


@pytest.mark.parametrize("fast", [True, False], ids=["autograd", "backpack"])
def test_exact_ggn_of_a_residual_conv_net_equals_the_explicit_jacobian(fast: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(estimators, "FAST_EXACT", fast)
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
    v = 2 if fast else 3  # columns of the loss Hessian's root: V − 1 by autograd, V by BackPACK
    assert [c for c in sorted(calls) if c[-1] > 1] == [(v, 6, 2, 4), (v, 6, 2, 4), (v, 6, 4, 4)]  # our rule ran: the stem, the grouped conv in two parts
    assert set(got) == {"stem.weight", "grouped.weight", "head.weight"}
    for k, v in got.items():
        torch.testing.assert_close(v.double(), want[k], rtol=1e-4, atol=1e-9)


def test_small_models_keep_backpacks_numbers_bit_for_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through BackPACK the conv rule keeps its numbers exactly; the autograd path to float rounding."""
    from backpack import backpack, extend
    from backpack.extensions import DiagHessian

    import fairxbar_aihw as fx

    torch.manual_seed(1)
    model = fx.models.build("small-cnn", 4, 32).eval()
    x, y = torch.rand(128, 3, 32, 32), torch.randint(0, 4, (128,))
    fast = curvature(model, {0: [(x, y)]}, "hessian-exact")[0]
    monkeypatch.setattr(estimators, "FAST_EXACT", False)
    got = curvature(model, {0: [(x, y)]}, "hessian-exact")[0]
    ref_model = extend(model)
    loss = extend(nn.CrossEntropyLoss())(ref_model(x), y)
    with backpack(DiagHessian()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss.backward()
    for name, p in ref_model.named_parameters():
        if name in got:
            assert torch.equal(got[name], p.diag_h), name
            torch.testing.assert_close(fast[name], p.diag_h, rtol=1e-5, atol=1e-12)


def _vgg_like(inplace: bool = False) -> nn.Sequential:
    """ReLUs straight after a convolution (in place in torchvision's VGG), batch norm, pooling, dropout."""
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(inplace=inplace), nn.MaxPool2d(2),
                         nn.Conv2d(6, 8, 3, padding=1, stride=2), nn.BatchNorm2d(8), nn.ReLU(inplace=inplace),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(32, 5))


@pytest.mark.parametrize("estimator", ["ggn-exact", "hessian-exact"])
def test_the_autograd_path_equals_backpack(estimator: str, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(3)
    # no batch norm here: BackPACK's DiagHessian does not take it (it would fall back to Hutchinson)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3, padding=1, stride=2),
                          nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(8, 5)).eval()
    batches = {0: [(torch.randn(9, 3, 8, 8), torch.randint(0, 5, (9,))), (torch.randn(4, 3, 8, 8), torch.randint(0, 5, (4,)))],
               1: [(torch.randn(7, 3, 8, 8), torch.randint(0, 5, (7,)))]}
    names = estimators.weight_param_names(model)
    assert exact_ggn.applies(model, names, estimator)
    fast = curvature(model, batches, estimator)
    monkeypatch.setattr(estimators, "FAST_EXACT", False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", estimators.CurvatureFallback)
        slow = curvature(model, batches, estimator)
    for g in slow:
        for k in names:
            torch.testing.assert_close(fast[g][k], slow[g][k], rtol=1e-4, atol=1e-10)


def test_curved_or_scripted_models_stay_with_backpack() -> None:
    curved = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    names = estimators.weight_param_names(curved)
    assert exact_ggn.applies(curved, names, "ggn-exact")  # the GGN needs no piecewise linearity
    assert not exact_ggn.applies(curved, names, "hessian-exact")  # the Hessian's residual term is not zero
    assert not exact_ggn.applies(_Residual(), estimators.weight_param_names(_Residual()), "hessian-exact")
    assert not exact_ggn.applies(curved, names, "ggn-mc")
    assert not exact_ggn.applies(torch.jit.script(curved), names, "ggn-exact")


def test_in_place_relus_after_a_layer_keep_the_exact_ggn() -> None:
    """torchvision's VGG-11 edits each conv output in place; the autograd path still gets the exact
    diagonal (BackPACK 1.7 refuses the in-place edit, and the estimate used to fall back to Hutchinson)."""
    torch.manual_seed(3)
    model = _vgg_like(inplace=True).eval()
    x, y = torch.randn(9, 3, 8, 8), torch.randint(0, 5, (9,))
    got = curvature(model, {0: [(x, y)]}, "ggn-exact")[0]
    want = _ggn_diagonal(model, x)
    for k, v in got.items():
        torch.testing.assert_close(v.double(), want[k], rtol=1e-4, atol=1e-9)


class _Shared(nn.Module):
    """One linear layer applied twice: its per-sample gradient is a sum of two uses."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.relu, self.mid, self.head = nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Linear(4, 4), nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.conv(x)).mean((2, 3))
        return self.head(self.mid(self.relu(self.mid(h))))


def test_a_layer_used_twice_is_not_taken_by_the_autograd_path() -> None:
    """Squaring each use's gradient apart would be wrong; the estimate goes to BackPACK (which here
    falls back to Hutchinson, with its warning) instead of returning that."""
    torch.manual_seed(4)
    model = _Shared().eval()
    x, y = torch.randn(5, 3, 5, 5), torch.randint(0, 3, (5,))
    names = estimators.weight_param_names(model)
    with pytest.raises(exact_ggn.Unsupported, match="mid.weight runs twice"):
        exact_ggn.per_batch(model, names)(x, y)
    with pytest.warns(estimators.CurvatureFallback):
        curvature(model, {0: [(x, y)]}, "ggn-exact")


@pytest.mark.parametrize("classes", [2, 4, 114])
def test_the_loss_hessian_root_has_one_column_fewer_than_the_classes(classes: int) -> None:
    """S Sᵀ = diag(p) − p pᵀ with V − 1 columns, for spread, confident (p ≈ 1 on one class, where a
    Cholesky would fail) and tied probabilities."""
    torch.manual_seed(classes)
    logits = torch.cat([torch.randn(5, classes), 40 * torch.eye(classes)[:3], torch.zeros(1, classes)])
    p = torch.softmax(logits, 1)
    s = exact_ggn.loss_hessian_root(p)
    assert s.shape == (len(p), classes, classes - 1)
    h = torch.diag_embed(p.double()) - p.double()[:, :, None] * p.double()[:, None, :]
    torch.testing.assert_close((s.double() @ s.double().transpose(1, 2)), h, rtol=0, atol=1e-6)


@pytest.mark.parametrize("conv", [nn.Conv2d(3, 5, 3, padding=1), nn.Conv2d(4, 6, (3, 2), stride=2, padding=(1, 2), dilation=2),
                                  nn.Conv2d(2, 3, 1)])
def test_the_grouped_convolution_equals_the_per_sample_sum(conv: nn.Conv2d, monkeypatch: pytest.MonkeyPatch) -> None:
    """One convolution with a group per sample (chunks of samples included) gives the explicit
    per-sample sum for any stride, padding, dilation and kernel shape."""
    monkeypatch.setattr(conv_diagonal, "_WHOLE_FLOATS", 2 * 3 * conv.out_channels * conv.weight[0].numel())  # 2 samples a chunk
    torch.manual_seed(0)
    x = torch.randn(5, conv.in_channels, 9, 8)
    out_shape = conv(x).shape
    s = torch.randn(5, 3, *out_shape[1:])  # (N, V, M, H', W')
    got = conv_diagonal.grouped_conv_weight_diagonal(conv, x, s)
    want = torch.zeros_like(conv.weight, dtype=torch.float64)
    for n in range(5):
        for v in range(3):
            g, = torch.autograd.grad(conv(x[n : n + 1]), conv.weight, s[n : n + 1, v])
            want += g.double() ** 2
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-9)


def test_the_grouped_convolution_takes_many_positions_and_few_channels() -> None:
    stem, deep = nn.Conv2d(3, 16, 3), nn.Conv2d(128, 128, 3)
    assert conv_diagonal.uses_grouped_conv(stem, 1024, 3) and not conv_diagonal.uses_grouped_conv(deep, 64, 3)
    assert not conv_diagonal.uses_grouped_conv(nn.Conv2d(4, 4, 3, groups=2), 1024, 3)  # grouped layers: unfold
    assert not conv_diagonal.uses_grouped_conv(stem, 4, 3)  # few positions: the expanded square
