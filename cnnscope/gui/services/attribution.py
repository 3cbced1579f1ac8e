"""Where the network looked: heatmaps for one class, computed once and redrawn on a style change."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .base import Job, Request, Service
from .model import Inspect, LoadModel


@dataclass(frozen=True)
class Attribute(Request):
    """A heatmap of the latest inspection for ``target`` (a label, an index, or None: the top
    class), drawn with ``cmap`` at opacity ``alpha``."""

    about_shown_model = True
    method: str
    target: int | str | None = None
    layer: str | None = None
    cmap: str = "jet"
    alpha: float = 0.5

    @property
    def key(self) -> tuple:
        """What the heatmap depends on (not its colours)."""
        return (self.method, self.target, self.layer)


Attribute.superseded_by = (LoadModel, Inspect, Attribute)


@dataclass(frozen=True)
class Restyle(Attribute):
    """The last heatmap drawn again with other colours; nothing is recomputed."""


@dataclass
class AttributionResult:
    """A heatmap for one class, drawn: photo | heatmap | overlay, and the overlay alone."""

    method: str
    method_label: str
    target: int
    label: str
    probability: float
    layer: str | None
    panel: np.ndarray
    overlay: np.ndarray
    elapsed_ms: float
    notes: list[str] = field(default_factory=list)
    heatmap: np.ndarray | None = None  # (S, S) float32 in 0..1 over the photo: the value under the pointer
    colorbar: np.ndarray | None = None  # the colormap's scale, 1 at the top
    panel_pad: int = 6  # pixels around and between photo | heatmap | overlay


class AttributionService(Service):
    """Owns the last heatmap computed (restyling reuses it); a slow method stops at its next batch
    when cancelled or made stale."""

    handles = (Attribute, Restyle)

    def __init__(self, state) -> None:
        super().__init__(state)
        self._last = None  # ((inspection serial, method, target, layer), core Attribution)

    def run(self, request: Request, job: Job) -> Any:
        """Compute (or for a restyle, reuse) the heatmap, then draw it."""
        key = (self.state.serial, *request.key)
        if self._last is None or self._last[0] != key:
            if isinstance(request, Restyle):
                return None  # nothing to restyle: the heatmap asked for is not computed yet
            from cnnscope.core.attribution import attribute

            self._last = None
            found = attribute(self.state.model(), self.state.current(), request.method,
                              request.target, request.layer, job.progress, job.cancelled)
            self._last = (key, found)
        return self._draw(self._last[1], request.cmap, request.alpha)

    def computed(self, key: tuple):
        """The core Attribution computed last, if it answers ``key`` (inspection serial, method,
        target, layer); else None."""
        return self._last[1] if self._last is not None and self._last[0] == key else None

    def _draw(self, found, cmap: str, alpha: float) -> AttributionResult:
        from cnnscope.core import render
        from cnnscope.core.attribution import METHODS

        photo = self.state.inspection.input_rgb
        return AttributionResult(
            method=found.method, method_label=METHODS[found.method].label, target=found.target,
            label=found.target_label, probability=found.probability, layer=found.layer,
            panel=render.attribution_panel(photo, found.heatmap, alpha, cmap),
            overlay=render.heat_overlay(photo, found.heatmap, alpha, cmap),
            elapsed_ms=found.elapsed_ms, notes=found.notes,
            heatmap=np.asarray(found.heatmap, dtype=np.float32),
            colorbar=render.colorbar(cmap), panel_pad=render.PANEL_PAD)
