"""Every fast method at once: the same class for all, refused methods listed, the picture drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnnscope.core.attribution import METHODS, AttributionCancelled, attribute
from cnnscope.core.images import open_image
from cnnscope.core.inspect import inspect
from cnnscope.core.method_grid import every_method, fast_methods, grid_figure

SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


@pytest.fixture(scope="module")
def star(demo_model):
    return inspect(demo_model, open_image(SAMPLES / "shape_star.png"))


def test_the_grid_holds_every_fast_method_for_the_asked_class(demo_model, star):
    runner_up = star.predictions[1]
    grid = every_method(demo_model, star, target=runner_up.label)
    keys = [m.method for m in grid.maps]
    assert keys == fast_methods() and len(keys) >= 12
    assert not any(METHODS[k].slow for k in keys)
    assert {m.target for m in grid.maps} == {runner_up.index} and grid.label == runner_up.label
    # each map is that method's own: the same as asking for it alone
    alone = attribute(demo_model, star, "layercam", target=runner_up.index)
    np.testing.assert_array_equal(grid.maps[keys.index("layercam")].heatmap, alone.heatmap)


def test_a_refused_method_is_listed_with_its_reason_and_the_rest_are_drawn(star, photo_alexnet):
    loaded, inspection = photo_alexnet
    grid = every_method(loaded, inspection, methods=["gradcam", "cam", "saliency"])
    assert [m.method for m in grid.maps] == ["gradcam", "saliency"]
    assert "global average pooling" in grid.refused["cam"]
    picture = grid_figure(inspection.input_rgb, grid)
    assert picture.ndim == 3 and picture.shape[2] == 3 and picture.dtype == np.uint8
    # photo + two maps in one row of four: wider than tall, and not blank
    assert picture.shape[1] > picture.shape[0] and picture.std() > 10


def test_cancel_stops_between_methods(demo_model, star):
    seen = []
    with pytest.raises(AttributionCancelled):
        every_method(demo_model, star, progress=lambda done, total: seen.append(done),
                     should_cancel=lambda: len(seen) >= 2)
    assert seen == [1, 2]


@pytest.fixture(scope="module")
def photo_alexnet():
    import torch

    from cnnscope.core.weights import load_model

    torch.manual_seed(0)
    loaded = load_model("alexnet", "random")
    return loaded, inspect(loaded, open_image(SAMPLES / "chelsea.png"))
