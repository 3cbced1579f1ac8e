"""The Filters panel: the first convolution's kernels, and the selected conv layer's.

Built from ``(session, engine)`` alone: a new model or a new layer in the session asks the engine
for the kernels; only the answer to its newest request is painted."""

from __future__ import annotations

from ..requester import Requester
from ..services.maps import Filters
from ..session import Session
from ..views.filters import FiltersView


class FiltersPanel(FiltersView):
    """See the module docstring."""

    def __init__(self, session: Session, engine, parent=None) -> None:
        super().__init__(parent)
        self.session, self.requests = session, Requester(engine, self)
        session.model_changed.connect(self._on_model)
        session.layer_changed.connect(lambda _layer: self.refresh())
        self.filter_clicked.connect(self._on_filter_clicked)

    def _on_filter_clicked(self, layer: str, channel: int) -> None:
        """A first-layer filter is that layer's channel: it becomes the session's (its map over
        the photo in Feature maps, its top images after a scan)."""
        self.session.layer = layer
        self.session.channel = channel

    def _on_model(self, _model) -> None:
        self.clear()  # the old model's kernels
        self.refresh()

    def refresh(self) -> None:
        """Ask for the kernels of the session's model (and its layer, when that is a conv)."""
        if self.session.model is not None:
            self.requests.ask(Filters(self.session.layer), self.show_filters, self._on_failed)

    def _on_failed(self, message: str) -> None:  # a model without convolutions, say
        self.first_title.setText(f"<span style='color:#c92a2a'>{message}</span>")
