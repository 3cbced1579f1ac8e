"""Strip thumbnails, made off the window's thread through core's safe image loader.

A dropped file may be a named pipe, a huge image or not an image at all: decoding it on the window's
thread (QPixmap(path)) could freeze the window, and Qt's own decoders are not the list of formats
cnnscope trusts. Here one daemon thread makes each thumbnail and a signal brings it back. (Not a
ThreadPoolExecutor: the interpreter joins those at exit, so one stuck read would delay quitting.)
"""

from __future__ import annotations

import queue
import threading

from PySide6.QtCore import QObject, Signal

#: Long side of a thumbnail, pixels.
THUMBNAIL_SIZE = 72


class ThumbnailLoader(QObject):
    """Ask with :meth:`request`; ``ready(path, rgb)`` comes back on the window's thread."""

    ready = Signal(str, object)  # path, (h, w, 3) uint8

    def __init__(self) -> None:
        super().__init__()
        self._paths: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def request(self, path: str) -> None:
        """Make ``path``'s thumbnail in the background; an unreadable file gets none."""
        if self._closed.is_set():
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cnnscope-thumbnails", daemon=True)
            self._thread.start()
        self._paths.put(path)

    def _run(self) -> None:
        from cnnscope.core.errors import CnnscopeError
        from cnnscope.core.files import READ_TIMEOUT  # a slower file gets no thumbnail
        from cnnscope.core.images import thumbnail

        while (path := self._paths.get()) is not None and not self._closed.is_set():
            try:
                rgb = thumbnail(path, THUMBNAIL_SIZE, timeout=READ_TIMEOUT)
            except (CnnscopeError, MemoryError):
                continue
            if self._closed.is_set():
                return
            try:
                self.ready.emit(path, rgb)
            except RuntimeError:  # this loader was deleted after the check above: nobody listens
                return

    def close(self) -> None:
        """Stop: pending requests are dropped, a thumbnail being made is abandoned."""
        self._closed.set()
        self._paths.put(None)
