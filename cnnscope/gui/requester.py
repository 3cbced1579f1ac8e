"""A part of the window's line to the engine: it asks, and hears only the answers to its own newest
request of each type (an older one was made stale by the newer, or by ``forget``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from typing import Any

from PySide6.QtCore import QObject

_lanes = count(1)  # each requester has its own lane: askers never replace each other's requests


@dataclass
class _Handlers:
    on_result: Callable[[Any], None]
    on_failed: Callable[[str], None] | None
    on_progress: Callable[[int, int], None] | None


class Requester(QObject):
    """See the module docstring. Build one per panel; call ``ask`` with the callbacks."""

    def __init__(self, engine, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.lane = next(_lanes)
        self._newest: dict[type, int] = {}  # request type -> id of the newest request
        self._handlers: dict[int, _Handlers] = {}
        engine.finished.connect(self._on_finished)
        engine.failed.connect(self._on_failed)
        engine.progress.connect(self._on_progress)

    def ask(self, request, on_result: Callable[[Any], None],
            on_failed: Callable[[str], None] | None = None,
            on_progress: Callable[[int, int], None] | None = None) -> int:
        """Submit ``request``; ``on_result`` gets its result(s) unless a newer request of the same
        type is asked first. Returns the request's id."""
        self.forget(type(request))
        request_id = self.engine.submit(request, lane=self.lane)
        self._newest[type(request)] = request_id
        self._handlers[request_id] = _Handlers(on_result, on_failed, on_progress)
        return request_id

    def forget(self, request_type: type) -> None:
        """Ignore whatever comes back for the newest request of ``request_type``."""
        old = self._newest.pop(request_type, None)
        if old is not None:
            self._handlers.pop(old, None)

    def _on_finished(self, request_id: int, result) -> None:
        handlers = self._handlers.get(request_id)
        if handlers is not None:
            handlers.on_result(result)

    def _on_failed(self, request_id: int, _request, message: str) -> None:
        handlers = self._handlers.get(request_id)
        if handlers is not None and handlers.on_failed is not None:
            handlers.on_failed(message)

    def _on_progress(self, request_id: int, done: int, total: int) -> None:
        handlers = self._handlers.get(request_id)
        if handlers is not None and handlers.on_progress is not None:
            handlers.on_progress(done, total)
