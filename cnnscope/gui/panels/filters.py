"""The Filters panel: the first convolution's kernels, and the selected conv layer's.

Built from ``(session, engine)`` alone: a new model or a new layer in the session asks the engine
for the kernels; only the answer to its newest request is painted."""

from __future__ import annotations

from ..session import Session
from ..views.filters import FiltersView


class FiltersPanel(FiltersView):
    """See the module docstring."""

    def __init__(self, session: Session, engine, parent=None) -> None:
        super().__init__(parent)
        self.session, self.engine = session, engine
        self._request_id: int | None = None
        session.model_changed.connect(lambda _model: self.refresh())
        session.layer_changed.connect(lambda _layer: self.refresh())
        engine.filters_ready.connect(self._on_filters)
        engine.failed.connect(self._on_failed)

    def refresh(self) -> None:
        """Ask for the kernels of the session's model (and its layer, when that is a conv)."""
        if self.session.model is not None:
            self._request_id = self.engine.submit("filters", layer=self.session.layer)

    def _on_filters(self, request_id: int, result) -> None:
        if request_id == self._request_id:
            self.show_filters(result)

    def _on_failed(self, request_id: int, _kind: str, message: str) -> None:
        if request_id == self._request_id:  # a model without convolutions, say
            self.first_title.setText(f"<span style='color:#c92a2a'>{message}</span>")
