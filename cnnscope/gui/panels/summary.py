"""The Summary panel: the architecture table of the model the session shows.

Built from ``(session, engine)`` alone: it listens to the session's model and inspection, asks the
engine for the table when it is shown and the model changed, and owns its requests (results of an
older request, and other panels' results, are ignored)."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog

from ..requester import Requester
from ..services.architecture import ExportSummary, Summarize
from ..session import Session
from ..views.summary import SummaryView


class SummaryPanel(SummaryView):
    """See the module docstring."""

    def __init__(self, session: Session, engine, parent=None) -> None:
        super().__init__(parent)
        self.session, self.requests = session, Requester(engine, self)
        session.model_changed.connect(self._on_model_changed)
        session.inspection_changed.connect(lambda _inspection: self.refresh_if_stale())
        self.export_requested.connect(self.export_csv)

    def _on_model_changed(self, _model) -> None:
        self.requests.forget(Summarize)
        self.clear()  # the table on screen is the previous model's

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        self.refresh_if_stale()

    def refresh_if_stale(self) -> None:
        """Ask for the table when shown, a model is inspected, and the table is not its own."""
        model, inspection = self.session.model, self.session.inspection
        if self.isVisible() and model is not None and inspection is not None \
                and self.shown_model != model.name:
            self.requests.ask(Summarize(), self.show_summary, self._show_error)

    def export_csv(self) -> None:
        """Save the table as CSV (the engine writes it)."""
        path, _ = QFileDialog.getSaveFileName(self, "Save summary", "cnnscope-summary.csv", "CSV (*.csv)")
        if path:
            self.requests.ask(ExportSummary(path),
                              lambda done: self.totals.setToolTip(f"saved {done.path} ({done.model})"),
                              self._show_error)

    def _show_error(self, message: str) -> None:
        self.totals.setText(f"<span style='color:#c92a2a'>{message}</span>")
