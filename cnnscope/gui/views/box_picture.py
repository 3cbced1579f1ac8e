"""Two small picture widgets for the heatmap tab: a zoomable picture a box can be dragged on, and a
picture that shrinks with its pane (the faithfulness curves)."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy

from ..qimage import to_pixmap
from .image_view import ImageView

MIN_DRAG = 3  # picture pixels: a shorter drag is a click


class BoxPicture(ImageView):
    """An ImageView where a drag draws a box: ``drag_moved`` while the button is held and
    ``drag_finished`` on release, both (start x, start y, x, y) in picture pixels (the second
    point may lie outside the picture). A press and release without a drag is a ``clicked``."""

    drag_moved = Signal(int, int, int, int)
    drag_finished = Signal(int, int, int, int)

    def __init__(self, placeholder: str = "", parent=None) -> None:
        super().__init__(placeholder, parent)
        self._label.mouseReleaseEvent = self._on_release
        self._start: tuple[int, int] | None = None
        self._dragging = False
        self._boxes: list[tuple[int, int, int, int]] = []  # x, y, w, h in picture pixels

    def set_boxes(self, boxes: list[tuple[int, int, int, int]]) -> None:
        """Outline each (x, y, w, h) in picture pixels, dashed (an empty list: none)."""
        self._boxes = list(boxes)
        self._refresh()

    def boxes(self) -> list[tuple[int, int, int, int]]:
        """The boxes outlined."""
        return list(self._boxes)

    def clear(self, placeholder: str = "") -> None:
        """No picture and no boxes."""
        self._boxes = []
        super().clear(placeholder)

    def _point(self, event) -> tuple[int, int] | None:
        """The picture pixel under a mouse event, even outside the picture (None with no picture)."""
        if self._array is None or self._label.pixmap() is None:
            return None
        shown = self._label.pixmap().size()
        offset = QPoint((self._label.width() - shown.width()) // 2,
                        (self._label.height() - shown.height()) // 2)
        pos = event.position().toPoint() - offset
        return math.floor(pos.x() / self.zoom), math.floor(pos.y() / self.zoom)

    def _on_press(self, event) -> None:
        inside = self._picture_point(event)
        self._start = inside if event.button() == Qt.MouseButton.LeftButton else None
        self._dragging = False
        if self._start is None and inside is not None:
            self.clicked.emit(*inside)  # another button: a plain click, as before

    def _on_move(self, event) -> None:
        super()._on_move(event)
        point = self._point(event) if self._start is not None else None
        if point is None or not event.buttons() & Qt.MouseButton.LeftButton:
            return
        x0, y0 = self._start
        if self._dragging or max(abs(point[0] - x0), abs(point[1] - y0)) >= MIN_DRAG:
            self._dragging = True
            self.drag_moved.emit(x0, y0, *point)

    def _on_release(self, event) -> None:
        start, dragging = self._start, self._dragging
        self._start, self._dragging = None, False
        if start is None:
            return
        point = self._point(event)
        if dragging and point is not None:
            self.drag_finished.emit(*start, *point)
        else:
            self.clicked.emit(*start)

    def _refresh(self) -> None:
        super()._refresh()
        if not self._boxes or self._pixmap is None:
            return
        shown = self._label.pixmap()
        painter = QPainter(shown)
        for colour, style in (("#000000", Qt.PenStyle.SolidLine), ("#ffffff", Qt.PenStyle.DashLine)):
            painter.setPen(QPen(QColor(colour), 2, style))  # white dashes on black: seen on any colour
            for x, y, w, h in self._boxes:
                painter.drawRect(QRect(round(x * self.zoom), round(y * self.zoom),
                                       max(1, round(w * self.zoom) - 1), max(1, round(h * self.zoom) - 1)))
        painter.end()
        self._label.setPixmap(shown)


class FittedPicture(QLabel):
    """A picture shown whole, shrunk smoothly to the label's width (never enlarged)."""

    def __init__(self, placeholder: str = "", parent=None) -> None:
        super().__init__(placeholder, parent)
        self._pixmap: QPixmap | None = None
        self._array: np.ndarray | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(120)

    @property
    def array(self) -> np.ndarray | None:
        """The picture as given."""
        return self._array

    def set_image(self, rgb: np.ndarray | None, placeholder: str = "") -> None:
        """Show ``rgb`` (uint8), or ``placeholder`` text when it is None."""
        self._array = rgb
        self._pixmap = None if rgb is None else to_pixmap(rgb)
        if self._pixmap is None:
            self.setPixmap(QPixmap())
            self.setText(placeholder)
        self._fit()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt naming)
        if self._pixmap is None:
            return super().sizeHint()
        return self._pixmap.size()

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt naming)
        if self._pixmap is None:
            return super().heightForWidth(width)
        return round(self._pixmap.height() * min(1.0, width / self._pixmap.width()))

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt naming)
        return self._pixmap is not None

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self._pixmap is None:
            return
        width = min(self._pixmap.width(), max(1, self.width()))
        self.setPixmap(self._pixmap.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation))
