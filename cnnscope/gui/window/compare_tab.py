"""The Compare tab's side of the window: running, cancelling and exporting comparisons.

A mixin of :class:`~cnnscope.gui.main_window.MainWindow`: it uses the window's views and engine."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog


class ComparePart:
    """The Compare tab's side of the window (see the module docstring)."""

    def run_comparison(self) -> None:
        """Run the comparison the compare view describes on the image shown."""
        source = self.session.image or self._wanted
        request = self.compare.request()
        if source is None:
            self.compare.status.setText("Open or drop an image first.")
            return
        if not 2 <= len(request["models"]) <= 4:
            self.compare.status.setText("Choose 2 to 4 models.")
            return
        self._compared_source = source
        self.compare.start(request["models"])
        self._submit("compare", source=source, device=self.device_box.currentData(), **request)

    def _cancel_comparison(self) -> None:
        self.engine.cancel_compare()
        self.compare.done(["cancelled"])

    def _compare_if_stale(self) -> None:
        if self.tabs.currentWidget() is self.compare and (self.session.image or self._wanted) != self._compared_source:
            self.run_comparison()

    def export_comparison(self) -> None:
        """Save the whole comparison as one PNG."""
        path, _ = QFileDialog.getSaveFileName(self, "Save comparison", "cnnscope-compare.png", "PNG (*.png)")
        if path:
            name = Path((self._compared_source or {}).get("path") or "image").name
            self._submit("export_compare", path=path, title=f"{name}: {self._matching_text()}")

    def _matching_text(self) -> str:
        request = self.compare.request()
        return (f"layers matched at relative depth {request['depth']:.2f}" if request["depth"] is not None
                else f"layers matched at 1/{request['stride']} of the input")
