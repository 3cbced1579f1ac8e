"""How one value of a feature map was computed, and which patch of the photo it sees.

The numbers come from core.arithmetic (the model's own weights and the inspection's own maps), the
patch from core.summary's receptive-field geometry; nothing here runs the network again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import Job, Request, Service


@dataclass(frozen=True)
class MapPosition:
    """One value of one feature map: what a click on a map chooses (plain data, for the session)."""

    layer: str
    channel: int
    y: int
    x: int


@dataclass(frozen=True)
class FieldBox:
    """The patch of the photo (the crop the network saw) one map position sees, in its pixels:
    (x, y) of the top-left corner and the size, as ImageView.set_highlight takes it."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class ExplainPosition(Request):
    """The arithmetic behind one map value, and its receptive field on the photo."""

    about_shown_model = True
    position: MapPosition


@dataclass
class PositionExplained:
    """What the arithmetic view shows for one position."""

    position: MapPosition
    map_shape: tuple[int, int, int]  # (C, H, W) of the layer
    box: FieldBox | None  # None when the model does not trace (no geometry)
    field_size: tuple[int, int] | None  # (rows, cols) of the receptive field before clipping
    arithmetic: Any  # core.arithmetic ConvValue | PoolValue | ActivationValue, or None
    note: str  # why there is no arithmetic for this kind of layer ("" when there is)


class ArithmeticService(Service):
    """Explains map positions of the latest inspection."""

    handles = (ExplainPosition,)

    def __init__(self, state) -> None:
        super().__init__(state)
        self._geometry: tuple[int, dict] | None = None  # (state serial, field_geometry)

    def run(self, request: Request, job: Job) -> Any:
        """Explain one position."""
        from cnnscope.core.arithmetic import explain_value
        from cnnscope.core.errors import ModelError
        from cnnscope.core.summary import field_geometry

        assert isinstance(request, ExplainPosition)
        position, loaded, inspection = request.position, self.state.model(), self.state.current()
        shape = tuple(inspection.activation(position.layer).shape)
        if self._geometry is None or self._geometry[0] != self.state.serial:
            self._geometry = (self.state.serial, field_geometry(loaded, inspection))
        geometry = self._geometry[1].get(position.layer)
        box = size = None
        if geometry is not None:
            side = inspection.input_rgb.shape[0]
            top, left, bottom, right = geometry.box(position.y, position.x, side)
            box = FieldBox(left, top, right - left + 1, bottom - top + 1)
            size = (geometry.rows.size, geometry.cols.size)
        try:
            found, note = explain_value(loaded, inspection, position.layer, position.channel,
                                        position.y, position.x), ""
        except ModelError as exc:
            found, note = None, str(exc)
        return PositionExplained(position, shape, box, size, found, note)
