"""Mitigation arms: VFA loss, error emulation, pruning sparsity, eigenvalue diagnostics, arms run."""
import copy
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import fairxbar_aihw as fx
from fairxbar_aihw.retrain import (
    ArmSettings,
    RetrainSection,
    apply_pruning,
    boundary_loss,
    fairprune_masks,
    finetune,
    hwa_train,
    logit_margin,
    magnitude_prune_masks,
    top_hessian_eigenvalue,
    vfa_loss,
)


def test_vfa_loss_equals_formula_on_hand_example():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0], [3.0, -1.0]])
    y = torch.tensor([0, 1, 0, 1])
    g = torch.tensor([0, 0, 1, 1])
    ce = [math.log(1 + math.exp(-2)), math.log(1 + math.exp(-1)), math.log(2), math.log(1 + math.exp(4))]
    l0, l1 = (ce[0] + ce[1]) / 2, (ce[2] + ce[3]) / 2
    alpha = 0.3
    expected = (1 - alpha) * sum(ce) / 4 + alpha * abs(l0 - l1)
    assert vfa_loss(logits, y, g, alpha).item() == pytest.approx(expected, rel=1e-6)
    assert vfa_loss(logits, y, g, 0.0).item() == pytest.approx(F.cross_entropy(logits, y).item())


def test_boundary_loss_uses_logit_margins():
    logits = torch.tensor([[2.0, 0.0, 1.0], [0.0, 1.0, 3.0]])
    y = torch.tensor([0, 1])
    assert logit_margin(logits, y).tolist() == [1.0, -2.0]
    g = torch.tensor([0, 1])
    expected = F.cross_entropy(logits, y).item() + 0.5 * 3.0
    assert boundary_loss(logits, y, g, 0.5).item() == pytest.approx(expected)


def test_error_emulation_touches_only_targeted_weights_and_restores():
    from fairxbar_aihw.retrain.emulation import ChipEmulator

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    clean = {k: v.detach().clone() for k, v in model.state_dict().items()}
    preset = fx.hardware.load_preset("paper-saf", saf_rate=0.3)
    masks = {"0": torch.rand(4, 27) < 0.4, "2": torch.rand(3, 64) < 0.4}
    em = ChipEmulator(model, preset, None, study_seed=0)
    with em.perturbed(masks, seed=5):
        for name, layer in (("0", model[0]), ("2", model[2])):
            w = layer.weight.detach().reshape(layer.weight.shape[0], -1)
            ref = clean[f"{name}.weight"].reshape(w.shape)
            assert torch.equal(w[~masks[name]], ref[~masks[name]])
            assert (w[masks[name]] != ref[masks[name]]).any()
    for k, v in model.state_dict().items():
        assert torch.equal(v, clean[k])


@pytest.mark.parametrize("preset_name", ["paper-variation", "paper-saf", "pcm-ibm"])
def test_emulated_chip_k_is_monte_carlo_chip_k_on_a_multi_tile_layer(preset_name):
    """Retraining errors come through the chips' own per-tile path: emulated chip k of the
    current weights equals Monte-Carlo chip k programmed from those weights, tile scaling included."""
    from fairxbar_aihw.hardware import effective_weights, install_overrides, program_chip, tile_slices
    from fairxbar_aihw.retrain.emulation import ChipEmulator

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(70, 50), nn.ReLU(), nn.Linear(50, 4)).eval()
    with torch.no_grad():
        model[1].weight[:, :35] *= 10  # very different ranges on the two tiles of a row
    preset = fx.hardware.load_preset(preset_name, tile_rows=20, tile_cols=35)
    masks = {"1": torch.rand(50, 70) < 0.5, "3": torch.rand(4, 50) < 0.5}
    em = ChipEmulator(model, preset, None, study_seed=3)
    am = fx.hardware.to_analog(model, preset)
    assert len(list(tile_slices(dict(fx.hardware.analog_layers(am))["1"]))) == 6
    for k in (0, 7):
        seed = em.chip_seed(k)
        install_overrides(am, preset, masks)
        program_chip(am, seed)
        mc = effective_weights(am)
        emulated = em.programmed(masks, seed)
        for name in mc:
            assert torch.equal(emulated[name], mc[name]), (name, k)
    with torch.no_grad():  # the emulator programs the model's current weights, not the first ones
        model[1].weight.mul_(0.5)
    moved = em.programmed(masks, em.chip_seed(0))["1"]
    assert torch.allclose(moved[~masks["1"]], model[1].weight.detach()[~masks["1"]])


def _settings(**retrain):
    """VA's settings on one fixed chip at target 0.5."""
    return ArmSettings(retrain=RetrainSection(**retrain), target=0.5, chip="fixed")


def test_persistent_errors_stay_in_the_weights(tiny):
    splits, model = tiny
    preset = fx.hardware.load_preset("paper-saf", saf_rate=0.2)
    base = dict(steps=3, refresh_every=1, batch_size=32, samples_per_group=16, eval_every=0, lr=1e-9)
    st, _ = finetune(model, splits, "va", _settings(**base), preset, progress=False)
    pe, _ = finetune(model, splits, "va", _settings(**base, errors="persistent"), preset, progress=False)
    # with a vanishing learning rate straight-through keeps the clean weights; persistent keeps the chip's
    assert torch.allclose(st[0].weight, model[0].weight, atol=1e-6)
    assert (pe[0].weight != model[0].weight).float().mean() > 0.05


def test_step_5_keeps_the_best_validation_checkpoint(tiny):
    splits, model = tiny
    preset = fx.hardware.load_preset("paper-variation", noise_rate=0.1)
    cfg = ArmSettings(retrain=RetrainSection(steps=12, refresh_every=4, batch_size=32, samples_per_group=16,
                                             eval_every=3, val_chips=2, patience=2, max_f1_loss=1.0), target=0.5)
    _, info = finetune(model, splits, "va", cfg, preset, progress=False)
    hist = info["val_history"]
    assert hist[0]["step"] == 0 and all(h["step"] % 3 == 0 for h in hist)
    eligible = [h for h in hist[1:] if h["val_f1_pooled"] >= info["f1_reference"] - 1.0]
    best = min(eligible, key=lambda h: h["val_eodds"])
    assert info["kept_step"] == best["step"] and info["target_met"]
    assert info["steps_run"] <= 12


def test_magnitude_pruning_hits_sparsity_exactly():
    torch.manual_seed(1)
    model = fx.models.build("small-cnn", 3, 16)
    total = sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    for s in (0.5, 0.7, 0.9):
        masks = magnitude_prune_masks(model, s)
        assert sum(int(m.sum()) for m in masks.values()) == round(s * total)
        pruned = apply_pruning(fx.models.build("small-cnn", 3, 16), masks)
        zeros = sum(int((m.weight == 0).sum()) for m in pruned.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
        assert zeros >= round(s * total)
    kept = torch.cat([m.weight.detach().abs().flatten() for m in model.modules()
                      if isinstance(m, (nn.Conv2d, nn.Linear))])
    masks = magnitude_prune_masks(model, 0.5)
    flat_mask = torch.cat([m.flatten() for m in masks.values()])
    assert kept[flat_mask].max() <= kept[~flat_mask].min()


def test_fairprune_prunes_most_negative_saliency_per_layer():
    model = nn.Sequential(nn.Linear(6, 5))
    curv = {0: {"0.weight": torch.rand(5, 6)}, 1: {"0.weight": torch.rand(5, 6)}}
    masks = fairprune_masks(model, curv, 0.5)
    s, _ = fx.saliency.saliencies(model, curv)
    assert int(masks["0"].sum()) == 15
    assert s["0"][masks["0"]].max() <= s["0"][~masks["0"]].min()


def test_top_eigenvalue_matches_full_hessian():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3))
    x, y = torch.randn(20, 3), torch.randint(0, 3, (20,))
    params = dict(model.named_parameters())
    names = list(params)
    shapes = [params[n].shape for n in names]
    sizes = [params[n].numel() for n in names]
    flat0 = torch.cat([params[n].detach().flatten() for n in names])

    def loss(flat):
        parts = torch.split(flat, sizes)
        p = {n: t.reshape(s) for n, t, s in zip(names, parts, shapes)}
        return F.cross_entropy(torch.func.functional_call(model, p, (x,)), y)

    eigs = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss, flat0))
    expected = eigs[eigs.abs().argmax()].item()
    est = top_hessian_eigenvalue(model, [(x, y)], iters=500, tol=1e-9)
    assert est == pytest.approx(expected, rel=1e-3)


@pytest.fixture(scope="module")
def tiny():
    splits = fx.data.load("synthderm", seed=0, size=16, n=300, num_classes=3)
    torch.manual_seed(0)
    model = fx.models.build("small-cnn", 3, 16).eval()
    return splits, model


def _two_image_splits(labels: tuple[int, int], n: int = 8):
    """A split of two distinct images, one per group, each repeated ``n`` times: every mini-batch an arm draws
    (half from each group, with replacement) holds the same two samples, so its losses have a closed form."""
    from fairxbar_aihw.data.splits import Splits, TensorSplit

    imgs = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    split = TensorSplit(imgs.repeat_interleave(n, 0), torch.tensor(labels).repeat_interleave(n),
                        torch.tensor([0, 1]).repeat_interleave(n))
    return Splits(split, split, split, 3, ["a", "b", "c"], {0: "dark", 1: "light"}, True, "two-images")


def _paper_loss(arm: str, z: torch.Tensor, y: torch.Tensor, alpha: float, lam: float) -> torch.Tensor:
    """Each arm's loss written out for one sample per group (row 0 unprivileged, row 1 privileged):
    CE (VA, FT); paper eq. 11 (VFA, fair-loss); CE + λ·|margin₀ − margin₁| (boundary)."""
    ce = -torch.log_softmax(z, 1)[[0, 1], y]
    if arm in ("va", "ft"):
        return ce.mean()
    if arm in ("vfa", "fair-loss"):
        return (1 - alpha) * ce.mean() + alpha * (ce[0] - ce[1]).abs()
    others = z.clone()
    others[[0, 1], y] = -math.inf
    margin = z[[0, 1], y] - others.max(1).values
    return ce.mean() + lam * (margin[0] - margin[1]).abs()


@pytest.mark.parametrize("arm", ["va", "vfa", "ft", "fair-loss", "boundary"])
def test_each_arm_takes_adams_first_step_on_its_own_loss_at_its_chips_weights(arm):
    """One step of each arm against an independent reference: its loss in closed form, evaluated at the
    weights of Monte-Carlo chip 0 (programmed through aihwkit's path) for VA/VFA and at the clean weights
    otherwise, and Adam's first step θ − lr·g/(|g|+ε) applied to the clean weights (straight-through)."""
    from fairxbar_aihw.data.splits import to_float
    from fairxbar_aihw.rng import derive_seed

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 16), nn.Tanh(), nn.Linear(16, 3)).eval()
    splits = _two_image_splits((0, 2))
    lr, alpha, lam = 1e-2, 0.3, 0.5
    preset = fx.hardware.load_preset("paper-variation", noise_rate=0.2)
    cfg = ArmSettings(retrain=RetrainSection(steps=1, lr=lr, batch_size=8, eval_every=0, alpha=alpha, lam=lam),
                      method="uniform")
    tuned, info = finetune(model, splits, arm, cfg, preset, progress=False)

    ref = copy.deepcopy(model)
    clean = {n: p.detach().clone() for n, p in ref.named_parameters()}
    if arm in ("va", "vfa"):  # uniform targeting: chip 0's errors on every weight
        chip = fx.hardware.to_analog(model, preset)
        fx.hardware.program(chip, preset, seed=derive_seed(0, preset.name, 0.2, 0))
        with torch.no_grad():
            for name, w in fx.hardware.effective_weights(chip).items():
                assert not torch.allclose(w, ref[int(name)].weight)  # the chip really has errors
                ref[int(name)].weight.copy_(w)
    x = to_float(splits.train.images[[0, 8]])
    loss = _paper_loss(arm, ref(x), torch.tensor([0, 2]), alpha, lam)
    grads = torch.autograd.grad(loss, list(ref.parameters()))
    assert info["loss_first"] == pytest.approx(loss.item(), rel=1e-5)
    for (name, p), g in zip(tuned.named_parameters(), grads):
        expected = clean[name] - lr * g / (g.abs() + 1e-8)
        torch.testing.assert_close(p.detach(), expected, rtol=0, atol=1e-6, msg=f"{arm} {name}")


def test_hwa_arm_trains_under_aihwkits_additive_weight_noise(monkeypatch):
    """HWA's forward pass computes with W + N(0, (σ·max|W|)²) (aihwkit's ADD_NORMAL relative to the
    tile's actual w_max): the first analog layer's output minus the clean W·x, over its 512 outputs,
    has the standard deviation σ·max|W|·‖x‖ for each input x; with σ = 0 the output is exactly the clean one."""
    from aihwkit.nn import AnalogLinear


    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 512), nn.Tanh(), nn.Linear(512, 3)).eval()
    splits = _two_image_splits((1, 1))
    w, b = model[1].weight.detach(), model[1].bias.detach()
    seen: list[torch.Tensor] = []

    def record(module, inputs, output):
        if isinstance(module, AnalogLinear) and module.in_features == 48 and module.training:
            seen.append((inputs[0].detach(), output.detach() - (inputs[0].detach() @ w.T + b)))

    handle = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        for sigma in (0.0, 0.05):
            cfg = ArmSettings(retrain=RetrainSection(steps=1, batch_size=4, hwa_noise=sigma))
            hwa_train(model, splits, fx.hardware.load_preset("ideal"), cfg, progress=False)
    finally:
        handle.remove()
    assert len(seen) == 2
    assert seen[0][1].abs().max().item() < 1e-5  # σ = 0: the clean product
    for x, noise in zip(*seen[1]):
        assert x.abs().sum() > 0
        expected = 0.05 * w.abs().max().item() * x.norm().item()
        assert noise.std().item() == pytest.approx(expected, rel=0.15)  # 512 draws: ±15% is > 3 s.e.
        assert noise.mean().item() == pytest.approx(0.0, abs=4 * expected / math.sqrt(512))


def test_gradient_norm_equals_the_closed_form_of_softmax_regression():
    """For logits W x (no bias) the mean-CE gradient is (1/n) Σ (softmax(Wx) − onehot(y)) xᵀ."""
    from fairxbar_aihw.retrain import gradient_norm

    torch.manual_seed(0)
    model = nn.Linear(5, 3, bias=False)
    x, y = torch.randn(12, 5), torch.randint(0, 3, (12,))
    batches = [(x[:5], y[:5]), (x[5:], y[5:])]  # uneven batches: the mean is over all 12 samples
    with torch.no_grad():
        p = torch.softmax(model(x), dim=1)
        grad = (p - F.one_hot(y, 3).float()).T @ x / len(y)
    assert gradient_norm(model, batches) == pytest.approx(grad.norm().item(), rel=1e-5)


def test_each_arm_trains_with_its_registered_loss_and_errors(tiny):
    """The registry decides: an arm's first loss is its registered loss on its first batch, computed
    on the clean weights for the error-free arms and on the emulated chip for VA and VFA."""
    from fairxbar_aihw.retrain import ARMS, RUNNERS
    from fairxbar_aihw.retrain.objectives import ARM_LOSSES

    splits, model = tiny
    assert {a.runner for a in ARMS.values()} <= set(RUNNERS) and {a.loss for a in ARMS.values()} <= set(ARM_LOSSES)
    logits, y, g = torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2]), torch.tensor([0, 0, 0, 1, 1, 1])
    rt = RetrainSection(alpha=0.3, lam=0.7)
    assert ARM_LOSSES[ARMS["ft"].loss](logits, y, g, rt) == F.cross_entropy(logits, y)
    assert ARM_LOSSES[ARMS["fair-loss"].loss](logits, y, g, rt) == vfa_loss(logits, y, g, 0.3)
    assert ARM_LOSSES[ARMS["boundary"].loss](logits, y, g, rt) == boundary_loss(logits, y, g, 0.7)
    preset = fx.hardware.load_preset("paper-variation", noise_rate=1.0)
    clean = {"ft": lambda x, y, g: F.cross_entropy(model(x), y), "va": lambda x, y, g: F.cross_entropy(model(x), y),
             "fair-loss": lambda x, y, g: vfa_loss(model(x), y, g, 0.5),
             "vfa": lambda x, y, g: vfa_loss(model(x), y, g, 0.5),
             "boundary": lambda x, y, g: boundary_loss(model(x), y, g, 0.1)}
    for arm, loss in clean.items():
        _, info = finetune(model, splits, arm, _settings(steps=1, batch_size=32, samples_per_group=16, eval_every=0),
                           preset, progress=False)
        expected = loss(*_first_batch(splits, arm, 32)).item()
        if ARMS[arm].chip_errors:  # the forward ran on the chip: the loss moved well beyond rounding
            assert abs(info["loss_first"] - expected) > 1e-3, arm
        else:
            assert info["loss_first"] == pytest.approx(expected, rel=1e-5), arm


def _first_batch(splits, arm, batch_size, seed=0):
    """The first group-separated batch ``finetune`` draws for ``arm`` (rng.arm_batch_seed)."""
    from fairxbar_aihw.data.splits import to_float
    from fairxbar_aihw.rng import arm_batch_seed

    gen = torch.Generator().manual_seed(arm_batch_seed(seed, arm))
    train = splits.train
    picks = torch.cat([ix[torch.randint(0, len(ix), (batch_size // 2,), generator=gen)]
                       for ix in (torch.nonzero(train.groups == c).flatten() for c in (0, 1))])
    return to_float(train.images[picks]), train.labels[picks], train.groups[picks]


def test_a_curvature_fallback_is_recorded_in_the_arms_info(tiny):
    """BackPACK has no exact Hessian for GELU: the arm's refreshes fall back to Hutchinson, and its
    info says so (the supported small CNN records None)."""
    splits, small_cnn = tiny
    torch.manual_seed(0)
    gelu = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GELU(), nn.Flatten(), nn.Linear(4 * 14 * 14, 3)).eval()
    settings = _settings(steps=2, refresh_every=1, batch_size=16, samples_per_group=8, eval_every=0)
    preset = fx.hardware.load_preset("paper-variation")
    _, info = finetune(gelu, splits, "va", settings, preset, progress=False)
    assert info["curvature_fallback"].startswith("BackPACK cannot compute hessian-exact")
    assert "GELU" in info["curvature_fallback"]
    _, info = finetune(small_cnn, splits, "va", settings, preset, progress=False)
    assert info["curvature_fallback"] is None


def test_arm_settings_are_the_study_sections_resolved():
    """One definition of each setting: the section's own range check applies, and the plan's
    ArmSettings carries the study's sections themselves."""
    from fairxbar_aihw.errors import UserError
    from fairxbar_aihw.study import load_study
    from fairxbar_aihw.study.plan import StudyPlan

    cfg = load_study("demo")
    settings = StudyPlan(cfg).arm_settings()
    assert settings.retrain == cfg.retrain and settings.saliency == cfg.saliency
    assert (settings.method, settings.target, settings.chip) == ("F+A R", 0.4, "fresh")
    assert settings.keyed()["lr"] == 0.0005 and isinstance(settings.keyed()["target"], float)
    with pytest.raises(UserError, match="alpha"):
        RetrainSection(alpha=1.5)
    with pytest.raises(UserError, match="chip"):
        ArmSettings(chip="auto")  # resolved settings: fixed or fresh


def test_the_report_names_each_arm_whose_curvature_fell_back():
    from fairxbar_aihw.report.markdown import _training_lines
    from fairxbar_aihw.study import load_study

    hist = [{"step": 0, "val_eodds": 0.2, "val_f1_pooled": 0.8}]
    info = {"steps": 90, "steps_run": 90, "kept_step": 0, "target_met": True, "val_history": hist,
            "curvature_fallback": "BackPACK cannot compute hessian-exact for GELU; used hutchinson"}
    lines = _training_lines({"VA-Retrain": info, "Plain FT": {**info, "curvature_fallback": None},
                             "VFA-Retrain": {k: v for k, v in info.items() if k != "curvature_fallback"}},
                            load_study("demo"))
    notes = [line for line in lines if "Curvature fallback" in line]
    assert notes == ["> **Curvature fallback** in VA-Retrain: BackPACK cannot compute hessian-exact for GELU; "
                     "used hutchinson"]


def test_every_arm_asks_its_runner_only_for_what_it_does(monkeypatch):
    from fairxbar_aihw.errors import UserError
    from fairxbar_aihw.retrain import runners
    from fairxbar_aihw.retrain.arm_registry import ARMS, ArmInfo

    for arm in ARMS:
        runners.check_arm(arm)
    monkeypatch.setitem(ARMS, "hwa-fair", ArmInfo("hwa-fair", "HWA fair", "hwa", "vfa", False, "#000000",
                                                  "HWA with the VFA loss"))
    with pytest.raises(UserError, match="trains with loss ce only, not vfa"):
        runners.check_arm("hwa-fair")
    monkeypatch.setitem(ARMS, "hwa-chip", ArmInfo("hwa-chip", "HWA chip", "hwa", "ce", True, "#000000", ""))
    with pytest.raises(UserError, match="cannot train under the chip's errors"):
        runners.check_arm("hwa-chip")
