"""The Arithmetic panel: how one value of a feature map was computed, on the user's photo.

Click a position in Feature maps (a tile of the grid, or the enlarged channel), or set layer
position here: the photo shows the patch that value sees (its receptive field, also outlined on
the input picture), and the numbers show the computation: for a convolution the input patch, the
kernel, their products summed per input channel, the bias and the total, which is the value in the
map; for a pooling layer the window and the winner; for a ReLU what it clipped. Step along a row
with the arrows, or Play to watch the kernel slide.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QPushButton, QSlider, QSpinBox, QSplitter,
                               QTextBrowser, QVBoxLayout, QWidget)

from ..requester import Requester
from ..services.arithmetic import ExplainPosition, MapPosition
from ..session import Session
from ..views.arithmetic_text import load_pictures, position_html
from ..views.image_view import ImageView


START_TEXT = "Click a position in Feature maps (a tile, or the enlarged channel)."


class ArithmeticPanel(QWidget):
    """See the module docstring."""

    def __init__(self, session: Session, engine, parent=None) -> None:
        super().__init__(parent)
        self.session, self.requests = session, Requester(engine, self)
        self._shape: tuple[int, int, int] | None = None  # (C, H, W) of the layer shown
        self.title = QLabel(START_TEXT)
        self.title.setWordWrap(True)
        self.channel, self.row, self.col = QSpinBox(), QSpinBox(), QSpinBox()
        for box, tip in ((self.channel, "Output channel"), (self.row, "Row in the map"),
                         (self.col, "Column in the map")):
            box.setToolTip(tip)
            box.setKeyboardTracking(False)
            box.valueChanged.connect(lambda _v: self._from_controls())
        self.back, self.forward = QPushButton("\u25c0"), QPushButton("\u25b6")
        for button in (self.back, self.forward):
            button.setMaximumWidth(36)
        self.back.setToolTip("The previous position along the row (Left)")
        self.forward.setToolTip("The next position along the row (Right)")
        self.play = QPushButton("Play")
        self.play.setCheckable(True)
        self.play.setToolTip("Slide along the rows, one position after another (Space)")
        self.speed = QSlider(Qt.Orientation.Horizontal)
        self.speed.setRange(1, 10)
        self.speed.setValue(3)
        self.speed.setMinimumWidth(70)
        self.speed.setMaximumWidth(120)
        self.speed.setToolTip("Positions per second")
        self.photo = ImageView("The photo, with the patch the value sees")
        self.photo.setToolTip("The photo as the network saw it; the box is the clicked value's "
                              "receptive field")
        self.numbers = QTextBrowser()
        self.numbers.setOpenLinks(False)
        self.field = QLabel("")
        self.field.setWordWrap(True)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.step_forward)

        controls = QHBoxLayout()
        for label, box in (("Channel", self.channel), ("Row", self.row), ("Column", self.col)):
            controls.addWidget(QLabel(label))
            controls.addWidget(box)
        for widget in (self.back, self.forward, self.play, QLabel("Speed"), self.speed):
            controls.addWidget(widget)
        controls.addStretch(1)
        split = QSplitter()
        split.addWidget(self.photo)
        split.addWidget(self.numbers)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(controls)
        layout.addWidget(split, 1)
        layout.addWidget(self.field)

        self.back.clicked.connect(self.step_back)
        self.forward.clicked.connect(self.step_forward)
        self.play.toggled.connect(self._play)
        self.speed.valueChanged.connect(lambda _v: self._play(self.play.isChecked()))
        session.position_changed.connect(self._on_position)
        session.inspection_changed.connect(self._on_inspection)
        session.model_changed.connect(lambda _model: self._reset())
        # a layer chosen starts the tab at its centre, but only where the tab is seen: elsewhere
        # the centre value's patch would be outlined on the photo in every tab, never asked for
        session.layer_changed.connect(lambda layer: self.start_at(layer) if self.isVisible() else None)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        """Shown: start at the selected layer's centre, unless a value of it is chosen already."""
        super().showEvent(event)
        self.start_at(self.session.layer)

    # --- the session ---------------------------------------------------------------------------

    def _reset(self) -> None:
        self.play.setChecked(False)
        self.requests.forget(ExplainPosition)
        self._shape = None
        self.photo.clear("The photo, with the patch the value sees")
        self.title.setText(START_TEXT)
        self.numbers.clear()
        self.field.setText("")
        self.session.position = None
        self.session.field_box = None
        self.session.arithmetic = None

    def _on_inspection(self, result) -> None:
        if result is None:
            return
        self.photo.set_image(result.input_rgb)
        shapes = {row[0]: row[2] for row in result.layers}
        position = self.session.position
        if position is not None and len(shapes.get(position.layer, ())) == 3:
            self._ask(position)  # the same value of the new image

    def start_at(self, layer) -> None:
        """A layer chosen elsewhere (or presentation mode asking for a value): start at its
        centre (channel: the clicked one, or 0)."""
        inspection = self.session.inspection
        position = self.session.position
        if inspection is None or not layer or (position is not None and position.layer == layer):
            return
        shape = {row[0]: row[2] for row in inspection.layers}.get(layer)
        if shape is None or len(shape) != 3:
            return
        channel = self.session.channel if self.session.channel is not None else 0
        self.session.position = MapPosition(layer, min(channel, shape[0] - 1), shape[1] // 2,
                                            shape[2] // 2)

    def _on_position(self, position) -> None:
        if position is not None:
            self._ask(position)

    # --- positions -----------------------------------------------------------------------------

    def _ask(self, position: MapPosition) -> None:
        self.requests.ask(ExplainPosition(position), self.show_position, self._on_failed)

    def _from_controls(self) -> None:
        position = self.session.position
        if position is not None and self._shape is not None:
            self.session.position = MapPosition(position.layer, self.channel.value(),
                                                self.row.value(), self.col.value())

    def step_forward(self) -> None:
        """The next position along the row (then the next row; after the last, the first)."""
        self._step(+1)

    def step_back(self) -> None:
        """The previous position along the row."""
        self._step(-1)

    def _step(self, delta: int) -> None:
        position = self.session.position
        if position is None or self._shape is None:
            return
        _c, h, w = self._shape
        index = (position.y * w + position.x + delta) % (h * w)
        self.session.position = MapPosition(position.layer, position.channel, *divmod(index, w))

    def _play(self, playing: bool) -> None:
        self.play.setText("Pause" if playing else "Play")
        if playing:
            self._timer.start(int(1000 / self.speed.value()))
        else:
            self._timer.stop()

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        key = event.key()
        if key == Qt.Key.Key_Right:
            self.step_forward()
        elif key == Qt.Key.Key_Left:
            self.step_back()
        elif key == Qt.Key.Key_Space:
            self.play.toggle()
        else:
            super().keyPressEvent(event)

    # --- drawing -------------------------------------------------------------------------------

    def _on_failed(self, message: str) -> None:
        self.play.setChecked(False)
        self.numbers.setHtml(f"<p style='color:#c92a2a'>{html.escape(message)}</p>")

    def show_position(self, shown) -> None:
        """Paint an engine PositionExplained."""
        position, (channels, h, w) = shown.position, shown.map_shape
        self._shape = shown.map_shape
        for box, value, top in ((self.channel, position.channel, channels - 1),
                                (self.row, position.y, h - 1), (self.col, position.x, w - 1)):
            box.blockSignals(True)
            box.setRange(0, top)
            box.setValue(value)
            box.blockSignals(False)
        self.title.setText(f"<b>{html.escape(position.layer)}</b>: {channels} channels of "
                           f"{h} x {w}; the value at channel {position.channel}, row {position.y}, "
                           f"column {position.x}")
        self.session.field_box = shown.box
        self.photo.set_highlight(None if shown.box is None else
                                 (shown.box.x, shown.box.y, shown.box.width, shown.box.height))
        if shown.box is None:
            self.field.setText("The receptive field is not known for this model (it does not trace).")
        else:
            rows, cols = shown.field_size
            side = f"{rows} x {cols}" if rows != cols else f"{rows} x {rows}"
            self.field.setText(f"It sees a {side} px patch of the input (outlined; clipped at the "
                               f"border), {shown.box.width} x {shown.box.height} px of it inside "
                               "the photo.")
        load_pictures(self.numbers.document(), shown)
        self.numbers.setHtml(position_html(shown))
        self.session.arithmetic = shown  # presentation mode shows the same numbers, larger
