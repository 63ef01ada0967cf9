"""Models and baseline training: registry, shapes, best-on-val checkpoint, resume after a kill."""
import copy

import pytest
import torch

import fairxbar_aihw as fx
from fairxbar_aihw.errors import UserError
from fairxbar_aihw.training import TrainConfig, train
import importlib

train_module = importlib.import_module("fairxbar_aihw.training.loop")


@pytest.mark.parametrize("name,size", [("small-cnn", 16), ("resnet18", 16), ("vgg11", 32), ("vgg11_bn", 32),
                                       ("resnet18", 128)])
def test_models_build_for_size_and_classes(name, size):
    model = fx.models.build(name, num_classes=7, image_size=size).eval()
    assert model(torch.randn(2, 3, size, size)).shape == (2, 7)


def test_model_registry_errors(tmp_path):
    with pytest.raises(UserError, match="unknown model"):
        fx.models.build("alexnet", 3)
    with pytest.raises(UserError, match="weights file not found"):
        fx.models.build("small-cnn", 3, 16, pretrained=str(tmp_path / "none.pt"))


def test_local_pretrained_weights_load_and_skip_mismatched_head(tmp_path):
    src = fx.models.build("small-cnn", 5, 16)
    torch.save(src.state_dict(), tmp_path / "w.pt")
    dst = fx.models.build("small-cnn", 3, 16, pretrained=str(tmp_path / "w.pt"))
    assert torch.equal(dst[0].weight, src[0].weight)
    assert dst[-1].weight.shape[0] == 3


def _splits():
    return fx.data.load("synthderm", seed=0, size=16, n=300, num_classes=3)


def test_training_resumes_after_a_kill_and_matches_uninterrupted(tmp_path, monkeypatch):
    splits = _splits()
    cfg = TrainConfig(epochs=3, lr=2e-3, batch_size=64, augment="flip")
    torch.manual_seed(0)
    clean = train(fx.models.build("small-cnn", 3, 16), "small-cnn", splits, cfg, tmp_path / "a" / "m.pt",
                  progress=False)
    real_eval = train_module.evaluate
    calls = {"n": 0}

    def dying_eval(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:  # killed during epoch 1's validation: epoch 0 is saved
            raise KeyboardInterrupt
        return real_eval(*a, **k)

    monkeypatch.setattr(train_module, "evaluate", dying_eval)
    out = tmp_path / "b" / "m.pt"
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        train(fx.models.build("small-cnn", 3, 16), "small-cnn", splits, cfg, out, progress=False)
    assert out.with_suffix(".partial.pt").is_file() and not out.is_file()
    first_part = torch.load(out.with_suffix(".partial.pt"), weights_only=True)["seconds"]
    monkeypatch.setattr(train_module, "evaluate", real_eval)
    torch.manual_seed(123)  # a different init and RNG stream: the partial checkpoint must override both
    resumed = train(fx.models.build("small-cnn", 3, 16), "small-cnn", splits, cfg, out, progress=False)
    assert [h["epoch"] for h in resumed["history"]] == [0, 1, 2]
    for k in clean["state_dict"]:
        assert torch.equal(clean["state_dict"][k], resumed["state_dict"][k]), k  # bit for bit
    assert resumed["history"] == clean["history"]
    assert resumed["seconds"] > first_part  # the report's training time counts every part
    assert resumed["best_epoch"] == clean["best_epoch"]
    assert resumed["test"]["per_group"][0]["n"] + resumed["test"]["per_group"][1]["n"] == len(splits.test)


def test_evaluation_leaves_the_models_memory_layout_alone():
    from fairxbar_aihw.training import predict_logits

    model = fx.models.build("small-cnn", 3, 16)
    split = _splits().val
    predict_logits(model, split)
    assert model[0].weight.is_contiguous()  # training after evaluation runs on the same layout
    shadow = copy.deepcopy(model).to(memory_format=torch.channels_last)
    assert torch.equal(predict_logits(shadow, split), predict_logits(model, split))
    assert shadow[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_checkpoint_is_reused_when_config_matches(tmp_path):
    splits = _splits()
    cfg = TrainConfig(epochs=1, batch_size=64)
    first = train(fx.models.build("small-cnn", 3, 16), "small-cnn", splits, cfg, tmp_path / "m.pt", progress=False)
    again = train(fx.models.build("small-cnn", 3, 16), "small-cnn", splits, cfg, tmp_path / "m.pt", progress=False)
    assert again["seconds"] == first["seconds"]  # loaded, not retrained
    with pytest.raises(UserError, match="epochs"):
        TrainConfig(epochs=0)


def test_every_setting_that_changes_the_model_changes_its_checkpoint_key(tmp_path):
    from fairxbar_aihw.training.loop import checkpoint_key, file_digest

    base = TrainConfig(epochs=2, lr=1e-3, batch_size=64, weight_decay=0.0, augment="flip", seed=0)
    ref = checkpoint_key("small-cnn", base, "data-a")
    variants = [checkpoint_key("resnet18", base, "data-a"), checkpoint_key("small-cnn", base, "data-b")]
    for field, value in (("epochs", 3), ("lr", 2e-3), ("batch_size", 32), ("weight_decay", 1e-4),
                         ("augment", "paper"), ("seed", 1)):
        variants.append(checkpoint_key("small-cnn", TrainConfig(**{**base.__dict__, field: value}), "data-a"))
    weights = tmp_path / "w.pt"
    torch.save(fx.models.build("small-cnn", 3, 16).state_dict(), weights)
    first = checkpoint_key("small-cnn", base, "data-a", {"pretrained": file_digest(weights)})
    torch.save(fx.models.build("small-cnn", 4, 16).state_dict(), weights)  # same name, other weights
    second = checkpoint_key("small-cnn", base, "data-a", {"pretrained": file_digest(weights)})
    variants += [first, second]
    assert len(set(variants)) == len(variants) and ref not in variants


def test_changing_the_pretrained_file_retrains(tmp_path):
    splits = _splits()
    cfg = TrainConfig(epochs=1, batch_size=64)
    from fairxbar_aihw.training.loop import file_digest

    weights = tmp_path / "w.pt"
    torch.save(fx.models.build("small-cnn", 3, 16).state_dict(), weights)
    first = train(fx.models.build("small-cnn", 3, 16, pretrained=str(weights)), "small-cnn", splits, cfg,
                  tmp_path / "m.pt", progress=False, init={"pretrained": file_digest(weights)})
    torch.manual_seed(5)
    torch.save(fx.models.build("small-cnn", 3, 16).state_dict(), weights)
    second = train(fx.models.build("small-cnn", 3, 16, pretrained=str(weights)), "small-cnn", splits, cfg,
                   tmp_path / "m.pt", progress=False, init={"pretrained": file_digest(weights)})
    assert first["key"] != second["key"]
    assert not torch.equal(first["state_dict"]["0.weight"], second["state_dict"]["0.weight"])


def test_the_train_section_loads_without_torch_and_the_package_names_stay_functions():
    """``training/config.py`` validates a study's train section without torch; the package's lazy
    names ``train`` and ``evaluate`` are the functions even after the submodules defining them
    (``loop``, ``evaluation``) were imported."""
    import subprocess
    import sys

    code = ("import sys; from fairxbar_aihw.training import TrainSection; TrainSection(epochs=2); "
            "print('torch' in sys.modules); "
            "import fairxbar_aihw.training.evaluation, fairxbar_aihw.training.loop; "
            "from fairxbar_aihw.training import evaluate, train; import inspect; "
            "print(inspect.isfunction(train), inspect.isfunction(evaluate))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True", "True"]
