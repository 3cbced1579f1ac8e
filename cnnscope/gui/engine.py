"""The one worker thread that owns models and runs every core call, through per-feature services.

A part of the window submits a typed request (a small dataclass from ``gui/services``) and gets an
id. Per request type and asker only the newest pending request is kept (a burst of twenty drops
inspects one image, the last); types are served in the services' order, a model load first.
Results come back through ``finished`` with their id, so an asker can drop any that a newer
request made stale (``gui/requester.py`` does that bookkeeping). The thread imports torch itself,
so the window is on screen before torch has finished loading.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
import traceback
from itertools import count
from typing import Any

from PySide6.QtCore import QObject, Signal

from .services.base import EngineState, Request, Service


class _Job:
    """A request being served: what its service may ask the engine (see services.base.Job)."""

    def __init__(self, engine: Engine, request_id: int, request: Request) -> None:
        self.engine, self.request_id, self.request = engine, request_id, request
        self._last_progress = 0.0

    def progress(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        total = -1 if total is None else total
        if now - self._last_progress > 0.05 or done == total:  # at most 20 updates a second
            self._last_progress = now
            self.engine.progress.emit(self.request_id, done, total)

    def cancelled(self) -> bool:
        return self.engine._is_stale(self.request)

    def send(self, result: Any) -> None:
        self.engine.finished.emit(self.request_id, result)

    def drop_pending_about_the_shown_model(self) -> None:
        self.engine._drop_pending(lambda request: request.about_shown_model)


class Engine(QObject):
    """Runs core work on one thread; see the module docstring."""

    ready = Signal(object)  # services.model.Catalogue
    progress = Signal(int, int, int)  # id, done, total (-1 unknown): download bytes, attribution passes
    finished = Signal(int, object)  # id, a result dataclass (several for a comparison's columns)
    failed = Signal(int, object, str)  # id, the request, a sentence for the user

    def __init__(self, services: list[Service] | None = None) -> None:
        super().__init__()
        from .services import default_services

        self.state = EngineState()
        self.services = services if services is not None else default_services(self.state)
        self._service_of = {kind: s for s in self.services for kind in s.handles}
        self._order = list(self._service_of)  # types in serving order
        self._ids = count(1)
        self._pending: dict[tuple[type, int], tuple[int, Request]] = {}  # (type, lane) -> newest
        self._cancelled: set[type] = set()  # types whose running request must stop
        self._wake = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="cnnscope-engine", daemon=True)

    # --- the window's side ---------------------------------------------------------------

    def start(self) -> None:
        """Start the thread (it imports torch, then announces the catalogue)."""
        # Every Qt callback into Python must win the GIL back from this thread's pure-Python
        # stretches, waiting up to one switch interval each time; a repaint makes many such
        # callbacks. 1 ms instead of the default 5 ms shortens those waits (responsiveness.py).
        sys.setswitchinterval(0.001)
        self._thread.start()

    def submit(self, request: Request, lane: int = 0) -> int:
        """Queue ``request``, replacing a pending one of its type from the same ``lane`` (asker);
        returns its id."""
        if type(request) not in self._service_of:
            raise TypeError(f"no service handles {type(request).__name__}")
        request_id = next(self._ids)
        with self._wake:
            self._pending[(type(request), lane)] = (request_id, request)
            self._wake.notify()
        return request_id

    def cancel(self, request_type: type) -> None:
        """Drop pending requests of ``request_type`` and stop a running one at its next check
        (a download's next chunk, an attribution's next batch, a comparison's next column)."""
        with self._wake:
            self._drop_pending(lambda request: type(request) is request_type)
            self._cancelled.add(request_type)

    def stop(self, timeout: float = 1.5) -> bool:
        """Cancel whatever runs and end the thread; False if it is still busy after ``timeout``
        seconds (one forward pass cannot be cut)."""
        with self._wake:
            self._stop = True
            self._pending.clear()
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    # --- the thread's side -----------------------------------------------------------------

    def _is_stale(self, request: Request) -> bool:
        kind = type(request)
        return self._stop or kind in self._cancelled or any(
            pending in request.superseded_by for pending, _lane in list(self._pending))

    def _drop_pending(self, predicate) -> list[tuple[int, Request]]:
        with self._wake:
            keys = [k for k, (_id, r) in self._pending.items() if predicate(r)]
            return [self._pending.pop(key) for key in keys]

    def _next(self) -> tuple[int, Request] | None:
        with self._wake:
            while not self._pending and not self._stop:
                self._wake.wait()
            if self._stop:
                return None
            key = min(self._pending, key=lambda k: self._order.index(k[0]))
            request_id, request = self._pending.pop(key)
            self._cancelled.discard(type(request))  # a cancel was for the one before
            return request_id, request

    def _run(self) -> None:
        from .services.model import catalogue

        # torch + torchvision are millions of objects that live as long as the app; collecting
        # while they load only rescans them (full passes of 0.2-0.4 s here), so pause the collector
        # for the imports and exempt what they leave behind from later passes.
        gc.disable()
        try:
            found = catalogue()
        finally:
            gc.enable()
        gc.freeze()
        self.ready.emit(found)
        while (task := self._next()) is not None:
            request_id, request = task
            try:
                result = self._service_of[type(request)].run(request, _Job(self, request_id, request))
                if result is not None:
                    self.finished.emit(request_id, result)
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - every failure (a user's model
                # calling sys.exit too) becomes a message, never a dead engine
                self.failed.emit(request_id, request, _message(exc))


def _message(exc: Exception) -> str:
    """The user's sentence for a typed error; a short description (logged in full) otherwise."""
    from cnnscope.core.errors import CnnscopeError

    if isinstance(exc, CnnscopeError):
        return str(exc)
    traceback.print_exc()
    return f"Something went wrong: {type(exc).__name__}: {exc}"
