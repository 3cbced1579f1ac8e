"""The arithmetic of one map value as rich text, for the Arithmetic tab and presentation mode.

Formatting only: every number and picture comes from the engine (services.arithmetic
PositionExplained). Pictures go into the text document as named resources, enlarged with sharp
pixels, so each kernel tap is a visible square beside its number."""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QTextDocument

from ..qimage import to_qimage

PICTURE_PX = 96  # the side a patch or kernel picture is drawn at (before presentation scaling)


def number(value: float, digits: int = 3) -> str:
    """A signed number, short: +0.123, or +1.23e+04 for large ones."""
    return f"{value:+.{digits}f}" if abs(value) < 1000 else f"{value:+.3g}"


def _table(values: np.ndarray, outside: np.ndarray, bold: tuple[int, int] | None = None) -> str:
    rows = []
    for i, row in enumerate(values):
        cells = []
        for j, value in enumerate(row):
            style = "color:#999;" if outside[i, j] else ""
            text = "pad" if outside[i, j] and not np.isfinite(value) else number(float(value), 2)
            if bold == (i, j):
                text, style = f"<b>{text}</b>", style + "background:#ffe08a;"
            cells.append(f"<td style='{style}padding:1px 3px;text-align:right;white-space:nowrap'>"
                         f"{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "<table style='font-family:monospace' cellspacing='0' border='1'>" + "".join(rows) + "</table>"


def _img(name: str, scale: float) -> str:
    side = round(PICTURE_PX * scale)
    return f"<img src='cnnscope:{name}' width='{side}' height='{side}'>"


def _beside(table: str, picture: str) -> str:
    return (f"<table cellspacing='0'><tr><td>{table}</td><td style='padding-left:10px'>{picture}"
            "</td></tr></table>")


def load_pictures(document: QTextDocument, shown, scale: float = 1.0) -> None:
    """Register the engine's pictures of ``shown`` in ``document`` under the names the HTML uses,
    enlarged with sharp pixels."""
    side = round(PICTURE_PX * scale)
    named = [(f"patch{i}", p) for i, (p, _k) in enumerate(shown.pictures)]
    named += [(f"kernel{i}", k) for i, (_p, k) in enumerate(shown.pictures)]
    if shown.colour_patch is not None:
        named += [("colour_patch", shown.colour_patch), ("colour_kernel", shown.colour_kernel)]
    for name, picture in named:
        image = to_qimage(picture).scaled(side, side, Qt.AspectRatioMode.IgnoreAspectRatio,
                                          Qt.TransformationMode.FastTransformation)
        document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(f"cnnscope:{name}"), image)


def position_html(shown, scale: float = 1.0) -> str:
    """The whole explanation of one position (a services.arithmetic.PositionExplained)."""
    found = shown.arithmetic
    if found is None:
        return f"<p>{html.escape(shown.note)}</p>"
    if hasattr(found, "kernel"):
        return _conv_html(shown, scale)
    if hasattr(found, "winner"):
        return _pool_html(found)
    return _relu_html(found)


def _conv_html(shown, scale: float) -> str:
    found = shown.arithmetic
    c, kh, kw = found.kernel.shape
    w = found.window
    parts = [f"<p>A {kh}x{kw} convolution over {len(found.in_channels)} input channel"
             f"{'s' if len(found.in_channels) != 1 else ''} (stride {w.stride[0]}, padding "
             f"{w.padding[0]}{', dilation ' + str(w.dilation[0]) if w.dilation[0] > 1 else ''}). "
             "For each input channel: the patch under the kernel times the kernel, summed "
             "(grey: the padding, zeros; pictures: blue below 0, red above).</p>"]
    parts.append(f"<p>sum over the {c} channels {number(found.channels_sum)} + bias "
                 f"{number(found.bias)} = <b>{number(found.value)}</b> (the map holds "
                 f"{number(found.recorded)})</p>")
    if shown.colour_patch is not None:
        parts.append("<p>The patch of the photo, and the kernel in red, green and blue:</p>"
                     f"<p>{_img('colour_patch', scale)} &nbsp;&times;&nbsp; {_img('colour_kernel', scale)}</p>")
    for i in range(len(shown.pictures)):
        parts.append(
            f"<p><b>input channel {found.in_channels[i]}</b>: sum = {number(found.per_channel[i])}</p>"
            + "<p>the patch</p>" + _beside(_table(found.patch[i], found.outside), _img(f"patch{i}", scale))
            + "<p>times the kernel</p>"
            + _beside(_table(found.kernel[i], np.zeros_like(found.outside)), _img(f"kernel{i}", scale)))
    drawn = len(shown.pictures)
    if c > drawn:
        rest = ", ".join(number(v) for v in found.per_channel[drawn:drawn + 61])
        more = " ..." if c > drawn + 61 else ""
        parts.append(f"<p>the other {c - drawn} channels' sums: {rest}{more}</p>")
    return "".join(parts)


def _pool_html(found) -> str:
    kh, kw = found.values.shape
    if found.kind == "max":
        rule = f"the largest of the {kh}x{kw} window wins (highlighted)"
    else:
        rule = f"the mean of the {kh}x{kw} window"
    return (f"<p>{found.kind} pooling: {rule}.</p>" + _table(found.values, found.outside, found.winner)
            + f"<p>= <b>{number(found.value)}</b> (the map holds {number(found.recorded)})</p>")


def _relu_html(found) -> str:
    what = ("negative, so the ReLU sets it to 0" if found.clipped and found.before < 0 else
            "above 6, so ReLU6 caps it" if found.clipped else "positive, so it passes unchanged")
    return (f"<p>ReLU: the value before it was {number(found.before)}: {what}.</p>"
            f"<p>= <b>{number(found.value)}</b> (the map holds {number(found.recorded)})</p>")
