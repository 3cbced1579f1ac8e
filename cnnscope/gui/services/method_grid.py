"""Every fast heatmap method for one class at once: the grid, drawn as one picture."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import Job, Request, Service
from .model import Inspect, LoadModel


@dataclass(frozen=True)
class EveryMethod(Request):
    """Every fast method's heatmap of the latest inspection for ``target`` (a label, an index, or
    None: the top class) at ``layer`` (None: the model's CAM layer), drawn with ``cmap``/``alpha``."""

    about_shown_model = True
    target: int | str | None = None
    layer: str | None = None
    cmap: str = "jet"
    alpha: float = 0.5


EveryMethod.superseded_by = (LoadModel, Inspect, EveryMethod)


@dataclass
class MethodGridResult:
    """The grid picture and what it shows."""

    image: np.ndarray  # (H, W, 3) uint8
    label: str
    probability: float
    methods: int  # maps drawn
    refused: dict[str, str]  # method label -> why it was left out
    elapsed_ms: float


class MethodGridService(Service):
    """Computes the grid (cancel and a newer request stop it between methods) and keeps the last
    one: a new colormap or opacity only draws it again."""

    handles = (EveryMethod,)

    def __init__(self, state) -> None:
        super().__init__(state)
        self._last = None  # ((inspection serial, target, layer), core MethodGrid)

    def run(self, request: Request, job: Job) -> Any:
        """Every fast method's map (or the last ones, for the same question), then the picture."""
        import time

        from cnnscope.core.attribution import METHODS
        from cnnscope.core.method_grid import every_method, grid_figure

        start = time.perf_counter()
        inspection = self.state.current()
        key = (self.state.serial, request.target, request.layer)
        if self._last is None or self._last[0] != key:
            self._last = None
            grid = every_method(self.state.model(), inspection, request.target, request.layer,
                                progress=job.progress, should_cancel=job.cancelled)
            self._last = (key, grid)
        grid = self._last[1]
        image = grid_figure(inspection.input_rgb, grid, request.cmap, request.alpha)
        return MethodGridResult(image, grid.label, grid.probability, len(grid.maps),
                                {METHODS[k].label: why for k, why in grid.refused.items()},
                                (time.perf_counter() - start) * 1000)
