"""The arithmetic of one output value: the numbers shown must be the model's own. Each test
recomputes the value from the shown numbers (patch x kernel + bias, the pooling window, the ReLU)
and compares it with what the inspection captured in the map."""

from __future__ import annotations

import numpy as np
import torch
import pytest

from cnnscope.core.arithmetic import ActivationValue, ConvValue, PoolValue, explain_value
from cnnscope.core.errors import ModelError
from cnnscope.core.images import open_image
from cnnscope.core.inspect import inspect
from cnnscope.core.resources import sample_images


def _photo(name: str = "shape_star.png") -> np.ndarray:
    return open_image(next(p for p in sample_images() if p.name == name))


@pytest.fixture(scope="module")
def star(demo_model):
    return inspect(demo_model, _photo())


def _recompute(found: ConvValue) -> float:
    return float((found.patch.astype(np.float64) * found.kernel).sum() + found.bias)


def test_a_plain_convolution_value_is_patch_times_kernel(demo_model, star):
    found = explain_value(demo_model, star, "features.block2.conv", 5, 6, 7)
    assert isinstance(found, ConvValue)
    assert found.patch.shape == found.kernel.shape == (16, 3, 3) and not found.outside.any()
    assert found.kernel.tobytes() == demo_model.module.features.block2.conv.weight[5].detach().numpy().tobytes()
    layer_input = star.activation("features.block1.pool")  # what block2's conv reads
    assert np.array_equal(found.patch, layer_input[:, 5:8, 6:9])  # stride 1, padding 1
    assert _recompute(found) == pytest.approx(star.activation("features.block2.conv")[5, 6, 7], abs=1e-4)
    assert np.allclose(found.per_channel, (found.patch * found.kernel).sum(axis=(1, 2)), atol=1e-5)


def test_the_first_layer_reads_the_preprocessed_photo_with_stride_and_padding(demo_model, star):
    """block1's 7x7 conv, stride 2, padding 3: position (0, 0) hangs over the top-left padding."""
    found = explain_value(demo_model, star, "features.block1.conv", 2, 0, 0)
    assert found.window.stride == (2, 2) and found.window.padding == (3, 3)
    assert found.outside[:3].all() and found.outside[:, :3].all() and not found.outside[3:, 3:].any()
    assert (found.patch[:, found.outside] == 0).all()
    normalised = star.input_tensor[0].numpy()  # the photo as the network got it (mean 0.5, std 0.25)
    assert np.array_equal(found.patch[:, 3:, 3:], normalised[:, 0:4, 0:4])
    assert _recompute(found) == pytest.approx(star.activation("features.block1.conv")[2, 0, 0], abs=1e-4)
    inner = explain_value(demo_model, star, "features.block1.conv", 2, 20, 11)
    assert np.array_equal(inner.patch, normalised[:, 37:44, 19:26])  # 2 * 20 - 3 = 37, 2 * 11 - 3 = 19
    assert _recompute(inner) == pytest.approx(star.activation("features.block1.conv")[2, 20, 11], abs=1e-4)


def test_max_pooling_shows_its_window_and_the_winner(demo_model, star):
    found = explain_value(demo_model, star, "features.block1.pool", 9, 4, 10)
    assert isinstance(found, PoolValue) and found.kind == "max"
    before = star.activation("features.block1.relu")
    assert np.array_equal(found.values, before[9, 8:10, 20:22])
    assert found.values[found.winner] == found.values.max() == found.recorded


def test_a_relu_says_what_it_clipped(demo_model, star):
    before = star.activation("features.block2.bn")
    negative = np.argwhere(before[:, :, :] < 0)[0]
    found = explain_value(demo_model, star, "features.block2.relu", *map(int, negative))
    assert isinstance(found, ActivationValue) and found.clipped and found.value == found.recorded == 0.0
    assert found.before == pytest.approx(float(before[tuple(negative)]))


def test_a_depthwise_convolution_reads_one_input_channel():
    """MobileNetV2's depthwise 3x3 (groups = channels), random weights: output channel 7 reads
    input channel 7 only; stride 2 at a border position."""
    from cnnscope.core.weights import load_model

    mobilenet = load_model("mobilenet_v2", "random")
    result = inspect(mobilenet, _photo("chelsea.png"))
    layer = "features.2.conv.1.0"  # 96 channels, groups 96, stride 2
    found = explain_value(mobilenet, result, layer, 7, 0, 5)
    assert found.in_channels == (7,) and found.kernel.shape == (1, 3, 3)
    assert found.outside[0].all()  # the top row of the window is padding
    assert _recompute(found) == pytest.approx(result.activation(layer)[7, 0, 5], rel=1e-4, abs=1e-4)


def test_a_resnet_block_input_comes_through_its_sum_and_avg_pooling_divides_right():
    """ResNet's layer2.0.conv1 reads layer1's output (a ReLU after a sum); with random weights."""
    from cnnscope.core.weights import load_model

    resnet = load_model("resnet18", "random")
    result = inspect(resnet, _photo("chelsea.png"))
    found = explain_value(resnet, result, "layer2.0.conv1", 3, 10, 0)
    assert _recompute(found) == pytest.approx(result.activation("layer2.0.conv1")[3, 10, 0], rel=1e-4, abs=1e-4)


def test_bad_positions_and_layers_are_said(demo_model, star):
    with pytest.raises(ModelError, match="there is no channel 99"):
        explain_value(demo_model, star, "features.block2.conv", 99, 0, 0)
    with pytest.raises(ModelError, match="shown for convolutions, pooling layers and ReLUs"):
        explain_value(demo_model, star, "features.block2.bn", 0, 0, 0)


def test_average_pooling_with_ceil_mode_divides_as_torch_does(demo_model, star):
    """A ceil_mode window past the padding counts only the taps inside the padded input (9 taps,
    6 counted at the right edge); the demo's pool is swapped for one on a copy of its model."""
    import copy

    from cnnscope.core.weights import LoadedModel

    module = copy.deepcopy(demo_model.module)
    module.features.block1.pool = torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True)
    loaded = LoadedModel(**{**demo_model.__dict__, "module": module, "graph": None, "graph_key": None})
    result = inspect(loaded, _photo())
    pooled = result.activation("features.block1.pool")
    channel, row = np.unravel_index(int(np.argmax(pooled[:, :, -1])), pooled.shape[:2])
    found = explain_value(loaded, result, "features.block1.pool", int(channel), int(row),
                          pooled.shape[-1] - 1)
    assert found.kind == "avg" and found.recorded > 0 and found.outside[:, 2].all()
    assert found.value == pytest.approx(found.recorded, rel=1e-5)


def test_inception_relus_called_as_functions_are_found():
    """Inception's convolutions end in F.relu, not a module: the redirected gradient needs it."""
    from cnnscope.core.inspect import traced_graph
    from cnnscope.core.weights import load_model

    googlenet = load_model("googlenet", "random")
    graph = traced_graph(googlenet)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        _logits, outputs = graph(x)
        before = graph.activation_input("inception3a.branch1", outputs, x)
    assert before is not None and before.min() < 0
    assert torch.equal(before.clamp_min(0), outputs["inception3a.branch1"])
