"""The kernel playground's engine: presets hold the textbook numbers, typed kernels parse or are
refused with a sentence, the output size formula matches torch, a kernel is applied to each colour
channel alone, and a learned filter's response is the model's own convolution minus its bias."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnscope.core import kernels
from cnnscope.core.errors import OptionError
from cnnscope.core.images import open_image
from cnnscope.core.inspect import inspect
from cnnscope.core.resources import sample_images


def _photo(name: str = "chelsea.png") -> np.ndarray:
    return open_image(next(p for p in sample_images() if p.name == name))


# --- presets ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, side, expected", [
    ("Identity", 3, [[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    ("Box blur", 3, np.full((3, 3), 1 / 9)),
    ("Gaussian blur", 3, np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16),
    ("Sharpen", 3, [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    ("Sobel x", 3, [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    ("Sobel y", 3, [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    ("Edge (outline)", 3, [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
    ("Box blur", 5, np.full((5, 5), 1 / 25)),
    ("Gaussian blur", 5, np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256),
    ("Sobel x", 5, [[-1, -2, 0, 2, 1], [-4, -8, 0, 8, 4], [-6, -12, 0, 12, 6], [-4, -8, 0, 8, 4],
                    [-1, -2, 0, 2, 1]]),
])
def test_presets_hold_the_textbook_numbers(name, side, expected):
    found = kernels.preset_kernel(name, side)
    assert found.dtype == np.float32 and found.shape == (side, side)
    np.testing.assert_allclose(found, np.asarray(expected, dtype=np.float64), rtol=1e-6, atol=1e-7)


def test_the_5x5_presets():
    identity = np.zeros((5, 5))
    identity[2, 2] = 1
    np.testing.assert_array_equal(kernels.preset_kernel("Identity", 5), identity)
    gauss = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256
    np.testing.assert_allclose(kernels.preset_kernel("Sharpen", 5), 2 * identity - gauss, atol=1e-7)
    edge = -np.ones((5, 5))
    edge[2, 2] = 24
    np.testing.assert_array_equal(kernels.preset_kernel("Edge (outline)", 5), edge)
    np.testing.assert_array_equal(kernels.preset_kernel("Sobel y", 5), kernels.preset_kernel("Sobel x", 5).T)
    for name in kernels.PRESETS:  # blurs and sharpen keep brightness; edge detectors sum to 0
        for side in (3, 5):
            k = kernels.preset_kernel(name, side)
            assert kernels.sums_to_zero(k) == (name in ("Sobel x", "Sobel y", "Edge (outline)"))
            assert kernels.sums_to_zero(k) or k.sum() == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(OptionError, match="not a preset"):
        kernels.preset_kernel("Emboss")
    with pytest.raises(OptionError, match="3x3 and 5x5"):
        kernels.preset_kernel("Sobel x", 7)


# --- typed kernels ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("1 2 1; 2 4 2; 1 2 1", [[1, 2, 1], [2, 4, 2], [1, 2, 1]]),
    ("-1,0,1\n-2, 0, 2\n-1 ,0 ,1\n", [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    ("1/9 1/9 1/9;1/9 1/9 1/9;1/9 1/9 1/9", np.full((3, 3), 1 / 9)),
    # a typographic minus sign
    ("0 \u22121 0; \u22121 5 \u22121; 0 \u22121 0", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    ("0.5 -.25 1e-1; +2 -3/4 0; 0 0 2.", [[0.5, -0.25, 0.1], [2, -0.75, 0], [0, 0, 2]]),
    ("7", [[7]]),
    (";".join([" ".join(["1"] * 7)] * 7), np.ones((7, 7))),
])
def test_typed_kernels_are_read(text, expected):
    np.testing.assert_allclose(kernels.parse_kernel(text), np.asarray(expected, dtype=np.float64),
                               rtol=1e-6)


@pytest.mark.parametrize("text, says", [
    ("1 2; 3", "square"),
    ("1 2 3; 4 5 6", "square"),
    ("a b c; 1 2 3; 1 2 3", "'a' is not a number"),
    ("1 2 1; 2 nan 2; 1 2 1", "'nan' is not a number"),
    ("inf 0 0; 0 0 0; 0 0 0", "is not a number"),
    ("1/0 0 0; 0 0 0; 0 0 0", "divides by zero"),
    ("1//2 0 0; 0 0 0; 0 0 0", "is not a number"),
    ("0x10 0 0; 0 0 0; 0 0 0", "is not a number"),
    ("1e400 0 0; 0 0 0; 0 0 0", "too large"),
    ("5000 0 0; 0 0 0; 0 0 0", "too large"),
    (";".join([" ".join(["1"] * 8)] * 8), "1 to 7 rows"),
    ("1 " * 250, "at most 400"),
    (" ; \n ", "empty"),
])
def test_malformed_kernels_are_refused_with_one_sentence(text, says):
    with pytest.raises(OptionError, match=says) as refused:
        kernels.parse_kernel(text)
    message = str(refused.value)
    assert message.endswith(".") and "\n" not in message and len(message) < 200


def test_rows_of_cells_are_read_as_the_window_sends_them():
    assert kernels.kernel_from_rows((("1", "0"), ("0", "-1/2"))).tolist() == [[1, 0], [0, -0.5]]
    assert kernels.kernel_from_rows(((1, 2.5), (0, -1))).tolist() == [[1, 2.5], [0, -1]]
    with pytest.raises(OptionError, match="empty"):
        kernels.kernel_from_rows((("1", ""), ("0", "1")))
    with pytest.raises(OptionError, match="usable"):
        kernels.kernel_from_rows(((float("nan"), 0), (0, 1)))


# --- the output size ------------------------------------------------------------------------------

@pytest.mark.parametrize("n, k, s, p, d, expected", [
    (224, 3, 1, 1, 1, 224),  # "same" padding
    (224, 3, 2, 1, 1, 112),
    (224, 7, 2, 3, 1, 112),  # ResNet's first layer
    (227, 11, 4, 0, 1, 55),  # AlexNet's
    (32, 5, 1, 0, 1, 28),  # LeNet's
    (96, 7, 2, 3, 1, 48),  # the demo model's
    (10, 3, 3, 0, 1, 3),  # floor((10 - 2 - 1) / 3) + 1 = 2 + 1
    (7, 3, 2, 1, 2, 3),  # floor((7 + 2 - 4 - 1) / 2) + 1
    (5, 3, 1, 0, 2, 1),  # the dilated kernel spans all 5 pixels
    (9, 5, 2, 2, 3, 1),  # floor((9 + 4 - 12 - 1) / 2) + 1 = 0 + 1: one position
])
def test_output_size_by_hand_and_by_torch(n, k, s, p, d, expected):
    assert kernels.output_size(n, k, s, p, d) == expected
    out = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p, dilation=d)
    assert out.shape[-1] == expected


def test_output_size_matches_torch_over_many_settings():
    for n in (5, 8, 13):
        for k in (1, 3, 5):
            for s in (1, 2, 3):
                for p in (0, 1, 2):
                    for d in (1, 2, 3):
                        span = d * (k - 1) + 1
                        if n + 2 * p < span:
                            with pytest.raises(OptionError):
                                kernels.output_size(n, k, s, p, d)
                            continue
                        out = F.conv2d(torch.zeros(1, 1, n, n + 1), torch.zeros(1, 1, k, k),
                                       stride=s, padding=p, dilation=d)
                        assert out.shape[-2:] == (kernels.output_size(n, k, s, p, d),
                                                  kernels.output_size(n + 1, k, s, p, d))


def test_the_formula_is_filled_in():
    assert (kernels.output_formula(224, 3, 2, 1, 1)
            == "\u230a(224 + 2\u00b71 \u2212 1\u00b7(3\u22121) \u2212 1) / 2\u230b + 1 = 112")
    assert kernels.output_formula(96, 5, 1, 0, 3).endswith("/ 1\u230b + 1 = 84")


def test_settings_without_an_output_are_refused_with_a_sentence():
    with pytest.raises(OptionError, match="no output") as refused:
        kernels.output_size(5, 5, 1, 0, 3)  # spans 13 pixels of 5
    assert "13" in str(refused.value)
    with pytest.raises(OptionError, match="no output"):
        kernels.apply_kernel(np.zeros((5, 5, 3), np.uint8), np.ones((5, 5)), 1, 0, 3)
    for stride, padding, dilation, name in ((0, 0, 1, "stride"), (1, -1, 1, "padding"),
                                            (1, 0, 0, "dilation"), (1, 0, 99, "dilation")):
        with pytest.raises(OptionError, match=name):
            kernels.output_size(32, 3, stride, padding, dilation)


# --- a hand-made kernel on the photo ------------------------------------------------------------

def test_the_identity_kernel_returns_the_photo():
    photo = _photo()
    for side, padding in ((3, 1), (5, 2)):
        out = kernels.apply_kernel(photo, kernels.preset_kernel("Identity", side), padding=padding)
        assert not out.edge and out.values.shape == (3, *photo.shape[:2])
        picture, scale = out.picture()
        assert scale == 1.0 and np.array_equal(picture, photo)
    cropped, _ = kernels.apply_kernel(photo, kernels.preset_kernel("Identity", 3)).picture()
    assert np.array_equal(cropped, photo[1:-1, 1:-1])  # no padding: the border is lost


def _correlate(channel: np.ndarray, kernel: np.ndarray, s: int, p: int, d: int) -> np.ndarray:
    """Cross-correlation written out by hand, as the formula counts positions."""
    padded = np.pad(channel, p)
    k = kernel.shape[0]
    rows = (padded.shape[0] - d * (k - 1) - 1) // s + 1
    cols = (padded.shape[1] - d * (k - 1) - 1) // s + 1
    out = np.zeros((rows, cols))
    for y in range(rows):
        for x in range(cols):
            window = padded[y * s:y * s + d * (k - 1) + 1:d, x * s:x * s + d * (k - 1) + 1:d]
            out[y, x] = (window * kernel).sum()
    return out


@pytest.mark.parametrize("s, p, d", [(1, 0, 1), (2, 1, 1), (1, 2, 2), (3, 1, 2)])
def test_each_colour_channel_is_convolved_alone(s, p, d):
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (11, 13, 3), dtype=np.uint8)
    kernel = rng.normal(size=(3, 3)).astype(np.float32)
    out = kernels.apply_kernel(photo, kernel, s, p, d)
    for c in range(3):
        expected = _correlate(photo[..., c] / 255.0, kernel.astype(np.float64), s, p, d)
        np.testing.assert_allclose(out.values[c], expected, atol=1e-5)
    assert out.values.shape[1:] == (kernels.output_size(11, 3, s, p, d), kernels.output_size(13, 3, s, p, d))


def test_an_edge_detector_shows_signed_values_in_a_diverging_map():
    step = np.zeros((8, 8, 3), np.uint8)
    step[:, 4:] = 200  # dark left half, bright right half
    out = kernels.apply_kernel(step, kernels.preset_kernel("Sobel x", 3), padding=0)
    assert out.edge and out.kernel_sum == 0
    assert out.values[:, :, 2:4].min() > 0 and np.all(out.values[:, :, [0, 1, 4, 5]] == 0)
    picture, scale = out.picture()
    assert scale == pytest.approx(4 * 200 / 255, rel=1e-5)  # 1 + 2 + 1 times the step
    flat, rising = picture[3, 0].astype(int), picture[3, 3].astype(int)
    assert flat.min() > 235  # 0 is white
    assert rising[0] > rising[2] + 50  # positive is red
    falling, _ = kernels.apply_kernel(step[:, ::-1].copy(), kernels.preset_kernel("Sobel x", 3)).picture()
    assert falling[3, 3, 2] > falling[3, 3, 0] + 50  # bright to dark: negative, blue
    assert "add up to 0" in kernels.describe(out, scale)


def test_a_kernel_that_does_not_sum_to_1_brightens_and_clips():
    photo = np.full((6, 6, 3), 64, np.uint8)
    out = kernels.apply_kernel(photo, kernels.parse_kernel("1 2 1; 2 4 2; 1 2 1"), padding=0)
    assert not out.edge and out.kernel_sum == 16
    picture, _ = out.picture()
    assert (picture == 255).all()  # 16 x 64 / 255 > 1: clipped to white
    assert "16 times as bright" in kernels.describe(out, 1.0)


# --- a learned kernel on the photo --------------------------------------------------------------

def _first_conv_response_check(loaded, photo):
    inspection = inspect(loaded, photo)
    first = kernels.first_layer_filter(loaded.module, 0)
    recorded = inspection.activation(first.layer)
    for channel in (0, 3, recorded.shape[0] - 1):
        found = kernels.first_layer_filter(loaded.module, channel)
        response = kernels.apply_learned_filter(inspection.input_tensor, found.weight, found.stride,
                                                found.padding, found.dilation)
        assert response.shape == recorded.shape[1:]
        assert response.shape == tuple(kernels.output_size(n, k, s, p, d) for n, k, s, p, d in zip(
            inspection.input_tensor.shape[2:], found.weight.shape[1:], found.stride, found.padding,
            found.dilation))
        np.testing.assert_allclose(response + (found.bias or 0.0), recorded[channel], atol=1e-4)
    return first


def test_a_learned_filter_is_the_demo_models_own_first_convolution(demo_model):
    first = _first_conv_response_check(demo_model, _photo("shape_star.png"))
    assert first.layer == "features.block1.conv" and first.channels == 16
    assert first.stride == (2, 2) and first.padding == (3, 3) and first.bias is None
    assert first.picture().shape[0] >= 112 and first.picture().dtype == np.uint8


def test_a_learned_filter_is_a_torchvision_models_first_convolution_minus_its_bias():
    from cnnscope.core.errors import ModelError
    from cnnscope.core.weights import load_model

    squeeze = load_model("squeezenet1_1", "random")  # its first convolution has a bias
    torch.nn.init.uniform_(squeeze.module.features[0].bias, -1, 1)  # a bias that is not zero
    first = _first_conv_response_check(squeeze, _photo())
    assert first.bias is not None and first.stride == (2, 2)
    with pytest.raises(ModelError, match="64 filters"):
        kernels.first_layer_filter(squeeze.module, 64)
