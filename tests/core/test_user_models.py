"""Models cnnscope does not know: a factory in the user's own file, any nn.Module through the
Python API; what the registry states for its own models is worked out, or taken as stated."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from torch import nn

import cnnscope
from cnnscope.core.errors import ImageError, ModelError
from cnnscope.core.models import REGISTRY
from cnnscope.core.user_models import ModelHints, from_module
from cnnscope.core.weights import load_model

class GreyLeNet(nn.Module):
    """28 px, one channel, a flattening head: only one input size works."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 5)  # 28 -> 24
        self.pool = nn.MaxPool2d(2)  # -> 12
        self.fc = nn.Linear(4 * 12 * 12, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))


def test_a_factory_in_the_users_file_becomes_a_model_with_its_spec_worked_out(user_file):
    loaded = load_model(f"{user_file}:build", "random")
    spec = loaded.spec
    assert loaded.name == "my_net.build" and type(loaded.module).__name__ == "TinyNet"
    assert spec.input_size == 224 and spec.preprocessing.channels == 3  # any size works: the usual one
    assert loaded.labels == ("class 0", "class 1", "class 2", "class 3")
    assert spec.cam_layer == "body.4" and spec.cam_head == "head"  # GAP then one linear layer
    assert any("'body.4' (16 x 112 x 112)" in note for note in loaded.notes)
    assert any("Normalisation assumed" in note for note in loaded.notes)
    # cnnscope neither knows nor changes how the factory initialised it: not called "untrained"
    assert loaded.trained and loaded.weights_label == "as built by build() in my_net.py"
    fresh = spec.build()  # a transfer run's fresh copy comes from the user's factory again
    assert type(fresh).__name__ == "TinyNet" and fresh is not loaded.module


def test_a_factory_that_fails_or_is_missing_is_one_sentence(user_file, tmp_path):
    with pytest.raises(ModelError, match=r"broken\(\) in my_net.py failed: ZeroDivisionError"):
        load_model(f"{user_file}:broken", "random")
    with pytest.raises(ModelError, match="returned a str, not a torch nn.Module"):
        load_model(f"{user_file}:not_a_model", "random")
    with pytest.raises(ModelError, match="has no function 'nope'; it defines .*build"):
        load_model(f"{user_file}:nope", "random")
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\n\ndef build(:\n    pass\n")
    with pytest.raises(ModelError, match=r"Running bad.py failed: SyntaxError \(line 3\)"):
        load_model(f"{bad}:build", "random")
    with pytest.raises(ModelError, match="does not exist"):
        load_model(f"{tmp_path / 'absent.py'}:build", "random")


def test_a_weights_file_is_read_safely_and_must_fit(user_file, tmp_path):
    own = load_model(f"{user_file}:build", "random")
    state = {k: v + 1 for k, v in own.module.state_dict().items()}
    path = tmp_path / "tiny.pt"
    torch.save(state, path)
    loaded = load_model(f"{user_file}:build", str(path))
    assert torch.equal(loaded.module.head.bias, state["head.bias"]) and loaded.source == "file"
    torch.save({"other.weight": torch.zeros(3)}, path)
    with pytest.raises(Exception, match="does not fit"):
        load_model(f"{user_file}:build", str(path))


def test_a_grey_28_px_model_gets_its_size_and_channel_from_a_probe():
    loaded = from_module(GreyLeNet(), "lenet")
    assert loaded.spec.preprocessing.input_shape == (1, 28, 28)
    assert loaded.spec.preprocessing.mean == (0.5,) and loaded.spec.cam_layer == "conv"
    assert loaded.spec.cam_head is None and "not global average pooling" in loaded.spec.head_note
    result = cnnscope.inspect(GreyLeNet(), np.zeros((30, 30, 3), np.uint8))
    assert result.input_tensor.shape == (1, 1, 28, 28) and result.activation("conv").shape == (4, 24, 24)


@pytest.mark.parametrize("name", ["resnet18", "vgg11", "mobilenet_v2", "efficientnet_b0", "squeezenet1_1"])
def test_the_cam_layer_found_is_the_one_the_registry_chose_by_hand(name):
    module = REGISTRY[name].build()
    found = from_module(module, name, ModelHints(input_size=64)).spec  # small: the layers are the same
    assert (found.cam_layer, found.cam_head) == (REGISTRY[name].cam_layer, REGISTRY[name].cam_head)


def test_the_cam_layer_for_inception_v3(inception_random):
    found = from_module(copy.deepcopy(inception_random.module), "inception", ModelHints(input_size=160)).spec
    assert (found.cam_layer, found.cam_head) == ("Mixed_7c", "fc")


def test_a_relu_written_in_forward_between_maps_and_head_rules_out_plain_cam():
    """DenseNet-style: F.relu after the last layer, so the logits are not linear in its maps."""

    class ReluInForward(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.fc = nn.Conv2d(3, 6, 3), nn.Linear(6, 2)

        def forward(self, x):
            y = torch.relu(self.conv(x))  # after the conv module, not a module of its own
            return self.fc(y.mean((2, 3)))

    torch.manual_seed(0)
    spec = from_module(ReluInForward(), "r").spec
    assert spec.cam_layer == "conv" and spec.cam_head is None and "not be exact" in spec.head_note


def test_the_api_takes_arrays_pil_images_paths_labels_and_says_what_is_wrong(user_file, tmp_path):
    from PIL import Image

    model = load_model(f"{user_file}:build", "random").module
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps(["cat", "dog", "fox", "owl"]))
    photo = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    by_array = cnnscope.inspect(model, photo, classes=labels)
    by_pil = cnnscope.inspect(model, Image.fromarray(photo), classes=["cat", "dog", "fox", "owl"])
    Image.fromarray(photo).save(tmp_path / "p.png")
    by_path = cnnscope.inspect(model, tmp_path / "p.png", classes=labels)
    for result in (by_pil, by_path):
        assert result.predictions == by_array.predictions
    assert by_array.predictions[0].label in ("cat", "dog", "fox", "owl")
    np.testing.assert_allclose(by_path.activation("body.4"), by_array.activation("body.4"))
    heat = cnnscope.explain(model, photo, method="gradcam", target="fox", classes=labels)
    assert heat.target_label == "fox" and heat.layer == "body.4" and heat.heatmap.shape == (224, 224)
    assert 0 <= heat.heatmap.min() and heat.heatmap.max() <= 1
    with pytest.raises(ImageError, match="must be"):
        cnnscope.inspect(model, np.zeros((4, 4, 5)))
    with pytest.raises(ModelError, match="3 classes, but TinyNet has 4 outputs"):
        cnnscope.inspect(model, photo, classes=["a", "b", "c"])
    with pytest.raises(ModelError, match="nn.Module or a model name"):
        cnnscope.inspect(42, photo)


def test_the_documented_example_runs(tmp_path, capsys):
    import runpy
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / "own_model.py"
    runpy.run_path(str(example))["main"](tmp_path)
    printed = capsys.readouterr().out
    assert "features.7 has 64 maps of 56 x 56" in printed and "Grad-CAM at features.7 for 'cat'" in printed
    assert (tmp_path / "gradcam.png").stat().st_size > 0 and (tmp_path / "crop.png").stat().st_size > 0


def test_a_timm_model_builds_offline_with_imagenets_names_and_timms_preprocessing():
    pytest.importorskip("timm")
    loaded = load_model("timm:resnet18", "random")
    assert loaded.spec.family == "timm" and not loaded.trained
    assert loaded.labels[:2] == ("tench", "goldfish") and len(loaded.labels) == 1000
    assert loaded.spec.preprocessing.resize_size == int(224 / 0.95)  # timm's crop_pct for resnet18
    assert (loaded.spec.cam_layer, loaded.spec.cam_head) == ("layer4", "fc")
    with pytest.raises(ModelError, match="timm has no model 'resnet1000'"):
        load_model("timm:resnet1000", "random")


def test_a_model_torch_fx_cannot_trace_is_read_with_hooks_and_gives_the_same_maps(user_file):
    """The same network with a data-dependent branch in forward(): traced, and through hooks."""
    from cnnscope.core.inspect import inspect, traced_graph

    traceable = load_model(f"{user_file}:build", "random").module

    class Branching(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body, self.pool, self.head = traceable.body, traceable.pool, traceable.head

        def forward(self, x):
            y = self.body(x)
            if y.sum() > -1e30:  # always true, but only a real pass can tell: torch.fx gives up
                y = y * 1.0
            return self.head(torch.flatten(self.pool(y), 1))

    photo = np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    traced, hooked = from_module(traceable, "a"), from_module(Branching(), "b")
    first, second = inspect(traced, photo), inspect(hooked, photo)
    assert traced_graph(traced) is not None and traced_graph(hooked) is None
    assert [p.label for p in first.predictions] == [p.label for p in second.predictions]
    for layer in ("body.0", "body.2", "body.4", "pool"):
        np.testing.assert_allclose(first.activation(layer), second.activation(layer), rtol=1e-5, atol=1e-6)


def test_a_users_model_fine_tunes_on_a_folder_like_a_registry_one(user_file, tmp_path):
    """Transfer learning reads only the module and its spec: a factory's model trains too (the
    grey LeNet-like path as well: the training batches follow the model's channels)."""
    from cnnscope.core.datasets import load_folder
    from cnnscope.core.freeze import make_plan
    from cnnscope.core.shapes import write_shape_folder
    from cnnscope.core.training import TrainingConfig, build_for_training, train

    write_shape_folder(tmp_path / "shapes", per_class=6, seed=3)
    for loaded in (load_model(f"{user_file}:build", "random"),
                   from_module(GreyLeNet(), "grey", ModelHints(input_size=28))):
        shapes_data = load_folder(tmp_path / "shapes", loaded.spec.preprocessing)
        plan = make_plan(loaded.module, "fine-tune-all")
        net = build_for_training(loaded.module, loaded.spec, plan, len(shapes_data.classes))
        result = train(net, plan, shapes_data, loaded.spec.preprocessing,
                       TrainingConfig(epochs=1, batch_size=16), torch.device("cpu"))
        assert len(result.history) == 1 and np.isfinite(result.history[0].train_loss)
        assert net(torch.zeros(1, *loaded.spec.preprocessing.input_shape)).shape == (1, len(shapes_data.classes))


def test_review_findings_on_hostile_or_odd_models(tmp_path):
    """A factory calling sys.exit is one sentence (it stopped the window's engine thread); a model
    returning (logits, aux) is read; 4 channels are refused in a sentence; a huge array is
    refused as the same file would be; the API's cache keeps no model alive."""
    import gc
    import weakref

    from cnnscope.api import _opened

    exiting = tmp_path / "exiting.py"
    exiting.write_text("import sys\n\ndef build():\n    sys.exit(3)\n")
    with pytest.raises(ModelError, match=r"build\(\) in exiting.py failed: SystemExit: 3"):
        load_model(f"{exiting}:build", "random")

    class WithAux(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4, 2)

        def forward(self, x):
            logits = self.fc(self.conv(x).mean((2, 3)))
            return logits, logits * 2

    result = cnnscope.inspect(WithAux(), np.zeros((40, 40, 3), np.uint8))
    assert len(result.predictions) == 2 and abs(sum(p.probability for p in result.predictions) - 1) < 1e-5

    with pytest.raises(ModelError, match="reads 4 channels"):
        from_module(nn.Sequential(nn.Conv2d(4, 2, 3), nn.Flatten()), "four")
    with pytest.raises(ImageError, match="refused"):
        cnnscope.inspect(WithAux(), np.zeros((1, 100_000, 3), np.uint8))

    model = WithAux()
    cnnscope.inspect(model, np.zeros((40, 40, 3), np.uint8))
    assert model in _opened
    gone = weakref.ref(model)
    del model, result
    gc.collect()
    assert gone() is None  # neither the cache nor the spec's builder held on to it


def test_stated_hints_are_checked_in_a_sentence(tmp_path):
    net = GreyLeNet()
    with pytest.raises(ModelError, match="mean and std together"):
        cnnscope.open_model(net, mean=[0.1])
    with pytest.raises(ModelError, match="above 0"):
        cnnscope.open_model(net, mean=[0.1], std=[0.0])
    with pytest.raises(ModelError, match="from 8 to 2048"):
        cnnscope.open_model(net, input_size=-5)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    with pytest.raises(ModelError, match="not a JSON list"):
        cnnscope.open_model(net, classes=deep)


def test_the_api_leaves_a_model_in_training_mode_as_it_found_it():
    net = nn.Sequential(GreyLeNet(), nn.Dropout(0.5)).train()  # mid-training in a notebook
    photo = np.random.default_rng(0).integers(0, 256, (28, 28, 3), dtype=np.uint8)
    first = cnnscope.inspect(net, photo)
    assert net.training  # handed back training...
    again = cnnscope.inspect(net, photo)  # ...and inspected in eval mode each time (no dropout)
    np.testing.assert_allclose(first.probabilities, again.probabilities, rtol=1e-6)
    cnnscope.explain(net, photo, method="saliency")
    assert net.training
    still = GreyLeNet().eval()
    cnnscope.inspect(still, np.zeros((28, 28, 3), np.uint8))
    assert not still.training


def test_odd_model_objects_get_the_right_size_or_sentence(inception_random):
    """Review findings: a float64 model was told to give its input size; torchvision's Inception
    v3 object was probed at 224 px (it runs there) though it was made for 299."""
    with pytest.raises(ModelError, match="weights are float64; cnnscope runs models in float32"):
        from_module(GreyLeNet().double(), "double")
    module = copy.deepcopy(inception_random.module)
    assert from_module(module, "inception").spec.input_size == 299

    class Configured(GreyLeNet):
        pretrained_cfg = {"input_size": (1, 28, 28)}  # as timm models say it

    assert from_module(Configured(), "configured").spec.input_size == 28


def test_a_model_shown_on_another_device_is_copied_there_not_moved():
    """The window ran cnnscope.show's model on its device by moving the caller's object."""
    from cnnscope.core.devices import borrowed_on

    net = GreyLeNet()
    assert borrowed_on(net, torch.device("cpu")) is net
    elsewhere = borrowed_on(net, torch.device("meta"))
    assert elsewhere is not net and elsewhere.conv.weight.device.type == "meta"
    assert net.conv.weight.device.type == "cpu"


def test_a_transformers_attention_tensors_are_not_taken_for_maps():
    """ViT's (batch, heads, tokens, dim) q/k norms were chosen as the CAM layer (3 x 197 x 64)."""

    class TinyViT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.patch = nn.Conv2d(3, 8, 8, stride=8)  # 32 px -> 4 x 4 patches
            self.norm, self.q_norm = nn.LayerNorm(8), nn.LayerNorm(4)

        def forward(self, x):
            tokens = self.norm(self.patch(x).flatten(2).transpose(1, 2))  # (B, 16, 8)
            heads = self.q_norm(tokens.reshape(x.shape[0], 16, 2, 4).transpose(1, 2))  # (B, 2, 16, 4)
            return heads.mean((1, 2))[:, :3]

    loaded = from_module(TinyViT(), "vit", ModelHints(input_size=32))
    assert loaded.spec.cam_layer == "patch"
    assert any("patch tokens (a vision transformer)" in note for note in loaded.notes)
