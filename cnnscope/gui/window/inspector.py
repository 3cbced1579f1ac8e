"""Turns the images the user chooses into inspections of the model shown, and publishes each in
the session (its source and its result together). The newest image asked for wins, even one
chosen while a model loads; a new model inspects it again; a bad file keeps the last good image."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from ..requester import Requester
from ..services.base import ImageSource
from ..services.model import Inspect
from ..session import Session


class Inspector(QObject):
    """See the module docstring."""

    message = Signal(str, str)  # text, level ("info", "error"): for the window's banner

    def __init__(self, session: Session, engine, first_image: str | ImageSource = "",
                 framing: str = "crop") -> None:
        super().__init__()
        self.session, self.requests = session, Requester(engine, self)
        self.wanted: ImageSource | None = None  # the newest image asked for (may still be pending)
        self.framing = framing  # "crop" (the model's centre crop) or "whole" (View > Whole image)
        if isinstance(first_image, ImageSource):
            self._first = first_image
        else:
            self._first = ImageSource(path=first_image, name=Path(first_image).name) if first_image else None
        session.model_changed.connect(lambda _model: self._inspect(self.wanted or self._first))

    def open(self, source: ImageSource) -> None:
        """Inspect ``source`` (errors go to the banner; the current image stays)."""
        self._inspect(source)

    def set_framing(self, framing: str) -> None:
        """Frame every image as ``framing`` says from now on, and inspect the current one again."""
        if framing != self.framing:
            self.framing = framing
            self._inspect(self.wanted or self.session.image)

    def _inspect(self, source: ImageSource | None) -> None:
        if source is not None:
            self.wanted = source
            if self.session.model is None:
                return  # no model yet: the first one to load inspects the newest image wanted
            self.requests.ask(Inspect(source, self.framing), self._on_inspected, self._on_failed)

    def _on_inspected(self, result) -> None:
        self.session.image = result.source
        self.session.inspection = result
        for note in result.notes:
            if "out of memory" in note:
                self.message.emit(note, "info")

    def _on_failed(self, message: str) -> None:
        failed, good = self.wanted, self.session.image
        self.wanted = good  # a bad file: the last good image stays wanted
        self.message.emit(message, "error")
        if self.session.inspection is None and good is not None and failed != good:
            self._inspect(good)  # a new model came meanwhile: show it the last good image
