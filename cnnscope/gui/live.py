"""Live input: frame sources (camera, video file, a list of frames) and the controller that keeps
at most one frame in the engine, dropping frames that arrive while it is busy, and counts fps.

Qt Multimedia is imported only when a camera or a video is opened: on a machine where it cannot
load (no PulseAudio library, say) everything else still works and the menu says why.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from .requester import Requester
from .services.live import LiveFrameRequest


def multimedia_problem() -> str | None:
    """None when Qt Multimedia loads, else a sentence saying why it does not."""
    try:
        import PySide6.QtMultimedia  # noqa: F401
    except ImportError as exc:
        from .screen_check import PACKAGES

        library = str(exc).split(":")[0].strip()
        fix = f" Install it with: sudo apt install {PACKAGES[library]}." if library in PACKAGES else ""
        return f"Qt Multimedia cannot load on this machine ({exc}).{fix}"
    return None


def cameras() -> list[tuple[str, object]]:
    """(description, device) for every camera present; empty when none (or no Qt Multimedia)."""
    if multimedia_problem():
        return []
    from PySide6.QtMultimedia import QMediaDevices

    return [(d.description(), d) for d in QMediaDevices.videoInputs()]


def qimage_to_rgb(image) -> np.ndarray:
    """A QImage as a (H, W, 3) uint8 array (a copy)."""
    from PySide6.QtGui import QImage

    image = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height, stride = image.width(), image.height(), image.bytesPerLine()
    data = np.frombuffer(image.constBits(), np.uint8, count=stride * height).reshape(height, stride)
    return data[:, :width * 3].reshape(height, width, 3).copy()


class FrameSource(QObject):
    """Anything that emits frames as uint8 RGB arrays."""

    frame = Signal(object)
    stopped = Signal(str)  # why (end of a video, an error)

    def start(self) -> None:
        """Begin emitting frames."""

    def stop(self) -> None:
        """Stop emitting frames."""


class ArraySource(FrameSource):
    """Frames from a list, one every ``interval_ms`` (tests, benchmarks, demos without a camera)."""

    def __init__(self, frames: list[np.ndarray], interval_ms: int = 33, loop: bool = False) -> None:
        super().__init__()
        self._frames, self._loop, self._index = frames, loop, 0
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._next)
        self.emitted = 0

    def start(self) -> None:
        """Begin emitting frames."""
        self._timer.start()

    def stop(self) -> None:
        """Stop emitting frames."""
        self._timer.stop()

    def _next(self) -> None:
        if self._index >= len(self._frames):
            if not self._loop:
                self.stop()
                self.stopped.emit("end of frames")
                return
            self._index = 0
        self.emitted += 1
        self.frame.emit(self._frames[self._index])
        self._index += 1


class _SinkSource(FrameSource):
    """Shared part of the camera and video sources: frames arrive at a QVideoSink."""

    def __init__(self) -> None:
        super().__init__()
        from PySide6.QtMultimedia import QVideoSink

        self.sink = QVideoSink(self)
        self.sink.videoFrameChanged.connect(self._on_frame)

    def _on_frame(self, video_frame) -> None:
        image = video_frame.toImage()
        if not image.isNull():
            self.frame.emit(qimage_to_rgb(image))


class CameraSource(_SinkSource):
    """A camera through Qt Multimedia."""

    def __init__(self, device) -> None:
        super().__init__()
        from PySide6.QtMultimedia import QCamera, QMediaCaptureSession

        self.camera = QCamera(device, self)
        self.session = QMediaCaptureSession(self)
        self.session.setCamera(self.camera)
        self.session.setVideoSink(self.sink)
        self.camera.errorOccurred.connect(lambda _e, text: self.stopped.emit(text))

    def start(self) -> None:
        """Switch the camera on."""
        self.camera.start()

    def stop(self) -> None:
        """Switch the camera off."""
        self.camera.stop()


class VideoSource(_SinkSource):
    """A video file played through Qt Multimedia, looping: a camera stand-in for a lesson."""

    def __init__(self, path: str) -> None:
        super().__init__()
        from PySide6.QtCore import QUrl
        from PySide6.QtMultimedia import QMediaPlayer

        self.player = QMediaPlayer(self)
        self.player.setVideoSink(self.sink)
        self.player.setSource(QUrl.fromLocalFile(path))
        self.player.setLoops(QMediaPlayer.Loops.Infinite)
        self.player.errorOccurred.connect(lambda _e, text: self.stopped.emit(text))

    def start(self) -> None:
        """Play."""
        self.player.play()

    def stop(self) -> None:
        """Stop playing."""
        self.player.stop()


class LiveController(QObject):
    """Feeds a source's frames to the engine, one at a time: a frame that arrives while one is in
    the engine is dropped (never queued), so the picture is always the latest possible."""

    shown = Signal(object)  # core.live.LiveFrame
    stats = Signal(float, int, int)  # fps, frames shown, frames dropped

    def __init__(self, engine, window_seconds: float = 2.0) -> None:
        super().__init__()
        self.requests = Requester(engine, self)
        self.source: FrameSource | None = None
        self.mode, self.layer = "maps", None
        self._in_flight = False
        self._done: deque[float] = deque()
        self._window = window_seconds
        self.shown_count = self.dropped = 0

    def attach(self, source: FrameSource) -> None:
        """Start taking frames from ``source`` (stopping the previous one)."""
        self.detach()
        self.source = source
        self.shown_count = self.dropped = 0
        self._done.clear()
        source.frame.connect(self._on_frame)
        source.start()

    def detach(self) -> None:
        """Stop the source; a frame already in the engine still shows."""
        if self.source is not None:
            self.source.stop()
            self.source.frame.disconnect(self._on_frame)
            self.source = None

    def fps(self) -> float:
        """Frames shown per second over the last couple of seconds."""
        now = time.monotonic()
        while self._done and now - self._done[0] > self._window:
            self._done.popleft()
        if len(self._done) < 2:
            return float(len(self._done))
        return (len(self._done) - 1) / max(1e-6, self._done[-1] - self._done[0])

    def _on_frame(self, frame: np.ndarray) -> None:
        if self._in_flight:
            self.dropped += 1
            return
        self._in_flight = True
        self.requests.ask(LiveFrameRequest(frame, self.mode, self.layer), self._on_result,
                          self._on_failed)

    def _on_result(self, result) -> None:
        self._in_flight = False
        self.shown_count += 1
        self._done.append(time.monotonic())
        self.shown.emit(result)
        self.stats.emit(self.fps(), self.shown_count, self.dropped)

    def _on_failed(self, _message: str) -> None:
        self._in_flight = False
