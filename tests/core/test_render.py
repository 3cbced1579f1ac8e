"""Rendering: grids of channels, colormaps, overlays and filter tiles, as uint8 RGB."""

from __future__ import annotations

import numpy as np
import pytest

from cnnscope.core import render
from cnnscope.core.errors import OptionError


def _tiles(grid: np.ndarray, h: int, w: int, pad: int = 1):
    """Cut a grid back into its tiles (row-major)."""
    rows = (grid.shape[0] - pad) // (h + pad)
    cols = (grid.shape[1] - pad) // (w + pad)
    return [grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w]
            for r in range(rows) for c in range(cols)]


def test_grid_holds_every_channel_normalised_on_its_own():
    maps = np.stack([np.full((4, 4), 5.0), np.arange(16.0).reshape(4, 4) * 100,
                     -np.arange(16.0).reshape(4, 4)]).astype(np.float32)
    grid = render.feature_grid(maps, cmap="gray", min_tile=4)
    assert grid.dtype == np.uint8 and grid.shape == (2 * 5 + 1, 2 * 5 + 1, 3)
    flat, rising, falling, empty = _tiles(grid, 4, 4)
    assert np.all(flat == 0)  # a constant map has nothing to show
    assert rising[0, 0, 0] == 0 and rising[-1, -1, 0] == 255  # own min..max, whatever the scale
    assert falling[0, 0, 0] == 255 and falling[-1, -1, 0] == 0
    assert np.all(empty == render.GRID_BACKGROUND)


def test_sort_by_mean_puts_the_most_active_channel_first():
    maps = np.zeros((3, 2, 2), np.float32)
    maps[2] = [[0, 9], [9, 9]]  # highest mean, and not constant so it shows
    maps[1] = [[0, 1], [1, 1]]
    assert list(render.channel_order(maps, "mean")) == [2, 1, 0]
    grid = render.feature_grid(maps * [[[1]], [[1]], [[1]]], cmap="gray", sort="mean", min_tile=2)
    first = _tiles(grid, 2, 2)[0]
    assert first[0, 0, 0] == 0 and first[1, 1, 0] == 255


def test_small_maps_are_enlarged_without_blurring():
    maps = np.random.default_rng(0).random((512, 7, 7)).astype(np.float32)
    grid = render.feature_grid(maps, min_tile=28)
    assert grid.shape[0] == 23 * 29 + 1  # 512 channels -> 23 x 23 tiles of 28 px
    tile = _tiles(grid, 28, 28)[0]
    assert np.all(tile[:4, :4] == tile[0, 0])  # each source pixel is a flat 4x4 block


def test_colormaps_come_from_matplotlib():
    import matplotlib

    lut = render.colormap_lut("magma")
    expected = (np.array(matplotlib.colormaps["magma"](1.0)[:3]) * 255).round()
    assert lut.shape == (256, 3) and np.array_equal(lut[-1], expected)
    with pytest.raises(OptionError, match="'Magma' is not a matplotlib colormap; did you mean magma"):
        render.colormap_lut("Magma")


def test_overlay_blends_map_onto_photo():
    photo = np.full((40, 60, 3), 100, np.uint8)
    heat = np.zeros((5, 5), np.float32)
    heat[2, 2] = 1.0
    assert np.array_equal(render.overlay(photo, heat, alpha=0.0), photo)
    full = render.overlay(photo, heat, alpha=1.0, cmap="gray")
    assert full.shape == photo.shape
    assert full[20, 30].mean() > 200 and full[0, 0].mean() < 5  # hot centre, cold corner


def test_first_layer_filters_are_rgb_tiles_centred_on_grey():
    w = np.zeros((2, 3, 3, 3), np.float32)
    w[0, 0] = 1.0  # a pure "red" filter
    w[1, :, 1, 1] = -1.0  # a dark centre dot
    img = render.filter_tiles(w, min_tile=3)
    red, dot = _tiles(img, 3, 3, pad=2)[:2]
    assert tuple(red[0, 0]) == (255, 128, 128)
    assert tuple(dot[0, 0]) == (128, 128, 128) and tuple(dot[1, 1]) == (0, 0, 0)


def test_deeper_filters_are_grey_rows_per_output_channel():
    w = np.zeros((100, 40, 3, 3), np.float32)
    w[1, 2, 0, 0] = 1.0  # filter 1, input channel 2: one bright corner
    img = render.filter_tiles(w, min_tile=16, max_out=64, max_in=32)
    # 3x3 kernels enlarged 3x (to >= 8 px); 64 rows (out) x 32 columns (in), 1 px gaps
    assert img.shape == (64 * 10 + 1, 32 * 10 + 1, 3)
    tiles = _tiles(img, 9, 9)
    corner = tiles[1 * 32 + 2]
    assert np.all(corner[:3, :3] == 255) and np.all(corner[3:, 3:] == 128)
    assert np.all(corner[..., 0] == corner[..., 1])  # grey


def test_one_channel_enlarged_keeps_its_pixels():
    channel = np.array([[0.0, 1.0], [2.0, 3.0]], np.float32)
    big = render.channel_image(channel, cmap="gray", size=64)
    assert big.shape == (64, 64, 3)
    assert np.all(big[:32, :32] == 0) and np.all(big[32:, 32:] == 255)  # nearest, own range
    assert 80 < big[0, 40, 0] < 90  # 1/3 of the range, one flat 32x32 block


def test_a_click_on_the_first_layer_filters_picture_finds_the_filter_drawn_there():
    """Filter 7 alone is red; the centre of the red pixels in the picture maps back to filter 7,
    and the padding between tiles to none."""
    from cnnscope.core.render import filter_tiles, filter_tiles_layout, tile_at

    weights = np.zeros((10, 3, 3, 3), np.float32)
    weights[7, 0] = 1.0  # red
    picture = filter_tiles(weights)
    red = (picture[..., 0] > 200) & (picture[..., 1] < 160)  # (255, 128, 128): red over grey
    ys, xs = np.nonzero(red)
    layout = filter_tiles_layout(weights.shape)
    assert tile_at(layout, int(xs.mean()), int(ys.mean())) == 7
    assert tile_at(layout, 0, 0) is None  # the frame around the tiles
    assert tile_at(layout, int(xs.max()) + 1, int(ys.mean())) is None  # the gap after the tile
    assert filter_tiles_layout((16, 8, 3, 3)) is None  # a deeper layer: rows of kernels, not filters


def test_save_png_refuses_a_folder_or_a_named_pipe(tmp_path):
    """Every exported PNG goes through save_png: a FIFO no one reads must not hang the writer."""
    import os

    from cnnscope.core.render import save_png

    fifo = tmp_path / "out.png"
    os.mkfifo(fifo)
    picture = np.zeros((4, 4, 3), np.uint8)
    for bad, kind in ((fifo, "named pipe"), (tmp_path, "folder")):
        with pytest.raises(OSError, match=kind):
            save_png(picture, bad)
