"""Can we trust the heatmap on screen? Its deletion / insertion curves beside a random map's and a
centre blob's, and how it sits in a box the user drew. Both read the map the attribution service
computed last, so nothing is sent but what identifies it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .attribution import Attribute, AttributionService
from .base import Job, Request, Service
from .model import Inspect, LoadModel


@dataclass(frozen=True)
class CheckFaithfulness(Request):
    """The curves of the heatmap made by (method, target, layer), as ``Attribute.key`` names it,
    drawn ``width`` x ``height`` pixels."""

    about_shown_model = True
    key: tuple
    width: int = 760
    height: int = 240


CheckFaithfulness.superseded_by = (LoadModel, Inspect, Attribute, CheckFaithfulness)


@dataclass(frozen=True)
class ScoreBox(Request):
    """The pointing game and the share inside ``box`` (x0, y0, x1, y1 in the crop's pixels, x1
    and y1 excluded) of the heatmap made by ``key``."""

    about_shown_model = True
    key: tuple
    box: tuple[int, int, int, int]


@dataclass
class FaithfulnessResult:
    """The curves drawn, and the numbers behind them (plain data)."""

    key: tuple
    picture: np.ndarray  # uint8 RGB: both plots, areas in the legends
    areas: list[tuple[str, float, float]]  # (map, deletion area, insertion area), the method first
    verdict: str
    label: str
    passes: int  # inputs sent through the network for this check
    elapsed_ms: float
    notes: list[str] = field(default_factory=list)


@dataclass
class BoxResult:
    """The box's scores as numbers and as a sentence."""

    key: tuple
    box: tuple[int, int, int, int]
    hit: bool | None
    inside_share: float | None
    area_share: float
    sentence: str


class FaithfulnessService(Service):
    """Keeps the baselines' curves per image and class (they do not depend on the map), so a
    second method's check costs a third of the first."""

    handles = (CheckFaithfulness, ScoreBox)

    def __init__(self, state, maps: AttributionService) -> None:
        super().__init__(state)
        self._maps = maps
        self._baselines = None  # ((inspection serial, class index), core Baselines)

    def run(self, request: Request, job: Job) -> Any:
        """Check the map's curves, or score it in a box."""
        found = self._maps.computed((self.state.serial, *request.key))
        if found is None:
            from cnnscope.core.errors import ModelError

            raise ModelError("The heatmap this asks about is no longer the one shown; compute it again.")
        if isinstance(request, ScoreBox):
            from cnnscope.core.faithfulness import box_scores, photo_box

            scores = box_scores(found.heatmap, request.box,
                                photo_box(self.state.current(), found.heatmap.shape))
            return BoxResult(request.key, scores.box, scores.hit, scores.inside_share,
                             scores.area_share, scores.sentence())
        return self._check(request, found, job)

    def _check(self, request: CheckFaithfulness, found, job: Job) -> FaithfulnessResult:
        from cnnscope.core.attribution import METHODS
        from cnnscope.core.faithfulness import check
        from cnnscope.core.render_curves import curves_image

        cache = (self.state.serial, found.target)
        kept = self._baselines[1] if self._baselines and self._baselines[0] == cache else None
        result = check(self.state.model(), self.state.current(), found.heatmap, found.target,
                       METHODS[found.method].label, baselines=kept, progress=job.progress,
                       should_cancel=job.cancelled)
        self._baselines = (cache, result.baselines)
        return FaithfulnessResult(
            key=request.key, picture=curves_image(result, request.width, request.height),
            areas=[(c.name, c.deletion.area, c.insertion.area) for c in result.every_map()],
            verdict=result.verdict(), label=result.label, passes=result.passes,
            elapsed_ms=result.elapsed_ms, notes=result.notes)
