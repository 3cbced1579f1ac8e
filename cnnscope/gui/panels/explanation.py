"""The Explanation panel: the selected layer in plain words, with its own numbers.

Built from ``(session, engine)`` alone: a new layer, or a new inspection (another model or image),
asks the engine to explain the session's layer; only the answer to its newest request is shown."""

from __future__ import annotations

from PySide6.QtWidgets import QTextBrowser

from ..requester import Requester
from ..services.architecture import Explain
from ..session import Session


class ExplanationPanel(QTextBrowser):
    """See the module docstring."""

    def __init__(self, session: Session, engine, parent=None) -> None:
        super().__init__(parent)
        self.session, self.requests = session, Requester(engine, self)
        self.setPlaceholderText("Select a layer: what it does, in plain words, with its numbers")
        session.layer_changed.connect(lambda _layer: self.refresh())
        session.model_changed.connect(self._on_model)
        session.inspection_changed.connect(lambda _inspection: self.refresh())

    def _on_model(self, _model) -> None:
        self.requests.forget(Explain)  # an answer on its way is about the old model
        self.clear()

    def refresh(self) -> None:
        """Ask for the session's layer explained (the engine needs an inspection for its numbers)."""
        if self.session.layer and self.session.inspection is not None:
            self.requests.ask(Explain(self.session.layer), lambda found: self.setPlainText(found.text))
