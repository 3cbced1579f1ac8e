"""A layer's maps drawn: the channel grid, one channel over the photo, the kernels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import Job, Request, Service


@dataclass(frozen=True)
class Grid(Request):
    """Every channel of a layer of the latest inspection, as one grid picture."""

    about_shown_model = True
    layer: str
    cmap: str = "viridis"
    sort: str = "none"


@dataclass(frozen=True)
class Channel(Request):
    """One channel of a layer over the photo (opacity 1: the channel alone)."""

    about_shown_model = True
    layer: str
    channel: int
    cmap: str = "viridis"
    alpha: float = 0.6


@dataclass(frozen=True)
class Filters(Request):
    """The first convolution's kernels, and ``layer``'s when it is another convolution."""

    about_shown_model = True
    layer: str | None = None


@dataclass
class GridResult:
    """A layer's channel grid and what the window needs to map a click to a channel."""

    layer: str
    image: np.ndarray
    order: list[int]  # channel shown in each tile
    rows: int
    cols: int
    tile: tuple[int, int]
    pad: int
    shape: tuple[int, ...]
    values: np.ndarray | None = None  # (C, h, w) float32: the activations, for the value under the pointer


@dataclass
class ChannelResult:
    """One channel overlaid on the input, and its statistics."""

    layer: str
    channel: int
    overlay: np.ndarray
    stats: dict[str, float]
    values: np.ndarray | None = None  # (h, w) float32: the channel, for the value under the pointer


@dataclass
class FiltersResult:
    """First-layer kernels, and the selected conv layer's when it is one."""

    first_name: str
    first: np.ndarray
    selected_name: str | None
    selected: np.ndarray | None
    first_layout: tuple | None = None  # core.render.filter_tiles_layout: a click -> a filter


class MapsService(Service):
    """Draws the latest inspection's maps and the model's kernels (no forward pass of its own)."""

    handles = (Grid, Filters, Channel)

    def run(self, request: Request, job: Job) -> Any:
        """Draw the grid, the channel or the kernels asked for."""
        if isinstance(request, Grid):
            return self._grid(request)
        if isinstance(request, Channel):
            return self._channel(request)
        return self._filters(request)

    def _grid(self, request: Grid) -> GridResult:
        from cnnscope.core import render

        maps = self.state.current().activation(request.layer)
        order = render.channel_order(maps, request.sort)
        rows, cols = render.grid_shape(len(order))
        return GridResult(request.layer, render.feature_grid(maps, request.cmap, request.sort),
                          order.tolist(), rows, cols, render.upscaled_size(maps.shape[1:]),
                          render.GRID_PAD, tuple(maps.shape), np.asarray(maps, dtype=np.float32))

    def _channel(self, request: Channel) -> ChannelResult:
        from cnnscope.core import render

        inspection = self.state.current()
        values = inspection.activation(request.layer)[request.channel]
        return ChannelResult(
            request.layer, request.channel,
            render.overlay(inspection.input_rgb, values, request.alpha, request.cmap),
            {"min": float(values.min()), "max": float(values.max()), "mean": float(values.mean())},
            np.asarray(values, dtype=np.float32))

    def _filters(self, request: Filters) -> FiltersResult:
        from cnnscope.core import render
        from cnnscope.core.layers import conv_kernels, conv_layers

        module = self.state.model().module
        first_name, first = conv_kernels(module)
        layer = request.layer
        selected_name = layer if layer in conv_layers(module) and layer != first_name else None
        selected = render.filter_tiles(conv_kernels(module, selected_name)[1]) if selected_name else None
        return FiltersResult(first_name, render.filter_tiles(first), selected_name, selected,
                             render.filter_tiles_layout(first.shape))
