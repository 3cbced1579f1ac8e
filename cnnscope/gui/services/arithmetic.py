"""How one value of a feature map was computed, and which patch of the photo it sees.

The numbers come from core.arithmetic (the model's own weights and the inspection's own maps), the
patch from core.summary's receptive-field geometry; nothing here runs the network again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    # A convolution's numbers as pictures, per input channel drawn number by number: (patch,
    # kernel), (kh, kw, 3) uint8, blue < 0 < red, each scaled by its own largest value.
    pictures: list = field(default_factory=list)
    # The first convolution (it reads the photo): the patch as the photo's own colours, padding
    # grey, and the kernel as the Filters tab draws it; None for other layers.
    colour_patch: Any = None
    colour_kernel: Any = None


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
            size = (side, side) if geometry.whole else (geometry.rows.size, geometry.cols.size)
        try:
            found, note = explain_value(loaded, inspection, position.layer, position.channel,
                                        position.y, position.x), ""
        except ModelError as exc:
            found, note = None, str(exc)
        shown = PositionExplained(position, shape, box, size, found, note)
        if found is not None and hasattr(found, "kernel"):
            _add_pictures(shown, loaded, inspection)
        return shown


SHOWN_CHANNELS = 3  # input channels the arithmetic view draws number by number


def _add_pictures(shown: PositionExplained, loaded, inspection) -> None:
    """The patch and kernel pictures of a convolution's value (see PositionExplained)."""
    import numpy as np

    from cnnscope.core.kernels import signed_picture
    from cnnscope.core.layers import conv_layers
    from cnnscope.core.render import kernel_colours

    found = shown.arithmetic
    for i in range(min(len(found.kernel), SHOWN_CHANNELS)):
        patch = np.where(found.outside, 0.0, found.patch[i])
        shown.pictures.append((signed_picture(patch)[0], signed_picture(found.kernel[i])[0]))
    first = conv_layers(loaded.module)[:1]
    if first != [found.layer] or len(found.kernel) != 3:
        return
    w, photo = found.window, inspection.input_rgb
    kh, kw = found.kernel.shape[1:]
    rows = w.top + np.arange(kh) * w.dilation[0]
    cols = w.left + np.arange(kw) * w.dilation[1]
    inside = ((rows >= 0) & (rows < photo.shape[0]))[:, None] & ((cols >= 0) & (cols < photo.shape[1]))[None, :]
    patch = np.full((kh, kw, 3), 128, np.uint8)
    patch[inside] = photo[np.clip(rows, 0, photo.shape[0] - 1)][:, np.clip(cols, 0, photo.shape[1] - 1)][inside]
    shown.colour_patch = patch
    shown.colour_kernel = kernel_colours(found.kernel)
