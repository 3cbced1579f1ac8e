"""numpy -> uint8 RGB pictures, shared by the CLI and the GUI (so both show the same pixels).

Everything is vectorised: a whole layer's channels are normalised, colour-mapped and tiled as
one array operation. Colormaps are matplotlib's.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image

from .errors import OptionError

GRID_BACKGROUND = 40  # grey between tiles
GRID_PAD = 1  # pixels between the tiles of a feature grid
MIN_TILE = 24  # feature-grid tiles are enlarged to at least this many pixels


def check_colormap(name: str) -> str:
    """``name`` if matplotlib knows that colormap; else OptionError naming the closest ones."""
    import difflib

    import matplotlib  # imported here: only rendering needs it, and it is slow to import

    if name in matplotlib.colormaps:
        return name
    known = sorted(matplotlib.colormaps)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5) or \
        difflib.get_close_matches(name.lower(), [k.lower() for k in known], n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}?" if close else "try viridis, magma, inferno, gray or jet"
    raise OptionError(f"'{name}' is not a matplotlib colormap; {hint}")


@lru_cache(maxsize=32)
def colormap_lut(name: str) -> np.ndarray:
    """A (256, 3) uint8 lookup table for a matplotlib colormap name."""
    import matplotlib

    cmap = matplotlib.colormaps[check_colormap(name)]
    return (cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)


def normalise_channels(maps: np.ndarray) -> np.ndarray:
    """Scale each (H, W) map of a (C, H, W) stack to 0..1 on its own min..max (flat maps -> 0)."""
    flat = maps.reshape(maps.shape[0], -1).astype(np.float32)
    lo = flat.min(axis=1, keepdims=True)
    span = flat.max(axis=1, keepdims=True) - lo
    out = np.divide(flat - lo, span, out=np.zeros_like(flat), where=span > 0)
    return out.reshape(maps.shape)


def apply_colormap(values: np.ndarray, cmap: str = "viridis") -> np.ndarray:
    """Values in 0..1 of any shape -> uint8 RGB of that shape plus a trailing 3."""
    scaled = np.multiply(values, np.float32(255), dtype=np.float32)
    scaled += np.float32(0.5)
    np.nan_to_num(scaled, copy=False, nan=0.0)
    np.clip(scaled, 0, 255, out=scaled)
    # np.take gathers the LUT rows about 4x faster than fancy indexing (the grid's hot spot)
    return np.take(colormap_lut(cmap), scaled.astype(np.uint8), axis=0)


def channel_order(maps: np.ndarray, sort: str = "none") -> np.ndarray:
    """Channel indices in display order: as in the model, or by mean activation (highest first)."""
    if sort == "none":
        return np.arange(maps.shape[0])
    if sort == "mean":
        return np.argsort(-maps.reshape(maps.shape[0], -1).mean(axis=1), kind="stable")
    raise ValueError(f"Unknown sort '{sort}': use 'none' or 'mean'.")


def grid_shape(count: int, columns: int | None = None) -> tuple[int, int]:
    """(rows, columns) for ``count`` tiles: near-square unless ``columns`` is given."""
    cols = columns or max(1, math.ceil(math.sqrt(count)))
    return math.ceil(count / cols), cols


def tile(tiles: np.ndarray, columns: int | None = None, pad: int = 1,
         background: int = GRID_BACKGROUND) -> np.ndarray:
    """(N, h, w, 3) uint8 tiles -> one (rows*(h+pad)+pad, cols*(w+pad)+pad, 3) image."""
    n, h, w, _ = tiles.shape
    rows, cols = grid_shape(n, columns)
    canvas = np.full((rows * cols, h + pad, w + pad, 3), background, np.uint8)
    canvas[:n, :h, :w] = tiles
    grid = canvas.reshape(rows, cols, h + pad, w + pad, 3).transpose(0, 2, 1, 3, 4)
    grid = grid.reshape(rows * (h + pad), cols * (w + pad), 3)
    out = np.full((grid.shape[0] + pad, grid.shape[1] + pad, 3), background, np.uint8)
    out[pad:, pad:] = grid
    return out


def _scale(h: int, w: int, min_side: int) -> int:
    return max(1, math.ceil(min_side / max(1, min(h, w))))


def upscaled_size(shape: tuple[int, int], min_side: int = MIN_TILE) -> tuple[int, int]:
    """(h, w) of one tile of :func:`feature_grid` for (h, w) maps: to map clicks to channels."""
    k = _scale(shape[0], shape[1], min_side)
    return shape[0] * k, shape[1] * k


def _upscale(tiles: np.ndarray, min_side: int) -> np.ndarray:
    """Integer nearest-neighbour enlargement so small maps (7x7) stay readable, pixels visible."""
    k = _scale(tiles.shape[1], tiles.shape[2], min_side)
    return tiles.repeat(k, axis=1).repeat(k, axis=2) if k > 1 else tiles


def feature_grid(maps: np.ndarray, cmap: str = "viridis", sort: str = "none",
                 columns: int | None = None, min_tile: int = MIN_TILE, pad: int = GRID_PAD) -> np.ndarray:
    """All channels of a (C, H, W) activation as one colour-mapped grid, each channel normalised."""
    order = channel_order(maps, sort)
    tiles = apply_colormap(normalise_channels(maps[order]), cmap)
    return tile(_upscale(tiles, min_tile), columns, pad)


def channel_image(channel: np.ndarray, cmap: str = "viridis", size: int = 256) -> np.ndarray:
    """One (H, W) map enlarged to about ``size`` pixels (nearest, so its real pixels show)."""
    tile1 = apply_colormap(normalise_channels(channel[None]), cmap)
    return _upscale(tile1, size)[0]


def resize_map(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a float (h, w) map to (height, width)."""
    img = Image.fromarray(values.astype(np.float32), mode="F")
    return np.asarray(img.resize((width, height), Image.BILINEAR), dtype=np.float32)


def overlay(photo: np.ndarray, values: np.ndarray, alpha: float = 0.5,
            cmap: str = "jet") -> np.ndarray:
    """Blend a (h, w) map (normalised to its own range) over a (H, W, 3) uint8 photo."""
    h, w = photo.shape[:2]
    return heat_overlay(photo, normalise_channels(resize_map(values, h, w)[None])[0], alpha, cmap)


def colorbar(cmap: str = "jet", height: int = 256, width: int = 16) -> np.ndarray:
    """A vertical colour bar, (height, width, 3) uint8: 1 (high) at the top, 0 at the bottom."""
    ramp = np.linspace(1.0, 0.0, height, dtype=np.float32)[:, None].repeat(width, axis=1)
    return apply_colormap(ramp, cmap)


#: Pixels around and between the pictures of a panel (side_by_side).
PANEL_PAD = 6


def side_by_side(images: list[np.ndarray], pad: int = PANEL_PAD,
                 background: int = GRID_BACKGROUND) -> np.ndarray:
    """Equal-height uint8 RGB images in a row, ``pad`` pixels apart."""
    height = max(image.shape[0] for image in images)
    width = sum(image.shape[1] for image in images) + pad * (len(images) + 1)
    out = np.full((height + 2 * pad, width, 3), background, np.uint8)
    x = pad
    for image in images:
        out[pad:pad + image.shape[0], x:x + image.shape[1]] = image
        x += image.shape[1] + pad
    return out


def attribution_panel(photo: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5,
                      cmap: str = "jet") -> np.ndarray:
    """photo | heatmap | heatmap over photo, for a (S, S) heatmap in 0..1 over a (S, S, 3) photo."""
    h, w = photo.shape[:2]
    values = heatmap if heatmap.shape == (h, w) else resize_map(heatmap, h, w)
    return side_by_side([photo, apply_colormap(values, cmap), heat_overlay(photo, values, alpha, cmap)])


def heat_overlay(photo: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5,
                 cmap: str = "jet") -> np.ndarray:
    """A heatmap in 0..1 (not renormalised: an all-zero map stays cold) blended over the photo."""
    h, w = photo.shape[:2]
    values = heatmap if heatmap.shape == (h, w) else resize_map(heatmap, h, w)
    coloured = apply_colormap(values, cmap).astype(np.float32)
    out = photo.astype(np.float32) * (1 - alpha) + coloured * alpha
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def kernel_colours(kernel: np.ndarray) -> np.ndarray:
    """One (3, kh, kw) first-layer kernel as a (kh, kw, 3) uint8 picture: red, green and blue
    weights scaled symmetrically around grey by the kernel's largest absolute weight. A (1, kh, kw)
    kernel (a network that reads grey pictures) comes out grey."""
    k = kernel.astype(np.float32)
    if k.shape[0] == 1:
        k = np.repeat(k, 3, axis=0)
    scale = float(np.abs(k).max())
    rgb = 0.5 + 0.5 * (k / scale if scale > 0 else np.zeros_like(k))
    return (rgb.transpose(1, 2, 0) * 255).round().astype(np.uint8)


def filter_tiles(weight: np.ndarray, min_tile: int = 28, max_out: int = 64,
                 max_in: int = 32) -> np.ndarray:
    """A conv layer's kernels as a picture.

    - 3 input channels (the first layer): one RGB tile per filter, each scaled symmetrically
      around grey (0 -> mid grey) by its own largest absolute weight, so colour and polarity show.
    - 1 input channel (the first layer of a network that reads grey pictures, as LeNet; or a
      depthwise convolution): the same, one grey tile per filter (up to ``max_out``).
    - deeper layers: rows of grey tiles, one row per output filter (up to ``max_out``), one tile
      per input channel (up to ``max_in``), the same symmetric scaling per tile.
    """
    if weight.ndim != 4:
        raise ValueError(f"Expected conv weights (out, in, kh, kw), got shape {weight.shape}.")
    w = weight.astype(np.float32)
    if w.shape[1] == 3:
        return tile(_upscale(np.stack([kernel_colours(k) for k in w]), min_tile), pad=2)
    if w.shape[1] == 1:
        return tile(_upscale(np.stack([kernel_colours(k) for k in w[:max_out]]), min_tile), pad=2)
    w = w[:max_out, :max_in]
    out_n, in_n = w.shape[:2]
    flat = w.reshape(out_n * in_n, *w.shape[2:])
    scale = np.abs(flat).reshape(len(flat), -1).max(axis=1).reshape(-1, 1, 1)
    grey = 0.5 + 0.5 * np.divide(flat, scale, out=np.zeros_like(flat), where=scale > 0)
    tiles = np.repeat((grey * 255).round().astype(np.uint8)[..., None], 3, axis=3)
    return tile(_upscale(tiles, max(8, min_tile // 2)), columns=in_n, pad=1)


def filter_tiles_layout(shape: tuple[int, ...], min_tile: int = 28,
                        max_out: int = 64) -> tuple[int, int, int, int, int] | None:
    """Where the filters sit in :func:`filter_tiles`' picture of a first layer's weights of
    ``shape`` (3 or 1 input channels), to map a click to a filter: (count, columns, tile height,
    tile width, pad); None for a deeper layer's picture (rows of input channels)."""
    out_n, in_n, kh, kw = shape
    if in_n not in (1, 3):
        return None
    count = out_n if in_n == 3 else min(out_n, max_out)
    k = _scale(kh, kw, min_tile)
    return count, grid_shape(count)[1], kh * k, kw * k, 2


def tile_at(layout: tuple[int, int, int, int, int], x: int, y: int) -> int | None:
    """The index of the tile under picture pixel (x, y) of a :func:`tile` grid laid out as
    ``layout`` (count, columns, tile height, tile width, pad), or None between or past tiles."""
    count, columns, height, width, pad = layout
    col, dx = divmod(x - pad, width + pad)
    row, dy = divmod(y - pad, height + pad)
    if x < pad or y < pad or dx >= width or dy >= height or col >= columns:
        return None
    index = row * columns + col
    return index if index < count else None


def scatter_image(points: np.ndarray, colours: np.ndarray, width: int, height: int,
                  radius: float = 2.5, background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """A scatter plot as one uint8 (height, width, 3) picture: a disc of ``radius`` pixels per
    point ((N, 2) x, y in pixels) in its colour ((N, 3) uint8) with a darker rim; points drawn in
    order, so later ones lie on top."""
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = background
    if not len(points):
        return canvas
    reach = int(np.ceil(radius + 1))
    dy, dx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    distance = np.hypot(dy, dx).ravel()
    rim, fill = (distance <= radius + 0.8) & (distance > radius - 0.8), distance <= radius - 0.8
    centres = np.rint(points).astype(np.int64)
    colours = np.asarray(colours, np.uint8)
    for mask, shade in ((rim, (colours * 0.7).astype(np.uint8)), (fill, colours)):
        ys = centres[:, 1:2] + dy.ravel()[mask][None, :]
        xs = centres[:, 0:1] + dx.ravel()[mask][None, :]
        inside = (ys >= 0) & (ys < height) & (xs >= 0) & (xs < width)
        which = np.broadcast_to(np.arange(len(centres))[:, None], ys.shape)
        canvas[ys[inside], xs[inside]] = shade[which[inside]]
    return canvas


def framed_photo(photo: np.ndarray, box: tuple[float, float, float, float], max_side: int = 640,
                 dim: float = 0.35) -> tuple[np.ndarray, tuple[int, int, int, int], float]:
    """The photo shrunk to at most ``max_side`` px (never enlarged) with everything outside
    ``box`` (x, y, width, height in photo pixels: what the network sees) darkened to ``dim`` of
    its brightness. Returns the picture, the box in its pixels, and its pixels per photo pixel."""
    height, width = photo.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        picture = np.asarray(Image.fromarray(photo).resize(size, Image.BILINEAR, reducing_gap=2.0))
    else:
        picture = photo
    pic_h, pic_w = picture.shape[:2]
    x0, y0 = (max(0, min(n, round(v * scale))) for v, n in zip(box[:2], (pic_w, pic_h)))
    x1 = max(x0, min(pic_w, round((box[0] + box[2]) * scale)))
    y1 = max(y0, min(pic_h, round((box[1] + box[3]) * scale)))
    out = (picture.astype(np.float32) * dim + 0.5).astype(np.uint8)
    out[y0:y1, x0:x1] = picture[y0:y1, x0:x1]
    return out, (x0, y0, x1 - x0, y1 - y0), scale


def save_png(rgb: np.ndarray, path) -> None:
    """Write a uint8 RGB array as PNG, whatever the file's name ends with (a name with no or
    another extension would otherwise stop Pillow with a ValueError); OSError when the place
    cannot be written, or is a folder, a named pipe or a device."""
    from .files import refuse_unwritable

    refuse_unwritable(path)
    Image.fromarray(rgb).save(path, format="PNG")
