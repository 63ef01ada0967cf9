"""Curvature estimators against the exact Hessian diagonal; saliency and mask rules."""
import math
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

import fairxbar_aihw as fx
from fairxbar_aihw.errors import UserError
from fairxbar_aihw.saliency import CurvatureFallback, masks_from_saliency, saliencies, weight_param_names


def exact_diag(model, batches):
    """Diagonal of the Hessian of the mean CE over all batches (torch.autograd.functional.hessian)."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    out = {}
    for name in weight_param_names(model):
        def loss(w, name=name):
            total, count = 0.0, 0
            for x, y in batches:
                logits = functional_call(model, {**params, name: w}, (x,))
                total = total + F.cross_entropy(logits, y) * len(y)
                count += len(y)
            return total / count
        p = params[name]
        h = torch.autograd.functional.hessian(loss, p).reshape(p.numel(), p.numel())
        out[name] = h.diagonal().reshape(p.shape)
    return out


def _data(shape, k, sizes, seed):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn((n, *shape), generator=g), torch.randint(0, k, (n,), generator=g)) for n in sizes]


def _rel(a, b):
    return max(((a[k] - b[k]).norm() / b[k].norm()).item() for k in b)


@pytest.fixture
def tiny_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(3 * 3 * 3, 5), nn.Tanh(), nn.Linear(5, 3))


@pytest.fixture
def tiny_mlp():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(4, 6), nn.Sigmoid(), nn.Linear(6, 3))


@pytest.mark.parametrize("model_name", ["tiny_cnn", "tiny_mlp"])
def test_hessian_exact_matches_autograd(model_name, request):
    model = request.getfixturevalue(model_name)
    shape = (2, 6, 6) if model_name == "tiny_cnn" else (4,)
    b = {0: _data(shape, 3, [7, 5], 0), 1: _data(shape, 3, [9], 1)}
    curv = fx.saliency.curvature(model, b, "hessian-exact")
    for c in (0, 1):
        assert _rel(curv[c], exact_diag(model, b[c])) < 1e-4


def test_ggn_equals_hessian_for_linear_model_with_ce():
    """With no hidden nonlinearity the loss is convex in the weights and GGN = Hessian exactly."""
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(5, 4))
    b = {0: _data((5,), 4, [12], 0), 1: _data((5,), 4, [10], 1)}
    ggn = fx.saliency.curvature(model, b, "ggn-exact")
    ref = exact_diag(model, b[0])
    assert _rel(ggn[0], ref) < 1e-4


def test_hutchinson_converges_to_exact_diagonal():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 3))
    b = {0: _data((3,), 3, [16], 0), 1: _data((3,), 3, [16], 1)}
    ref = exact_diag(model, b[0])
    errs = [_rel(fx.saliency.curvature(model, b, "hutchinson", probes=p, seed=0)[0], ref) for p in (4, 64, 1024)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.15  # stated tolerance at 1024 probes


def test_fisher_matches_mean_squared_per_sample_gradients(tiny_mlp):
    b = {0: _data((4,), 3, [6], 0), 1: _data((4,), 3, [6], 1)}
    fisher = fx.saliency.curvature(tiny_mlp, b, "fisher")
    x, y = b[0][0]
    ref = {k: torch.zeros_like(v) for k, v in tiny_mlp.named_parameters()}
    for i in range(len(y)):
        tiny_mlp.zero_grad()
        F.cross_entropy(tiny_mlp(x[i : i + 1]), y[i : i + 1]).backward()
        for k, v in tiny_mlp.named_parameters():
            ref[k] += v.grad ** 2 / len(y)
    for k in weight_param_names(tiny_mlp):
        assert torch.allclose(fisher[0][k], ref[k], atol=1e-7)


def test_backpack_unsupported_model_falls_back_with_warning():
    model = fx.models.build("resnet18", 3, 16)
    b = {0: _data((3, 16, 16), 3, [2], 0), 1: _data((3, 16, 16), 3, [2], 1)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        curv = fx.saliency.curvature(model, b, "hessian-exact", probes=1)
    assert any(issubclass(w.category, CurvatureFallback) for w in caught)
    assert set(curv[0]) == set(weight_param_names(model))


def test_saliency_formulas_and_masks():
    model = nn.Sequential(nn.Linear(10, 20))
    with torch.no_grad():
        model[0].weight.copy_(torch.linspace(-1, 1, 200).reshape(20, 10))
    g = torch.Generator().manual_seed(0)
    curv = {c: {"0.weight": torch.rand(20, 10, generator=g)} for c in (0, 1)}
    s, a = saliencies(model, curv, beta=0.5)
    th2 = model[0].weight.detach() ** 2
    assert torch.allclose(s["0"], 0.5 * curv[0]["0.weight"] * th2 - 0.5 * 0.5 * curv[1]["0.weight"] * th2)
    assert torch.allclose(a["0"], 0.5 * (curv[0]["0.weight"] + curv[1]["0.weight"]) * th2)
    for x in (0.05, 0.123, 0.5):
        fr = masks_from_saliency(s, a, "FR", x)["0"]
        assert int(fr.sum()) == math.ceil(x * 200)
        assert s["0"][fr].max() <= s["0"][~fr].min()  # the most negative s are taken
        k = math.ceil(x * 200)
        low_a = torch.zeros(200, dtype=torch.bool)
        low_a[torch.argsort(a["0"].flatten())[:k]] = True
        high_a = torch.zeros(200, dtype=torch.bool)
        high_a[torch.argsort(-a["0"].flatten())[:k]] = True
        fa = masks_from_saliency(s, a, "F+A R", x)["0"]  # default reading: exclude
        assert torch.equal(fa, fr & ~high_a.reshape(20, 10))
        inter = masks_from_saliency(s, a, "F+A R", x, fa_rule="intersect")["0"]
        assert torch.equal(inter, fr & low_a.reshape(20, 10))
        assert torch.equal(masks_from_saliency(s, a, "F+A R [intersect]", x)["0"], inter)
        for label, ref in (("random", fa), ("random [intersect]", inter)):
            rnd = masks_from_saliency(s, a, label, x, seed=1)["0"]
            assert int(rnd.sum()) == int(ref.sum())
        matched = masks_from_saliency(s, a, "FR-matched", x)["0"]  # F+A R's count, chosen by s alone
        assert int(matched.sum()) == int(fa.sum())
        if matched.any() and (~matched).any():
            assert s["0"][matched].max() <= s["0"][~matched].min()
    assert masks_from_saliency(s, a, "uniform", 0.1)["0"].all()
    assert not masks_from_saliency(s, a, "none", 0.1)["0"].any()
    with pytest.raises(UserError, match="target must be a fraction"):
        masks_from_saliency(s, a, "FR", 5)
    with pytest.raises(UserError, match="unknown targeting method"):
        masks_from_saliency(s, a, "FA", 0.1)
    with pytest.raises(UserError, match="unknown targeting method"):
        masks_from_saliency(s, a, "FR [intersect]", 0.1)  # FR takes no rule


def test_fa_rules_on_a_relu_net_with_exact_curvature(tiny_cnn):
    """With exact (PSD) curvature |s| ≤ a, so at x = 5% the most-negative-s set and the smallest-a set
    need not meet: intersect may target nothing, exclude targets fairness-relevant weights (s < 0)."""
    relu_net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(4 * 3 * 3, 8), nn.ReLU(), nn.Linear(8, 3))
    torch.manual_seed(3)
    b = {0: _data((2, 6, 6), 3, [16, 16], 0), 1: _data((2, 6, 6), 3, [16, 16], 1)}
    curv = fx.saliency.curvature(relu_net, b, "hessian-exact")
    s, a = saliencies(relu_net, curv)
    for name in s:
        assert (s[name].abs() <= a[name] + 1e-7).all()  # the inequality behind the degenerate reading
    ex = fx.saliency.masks(relu_net, curv, method="F+A R", target=0.05, fa_rule="exclude")
    it = fx.saliency.masks(relu_net, curv, method="F+A R", target=0.05, fa_rule="intersect")
    assert sum(int(m.sum()) for m in ex.values()) > 0
    for name in ex:
        k = math.ceil(0.05 * s[name].numel())
        top_s = torch.zeros(s[name].numel(), dtype=torch.bool)
        top_s[torch.argsort(s[name].flatten(), stable=True)[:k]] = True
        top_a = torch.zeros(s[name].numel(), dtype=torch.bool)
        top_a[torch.argsort(-a[name].flatten(), stable=True)[:k]] = True
        assert torch.equal(ex[name].flatten(), top_s & ~top_a)
        assert (s[name][ex[name]] < 0).all()  # every excluded-rule weight matters more to the privileged group
        assert int(it[name].sum()) <= int(ex[name].sum())


def test_masks_are_in_aihwkit_layout(tiny_cnn):
    b = {0: _data((2, 6, 6), 3, [4], 0), 1: _data((2, 6, 6), 3, [4], 1)}
    curv = fx.saliency.curvature(tiny_cnn, b, "hessian-exact")
    m = fx.saliency.masks(tiny_cnn, curv, method="FR", target=0.2)
    preset = fx.hardware.load_preset("paper-variation")
    am = fx.hardware.to_analog(tiny_cnn, preset)
    layouts = {n: l.analog_module for n, l in fx.hardware.analog_layers(am)}
    assert set(m) == set(layouts)
    for n, mask in m.items():
        assert tuple(mask.shape) == (layouts[n].out_size, layouts[n].in_size)
