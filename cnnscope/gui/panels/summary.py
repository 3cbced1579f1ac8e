"""The Summary panel: the architecture table of the model the session shows.

Built from ``(session, engine)`` alone: it listens to the session's model and inspection, asks the
engine for the table when it is shown and the model changed, and owns its requests (results of an
older request, and other panels' results, are ignored)."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog

from ..session import Session
from ..views.summary import SummaryView


class SummaryPanel(SummaryView):
    """See the module docstring."""

    def __init__(self, session: Session, engine, parent=None) -> None:
        super().__init__(parent)
        self.session, self.engine = session, engine
        self._table_id: int | None = None  # the newest table request
        self._export_id: int | None = None
        session.model_changed.connect(self._on_model_changed)
        session.inspection_changed.connect(lambda _inspection: self.refresh_if_stale())
        engine.summary_ready.connect(self._on_table)
        engine.summary_exported.connect(self._on_exported)
        engine.failed.connect(self._on_failed)
        self.export_requested.connect(self.export_csv)

    def _on_model_changed(self, _model) -> None:
        self.shown_model = None  # the table on screen is the previous model's

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        self.refresh_if_stale()

    def refresh_if_stale(self) -> None:
        """Ask for the table when shown, a model is inspected, and the table is not its own."""
        model, inspection = self.session.model, self.session.inspection
        if self.isVisible() and model is not None and inspection is not None \
                and self.shown_model != model["name"]:
            self._table_id = self.engine.submit("summary")

    def _on_table(self, request_id: int, summary: dict) -> None:
        if request_id == self._table_id:
            self.show_summary(summary)

    def export_csv(self) -> None:
        """Save the table as CSV (the engine writes it)."""
        path, _ = QFileDialog.getSaveFileName(self, "Save summary", "cnnscope-summary.csv", "CSV (*.csv)")
        if path:
            self._export_id = self.engine.submit("export_summary", path=path)

    def _on_exported(self, request_id: int, path: str) -> None:
        if request_id == self._export_id:
            self.totals.setToolTip(f"saved {path}")

    def _on_failed(self, request_id: int, _kind: str, message: str) -> None:
        if request_id in (self._table_id, self._export_id):
            self.totals.setText(f"<span style='color:#c92a2a'>{message}</span>")
