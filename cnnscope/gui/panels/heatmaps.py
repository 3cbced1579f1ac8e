"""The "Where it looked" panel: a heatmap of the pixels that drove one class, by the chosen method.

It follows the session: a new inspection recomputes the heatmap (a slow method waits until the
panel is shown), a new model empties it, and the session's explained class (a click on a
prediction, through ``explain``) is the class it explains. The heatmap on screen is published as the session's
``heatmap`` (presentation mode mirrors it) and its class as the explained class."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import QFileDialog

from ...core.render import save_png  # numpy + Pillow only
from ..requester import Requester
from ..services.arithmetic import MapPosition
from ..services.attribution import Attribute, Restyle
from ..session import Session
from ..views.attribution import AttributionView


class HeatmapsPanel(AttributionView):
    """See the module docstring."""

    message = Signal(str, str)  # text, level ("info", "error"): for the window's banner

    def __init__(self, session: Session, engine, parent=None,
                 settings: QSettings | None = None) -> None:
        super().__init__(parent)
        self.session, self.engine, self.settings = session, engine, settings
        self.requests = Requester(engine, self)
        self._stale = False  # a slow method waits until the panel is shown
        engine.ready.connect(self._on_catalogue)
        session.model_changed.connect(self._on_model)
        session.inspection_changed.connect(self._on_inspection)
        self.request_changed.connect(self.compute)
        self.style_changed.connect(self._restyle)
        self.cancel_requested.connect(self.cancel_computation)
        self.export_requested.connect(self.export_overlay)
        self.spot_clicked.connect(self._on_spot)

    def _on_spot(self, row_share: float, col_share: float) -> None:
        """A click on a CAM-family heatmap chooses that position of the layer it was made at
        (the Arithmetic tab explains it; its patch is outlined on the photo)."""
        result, inspection = self._result, self.session.inspection
        if result is None or not result.layer or inspection is None:
            return
        shape = {row[0]: row[2] for row in inspection.layers}.get(result.layer)
        if shape is None or len(shape) != 3:
            return
        channels, rows, cols = shape
        channel = min(self.session.channel or 0, channels - 1)
        self.session.position = MapPosition(result.layer, channel, min(rows - 1, int(row_share * rows)),
                                            min(cols - 1, int(col_share * cols)))

    def _on_catalogue(self, catalogue) -> None:
        methods = catalogue.methods
        default = self.settings.value("attribution_method", methods[0].key) if self.settings \
            else methods[0].key
        self.set_methods(methods, default)

    def _on_model(self, model) -> None:
        self.requests.forget(Attribute)
        self.requests.forget(Restyle)
        self.clear()
        self.session.heatmap = None
        self.session.explained_class = None  # the old model's class
        if model is not None:
            self.set_model(model.labels, model.cam_layer, model.cam_refusal)

    def _on_inspection(self, result) -> None:
        if result is not None:
            self.set_layers(result.map_layers())
            self.compute()

    def explain(self, label: str) -> None:
        """Show where the network found ``label`` (a click on a prediction), even when it is the
        class already shown or asked for."""
        self.choose_class(label)
        self.session.explained_class = label
        self.compute()

    def _request(self, kind=Attribute):
        return kind(self.method_key, self.target_choice, self.layer_choice, self.colormap, self.alpha)

    def compute(self, unseen: bool = False) -> None:
        """Compute the heatmap for the current choices; a slow method only when the panel is
        shown (or ``unseen``: presentation mode asks for it while the panel is hidden)."""
        if self.session.inspection is None or self.method_key is None:
            return
        if self.is_slow and not self.isVisible() and not unseen:
            self._stale = True
            self.requests.forget(Attribute)
            self.clear()  # the heatmap on screen explains the previous image
            self.session.heatmap = None
            self.show_message("Slow method: it runs when this tab is shown.", error=False)
            return
        self._stale = False
        if self.settings is not None:
            self.settings.setValue("attribution_method", self.method_key)
        self.requests.ask(self._request(), self._show, self._on_failed, self.show_progress)
        self.set_busy(True, self.is_slow)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        if self._stale:
            self.compute()

    def _restyle(self) -> None:
        if self.session.inspection is not None and self.method_key is not None:
            self.requests.ask(self._request(Restyle), self._show, self._on_failed)

    def _show(self, result) -> None:
        self.show_result(result)
        self.session.heatmap = result
        self.session.explained_class = result.label

    def _on_failed(self, message: str) -> None:
        self.show_message(message, error="cancelled" not in message)

    @property
    def busy(self) -> bool:
        """Whether a slow method is computing (its progress row shows)."""
        return self.cancel.isVisible()

    def cancel_computation(self) -> None:
        """Stop a slow method at its next batch (or before it starts)."""
        self.engine.cancel(Attribute)
        self.requests.forget(Attribute)  # a request dropped before it ran never answers
        self.show_message("Heatmap cancelled.", error=False)

    def export_overlay(self) -> None:
        """Save the heatmap over the photo as PNG."""
        if self.overlay is None:
            self.message.emit("No heatmap to save yet.", "info")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save heatmap overlay", "cnnscope-heatmap.png",
                                              "PNG (*.png)")
        if path:
            try:
                save_png(self.overlay, path)
            except OSError as exc:  # a folder, a read-only place: one sentence, nothing lost
                self.message.emit(f"Could not write {path}: {exc.strerror or exc}.", "error")
