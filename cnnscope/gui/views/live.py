"""The live tab: a camera or a video, inspected frame after frame, with the fps."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from .image_view import ImageView


class LiveView(QWidget):
    """Source choice, start / stop, maps or CAM, and frame | picture | predictions."""

    camera_requested = Signal(int)  # index in the camera list
    video_requested = Signal()
    stop_requested = Signal()
    mode_changed = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.camera = QComboBox()
        self.camera.setToolTip("Cameras Qt Multimedia found")
        self.start_camera = QPushButton("Start camera")
        self.video = QPushButton("Play a video file...")
        self.video.setToolTip("A video instead of a camera (it loops)")
        self.stop = QPushButton("Stop")
        self.stop.setEnabled(False)  # nothing plays yet
        self.mode = QComboBox()
        self.mode.addItem("Feature maps", "maps")
        self.mode.addItem("Grad-CAM", "cam")
        self.mode.setToolTip("What to draw for each frame (the layer is the one selected in Layers)")
        self.fps = QLabel("")
        self.fps.setToolTip("Frames shown per second; frames that arrive while the network is busy "
                            "are dropped, never queued")
        row = QHBoxLayout()
        for widget in (self.camera, self.start_camera, self.video, self.stop, self.mode, self.fps):
            row.addWidget(widget)
        row.addStretch(1)
        self.frame = ImageView("Start a camera or play a video")
        self.picture = ImageView("")
        self.caption = QLabel("")
        self.predictions = QLabel("")
        middle = QVBoxLayout()
        middle.addWidget(self.caption)
        middle.addWidget(self.picture, 1)
        panes = QHBoxLayout()
        panes.addWidget(self.frame, 2)
        panes.addLayout(middle, 3)
        panes.addWidget(self.predictions, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addLayout(panes, 1)
        self.start_camera.clicked.connect(lambda: self.camera_requested.emit(self.camera.currentIndex()))
        self.video.clicked.connect(self.video_requested.emit)
        self.stop.clicked.connect(self.stop_requested.emit)
        self.mode.currentIndexChanged.connect(lambda _: self.mode_changed.emit(self.mode.currentData()))

    def set_cameras(self, names: list[str], problem: str | None) -> None:
        """The cameras present, or why there are none."""
        self.camera.clear()
        if names:
            self.camera.addItems(names)
        else:
            self.camera.addItem("no camera found" if problem is None else "camera unavailable")
            self.camera.setToolTip(problem or "No camera is connected")
        self.start_camera.setEnabled(bool(names))
        self.video.setEnabled(problem is None)
        if problem:
            self.video.setToolTip(problem)

    def show_frame(self, result) -> None:
        """Paint one processed frame."""
        self.frame.set_image(result.input_rgb)
        self.picture.set_image(result.picture)
        self.caption.setText(result.caption)
        self.predictions.setText("<br>".join(f"{p:5.1%} {label}" for label, p in result.predictions))

    def show_stats(self, fps: float, shown: int, dropped: int) -> None:
        """fps and counts."""
        self.fps.setText(f"{fps:.1f} fps ({shown} shown, {dropped} dropped)")
