"""The registry: coverage, CAM layers that exist, preprocessing read from torchvision."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnscope.core.errors import ModelError
from cnnscope.core.models import DEFAULT_MODEL, REGISTRY, get_spec, model_names

REQUIRED = ["vgg11", "vgg16", "vgg19", "vgg11_bn", "vgg16_bn", "vgg19_bn", "resnet18", "resnet34",
            "resnet50", "resnet101", "resnet152", "googlenet", "inception_v3", "alexnet",
            "squeezenet1_1", "mobilenet_v2", "demo_shapes"]


def test_registry_covers_the_required_models():
    assert set(REQUIRED) <= set(REGISTRY)
    assert model_names()[0] == DEFAULT_MODEL == "demo_shapes"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_cam_layer_exists_and_yields_feature_maps(name):
    spec = REGISTRY[name]
    with torch.device("meta"):  # shapes only: no weights initialised, no arithmetic done
        model = spec.build().eval()
        seen = {}

        def record(_module, _inputs, output) -> None:
            seen["shape"] = tuple(output.shape)

        handle = model.get_submodule(spec.cam_layer).register_forward_hook(record)
        logits = model(torch.empty(1, *spec.preprocessing.input_shape))
        handle.remove()
    assert len(seen["shape"]) == 4 and seen["shape"][2] >= 5  # (N, C, H, W) with a real map
    assert tuple(logits.shape) == (1, spec.num_classes)


@pytest.mark.parametrize("name", ["vgg16", "vgg19_bn", "vgg11"])
def test_vgg_cam_layer_is_the_last_relu_before_the_last_pool(name):
    spec = get_spec(name)
    with torch.device("meta"):
        features = spec.build().features
    index = int(spec.cam_layer.split(".")[1])
    assert isinstance(features[index], torch.nn.ReLU)
    assert isinstance(features[index + 1], torch.nn.MaxPool2d) and index + 2 == len(features)


def test_inception_v3_takes_299_pixels_and_others_224():
    assert get_spec("inception_v3").input_size == 299
    assert get_spec("resnet50").input_size == 224 and get_spec("googlenet").input_size == 224


@pytest.mark.parametrize("name", ["resnet18", "inception_v3", "mobilenet_v2"])
def test_preprocessing_matches_torchvision_transforms(name):
    spec = get_spec(name)
    rgb = np.random.default_rng(1).integers(0, 256, (333, 517, 3), dtype=np.uint8)
    ours, crop = spec.preprocessing(rgb)
    theirs = spec.weights.transforms()(torch.from_numpy(rgb).permute(2, 0, 1))
    assert ours.shape == (1, 3, spec.input_size, spec.input_size)
    assert crop.shape == (3, spec.input_size, spec.input_size) and crop.dtype == torch.uint8
    torch.testing.assert_close(ours[0], theirs, atol=1e-5, rtol=0)


def test_imagenet_labels_come_from_the_weights_meta():
    spec = get_spec("resnet50")
    assert spec.num_classes == 1000 and spec.labels[0] == "tench"
    assert spec.labels == tuple(spec.weights.meta["categories"])


def test_descriptions_tell_the_story_of_each_family():
    assert "3x3" in get_spec("vgg16").description
    assert "shortcut" in get_spec("resnet50").description
    for name in ("googlenet", "inception_v3"):
        assert "1x1" in get_spec(name).description or "parallel" in get_spec(name).description
    for spec in REGISTRY.values():
        assert spec.description.endswith(".") and len(spec.description) > 40


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(ModelError, match="Unknown model 'vgg17'.*resnet50"):
        get_spec("vgg17")
