"""The Live tab's side of the window: cameras, videos, the live controller.

A mixin of :class:`~cnnscope.gui.main_window.MainWindow`: it uses the window's views and engine."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog

from ..live import CameraSource, LiveController, VideoSource, cameras, multimedia_problem


class LivePart:
    """The Live tab's side of the window (see the module docstring)."""

    def _connect_live(self) -> None:
        self.live_controller = LiveController(self.engine)
        self.live_controller.shown.connect(self.live.show_frame)
        self.live_controller.shown.connect(self._show_live_predictions)
        self.live_controller.stats.connect(self.live.show_stats)
        self.live.camera_requested.connect(self.start_camera)
        self.live.video_requested.connect(self.play_video)
        self.live.stop_requested.connect(self.stop_live)
        self.live.mode_changed.connect(lambda mode: setattr(self.live_controller, "mode", mode))
        self.layers.layer_selected.connect(lambda layer: setattr(self.live_controller, "layer", layer))
        self._cameras: list | None = None  # not looked for yet
        # Looking for cameras loads Qt Multimedia and asks the system for devices: only when the
        # user goes near them (the File menu, the Live tab), never at start-up.
        self.file_menu.aboutToShow.connect(self._cameras_once)
        self.tabs.currentChanged.connect(lambda _: self.tabs.currentWidget() is self.live and self._cameras_once())

    def _cameras_once(self) -> None:
        if self._cameras is None:
            self.discover_cameras()

    def discover_cameras(self) -> None:
        """List the cameras; with none, the menu entry and the Live tab say so."""
        self._cameras = cameras()
        problem = multimedia_problem()
        self.live.set_cameras([name for name, _ in self._cameras], problem)
        if not self._cameras:  # the menu says so instead of failing
            self.camera_action.setText("&Live camera (none found)")
            self.camera_action.setStatusTip(problem or "No camera is connected")
            self.camera_action.setToolTip(problem or "No camera is connected")

    def start_camera(self, index: int = 0) -> None:
        """File > Live camera: inspect the camera's frames (or say there is none)."""
        self._cameras_once()
        if not self._cameras:
            problem = multimedia_problem()
            self.banner.show_message(f"No camera available: {problem}" if problem else
                                     "No camera found: connect one, or use File > Live from a "
                                     "video file.", "info")
            return
        self.start_live(CameraSource(self._cameras[max(0, index)][1]))

    def play_video(self) -> None:
        """File > Live from a video file."""
        problem = multimedia_problem()
        if problem:
            self.banner.show_message(problem, "info")
            return
        path, _ = QFileDialog.getOpenFileName(self, "Play a video", "", "Videos (*.mp4 *.mov *.avi *.mkv *.webm *.gif);;All files (*)")
        if path:
            from cnnscope.core.files import FileRefused, check_regular

            try:  # a named pipe or a device would stall the media player before it says anything
                check_regular(path)
            except FileRefused as exc:
                self.banner.show_message(str(exc), "error")
                return
            self.start_live(VideoSource(path))

    def start_live(self, source) -> None:
        """Show ``source``'s frames in the Live tab (any FrameSource: camera, video, frame list)."""
        self.tabs.setCurrentWidget(self.live)
        source.stopped.connect(self._live_source_stopped)
        self.live_controller.layer = self.session.layer
        self.live_controller.attach(source)
        self.live.stop.setEnabled(True)

    def stop_live(self) -> None:
        """Stop the camera or video; the still image's predictions come back."""
        self.live_controller.detach()
        self._live_ended()

    def _live_source_stopped(self, why: str) -> None:
        self.live.fps.setText(f"{self.live.fps.text()}  stopped: {why}")
        self._live_ended()

    def _live_ended(self) -> None:
        self.live.stop.setEnabled(False)
        still = self.session.inspection
        if still is not None:
            self.predictions.show_predictions(still.predictions, still.trained)

    def _show_live_predictions(self, frame) -> None:
        """While live input runs, the predictions panel shows the frame's top-5, not the still's."""
        if self.live.stop.isEnabled():
            self.predictions.show_predictions(frame.predictions, (self.session.model or {}).get("trained", True))
