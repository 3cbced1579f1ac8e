"""The whole photo or the centre crop: what the network sees, and where that lies in the photo."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnscope.core.errors import OptionError
from cnnscope.core.inspect import inspect
from cnnscope.core.lenet import LENET_PREPROCESSING
from cnnscope.core.preprocess import Preprocessing
from cnnscope.core.render import framed_photo



def _red(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0] > 200) & (rgb[..., 1] < 60) & (rgb[..., 2] < 60)


@pytest.fixture(scope="module")
def seen(demo_model, wide_photo):
    """The wide photo inspected by the demo model both ways: {"crop": ..., "whole": ...}."""
    return {"crop": inspect(demo_model, wide_photo),  # the default
            "whole": inspect(demo_model, wide_photo, framing="whole")}


def test_the_crop_loses_an_object_near_the_edge_and_the_whole_photo_keeps_it(seen):
    # the demo reads 96 px: the crop is 96 x 96 of the photo resized to 192 x 96
    crop, whole = seen["crop"], seen["whole"]
    assert crop.input_rgb.shape == whole.input_rgb.shape == (96, 96, 3)
    assert not _red(crop.input_rgb).any()
    # x 10..60 and y 70..130 at 96/400 px per photo pixel, 24 px down (the band is 48 px tall)
    assert _red(whole.input_rgb[44:52, 4:12]).all()
    assert not _red(whole.input_rgb[:, 20:]).any()


def test_where_the_input_sits_in_the_photo(seen):
    crop = seen["crop"].framing
    assert crop.mode == "crop" and crop.photo_size == (400, 200)
    # 200 -> 96 px, 400 -> 192 px; the centre 96 px start at 48, i.e. at photo x 100, 200 px wide
    assert crop.box == pytest.approx((100, 0, 200, 200))
    assert crop.content == (0, 0, 96, 96)
    assert crop.seen_share == pytest.approx(0.5)
    assert crop.to_photo((48, 0, 12, 12)) == pytest.approx((200, 0, 25, 25))
    whole = seen["whole"].framing
    assert whole.mode == "whole" and whole.box == (0, 0, 400, 200)
    assert whole.content == (0, 24, 96, 48)  # 400 x 200 -> 96 x 48, centred
    assert whole.seen_share == 1.0
    assert whole.to_photo((0, 24, 96, 48)) == pytest.approx((0, 0, 400, 200))


def test_imagenet_style_geometry_by_hand():
    prep = Preprocessing(256, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    crop = prep.place(640, 480)
    # 480 -> 256, 640 -> int(341.33) = 341; cut round(58.5) = 58 px (x), 16 px (y)
    assert crop.box == pytest.approx((58 * 640 / 341, 30, 224 * 640 / 341, 420))
    tall = prep.place(300, 900, "whole")  # 900 -> 224, 300 -> 75 (74.67), centred at 74
    assert tall.content == (74, 0, 75, 224) and tall.box == (0, 0, 300, 900)


def test_the_padding_is_zero_for_the_network_and_the_mean_colour_on_screen(seen):
    whole = seen["whole"]
    x = whole.input_tensor[0]
    assert torch.count_nonzero(x[:, :24]) == 0 and torch.count_nonzero(x[:, 72:]) == 0
    assert torch.count_nonzero(x[:, 24:72]) > 0
    assert (whole.input_rgb[:24] == 128).all() and (whole.input_rgb[72:] == 128).all()  # 0.5 * 255


def test_a_grey_input_model_is_padded_with_zero_too(wide_photo):
    x, shown, framing = LENET_PREPROCESSING.framed(wide_photo, framing="whole")
    assert x.shape == (1, 1, 32, 32) and shown.shape == (3, 32, 32)
    assert framing.content == (0, 8, 32, 16)
    assert torch.count_nonzero(x[0, 0, :8]) == 0 and torch.count_nonzero(x[0, 0, 24:]) == 0
    assert (shown[:, :8] == 66).all()  # LeNet's mean 0.26 * 255 = 66.3, as grey


def test_a_crop_handed_in_keeps_working_and_is_all_of_the_input(demo_model):
    given = np.zeros((96, 96, 3), np.uint8)
    found = inspect(demo_model, given, cropped=True)
    assert np.array_equal(found.input_rgb, given)
    assert found.framing.box == (0, 0, 96, 96) and found.framing.content == (0, 0, 96, 96)


def test_an_unknown_framing_is_one_sentence(demo_model, wide_photo):
    with pytest.raises(OptionError, match="'crop'.*'whole'.*not 'fit'"):
        inspect(demo_model, wide_photo, framing="fit")


def test_the_photo_drawn_with_the_outside_darkened():
    photo = np.full((640, 1280, 3), 200, np.uint8)
    picture, box, scale = framed_photo(photo, (200, 0, 400, 640), max_side=640)
    assert picture.shape == (320, 640, 3) and scale == 0.5
    assert box == (100, 0, 200, 320)
    assert (picture[:, 100:300] == 200).all()
    assert (picture[:, :100] == 70).all() and (picture[:, 300:] == 70).all()  # 200 * 0.35
    small, box, scale = framed_photo(photo[:100, :100], (0, 0, 100, 100))
    assert small.shape == (100, 100, 3) and box == (0, 0, 100, 100) and scale == 1.0


def test_the_python_api_takes_whole_image(demo_model, wide_photo):
    import cnnscope

    found = cnnscope.inspect(demo_model, wide_photo, whole_image=True)
    assert found.framing.mode == "whole" and _red(found.input_rgb).any()


@pytest.mark.parametrize("method", ["integrated_gradients", "deeplift"])
def test_no_attribution_lands_on_the_padding(demo_model, seen, method):
    """The padding is 'nothing there' (0 for the network): the black baseline of Integrated
    Gradients and DeepLIFT must equal it there, or a third of their heat went to the bands."""
    from cnnscope.core.attribution import attribute

    found = attribute(demo_model, seen["whole"], method)
    assert found.raw[:24].any() or found.raw[24:72].any()
    assert np.abs(found.raw[:24]).max() == 0 and np.abs(found.raw[72:]).max() == 0
    assert np.abs(found.raw[24:72]).max() > 0
