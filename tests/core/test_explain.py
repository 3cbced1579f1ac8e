"""Plain-words explanations: chosen by layer type, with the layer's own numbers."""

from __future__ import annotations

import numpy as np
import pytest

from cnnscope.core.explain import explain
from cnnscope.core.inspect import inspect
from cnnscope.core.summary import summarize
from cnnscope.core.weights import load_model


def _explained(name: str):
    loaded = load_model(name, "random")
    rows = {r.name: r for r in summarize(loaded, inspect(loaded, np.zeros((224, 224, 3), np.uint8))).rows}
    return lambda layer, head=False: explain(loaded.module.get_submodule(layer), rows[layer],
                                             loaded.spec.input_size, head)


@pytest.fixture(scope="module")
def resnet():
    return _explained("resnet18")


def test_convolution_with_its_numbers(resnet):
    text = resnet("conv1")
    assert "64 filters, each 7x7 over all 3 input channels" in text and "stride 2 and padding 3" in text
    assert "9,408 parameters" in text and "7 x 7 px patch of the 224 px input" in text


def test_each_kind_of_layer_gets_its_story(resnet):
    assert "x + F(x)" in resnet("layer1.0")
    assert "nonlinearity" in resnet("relu")
    assert "largest value in each 3x3 window" in resnet("maxpool")
    assert "batch normalisation" in resnet("bn1")
    pooled = resnet("avgpool")
    assert "global average pooling" in pooled and "CAM" in pooled
    assert "can see the whole 224 px input" in pooled  # its field (627 px) is wider than the image
    assert "classifier" in resnet("fc", head=True) and "classifier" not in resnet("fc", head=False)


def test_depthwise_bottleneck_and_inception():
    mobile = _explained("mobilenet_v2")
    assert "depthwise convolution" in mobile("features.2.conv.1.0")
    assert "1x1 convolution" in mobile("features.2.conv.2") and "squeezes" in mobile("features.2.conv.2")
    assert "inverted residual" in mobile("features.2")
    google = _explained("googlenet")
    assert "Inception module" in google("inception3a") and "bottlenecks" in google("inception3a")
