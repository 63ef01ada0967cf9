"""aihwkit's own hardware-aware training (HWA) as a baseline arm: additive Gaussian weight noise
in the forward pass (``WeightModifierType.ADD_NORMAL``), no fairness term, trained with
``AnalogAdam`` on ``TorchInferenceRPUConfig`` tiles, then read back into a digital model."""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from aihwkit.nn.conversion import convert_to_analog
from aihwkit.optim import AnalogAdam
from aihwkit.simulator.parameters.enums import WeightModifierType


from ..data.splits import Splits, to_float
from ..hardware import Preset, analog_layers, rpu_config, seeded_rng
from ..training.steps import optimise
from .config import ArmSettings


@torch.no_grad()
def analog_to_digital(amodel: nn.Module, model: nn.Module) -> nn.Module:
    """Copy trained analog weights and digital biases into a digital model of the same architecture."""
    out = copy.deepcopy(model)
    modules = dict(out.named_modules())
    for name, layer in analog_layers(amodel):
        w, b = layer.get_weights()
        target = modules[name]
        target.weight.copy_(w.reshape(target.weight.shape).to(target.weight))
        if b is not None and target.bias is not None:
            target.bias.copy_(b.to(target.bias))
    return out


def hwa_train(model: nn.Module, splits: Splits, preset: Preset, settings: ArmSettings, device: str = "cpu",
              seed: int = 0, progress: bool = True) -> nn.Module:
    """Fine-tune with aihwkit's weight-noise modifier (std = ``retrain.hwa_noise`` of the tile range)."""
    cfg = settings.retrain
    rc = rpu_config(preset)
    rc.modifier.type = WeightModifierType.ADD_NORMAL
    rc.modifier.std_dev = cfg.hwa_noise
    rc.modifier.rel_to_actual_wmax = True
    amodel = convert_to_analog(copy.deepcopy(model).cpu(), rc, exclude_modules=list(settings.digital_layers)).to(device)
    amodel.train()
    opt = AnalogAdam(amodel.parameters(), lr=cfg.lr)
    opt.regroup_param_groups(amodel)
    gen = torch.Generator().manual_seed(seed)
    train = splits.train

    def draw(step: int) -> torch.Tensor:
        return torch.randint(0, len(train), (cfg.batch_size,), generator=gen)

    def loss_of(idx: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(amodel(to_float(train.images[idx]).to(device)), train.labels[idx].to(device))

    with seeded_rng(seed, device):
        optimise(amodel, opt, cfg.steps, draw, loss_of, progress=progress, desc="retrain HWA (aihwkit)")
    amodel.eval()
    return analog_to_digital(amodel, model).to(device).eval()
