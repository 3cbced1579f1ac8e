"""The "Where it looked" panel: a heatmap of the pixels that drove one class, by the chosen method.

It follows the session: a new inspection recomputes the heatmap (a slow method waits until the
panel is shown), a new model empties it, and the session's explained class (a click on a
prediction, through ``explain``) is the class it explains. The heatmap on screen is published as the session's
``heatmap`` (presentation mode mirrors it) and its class as the explained class.

Under the map, "Check faithfulness" asks for its deletion / insertion curves. It is a button, not
automatic: the check sends about 70 inputs through the network (about 2 s for ResNet-18 on a
2-core CPU), and the engine answers nothing else meanwhile, so after every image it would slow
every view; "every map" (remembered) makes it automatic where that is cheap (a GPU, a small
model). A box dragged on the photo is scored against each new map at once (a few milliseconds).
A new image clears the box and the numbers; a new class, method or layer clears the numbers."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import QFileDialog

from ...core.render import save_png  # numpy + Pillow only
from ..requester import Requester
from ..services.arithmetic import MapPosition
from ..services.attribution import Attribute, Restyle
from ..services.faithfulness import CheckFaithfulness, ScoreBox
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
        self._asked: tuple | None = None  # Attribute.key of the newest map asked for
        self._map_key: tuple | None = None  # ... and of the map on screen (None: a new image's)
        if settings is not None:
            self.check_every.setChecked(settings.value("faithfulness_every_map", False, type=bool))
        self.check_every.toggled.connect(self._on_check_every)
        self.check_requested.connect(self.check_faithfulness)
        self.box_drawn.connect(self._score_box)
        self.check_cancel.clicked.connect(self.cancel_computation)
        engine.ready.connect(self._on_catalogue)
        session.model_changed.connect(self._on_model)
        session.inspection_changed.connect(self._on_inspection)
        self.request_changed.connect(self.compute)
        self.style_changed.connect(self._restyle)
        self.cancel_requested.connect(self.cancel_computation)
        self.export_requested.connect(self.export_overlay)
        self.spot_clicked.connect(self._on_spot)
        self.pages.currentChanged.connect(self._on_page_shown)
        self._busy_pages: list = []  # pages with a ``busy`` property and a ``cancel_computation``

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
        for kind in (Attribute, Restyle, CheckFaithfulness, ScoreBox):
            self.requests.forget(kind)
        self._map_key = None
        self.clear()
        self.session.heatmap = None
        self.session.explained_class = None  # the old model's class
        if model is not None:
            self.set_model(model.labels, model.cam_layer, model.cam_refusal)

    def _on_inspection(self, result) -> None:
        self._map_key = None  # another image: the box and the numbers were about the last one
        self._forget_checks()
        self.clear_trust()
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
        if self.is_slow and not self.picture.isVisible() and not unseen:
            self._stale = True
            self.requests.forget(Attribute)
            self.clear()  # the heatmap on screen explains the previous image
            self._map_key = None
            self.session.heatmap = None
            self.show_message("Slow method: it runs when this tab is shown.", error=False)
            return
        self._stale = False
        if self.checking:  # the new map's request stops the check of the old one
            self._forget_checks()
            self.clear_trust(keep_box=True)
        if self.settings is not None:
            self.settings.setValue("attribution_method", self.method_key)
        request = self._request()
        self._asked = request.key
        self.requests.ask(request, self._show, self._on_failed, self.show_progress)
        self.set_busy(True, self.is_slow)

    def _on_page_shown(self, _index: int) -> None:
        if self._stale and self.on_map_page:
            self.compute()

    def add_page(self, widget, title: str, tip: str) -> None:
        """Another page (the window adds every method at once and the sanity check): it shares the
        class, layer and style chosen above, and Esc stops what it computes."""
        super().add_page(widget, title, tip)
        if hasattr(widget, "cancel_computation"):
            self._busy_pages.append(widget)

    def cancel_pages(self) -> None:
        """Stop whatever a page computes (Esc)."""
        for page in self._busy_pages:
            if page.busy:
                page.cancel_computation()

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
        if self._asked != self._map_key:  # a new map, not the same one in other colours
            self._map_key = self._asked
            self._forget_checks()
            self.clear_trust(keep_box=True)
            if self.box is not None:
                self._score_box()
            if self.check_every.isChecked():
                self.check_faithfulness()

    # --- can we trust it? ------------------------------------------------------------------------

    def check_faithfulness(self) -> None:
        """Ask for the deletion / insertion curves of the map on screen."""
        if self._map_key is None or self._result is None:
            return
        width = max(360, min(1000, self.curves.width()))  # drawn for the pane, shown pixel for pixel
        height = max(170, min(240, round(width * 0.38)))
        self.requests.ask(CheckFaithfulness(self._map_key, width=width, height=height),
                          self._show_check, self._check_failed, self.show_check_progress)
        self.set_checking(True)

    def _show_check(self, result) -> None:
        if result.key == self._map_key:
            self.show_faithfulness(result)

    def _check_failed(self, message: str) -> None:
        self.show_check_message(message, error="cancelled" not in message)

    def _score_box(self) -> None:
        self.requests.forget(ScoreBox)
        if self.box is not None and self._map_key is not None:
            self.requests.ask(ScoreBox(self._map_key, self.box), self._show_box,
                              lambda message: self.box_text.setText(message))

    def _show_box(self, result) -> None:
        if result.key == self._map_key and result.box == self.box:
            self.show_box_scores(result)

    def _forget_checks(self) -> None:
        self.requests.forget(CheckFaithfulness)
        self.requests.forget(ScoreBox)

    def _on_check_every(self, on: bool) -> None:
        if self.settings is not None:
            self.settings.setValue("faithfulness_every_map", on)
        if on and not self.checking and self.curves.array is None:
            self.check_faithfulness()

    def _on_failed(self, message: str) -> None:
        self.show_message(message, error="cancelled" not in message)

    @property
    def busy(self) -> bool:
        """Whether a slow method or a faithfulness check is computing (a progress row shows)."""
        return self.cancel.isVisible() or self.checking

    def cancel_computation(self) -> None:
        """Stop a slow method, or the faithfulness check, at its next batch (or before it starts)."""
        if self.checking:
            self.engine.cancel(CheckFaithfulness)
            self.requests.forget(CheckFaithfulness)
            self.show_check_message("Faithfulness check cancelled.", error=False)
            return
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
