"""The Summary tab's side of the window.

A mixin of :class:`~cnnscope.gui.main_window.MainWindow`: it uses the window's views and engine."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog


class SummaryPart:
    """The Summary tab's side of the window (see the module docstring)."""

    def _summary_if_stale(self) -> None:
        info = self.session.model
        if (self.tabs.currentWidget() is self.summary and info is not None
                and self.session.inspection is not None and self.summary.shown_model != info["name"]):
            self._submit("summary")

    def export_summary(self) -> None:
        """Save the architecture summary as CSV."""
        path, _ = QFileDialog.getSaveFileName(self, "Save summary", "cnnscope-summary.csv", "CSV (*.csv)")
        if path:
            self._submit("export_summary", path=path)
