"""Presentation mode: full screen, large type, image | feature maps, CAM or arithmetic | predictions.

Everything is driven from the keyboard, so a teacher can stand away from the laptop:
arrows / Page Up / Page Down step through layers, C switches between feature maps and CAM,
A shows the arithmetic of one map value (then Left/Right slide the kernel, Space plays, Up/Down
scroll the numbers, Page Up/Down still change the layer), 1-9 open the sample images, Esc (or
F11) leaves. The view only shows what the main window's
views already received; it asks the window for everything else.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QProgressBar, QStackedWidget, QTextBrowser,
                               QVBoxLayout, QWidget)

from .image_view import ImageView

SCALE = 2.2  # type size against the desktop's: readable from the back of a room
HINTS = {False: "Left/Right or PgUp/PgDn: layers   C: CAM   A: arithmetic   1-9: samples   Esc: leave",
         True: "Left/Right: slide the kernel   Space: play   Up/Down: scroll   PgUp/PgDn: layers   "
               "A: back to the maps   Esc: leave"}


class PresentationView(QWidget):
    """A top-level window; see the module docstring."""

    step_layer = Signal(int)
    toggle_cam = Signal()
    pick_sample = Signal(int)  # 0-based
    leave = Signal()
    toggle_arithmetic = Signal()
    step_position = Signal(int)  # along the row, in arithmetic mode
    toggle_play = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("cnnscope: presentation")
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * SCALE)
        self.setFont(font)
        self.setStyleSheet("background: #111; color: #eee")
        self.image = ImageView("")
        self.middle = ImageView("")
        for view in (self.image, self.middle):  # a click must not give them the arrow keys
            view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.title = QLabel("")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.numbers = QTextBrowser()  # the arithmetic of one value, in the window's large type
        self.numbers.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.numbers.document().setDefaultFont(font)
        self.numbers.setStyleSheet("background: #fff; color: #111")
        self.middle_stack = QStackedWidget()
        self.middle_stack.addWidget(self.middle)
        self.middle_stack.addWidget(self.numbers)
        self.hint = QLabel(HINTS[False])
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        small = QFont(font)
        small.setPointSizeF(font.pointSizeF() * 0.5)
        self.hint.setFont(small)
        self.hint.setStyleSheet("color: #888")
        self.rows: list[tuple[QLabel, QProgressBar]] = []
        right = QVBoxLayout()
        for _ in range(5):
            label, bar = QLabel(""), QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(False)
            bar.setMinimumHeight(int(font.pointSizeF() * 1.2))
            right.addWidget(label)
            right.addWidget(bar)
            self.rows.append((label, bar))
        right.addStretch(1)
        panes = QHBoxLayout()
        panes.addWidget(self.image, 3)
        panes.addWidget(self.middle_stack, 4)
        panes.addLayout(right, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(panes, 1)
        layout.addWidget(self.hint)
        self.showing_cam = False
        self.showing_arithmetic = False
        self._add_keys()

    def _add_keys(self) -> None:
        """The pictures never keep the keys: a click gives them no focus, and a key that reaches
        them anyway (a scroll area would scroll on arrows and Page keys) is handled here."""
        for view in (self.image, self.middle, self.numbers):
            view.installEventFilter(self)
            view.viewport().installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt naming)
        if event.type() == QEvent.Type.KeyPress and self._handle_key(event.key()):
            return True
        return super().eventFilter(watched, event)

    def show_state(self, photo, middle, title: str, predictions: list[tuple[str, float]]) -> None:
        """Repaint from the main window's current pictures and predictions."""
        for view, picture in ((self.image, photo), (self.middle, middle)):
            view.set_image(picture) if picture is not None else view.clear()
        self.middle_stack.setCurrentWidget(self.numbers if self.showing_arithmetic else self.middle)
        self.hint.setText(HINTS[self.showing_arithmetic])
        self.title.setText(title)
        for i, (label, bar) in enumerate(self.rows):
            if i < len(predictions):
                name, p = predictions[i]
                label.setText(f"{name}  {p:.0%}")
                bar.setValue(round(p * 1000))
            else:
                label.setText("")
                bar.setValue(0)


    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if not self._handle_key(event.key()):
            super().keyPressEvent(event)

    def _handle_key(self, key: int) -> bool:
        """Act on a presentation key; False for any other key."""
        if self.showing_arithmetic and self._arithmetic_key(key):
            return True
        if key in (Qt.Key.Key_Right, Qt.Key.Key_Down, Qt.Key.Key_PageDown):
            self.step_layer.emit(1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Up, Qt.Key.Key_PageUp):
            self.step_layer.emit(-1)
        elif key == Qt.Key.Key_C:
            self.toggle_cam.emit()
        elif key == Qt.Key.Key_A:
            self.toggle_arithmetic.emit()
        elif Qt.Key.Key_1 <= key <= Qt.Key.Key_9:
            self.pick_sample.emit(key - Qt.Key.Key_1)
        elif key in (Qt.Key.Key_Escape, Qt.Key.Key_F11):
            self.leave.emit()
        else:
            return False
        return True

    def _arithmetic_key(self, key: int) -> bool:
        """The keys that mean something else while the arithmetic is shown."""
        bar = self.numbers.verticalScrollBar()
        if key in (Qt.Key.Key_Right, Qt.Key.Key_Left):
            self.step_position.emit(1 if key == Qt.Key.Key_Right else -1)
        elif key == Qt.Key.Key_Space:
            self.toggle_play.emit()
        elif key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
            step = bar.pageStep() // 2
            bar.setValue(bar.value() + (step if key == Qt.Key.Key_Down else -step))
        else:
            return False
        return True
