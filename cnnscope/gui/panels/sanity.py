"""The sanity check page of "Where it looked": does a heatmap method explain the model, or only
the image? (Adebayo et al. 2018, cascading randomisation.)

It runs when asked (Run): the engine randomises a copy of the shown model from the head down and
recomputes each checked method's map after every step, for the session's image and explained
class. A new model or image clears the grid, which no longer describes them."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel,
                               QProgressBar, QPushButton, QSpinBox, QToolButton, QVBoxLayout, QWidget)

from ...core.render import save_png  # numpy + Pillow only
from ..requester import Requester
from ..services.sanity import SanityCheck, SanityGrid
from ..session import Session
from ..views.image_view import ImageView

#: Checked at first (core.sanity.PREFERRED_METHODS, spelled out: the window imports no torch).
DEFAULT_METHODS = ("gradcam", "guided_backprop", "saliency", "guided_gradcam", "input_x_gradient")
CHECKBOX_COLUMNS = 4  # six made the whole tab 736 px wide at least: the window outgrew 1280 px
SUMMARY = ("<b>Sanity check</b> (Adebayo et al. 2018): does a map change when the model's "
           "knowledge is destroyed? If not, it shows the image, not the model.")
EXPLANATION = (
    "A heatmap should show what the <i>model</i> "
    "learned. To test that, a copy of the model has its layers re-initialised one block at a "
    "time, from the output (head) down, until nothing it learned is left, and every map is "
    "computed again after each step. Under each map, r is its rank correlation with the "
    "trained model's map: 1 means unchanged. A map that does not change when the model's "
    "knowledge is destroyed explains the image (its edges), not the model: Guided Backprop "
    "typically keeps looking the same, while Grad-CAM changes at the first step.")
PLACEHOLDER = "The grid appears here: choose methods and press Run."
ERROR_STYLE = "<span style='color:#c92a2a'>{}</span>"


class SanityPanel(QWidget):
    """See the module docstring."""

    message = Signal(str, str)  # text, level ("info", "error"): for the window's banner

    def __init__(self, session: Session, engine, parent=None,
                 settings: QSettings | None = None) -> None:
        super().__init__(parent)
        self.session, self.engine, self.settings = session, engine, settings
        self.requests = Requester(engine, self)
        self.result: SanityGrid | None = None
        self._boxes: dict[str, QCheckBox] = {}

        summary = QLabel(SUMMARY)
        summary.setWordWrap(True)
        summary.setTextFormat(Qt.TextFormat.RichText)
        self.more = QToolButton()
        self.more.setText("How it works")
        self.more.setCheckable(True)
        self.more.setToolTip("Show or hide how the check works and how to read the grid")
        self.explanation = QLabel(EXPLANATION)
        self.explanation.setWordWrap(True)
        self.explanation.setTextFormat(Qt.TextFormat.RichText)
        self.explanation.setVisible(False)  # folded: the grid gets the room
        self.more.toggled.connect(self.explanation.setVisible)
        heading = QHBoxLayout()
        heading.addWidget(summary, 1)
        heading.addWidget(self.more, 0, Qt.AlignmentFlag.AlignTop)
        self._methods_grid = QGridLayout()
        self._methods_grid.setHorizontalSpacing(14)
        self.steps = QSpinBox()
        self.steps.setRange(1, 24)
        self.steps.setValue(8)
        self.steps.setToolTip("Randomisation steps at most: the head alone, then the rest of the "
                              "network in groups of neighbouring blocks")
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Randomise a copy of the model step by step and recompute the "
                                   "checked maps for this image and class (your model stays as it is)")
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m maps")
        self.progress.setMinimumWidth(180)
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop before the next map")
        self.export = QPushButton("Export PNG...")
        self.export.setEnabled(False)
        controls = QHBoxLayout()
        for widget in (QLabel("Steps"), self.steps, self.run_button, self.progress, self.cancel):
            controls.addWidget(widget)
        controls.addStretch(1)
        controls.addWidget(self.export)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.grid = ImageView(PLACEHOLDER)
        self.grid.setToolTip("Rows: methods; columns: the trained model, then one more block "
                             "randomised at each step; r: rank correlation with the first map")
        layout = QVBoxLayout(self)
        layout.addLayout(heading)
        layout.addWidget(self.explanation)
        layout.addLayout(self._methods_grid)
        layout.addLayout(controls)
        layout.addWidget(self.caption)
        layout.addWidget(self.grid, 1)
        self._set_busy(False)

        engine.ready.connect(lambda catalogue: self.set_methods(catalogue.methods))
        session.model_changed.connect(self._on_model)
        session.inspection_changed.connect(self._on_inspection)
        session.explained_class_changed.connect(self._on_class)
        self.run_button.clicked.connect(self.run)
        self.cancel.clicked.connect(self.cancel_computation)
        self.export.clicked.connect(self.export_png)

    # --- choices ---------------------------------------------------------------------------

    def set_methods(self, methods: list) -> None:
        """One checkbox per fast method (core.attribution.Method, plain data from the engine);
        the slow ones would take minutes over every step, so they are not offered."""
        for box in self._boxes.values():
            box.deleteLater()
        self._boxes = {}
        fast = [m for m in methods if not m.slow]
        remembered = self.settings.value("sanity_methods", "") if self.settings is not None else ""
        chosen = [k for k in str(remembered).split(",") if k] or DEFAULT_METHODS
        for i, method in enumerate(fast):
            box = QCheckBox(method.label)
            box.setToolTip(method.summary)
            box.setChecked(method.key in chosen)
            self._methods_grid.addWidget(box, i // CHECKBOX_COLUMNS, i % CHECKBOX_COLUMNS)
            self._boxes[method.key] = box
        self._offer_cam(self.session.model)

    def checked_methods(self) -> list[str]:
        """The keys of the checked methods, in the order offered."""
        return [key for key, box in self._boxes.items() if box.isChecked() and box.isEnabled()]

    def choose_methods(self, keys: list[str]) -> None:
        """Check exactly ``keys`` (those offered)."""
        for key, box in self._boxes.items():
            box.setChecked(key in keys)

    def _offer_cam(self, model) -> None:
        box = self._boxes.get("cam")
        if box is not None:
            refusal = model.cam_refusal if model is not None else None
            box.setEnabled(refusal is None)
            box.setToolTip(refusal or box.toolTip())

    # --- following the session -------------------------------------------------------------

    def _on_model(self, model) -> None:
        self._drop("Run the check for the new model." if model is not None else "")
        self._offer_cam(model)

    def _on_inspection(self, result) -> None:
        if result is not None:
            self._drop("A new image: run the check again for it.")

    def _on_class(self, label) -> None:
        if self.result is not None and label and label != self.result.label:
            self.caption.setText(f"This grid explains <b>{self.result.label}</b>; press Run to check "
                                 f"the maps for <b>{label}</b>.")

    def _drop(self, text: str) -> None:
        """Forget a running or shown check: it describes another model or image."""
        if self.busy:
            self.engine.cancel(SanityCheck)
        self.requests.forget(SanityCheck)
        self._set_busy(False)
        self.result = None
        self.grid.clear(PLACEHOLDER)
        self.export.setEnabled(False)
        self.caption.setText(text)

    # --- running ---------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Whether a check is running (its progress row shows)."""
        return not self.cancel.isHidden()

    def run(self) -> None:
        """Ask the engine for the check the controls describe."""
        if self.session.inspection is None:
            self.caption.setText("Open an image first: the check explains the image shown.")
            return
        methods = self.checked_methods()
        if not methods:
            self.caption.setText("Check at least one method.")
            return
        if self.settings is not None:
            self.settings.setValue("sanity_methods", ",".join(methods))
        target = self.session.explained_class
        self.requests.ask(SanityCheck(tuple(methods), target, self.steps.value()), self._show,
                          self._on_failed, self._on_progress)
        self._set_busy(True)
        self.progress.setRange(0, 0)  # unknown until the first map
        self.caption.setText(f"Randomising a copy of the model and explaining "
                             f"<b>{target or 'the top class'}</b> again after each step...")

    def cancel_computation(self) -> None:
        """Stop before the next map (or before it starts)."""
        self.engine.cancel(SanityCheck)
        self.requests.forget(SanityCheck)  # a request dropped before it ran never answers
        self._set_busy(False)
        self.caption.setText("Sanity check cancelled.")

    def _on_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    def _show(self, result: SanityGrid) -> None:
        self._set_busy(False)
        self.result = result
        self.grid.set_image(result.picture)
        self.export.setEnabled(True)
        notes = "".join(f"<br>{note}" for note in result.notes)
        self.caption.setText(f"Where it looked for <b>{result.label}</b> ({result.probability:.0%}), "
                             f"as each block of the model is randomised: {len(result.columns) - 1} "
                             f"steps, {result.elapsed_s:.1f} s.{notes}")

    def _on_failed(self, message: str) -> None:
        self._set_busy(False)
        self.caption.setText(ERROR_STYLE.format(message))

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel.setVisible(busy)
        self.run_button.setEnabled(not busy)

    def export_png(self) -> None:
        """Save the grid as PNG."""
        if self.result is None:
            self.message.emit("No sanity check to save yet.", "info")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save sanity check", "cnnscope-sanity.png",
                                              "PNG (*.png)")
        if path:
            try:
                save_png(self.result.picture, path)
            except OSError as exc:  # a folder, a read-only place: one sentence, nothing lost
                self.message.emit(f"Could not write {path}: {exc.strerror or exc}.", "error")
