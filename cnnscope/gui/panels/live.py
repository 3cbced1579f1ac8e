"""The Live panel: a camera or a video, inspected frame after frame with the session's model and
layer, with its fps. While live input runs, its top-5 is the session's live predictions (the
Predictions panel shows them instead of the still image's).

Looking for cameras loads Qt Multimedia and asks the system for devices: only when the user goes
near them (``find_cameras_once``: the File menu, this panel shown), never at start-up."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog

from ..live import CameraSource, LiveController, VideoSource, cameras, multimedia_problem
from ..session import Session
from ..views.live import LiveView

VIDEO_FILTER = "Videos (*.mp4 *.mov *.avi *.mkv *.webm *.gif);;All files (*)"


class LivePanel(LiveView):
    """See the module docstring."""

    message = Signal(str, str)  # text, level ("info", "error"): for the window's banner
    shown_wanted = Signal()  # the panel asks to be the current tab (live input starts)

    def __init__(self, session: Session, engine, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.controller = LiveController(engine)
        self.controller.shown.connect(self._on_frame)
        self.controller.stats.connect(self.show_stats)
        self.camera_requested.connect(self.open_camera)
        self.video_requested.connect(self.play_video)
        self.stop_requested.connect(self.stop_live)
        self.mode_changed.connect(lambda mode: setattr(self.controller, "mode", mode))
        session.layer_changed.connect(lambda layer: setattr(self.controller, "layer", layer))
        self._cameras: list | None = None  # not looked for yet
        self.camera_action = QAction("&Live camera", self)
        self.camera_action.setShortcut("Ctrl+L")
        self.camera_action.setStatusTip("Inspect a camera's frames continuously")
        self.camera_action.triggered.connect(lambda: self.open_camera(0))
        self.video_action = QAction("Live from a &video file...", self)
        self.video_action.setStatusTip("Inspect a video's frames continuously (a camera stand-in)")
        self.video_action.triggered.connect(self.play_video)
        for action in (self.camera_action, self.video_action):
            action.setToolTip(action.statusTip())

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        self.find_cameras_once()

    def find_cameras_once(self) -> None:
        """List the cameras the first time they matter."""
        if self._cameras is None:
            self.discover_cameras()

    def discover_cameras(self) -> None:
        """List the cameras; with none, the menu entry and the panel say so."""
        self._cameras = cameras()
        problem = multimedia_problem()
        self.set_cameras([name for name, _ in self._cameras], problem)
        if not self._cameras:
            self.camera_action.setText("&Live camera (none found)")
            self.camera_action.setStatusTip(problem or "No camera is connected")
            self.camera_action.setToolTip(problem or "No camera is connected")

    def open_camera(self, index: int = 0) -> None:
        """Inspect the camera's frames (or say there is none)."""
        self.find_cameras_once()
        if not self._cameras:
            problem = multimedia_problem()
            self.message.emit(f"No camera available: {problem}" if problem else
                              "No camera found: connect one, or use File > Live from a video file.",
                              "info")
            return
        self.start_live(CameraSource(self._cameras[max(0, index)][1]))

    def play_video(self) -> None:
        """Inspect a video file's frames, looping."""
        problem = multimedia_problem()
        if problem:
            self.message.emit(problem, "info")
            return
        path, _ = QFileDialog.getOpenFileName(self, "Play a video", "", VIDEO_FILTER)
        if path:
            from cnnscope.core.files import FileRefused, check_regular

            try:  # a named pipe or a device would stall the media player before it says anything
                check_regular(path)
            except FileRefused as exc:
                self.message.emit(str(exc), "error")
                return
            self.start_live(VideoSource(path))

    def start_live(self, source) -> None:
        """Show ``source``'s frames (any FrameSource: camera, video, frame list)."""
        self.shown_wanted.emit()
        source.stopped.connect(self._source_stopped)
        self.controller.layer = self.session.layer
        self.controller.attach(source)
        self.stop.setEnabled(True)

    def stop_live(self) -> None:
        """Stop the camera or video; the still image's predictions come back."""
        self.controller.detach()
        self._ended()

    @property
    def playing(self) -> bool:
        """Whether live input runs."""
        return self.stop.isEnabled()

    def _source_stopped(self, why: str) -> None:
        self.fps.setText(f"{self.fps.text()}  stopped: {why}")
        self._ended()

    def _ended(self) -> None:
        self.stop.setEnabled(False)
        self.session.live_predictions = None

    def _on_frame(self, frame) -> None:
        self.show_frame(frame)
        if self.playing:  # a frame that was in the engine when Stop was pressed changes nothing
            self.session.live_predictions = list(frame.predictions)
