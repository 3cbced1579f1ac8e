"""The Explanation panel: the selected layer in plain words, with its own numbers.

Built from ``(session, engine)`` alone: a new layer, or a new inspection (another model or image),
asks the engine to explain the session's layer; only the answer to its newest request is shown."""

from __future__ import annotations

from PySide6.QtWidgets import QTextBrowser

from ..session import Session


class ExplanationPanel(QTextBrowser):
    """See the module docstring."""

    def __init__(self, session: Session, engine, parent=None) -> None:
        super().__init__(parent)
        self.session, self.engine = session, engine
        self.setPlaceholderText("Select a layer: what it does, in plain words, with its numbers")
        self._request_id: int | None = None
        session.layer_changed.connect(lambda _layer: self.refresh())
        session.model_changed.connect(lambda _model: self.clear())  # the old model's layer
        session.inspection_changed.connect(lambda _inspection: self.refresh())
        engine.explained.connect(self._on_explained)

    def refresh(self) -> None:
        """Ask for the session's layer explained (the engine needs an inspection for its numbers)."""
        if self.session.layer and self.session.inspection is not None:
            self._request_id = self.engine.submit("explain", layer=self.session.layer)

    def _on_explained(self, request_id: int, text: str) -> None:
        if request_id == self._request_id:
            self.setPlainText(text)
