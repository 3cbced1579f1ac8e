"""The sanity check for heatmaps: the shown model randomised from the head down (in a copy), each
chosen method's map recomputed after every step, drawn as one grid."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .base import Job, Request, Service
from .model import Inspect, LoadModel


@dataclass(frozen=True)
class SanityCheck(Request):
    """Cascading randomisation of the latest inspection's image, for ``target`` (a label, an
    index, or None: the top class)."""

    about_shown_model = True
    methods: tuple[str, ...]
    target: int | str | None = None
    steps: int = 8
    seed: int = 0


SanityCheck.superseded_by = (LoadModel, Inspect, SanityCheck)


@dataclass
class SanityGrid:
    """The grid as drawn, and the numbers behind it (plain data)."""

    picture: np.ndarray  # uint8 RGB: what the panel shows and exports
    methods: list[str]
    method_labels: list[str]
    columns: list[str]  # "original", "+ classifier", ...
    correlations: list[list[float]]  # [method][column]; NaN where a map is empty
    label: str
    probability: float
    elapsed_s: float
    notes: list[str] = field(default_factory=list)


class SanityService(Service):
    """Runs the cascade on the engine thread; it stops before its next map when cancelled or made
    stale (a new image or model)."""

    handles = (SanityCheck,)

    def run(self, request: Request, job: Job) -> Any:
        """Randomise a copy of the shown model step by step and draw the grid."""
        from cnnscope.core.sanity import cascading_randomisation
        from cnnscope.core.sanity_figure import sanity_grid

        found = cascading_randomisation(self.state.model(), self.state.current(), request.methods,
                                        request.target, request.steps, progress=job.progress,
                                        should_cancel=job.cancelled, seed=request.seed)
        return SanityGrid(picture=sanity_grid(found), methods=found.methods,
                          method_labels=found.method_labels, columns=found.column_titles,
                          correlations=found.correlations.tolist(), label=found.target_label,
                          probability=found.probability, elapsed_s=found.elapsed_s, notes=found.notes)
