"""A zoomable picture that reports clicks in picture coordinates."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QLabel, QScrollArea

from ..qimage import to_pixmap


MIN_OUTLINE = 12  # screen pixels: a highlight smaller than this is drawn this large, centred


class ImageView(QScrollArea):
    """Shows one uint8 picture scaled by ``zoom`` (nearest neighbour, so pixels stay crisp).

    It starts fitted to its pane and refits as the pane resizes, until the user zooms (buttons,
    Ctrl+wheel); Fit returns to fitting. A click emits ``clicked(x, y)`` in the picture's pixels."""

    clicked = Signal(int, int)
    hovered = Signal(int, int)  # picture pixel under the pointer; (-1, -1) when it leaves
    ZOOMS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)

    def __init__(self, placeholder: str = "", parent=None, smooth: bool = False) -> None:
        super().__init__(parent)
        self._smooth = smooth  # a photo: shrunk smoothly (enlarged, its pixels stay crisp)
        self._label = QLabel(placeholder)
        self._label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._label.mousePressEvent = self._on_press
        self._label.mouseMoveEvent = self._on_move
        self._label.leaveEvent = lambda _event: self.hovered.emit(-1, -1)
        self._label.setMouseTracking(True)
        self._highlight: tuple[int, int, int, int] | None = None  # x, y, w, h in picture pixels
        self._frame: tuple[int, int, int, int] | None = None  # likewise: a region, not a patch
        self._labels: list[tuple[int, int, str]] = []  # (x, y, text) in picture pixels
        self.setWidget(self._label)
        self.setWidgetResizable(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._pixmap: QPixmap | None = None
        self._array: np.ndarray | None = None
        self.zoom = 1.0
        self.fitting = True

    @property
    def array(self) -> np.ndarray | None:
        """The picture shown, as given (what exports write)."""
        return self._array

    def set_image(self, rgb: np.ndarray) -> None:
        """Show a new picture at the current zoom."""
        self._array = rgb
        self._pixmap = to_pixmap(rgb)
        self.fit() if self.fitting else self._refresh()

    def set_labels(self, labels: list[tuple[int, int, str]]) -> None:
        """Write each text at its (x, y) picture pixel over the picture (an empty list: none)."""
        self._labels = list(labels)
        self._refresh()

    def labels(self) -> list[tuple[int, int, str]]:
        """The texts written over the picture."""
        return list(self._labels)

    def set_highlight(self, rect: tuple[int, int, int, int] | None) -> None:
        """Outline ``rect`` (x, y, w, h in picture pixels) over the picture, or nothing."""
        self._highlight = rect
        self._refresh()

    def set_frame(self, rect: tuple[int, int, int, int] | None) -> None:
        """Frame ``rect`` (x, y, w, h in picture pixels) with a thin light line, or nothing: a
        region of the picture (where a crop lies), drawn under the highlight."""
        self._frame = rect
        self._refresh()

    @property
    def frame(self) -> tuple[int, int, int, int] | None:
        """The framed rectangle, or None."""
        return self._frame

    def clear(self, placeholder: str = "") -> None:
        """Show no picture, only ``placeholder`` text."""
        self._array, self._pixmap, self._highlight, self._labels = None, None, None, []
        self._frame = None
        self._label.setPixmap(QPixmap())
        self._label.setText(placeholder)

    def set_zoom(self, zoom: float) -> None:
        """Scale the picture by ``zoom`` (the user's choice: no more fitting)."""
        self.fitting = False
        self._apply_zoom(max(self.ZOOMS[0], min(self.ZOOMS[-1], zoom)))

    def _apply_zoom(self, zoom: float) -> None:
        self.zoom = zoom
        self._refresh()

    def zoom_in(self) -> None:
        """Next zoom step up."""
        self.set_zoom(next((z for z in self.ZOOMS if z > self.zoom + 1e-6), self.ZOOMS[-1]))

    def zoom_out(self) -> None:
        """Next zoom step down."""
        self.set_zoom(next((z for z in reversed(self.ZOOMS) if z < self.zoom - 1e-6), self.ZOOMS[0]))

    def fit(self) -> None:
        """Show the whole picture as large as the pane allows, now and as the pane resizes."""
        self.fitting = True
        if self._array is not None:
            h, w = self._array.shape[:2]
            area = self.viewport().size()
            self._apply_zoom(max(0.05, min(area.width() / w, area.height() / h) * 0.98))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        if self.fitting:
            self.fit()

    def _refresh(self) -> None:
        if self._pixmap is None:
            return
        size = self._pixmap.size() * self.zoom
        smooth = self._smooth and self.zoom < 1
        shown = self._pixmap.scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
                                    Qt.TransformationMode.SmoothTransformation if smooth
                                    else Qt.TransformationMode.FastTransformation)
        if self._highlight is not None or self._labels or self._frame is not None:
            painter = QPainter(shown)
            if self._frame is not None:
                x, y, w, h = (round(v * self.zoom) for v in self._frame)
                painter.setPen(QPen(QColor("#ffd60a"), 2))  # yellow: unlike the red patch outline
                painter.drawRect(QRect(x, y, w, h).adjusted(1, 1, -1, -1))
            if self._labels:
                font = painter.font()
                font.setPixelSize(max(9, min(14, round(12 * self.zoom))))
                painter.setFont(font)
                for x, y, text in self._labels:
                    at = QPoint(round(x * self.zoom) + 2, round(y * self.zoom) + font.pixelSize())
                    painter.setPen(QColor(0, 0, 0))  # a dark edge keeps it readable on any colour
                    painter.drawText(at + QPoint(1, 1), text)
                    painter.setPen(QColor(255, 255, 255))
                    painter.drawText(at, text)
            if self._highlight is not None:
                x, y, w, h = (round(v * self.zoom) for v in self._highlight)
                grow_w, grow_h = max(0, MIN_OUTLINE - w), max(0, MIN_OUTLINE - h)  # a 3 px patch shows too
                painter.setPen(QPen(QColor("#ff2d55"), 3))
                painter.drawRect(QRect(x - grow_w // 2, y - grow_h // 2, w + grow_w, h + grow_h).adjusted(1, 1, -2, -2))
            painter.end()
        self._label.setPixmap(shown)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt naming)
        # Constant: a new picture of another size must not make the whole window lay itself out
        # again (that cost 14-34 ms when the input went from 96 to 224 px).
        return QSize(320, 320)

    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom_in() if event.angleDelta().y() > 0 else self.zoom_out()
            event.accept()
        else:
            super().wheelEvent(event)

    def _picture_point(self, event) -> tuple[int, int] | None:
        """The picture pixel under a mouse event, or None outside the picture."""
        if self._pixmap is None or self._label.pixmap() is None:
            return None
        shown = self._label.pixmap().size()
        offset = QPoint((self._label.width() - shown.width()) // 2,
                        (self._label.height() - shown.height()) // 2)
        pos = event.position().toPoint() - offset
        x, y = int(pos.x() / self.zoom), int(pos.y() / self.zoom)
        h, w = self._array.shape[:2]
        return (x, y) if 0 <= x < w and 0 <= y < h else None

    def _on_press(self, event) -> None:
        point = self._picture_point(event)
        if point is not None:
            self.clicked.emit(*point)

    def _on_move(self, event) -> None:
        self.hovered.emit(*(self._picture_point(event) or (-1, -1)))
