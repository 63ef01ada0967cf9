"""Drift over time: PCM decay law, ideal chips stay put, compensation restores output scale."""
import torch
import torch.nn as nn

import fairxbar_aihw as fx
from fairxbar_aihw.hardware import analog_layers, effective_weights, tile_slices


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(48, 32), nn.ReLU(), nn.Linear(32, 6)).eval()


def _pure_drift_preset(**kw):
    return fx.hardware.load_preset("pcm-ibm", prog_noise_scale=0.0, read_noise_scale=0.0, **kw)


def test_pcm_drift_follows_power_law_without_compensation():
    preset = _pure_drift_preset(drift_compensation="none", tile_rows=20, tile_cols=30)
    am = fx.hardware.to_analog(_net(), preset)
    fx.hardware.program(am, preset, seed=1)
    w0 = effective_weights(am)
    t0 = 20.0  # aihwkit PCM t_0
    means = []
    for t in (3600.0, 86400.0, 3.15e7):
        fx.hardware.drift(am, preset, t_inference=t, seed=1)
        wt = effective_weights(am)
        for name, layer in analog_layers(am):
            for tile, rows, cols in tile_slices(layer):
                nu_plus, nu_minus = tile.drift_noise_parameters[0]  # targeted model's ν per device
                ref = w0[name][rows, cols]
                nu = torch.where(ref > 0, nu_plus, nu_minus)
                expected = ref * ((t + t0) / t0) ** (-nu)
                assert torch.allclose(wt[name][rows, cols], expected, rtol=1e-4, atol=1e-6)
        means.append(sum(v.abs().mean() for v in wt.values()).item())
    assert means[0] > means[1] > means[2]


def test_ideal_chip_does_not_change_over_time():
    preset = fx.hardware.load_preset("ideal")
    model = _net()
    am = fx.hardware.to_analog(model, preset)
    fx.hardware.program(am, preset, seed=0)
    x = torch.randn(5, 3, 4, 4)
    for t in (1.0, 86400.0, 3.15e8):
        fx.hardware.drift(am, preset, t_inference=t)
        assert torch.allclose(am(x), model(x), atol=1e-6)


def test_global_compensation_restores_output_scale():
    model = _net()
    x = torch.randn(64, 3, 4, 4)
    ref = model(x).abs().mean()
    ratios = {}
    for comp in ("none", "global"):
        preset = _pure_drift_preset(drift_compensation=comp)
        am = fx.hardware.to_analog(model, preset)
        fx.hardware.program(am, preset, seed=2)
        fx.hardware.drift(am, preset, t_inference=3.15e7, seed=2)
        with torch.no_grad():
            ratios[comp] = (am(x).abs().mean() / ref).item()
    assert ratios["none"] < 0.75  # a year of PCM drift shrinks conductances by ~30-40%
    assert abs(ratios["global"] - 1.0) < 0.05


def test_masked_drift_keeps_untargeted_weights_for_paper_models():
    preset = fx.hardware.load_preset("paper-variation", noise_rate=0.2)
    model = _net()
    am = fx.hardware.to_analog(model, preset)
    masks = {n: torch.rand(l.analog_module.out_size, l.analog_module.in_size) < 0.5 for n, l in analog_layers(am)}
    fx.hardware.program(am, preset, masks=masks, seed=0)
    before = effective_weights(am)
    fx.hardware.drift(am, preset, t_inference=86400.0)
    after = effective_weights(am)
    for n in before:
        assert torch.equal(before[n], after[n])


def test_tabulated_technology_rejects_untabulated_times():
    from fairxbar_aihw.errors import UserError

    preset = fx.hardware.load_preset("reram-wan2022")
    assert fx.hardware.supported_drift_times(preset) == [1.0, 86400.0, 172800.0]
    am = fx.hardware.to_analog(_net(), preset)
    fx.hardware.program(am, preset, seed=0)
    fx.hardware.drift(am, preset, t_inference=86400.0)
    import pytest

    with pytest.raises(UserError, match="can only drift to"):
        fx.hardware.drift(am, preset, t_inference=3.15e7)


def test_masked_drift_on_a_drifting_technology_follows_each_tiles_mask():
    """PCM, several tiles: targeted weights carry programming noise; untargeted ones (residual 0) are
    programmed exactly and then drift with their own ν, device by device, in the right place."""
    preset = fx.hardware.load_preset("pcm-ibm", prog_noise_scale=1.0, read_noise_scale=0.0, residual=0.0,
                                     drift_compensation="none", tile_rows=20, tile_cols=30)
    model = _net()
    am = fx.hardware.to_analog(model, preset)
    torch.manual_seed(5)
    masks = {n: torch.rand(l.analog_module.out_size, l.analog_module.in_size) < 0.3 for n, l in analog_layers(am)}
    fx.hardware.program(am, preset, masks=masks, seed=4)
    ref = {n: m.weight.detach() for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    w0 = effective_weights(am)
    for n, mask in masks.items():
        assert torch.allclose(w0[n][~mask], ref[n][~mask], atol=1e-6)  # untargeted: exact up to the conductance round trip
        assert (w0[n][mask] != ref[n][mask]).float().mean() > 0.95  # targeted: programming noise
    t, t0 = 86400.0, 20.0
    fx.hardware.drift(am, preset, t_inference=t, seed=4)
    wt = effective_weights(am)
    for name, layer in analog_layers(am):
        for tile, rows, cols in tile_slices(layer):
            nu_plus, nu_minus = tile.drift_noise_parameters[1]  # the untargeted model's ν per device
            r = ref[name][rows, cols]
            expected = r * ((t + t0) / t0) ** (-torch.where(r > 0, nu_plus, nu_minus))
            m = masks[name][rows, cols]
            assert torch.allclose(wt[name][rows, cols][~m], expected[~m], rtol=1e-4, atol=1e-6)


def test_a_chip_programmed_after_a_drifted_one_reads_as_if_fresh():
    """aihwkit keeps the last drift's compensation factor through programming; a new chip must not."""
    preset = fx.hardware.load_preset("pcm-ibm")
    fresh = fx.hardware.to_analog(_net(), preset)
    fx.hardware.program(fresh, preset, seed=3)
    reference = effective_weights(fresh)
    used = fx.hardware.to_analog(_net(), preset)
    fx.hardware.program(used, preset, seed=2)
    fx.hardware.drift(used, preset, t_inference=3.15e7, seed=2)
    fx.hardware.program(used, preset, seed=3)
    for name, w in effective_weights(used).items():
        assert torch.equal(w, reference[name])
