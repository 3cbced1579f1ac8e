"""The 'Where it looked' tab's side of the window: requests, restyling, cancel, export.

A mixin of :class:`~cnnscope.gui.main_window.MainWindow`: it uses the window's views and engine."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog

from ...core.render import save_png  # numpy + Pillow only


class HeatmapsPart:
    """The 'Where it looked' tab's side of the window (see the module docstring)."""

    def explain_class(self, label: str) -> None:
        """Show the heatmap for ``label`` (a click on a prediction)."""
        self.attribution.choose_class(label)
        self.tabs.setCurrentWidget(self.attribution)
        self._request_attribution()

    def _attribution_params(self) -> dict:
        view = self.attribution
        return {"method": view.method_key, "target": view.target_choice, "layer": view.layer_choice,
                "cmap": view.colormap, "alpha": view.alpha}

    def _request_attribution(self) -> None:
        """Compute the heatmap for the current choices; a slow method only when its tab shows."""
        view = self.attribution
        if self.session.inspection is None or view.method_key is None:
            return
        if view.is_slow and self.tabs.currentWidget() is not view:
            self._attribution_stale = True
            view.show_message("Slow method: it runs when this tab is shown.", error=False)
            return
        self._attribution_stale = False
        self.settings.setValue("attribution_method", view.method_key)
        request_id = self._submit("attribute", **self._attribution_params())
        self._latest["attribution view"] = request_id
        view.set_busy(True, view.is_slow)

    def _restyle_attribution(self) -> None:
        if self.session.inspection is not None and self.attribution.method_key is not None:
            self._latest["attribution view"] = self._submit("restyle", **self._attribution_params())

    def _cancel_attribution(self) -> None:
        self.engine.cancel_attribution()

    def export_overlay(self) -> None:
        """File > Export heatmap overlay: the heatmap over the photo, as PNG."""
        overlay = getattr(self.attribution, "overlay", None)
        if overlay is None:
            self.banner.show_message("No heatmap to save yet.", "info")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save heatmap overlay", "cnnscope-heatmap.png",
                                              "PNG (*.png)")
        if path:
            save_png(overlay, path)

    def _fit_dock_to_tab(self, _index: int) -> None:
        """The Layers dock is about the main model: give its room to the wide tabs (transfer,
        compare, live) and bring it back, as the user left it, on the others."""
        wide = self.tabs.currentWidget() in (self.transfer, self.compare, self.live)
        if wide and not self._on_wide_tab:
            self._dock_was_open = self.layers_dock.isVisible()
            self.layers_dock.hide()
        elif not wide and self._on_wide_tab and self._dock_was_open:
            self.layers_dock.show()
        self._on_wide_tab = wide
