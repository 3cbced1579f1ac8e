"""Stage matching across families, by relative depth and by resolution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnnscope.core.compare import explained_class, match_depth, match_stride, stages
from cnnscope.core.images import open_image
from cnnscope.core.inspect import inspect
from cnnscope.core.weights import load_model

SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


@pytest.fixture(scope="module")
def tables():
    image = open_image(SAMPLES / "chelsea.png")
    out = {}
    for name in ("vgg11", "resnet18", "inception_v3"):
        loaded = load_model(name, "random")
        out[name] = (inspect(loaded, image).layers, loaded.spec.input_size)
    return out


# Expected layers worked out by hand from each architecture's definition (torchvision's cfgs):
# VGG-11: ReLUs at 224 (features.1), 112 (.4), 56 (.7, .9), 28 (.12, .14), 14 (.17, .19), then the
# last max-pool (.20) is the only 7x7 map. ResNet-18: stem ReLU at 112, layerN.1.relu at 56..7.
# Inception v3 at 299: no ReLU modules (F.relu inside BasicConv2d), so blocks: Mixed_5d is the
# last 35x35 one, Mixed_6e the last 17x17, Mixed_7c the last 8x8.
@pytest.mark.parametrize(("name", "stride", "expected"), [
    ("vgg11", 2, "features.4"), ("vgg11", 8, "features.14"), ("vgg11", 16, "features.19"),
    ("vgg11", 32, "features.20"),
    ("resnet18", 2, "relu"), ("resnet18", 4, "layer1.1.relu"), ("resnet18", 8, "layer2.1.relu"),
    ("resnet18", 16, "layer3.1.relu"), ("resnet18", 32, "layer4.1.relu"),
    ("inception_v3", 8, "Mixed_5d"), ("inception_v3", 16, "Mixed_6e"), ("inception_v3", 32, "Mixed_7c"),
])
def test_resolution_matching_per_family(tables, name, stride, expected):
    layers, size = tables[name]
    assert match_stride(layers, size, stride).name == expected


@pytest.mark.parametrize("name", ["vgg11", "resnet18", "inception_v3"])
def test_depth_matching_runs_from_first_to_last_stage(tables, name):
    layers, _ = tables[name]
    found = stages(layers)
    assert match_depth(layers, 0.0) is found[0] and match_depth(layers, 1.0) is found[-1]
    middle = match_depth(layers, 0.5)
    assert found.index(middle) == round((len(found) - 1) / 2)
    # deeper means smaller maps, never larger
    sides = [match_depth(layers, d).output_shape[-1] for d in np.linspace(0, 1, 11)]
    assert sides == sorted(sides, reverse=True)
    assert all(info.output_shape[-1] > 1 for info in found)  # pooled vectors are not maps


def test_resnet_stages_are_its_relus_and_vgg_adds_its_last_pool(tables):
    resnet = [i.name for i in stages(tables["resnet18"][0])]
    assert resnet[0] == "relu" and resnet[-1] == "layer4.1.relu"
    assert all(n == "relu" or n.endswith(".relu") for n in resnet)
    vgg = [i.name for i in stages(tables["vgg11"][0])]
    assert vgg == ["features.1", "features.4", "features.7", "features.9", "features.12",
                   "features.14", "features.17", "features.19", "features.20"]


def test_classes_are_matched_by_label():
    imagenet = ("tabby", "tiger cat")
    shapes = ("circle", "star")
    first = (imagenet, "tabby")
    assert explained_class(imagenet, first, None) == "tabby"  # same label set: the first's top class
    assert explained_class(shapes, first, None) is None  # another set: the model's own top class
    assert explained_class(shapes, first, "Star") == "Star"  # asked for (make_column notes a miss)
