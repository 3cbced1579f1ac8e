"""Presentation mode's side of the window: entering, leaving, keeping it in step.

A mixin of :class:`~cnnscope.gui.main_window.MainWindow`: it uses the window's views and engine."""

from __future__ import annotations

from PySide6.QtCore import Qt

from ..views.presentation import PresentationView


class PresentationPart:
    """Presentation mode's side of the window (see the module docstring)."""

    def toggle_presentation(self) -> None:
        """F11: enter or leave presentation mode."""
        if self.presentation is not None and self.presentation.isVisible():
            self.leave_presentation()
            return
        if self.presentation is None:
            self.presentation = PresentationView()
            self.presentation.step_layer.connect(self.layers.step)
            self.presentation.toggle_cam.connect(self._toggle_presentation_cam)
            self.presentation.pick_sample.connect(self._pick_sample)
            self.presentation.leave.connect(self.leave_presentation)
        self.presentation.showFullScreen()
        self.presentation.activateWindow()
        self.presentation.setFocus()
        self._refresh_presentation()

    def leave_presentation(self) -> None:
        """Esc / F11 in presentation mode: back to the window."""
        if self.presentation is not None:
            self.presentation.hide()
        self.activateWindow()

    def _toggle_presentation_cam(self) -> None:
        view = self.presentation
        view.showing_cam = not view.showing_cam
        if view.showing_cam and self.attribution.overlay is None:
            self._request_attribution()
        self._refresh_presentation()

    def _pick_sample(self, index: int) -> None:
        if index < self.strip.count():
            self.open_path(self.strip.item(index).data(Qt.ItemDataRole.UserRole))

    def _refresh_presentation(self) -> None:
        view = self.presentation
        if view is None or not view.isVisible():
            return
        result = self.session.inspection
        if view.showing_cam:
            middle = self.attribution.overlay
            # the method and the class, without the timing the desktop caption adds
            title = self.attribution.caption.text().split("<br>")[0].split(" &middot; ")[0]
        else:
            middle = self.features.grid.array
            title = self.features.caption.text()
        model = (self.session.model or {}).get("name", "")
        view.show_state(self.input_view.array, middle, f"{model}: {title}" if title else model,
                        result.predictions if result is not None else [])
