"""A dataset drawn as a map: one dot per image where its pooled features land in 2-D, coloured by
its class folder, with a legend. Hovering a dot names the image (and shows its thumbnail, which
the panel supplies); clicking one opens it. The dots are one picture (core.render.scatter_image),
painted with one call: thousands of QPainter calls per repaint would be slow (and PySide6 6.12.0
dropped a reference to None on each)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from ...core.render import scatter_image  # numpy only: no torch on the window side
from ..qimage import to_qimage

# matplotlib's tab10, then tab10 darker: distinct classes, readable on white and on a projector
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf", "#0f3c5a", "#804007", "#165016", "#6b1414", "#4a345e", "#462b25")
MARGIN = 24
LEGEND_WIDTH = 150
NARROW = 420  # narrower than this, the legend goes under the plot
HIT_PIXELS = 8  # how near a dot the pointer must be to pick it


class DatasetMapView(QWidget):
    """See the module docstring. ``hovered(index)`` (-1 when none), ``opened(path)``."""

    hovered = Signal(int)
    opened = Signal(str)

    def __init__(self, title: str = "", parent=None) -> None:
        super().__init__(parent)
        self.title = title
        self.coords = np.zeros((0, 2), np.float32)
        self.classes: list[int] = []
        self.names: list[str] = []
        self.paths: list[str] = []
        self.captions: list[str] = []
        self.message = "No map yet."
        self.hover = -1
        self.thumbnail: QImage | None = None
        self.dot = 5
        self._dots_key: tuple | None = None
        self._dots_image: QImage | None = None
        self.setMouseTracking(True)
        self.setMinimumSize(240, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    # --- what it shows ----------------------------------------------------------------------------

    def set_map(self, coords: np.ndarray, classes: list[int], names: list[str], paths: list[str],
                captions: list[str] | None = None) -> None:
        """Show ``coords`` (N, 2), each dot coloured by ``classes`` (index into ``names``)."""
        self.coords, self.classes, self.names, self.paths = coords, list(classes), list(names), list(paths)
        self.captions = list(captions or [""] * len(paths))
        self.hover, self.thumbnail, self.message = -1, None, ""
        self.update()

    def clear(self, message: str) -> None:
        """No map: ``message`` says why."""
        self.coords, self.classes, self.paths, self.captions = np.zeros((0, 2), np.float32), [], [], []
        self.hover, self.thumbnail, self.message = -1, None, message
        self.update()

    def set_thumbnail(self, path: str, rgb: np.ndarray) -> None:
        """The hovered image's thumbnail, when it arrives (ignored if the pointer moved on)."""
        if 0 <= self.hover < len(self.paths) and self.paths[self.hover] == path:
            self.thumbnail = to_qimage(rgb)
            self.update()

    @property
    def shown_count(self) -> int:
        """How many images the map shows."""
        return len(self.paths)

    # --- geometry -----------------------------------------------------------------------------------

    def _legend_below(self) -> bool:
        """A narrow map (the Transfer tab's two side by side) takes its legend under the plot."""
        return self.width() < NARROW

    def _plot_rect(self) -> QRectF:
        """The square the dots are drawn in, as large as the widget allows beside (or above) the
        legend, centred."""
        top = MARGIN + (18 if self.title else 0)
        below = self._legend_below()
        legend_w = 0 if below or not self.names else LEGEND_WIDTH
        legend_h = 18 * ((min(len(self.names), 24) + 1) // 2) + 6 if below and self.names else 0
        width = max(10, self.width() - 2 * MARGIN - legend_w)
        height = max(10, self.height() - top - MARGIN - legend_h)
        side = min(width, height)
        return QRectF(MARGIN + (width - side) / 2, top + (height - side) / 2, side, side)

    def _pixels(self) -> np.ndarray:
        """Each dot's (x, y) in widget pixels (the data's range fitted into the plot, square)."""
        if not len(self.coords):
            return np.zeros((0, 2))
        inset = self.dot + 2  # whole dots at the edges, inside the frame
        rect = self._plot_rect().adjusted(inset, inset, -inset, -inset)
        low, high = self.coords.min(axis=0), self.coords.max(axis=0)
        span = float(max((high - low).max(), 1e-9))
        scale = min(rect.width(), rect.height()) / span
        centre = (low + high) / 2
        x = rect.center().x() + (self.coords[:, 0] - centre[0]) * scale
        y = rect.center().y() - (self.coords[:, 1] - centre[1]) * scale
        return np.stack([x, y], axis=1)

    def index_at(self, x: float, y: float) -> int:
        """The dot under (x, y), or -1."""
        pixels = self._pixels()
        if not len(pixels):
            return -1
        distance = np.hypot(pixels[:, 0] - x, pixels[:, 1] - y)
        nearest = int(distance.argmin())
        return nearest if distance[nearest] <= HIT_PIXELS else -1

    def _dots(self, rect: QRectF) -> QImage:
        """Every dot drawn into one picture of the plot's size (core.render.scatter_image: one
        draw call, whatever the number of images), kept until the map or the size changes."""
        key = (id(self.coords), int(rect.width()), int(rect.height()), self.dot)
        if self._dots_key != key:
            base = self.palette().base().color()
            pixels = self._pixels() - np.array([rect.left(), rect.top()])
            colours = np.array([QColor(PALETTE[k % len(PALETTE)]).getRgb()[:3] for k in self.classes], np.uint8)
            picture = scatter_image(pixels, colours.reshape(-1, 3), int(rect.width()), int(rect.height()),
                                    self.dot / 2, (base.red(), base.green(), base.blue()))
            self._dots_image, self._dots_key = to_qimage(picture), key
        return self._dots_image

    # --- Qt --------------------------------------------------------------------------------------

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt naming)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        text = self.palette().text().color()
        painter.setPen(text)
        if self.title:
            painter.drawText(QRectF(MARGIN, 4, self.width() - 2 * MARGIN, 18), Qt.AlignmentFlag.AlignLeft,
                             self.title)
        if not len(self.coords):
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
            return
        rect = self._plot_rect()
        painter.drawImage(rect.topLeft(), self._dots(rect))
        painter.setPen(QPen(self.palette().mid().color()))
        painter.drawRect(rect)
        pixels = self._pixels()
        self._paint_legend(painter, text)
        if 0 <= self.hover < len(pixels):
            self._paint_hover(painter, pixels[self.hover], text)

    def _paint_legend(self, painter: QPainter, text: QColor) -> None:
        rect = self._plot_rect()
        below = self._legend_below()
        column = max(60.0, (self.width() - 2 * MARGIN) / 2)
        x0, y0 = (MARGIN, rect.bottom() + 8) if below else (rect.right() + 14, rect.top())
        x, y = x0, y0
        for k, name in enumerate(self.names[:24]):
            if below:
                x, y = x0 + (k % 2) * column, y0 + (k // 2) * 18
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(PALETTE[k % len(PALETTE)]))
            painter.drawEllipse(QPointF(x + 5, y + 8), 5, 5)
            painter.setPen(text)
            painter.drawText(QRectF(x + 16, y, (column if below else LEGEND_WIDTH) - 20, 16),
                             Qt.AlignmentFlag.AlignVCenter, name[:18])
            if not below:
                y += 18
        if below:
            x, y = x0, y0 + ((min(len(self.names), 24) + 1) // 2) * 18
        if len(self.names) > 24:
            painter.drawText(QRectF(x, y, 140, 16), Qt.AlignmentFlag.AlignVCenter,
                             f"... {len(self.names) - 24} more")

    def _paint_hover(self, painter: QPainter, at: np.ndarray, text: QColor) -> None:
        x, y = float(at[0]), float(at[1])
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(text, 2))
        painter.drawEllipse(QPointF(x, y), self.dot, self.dot)
        label = self.paths[self.hover].rsplit("/", 1)[-1]
        caption = self.captions[self.hover]
        lines = [label] + ([caption] if caption else [])
        thumb = self.thumbnail
        width = max(160, thumb.width() + 8 if thumb is not None else 0)
        height = 18 * len(lines) + (thumb.height() + 6 if thumb is not None else 0) + 6
        left = min(x + 12, self.width() - width - 4)
        top = min(y + 12, self.height() - height - 4)
        box = QRectF(left, top, width, height)
        painter.setPen(QPen(self.palette().mid().color()))
        painter.setBrush(self.palette().toolTipBase())
        painter.drawRect(box)
        if thumb is not None:
            painter.drawImage(QPointF(left + 4, top + 4), thumb)
        painter.setPen(self.palette().toolTipText().color())
        line_top = top + (thumb.height() + 8 if thumb is not None else 4)
        for line in lines:
            painter.drawText(QRectF(left + 4, line_top, width - 8, 18), Qt.AlignmentFlag.AlignVCenter,
                             line[:40])
            line_top += 18

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        index = self.index_at(event.position().x(), event.position().y())
        if index != self.hover:
            self.hover, self.thumbnail = index, None
            self.setCursor(Qt.CursorShape.PointingHandCursor if index >= 0 else Qt.CursorShape.ArrowCursor)
            self.hovered.emit(index)
            self.update()

    def leaveEvent(self, _event) -> None:  # noqa: N802
        if self.hover != -1:
            self.hover, self.thumbnail = -1, None
            self.hovered.emit(-1)
            self.update()

    def mousePressEvent(self, event) -> None:  # noqa: N802
        index = self.index_at(event.position().x(), event.position().y())
        if index >= 0 and event.button() == Qt.MouseButton.LeftButton:
            self.opened.emit(self.paths[index])
