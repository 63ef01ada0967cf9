"""Hardware layer: noise statistics, per-tile masks, ideal equivalence, aihwkit's own path."""
import copy
import math

import pytest
import torch
import torch.nn as nn

import fairxbar_aihw as fx
from fairxbar_aihw.errors import ConfigError, UserError
from fairxbar_aihw.hardware import (
    PaperSAFNoiseModel,
    PaperVariationNoiseModel,
    analog_layers,
    effective_weights,
    load_into_digital,
    tile_slices,
    variation_sigma,
)


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 7, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(7 * 6 * 6, 5)).eval()


def _ref_weights(model):
    return {n: m.weight.detach().reshape(m.weight.shape[0], -1) for n, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear))}


def test_variation_sigma_matches_eq5():
    assert variation_sigma(0.1, 2, 4) == pytest.approx(0.1 * math.sqrt(1 + 2 ** (2 * (0.5 - 1))))
    w = torch.zeros(400, 500)
    w[0, 0] = 2.0  # w_max = 2
    model = PaperVariationNoiseModel(0.1, bits_per_device=4, devices_per_weight=2)
    torch.manual_seed(0)
    noisy, _ = model.apply_programming_noise(w)
    delta = (noisy - w).flatten()[1:]
    expected = 0.1 * math.sqrt(1 + 2 ** (2 * (2 - 1))) * 2.0
    # std of a 200k-sample std estimate is ~ sigma/sqrt(2n): allow 5 of those
    assert delta.std().item() == pytest.approx(expected, rel=5 / math.sqrt(2 * delta.numel()))
    assert abs(delta.mean().item()) < 5 * expected / math.sqrt(delta.numel())


@pytest.mark.parametrize("mode,flip_rate", [("flip", 0.2), ("stuck", 0.1)])
def test_saf_bit_flip_rates_are_equal_for_0s_and_1s(mode, flip_rate):
    """flip (the paper): each bit flips with p; stuck: faulty with p, stuck at 0/1 equally, so p/2."""
    bits, p = 6, 0.2
    levels = 2**bits - 1
    w = torch.ones(300, 300)  # all bit cells 1
    w[150:] = 1e-6  # all bit cells 0
    torch.manual_seed(1)
    model = PaperSAFNoiseModel(p, bits, mode)
    out, _ = model.apply_programming_noise(w)
    assert model.bit_flip_rate == pytest.approx(flip_rate)
    q = torch.round(out.abs() / 1.0 * levels).long()
    bit_vals = 2 ** torch.arange(bits)
    b = (q.unsqueeze(-1) // bit_vals) % 2
    to_zero = 1 - b[:150].float().mean().item()  # ones that became zero
    to_one = b[150:].float().mean().item()  # zeros that became one
    n = 150 * 300 * bits
    tol = 5 * math.sqrt(flip_rate * (1 - flip_rate) / n)
    assert to_zero == pytest.approx(flip_rate, abs=tol)
    assert to_one == pytest.approx(flip_rate, abs=tol)


@pytest.mark.parametrize("p", [0.0, 0.01, 0.05, 0.2])
def test_paper_saf_chip_changes_one_minus_1_minus_p_to_the_B_of_targeted_weights(p):
    """Through the preset path: a targeted weight changes iff one of its B = 8 bits flipped, with
    probability 1 − (1 − p)^B; every other weight, targeted or not, keeps its exact value."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(300, 200)).eval()
    ref = _ref_weights(model)["1"]
    preset = fx.hardware.load_preset("paper-saf", saf_rate=p, tile_rows=64, tile_cols=100)
    am = fx.hardware.to_analog(model, preset)
    mask = torch.rand(200, 300) < 0.5
    fx.hardware.program(am, preset, masks={"1": mask}, seed=11)
    w = effective_weights(am)["1"]
    changed = w != ref
    assert not changed[~mask].any()  # untargeted: bit-exact
    expected = 1 - (1 - p) ** 8
    n = int(mask.sum())
    frac = changed[mask].float().mean().item()
    assert frac == pytest.approx(expected, abs=5 * math.sqrt(max(expected * (1 - expected), 1e-12) / n) + 1e-12)


def test_same_seed_same_chip_different_seed_different_chip():
    model = _net()
    preset = fx.hardware.load_preset("paper-variation", noise_rate=0.2)
    am = fx.hardware.to_analog(model, preset)
    fx.hardware.program(am, preset, seed=5)
    a = effective_weights(am)
    fx.hardware.program(am, preset, seed=6)
    b = effective_weights(am)
    fx.hardware.program(am, preset, seed=5)
    c = effective_weights(am)
    for k in a:
        assert torch.equal(a[k], c[k])
        assert not torch.equal(a[k], b[k])


@pytest.mark.parametrize("preset_name", ["paper-variation", "paper-saf", "conductance-saf"])
def test_masked_override_leaves_untargeted_weights_bit_identical(preset_name):
    model = _net()
    preset = fx.hardware.load_preset(preset_name, tile_rows=3, tile_cols=40)  # uneven multi-tile split
    am = fx.hardware.to_analog(model, preset)
    layers = dict(analog_layers(am))
    assert all(len(list(tile_slices(layer))) > 2 for layer in layers.values())
    gen = torch.Generator().manual_seed(0)
    ref = _ref_weights(model)
    masks = {n: torch.rand(ref[n].shape, generator=gen) < 0.3 for n in ref}
    counts = fx.hardware.program(am, preset, masks=masks, seed=3)
    w = effective_weights(am)
    for n in ref:
        assert counts[n] == int(masks[n].sum())
        assert torch.equal(w[n][~masks[n]], ref[n][~masks[n]])
        changed = (w[n][masks[n]] != ref[n][masks[n]]).float().mean()
        assert changed > 0.01


def test_mask_shape_errors():
    model = _net()
    preset = fx.hardware.load_preset("paper-variation")
    am = fx.hardware.to_analog(model, preset)
    with pytest.raises(UserError, match="shape"):
        fx.hardware.program(am, preset, masks={"0": torch.ones(2, 2, dtype=torch.bool)})
    with pytest.raises(UserError, match="not analog layers"):
        fx.hardware.program(am, preset, masks={"nope": torch.ones(2, 2, dtype=torch.bool)})


def test_ideal_preset_equals_digital_model():
    model = _net()
    preset = fx.hardware.load_preset("ideal", tile_rows=4, tile_cols=50)
    am = fx.hardware.to_analog(model, preset)
    fx.hardware.program(am, preset, seed=0)
    x = torch.randn(6, 3, 6, 6)
    assert torch.allclose(am(x), model(x), atol=1e-5)
    fx.hardware.drift(am, preset, t_inference=3.15e7)
    assert torch.allclose(am(x), model(x), atol=1e-5)


@pytest.mark.parametrize("preset_name", ["paper-variation", "pcm-ibm", "reram-cmo"])
def test_fast_path_shadow_equals_aihwkit_forward(preset_name):
    model = _net()
    preset = fx.hardware.load_preset(preset_name, tile_rows=4, tile_cols=50)
    am = fx.hardware.to_analog(model, preset)
    fx.hardware.program(am, preset, seed=2)
    fx.hardware.drift(am, preset, t_inference=86400.0, seed=2)
    shadow = load_into_digital(copy.deepcopy(model), effective_weights(am))
    x = torch.randn(6, 3, 6, 6)
    assert torch.allclose(shadow(x), am(x), atol=1e-4)
    assert not torch.allclose(shadow(x), model(x), atol=1e-3)


def test_programming_goes_through_aihwkit(monkeypatch):
    """Chips are programmed by aihwkit's tile.program_weights with our noise model installed."""
    from aihwkit.simulator.tiles.inference import InferenceTileWithPeriphery

    calls = []
    original = InferenceTileWithPeriphery.program_weights

    def spy(self, *a, **k):
        calls.append(type(self.rpu_config.noise_model).__name__)
        return original(self, *a, **k)

    monkeypatch.setattr(InferenceTileWithPeriphery, "program_weights", spy)
    model = _net()
    preset = fx.hardware.load_preset("paper-saf", tile_rows=4)
    am = fx.hardware.to_analog(model, preset)
    n_tiles = sum(len(list(tile_slices(l))) for _, l in analog_layers(am))
    fx.hardware.program(am, preset, masks={n: torch.ones(w.shape, dtype=torch.bool)
                                           for n, w in _ref_weights(model).items()})
    assert calls == ["MaskedNoiseModel"] * n_tiles


def test_preset_validation_errors():
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        fx.hardware.load_preset("nope")
    with pytest.raises(ConfigError, match="unknown key.*bogus"):
        fx.hardware.load_preset("paper-variation", bogus=1)
    with pytest.raises(ConfigError, match="noise_rate=-0.1 is out of range"):
        fx.hardware.load_preset("paper-variation", noise_rate=-0.1)
    with pytest.raises(ConfigError, match="saf_rate=2 is out of range"):
        fx.hardware.load_preset("paper-saf", saf_rate=2)
    with pytest.raises(ConfigError, match="noise_model='magic'"):
        fx.hardware.load_preset("paper-saf", noise_model="magic")
    with pytest.raises(ConfigError, match="unknown forward key"):
        fx.hardware.load_preset("ideal", forward={"adc_bits": 8})


def _aihwkit_reference(tech: str, v: dict):
    """The aihwkit noise model a preset of an aihwkit-backed technology stands for, built here from the
    preset's keys as aihwkit documents them (conductances in µS)."""
    from aihwkit.inference.noise.pcm import PCMLikeNoiseModel
    from aihwkit.inference.noise.reram import ReRamCMONoiseModel, ReRamWan2022NoiseModel

    if tech == "pcm":
        return PCMLikeNoiseModel(g_max=v["g_max"], prog_noise_scale=v["prog_noise_scale"],
                                 read_noise_scale=v["read_noise_scale"], drift_scale=v["drift_scale"])
    if tech == "reram-cmo":
        return ReRamCMONoiseModel(g_max=v["g_max"], g_min=v["g_min"], prog_noise_scale=v["prog_noise_scale"],
                                  read_noise_scale=v["read_noise_scale"], drift_scale=v["drift_scale"])
    assert tech == "reram-wan2022"
    return ReRamWan2022NoiseModel(g_max=v["g_max"], noise_scale=v["prog_noise_scale"])


@pytest.mark.parametrize("name", sorted(fx.hardware.available()))
def test_every_bundled_preset_programs_the_errors_its_model_defines(name):
    """Eight programmed chips of each bundled preset, weight by weight (8 × 1449 weights, one tile per layer),
    against its model's own definition: exact weights (ideal); error sd = noise_rate·√(1 + 2^(2(N/M−1)))·w_max
    (FairXbar eq. 5); changed fraction 1 − (1 − q)^B with q = p (flip) or p/2 (stuck); changed fraction
    1 − (1 − p)(1 − p/2) of a differential pair whose devices stick at g_min or g_max; and for aihwkit's
    PCM / ReRAM models the errors of aihwkit's own ``apply_programming_noise`` on the same weights
    (standardised by its per-weight mean and sd over 64 draws: mean ≈ 0, sd ≈ 1)."""
    model = _net()
    preset = fx.hardware.load_preset(name)
    v, tech = preset.values, preset.values["noise_model"]
    am = fx.hardware.to_analog(model, preset)
    assert all(len(list(tile_slices(layer))) == 1 for _, layer in analog_layers(am))
    ref, chips = _ref_weights(model), []
    for seed in range(1, 9):
        fx.hardware.program(am, preset, seed=seed)
        chips.append(effective_weights(am))
    w = torch.cat([ref[n].flatten() for n in ref]).repeat(len(chips))
    err = torch.cat([(chip[n] - ref[n]).flatten() for chip in chips for n in ref])
    w_max = torch.cat([ref[n].abs().max().expand(ref[n].numel()) for n in ref]).repeat(len(chips))
    changed = (err.abs() > 1e-6 * w_max).double().mean().item()
    n = w.numel()

    def binomial_close(p_expected: float) -> None:
        assert abs(changed - p_expected) < 4 * math.sqrt(p_expected * (1 - p_expected) / n), (changed, p_expected)

    if tech == "none":
        assert torch.equal(err, torch.zeros_like(err))
    elif tech == "paper-variation":
        sigma = v["noise_rate"] * math.sqrt(1 + 2 ** (2 * (v["bits_per_device"] / v["devices_per_weight"] - 1)))
        assert (err / w_max).std().item() == pytest.approx(sigma, rel=0.05)  # 11592 draws: s.e. 0.7%
        assert abs((err / w_max).mean().item()) < 4 * sigma / math.sqrt(n)
    elif tech == "paper-saf":
        q = v["saf_rate"] if v["saf_mode"] == "flip" else v["saf_rate"] / 2
        binomial_close(1 - (1 - q) ** v["weight_bits"])
    elif tech == "conductance-saf":
        binomial_close(1 - (1 - v["saf_rate"]) * (1 - v["saf_rate"] / 2))
    else:
        noise_model = _aihwkit_reference(tech, v)
        torch.manual_seed(0)
        draws = {k: torch.stack([noise_model.apply_programming_noise(ref[k])[0] for _ in range(64)]) for k in ref}
        mean = torch.cat([draws[k].mean(0).flatten() for k in ref]).repeat(len(chips))
        sd = torch.cat([draws[k].std(0).flatten() for k in ref]).repeat(len(chips))
        z = (w + err - mean) / sd
        assert (sd > 1e-4 * w_max).all()
        assert abs(z.mean().item()) < 0.1 and z.std().item() == pytest.approx(1.0, abs=0.1), (z.mean(), z.std())


def test_digital_layers_stay_exact_and_unknown_names_are_rejected():
    model = _net()
    preset = fx.hardware.load_preset("paper-variation", noise_rate=0.3)
    am = fx.hardware.to_analog(model, preset, digital_layers=["3"])
    assert [n for n, _ in analog_layers(am)] == ["0"]
    fx.hardware.program(am, preset, seed=0)
    assert torch.equal(am[3].weight, model[3].weight)
    assert "3" not in effective_weights(am)
    with pytest.raises(UserError, match="not conv/linear layers"):
        fx.hardware.to_analog(model, preset, digital_layers=["2"])


def test_residual_puts_scaled_errors_on_untargeted_weights():
    """residual = r: untargeted weights get the preset's errors at r × the intensity (eq. 5's σ scales)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(400, 300)).eval()
    ref = _ref_weights(model)["1"]
    preset = fx.hardware.load_preset("paper-variation", noise_rate=0.2, residual=0.25, tile_rows=0, tile_cols=0)
    am = fx.hardware.to_analog(model, preset)
    mask = torch.zeros(300, 400, dtype=torch.bool)
    mask[:, :200] = True  # the left half is targeted
    fx.hardware.program(am, preset, masks={"1": mask}, seed=3)
    delta = effective_weights(am)["1"] - ref
    sd_t, sd_u = delta[mask].std().item(), delta[~mask].std().item()
    assert sd_u > 0  # residual > 0: untargeted weights are no longer exact
    assert sd_u / sd_t == pytest.approx(0.25, rel=0.05)
    exact = fx.hardware.load_preset("paper-variation", noise_rate=0.2, residual=0.0, tile_rows=0, tile_cols=0)
    am0 = fx.hardware.to_analog(model, exact)
    fx.hardware.program(am0, exact, masks={"1": mask}, seed=3)
    assert torch.equal(effective_weights(am0)["1"][~mask], ref[~mask])
