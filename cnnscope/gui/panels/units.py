"""The "What units see" panel: what a channel responds to (an image optimised for it, forming
step by step), Deep Dream on the photo, and an adversarial version of the photo that fools the
network. All three optimise an image by gradient on the session's model (core/optimize.py)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QHBoxLayout,
                               QLabel, QLineEdit, QProgressBar, QPushButton, QSpinBox, QTabWidget,
                               QVBoxLayout, QWidget)

from ...core.channel_lists import parse_channels  # plain Python
from ...core.errors import OptionError
from ...core.render import save_png, tile_at  # numpy + Pillow only
from ..requester import Requester
from ..services.dataset import UnitTops
from ..services.units import AttackPhoto, DreamPhoto, VisualiseChannels, VisualiseClass
from ..session import Session
from ..views.image_view import ImageView

AWAY = "(away from its top class)"


def _row(*widgets) -> QHBoxLayout:
    row = QHBoxLayout()
    for widget in widgets:
        row.addWidget(QLabel(widget) if isinstance(widget, str) else widget)
    row.addStretch(1)
    return row


class UnitsPanel(QWidget):
    """See the module docstring."""

    message = Signal(str, str)  # text, level: for the window's banner

    def __init__(self, session: Session, engine, parent=None) -> None:
        super().__init__(parent)
        self.session, self.engine = session, engine
        self.requests = Requester(engine, self)
        self.modes = QTabWidget()
        self.modes.addTab(self._channels_tab(), "Channel images")
        self.modes.addTab(self._dream_tab(), "Deep Dream")
        self.modes.addTab(self._attack_tab(), "Adversarial")
        self.progress = QProgressBar()
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop at the next step; what formed so far stays (Esc)")
        self.cancel.clicked.connect(self.cancel_run)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.export = QPushButton("Export PNG...")
        self.export.setToolTip("Save the picture this mode shows")
        self.export.clicked.connect(self.export_png)
        layout = QVBoxLayout(self)
        layout.addWidget(self.modes, 1)
        layout.addLayout(_row(self.progress, self.cancel, self.export))
        layout.addWidget(self.status)
        self._busy(False)
        session.model_changed.connect(self._on_model)
        session.inspection_changed.connect(self._on_inspection)
        session.layer_changed.connect(self._on_layer)

    # --- the three tabs --------------------------------------------------------------------------

    def _channels_tab(self) -> QWidget:
        self.layer = QComboBox()
        self.layer.setToolTip("The layer whose channels to show (follows the Layers dock)")
        self.layer.setMinimumContentsLength(11)
        self.layer.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.channels = QLineEdit("0-7")
        self.channels.setMinimumWidth(70)
        self.channels.setToolTip("Channel numbers: 0-7, or 3,9,12 (up to 16 at once, one batch)")
        self.steps = QSpinBox()
        self.steps.setRange(8, 2048)
        self.steps.setValue(128)
        self.plain = QCheckBox("Plain pixels (no regularisers)")
        self.plain.setToolTip("Optimise raw pixels with no jitter, scale or rotation: see the "
                              "high-frequency noise the Fourier parameterisation avoids")
        self.run_channels = QPushButton("Show what they respond to")
        self.run_channels.clicked.connect(self.visualise)
        self.class_box = QComboBox()
        self.class_box.setEditable(True)
        self.class_box.setMinimumContentsLength(14)
        self.class_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.class_box.setToolTip("A class the model knows: the image that raises its score most")
        self.run_class = QPushButton("Show the class")
        self.run_class.clicked.connect(self.visualise_class)
        self.channel_images = ImageView("Choose a layer and channels, then press the button")
        self.channel_images.setToolTip("Click a channel's image to select it (Feature maps shows it "
                                       "over the photo; after a scan, its top images show below)")
        self.channel_images.clicked.connect(self._on_channel_image_click)
        self._channels_shown = None  # the finished UnitImages of channels shown
        self.channel_caption = QLabel("")
        self.channel_caption.setWordWrap(True)
        self.dataset_caption = QLabel("")
        self.dataset_tops = ImageView("")
        self.dataset_tops.setMaximumHeight(220)
        for widget in (self.dataset_caption, self.dataset_tops):
            widget.hide()
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addLayout(_row("Layer", self.layer, "Channels", self.channels, "Steps", self.steps))
        layout.addLayout(_row(self.plain, self.run_channels))
        layout.addLayout(_row("Or a class", self.class_box, self.run_class))
        layout.addWidget(self.channel_images, 1)
        layout.addWidget(self.channel_caption)
        layout.addWidget(self.dataset_caption)
        layout.addWidget(self.dataset_tops)
        return tab

    def _on_channel_image_click(self, x: int, y: int) -> None:
        """A channel's image clicked: that channel becomes the session's, and its top images in the
        scanned dataset show below (when the scan open is of this model and kept that layer)."""
        shown = self._channels_shown
        if shown is None or shown.layout is None or shown.layer is None:
            return
        index = tile_at(shown.layout, x, y)
        if index is None:
            return
        channel = shown.channels[index]
        self.session.layer = shown.layer
        self.session.channel = channel
        scan, model = self.session.scan, self.session.model
        if scan is None or model is None or shown.layer not in scan.layers \
                or (model.name, model.weights_label) != (scan.model, scan.weights_label):
            self.dataset_caption.setText("Scan a folder (Dataset tab) to see the images where this "
                                         "channel fires most.")
            self.dataset_caption.show()
            self.dataset_tops.hide()
            return
        self.requests.ask(UnitTops(scan.folder, shown.layer, channel, tile=72), self._show_dataset_tops,
                          lambda message: self.status.setText(message))

    def _show_dataset_tops(self, result) -> None:
        self.dataset_caption.setText(f"<b>In the dataset</b>: {result.layer} channel {result.channel}'s "
                                     f"top {len(result.hits)} images")
        self.dataset_tops.set_image(result.sheet)
        self.dataset_caption.show()
        self.dataset_tops.show()

    def _dream_tab(self) -> QWidget:
        self.octaves = QSpinBox()
        self.octaves.setRange(1, 8)
        self.octaves.setValue(3)
        self.dream_steps = QSpinBox()
        self.dream_steps.setRange(1, 200)
        self.dream_steps.setValue(10)
        self.strength = QDoubleSpinBox()
        self.strength.setRange(0.001, 0.2)
        self.strength.setDecimals(3)
        self.strength.setSingleStep(0.005)
        self.strength.setValue(0.02)
        self.run_dream = QPushButton("Dream")
        self.run_dream.setToolTip("Amplify what the selected layer sees in the photo")
        self.run_dream.clicked.connect(self.dream)
        self.dream_view = ImageView("The photo | what the layer dreams into it")
        self.dream_caption = QLabel("")
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addLayout(_row("Octaves", self.octaves, "Steps per octave", self.dream_steps,
                              "Strength", self.strength, self.run_dream))
        layout.addWidget(self.dream_view, 1)
        layout.addWidget(self.dream_caption)
        return tab

    def _attack_tab(self) -> QWidget:
        self.target = QComboBox()
        self.target.setEditable(True)
        self.target.setMinimumContentsLength(16)  # the entry starts at its beginning (below)
        self.target.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.target.setToolTip("The class to push the photo towards, or away from its top class")
        self.epsilon = QSpinBox()
        self.epsilon.setRange(1, 32)
        self.epsilon.setValue(2)
        self.epsilon.setSuffix(" / 255")
        self.epsilon.setToolTip("The largest change per pixel and channel, in 8-bit levels")
        self.method = QComboBox()
        self.method.addItem("PGD (10 steps)", "pgd")
        self.method.addItem("FGSM (one step)", "fgsm")
        self.run_attack = QPushButton("Fool it")
        self.run_attack.clicked.connect(self.attack)
        self.attack_view = ImageView("The photo | the change, amplified | the adversarial photo")
        self.looked_view = ImageView("Where each looked: Grad-CAM of the photo | of the adversarial "
                                     "photo, each for its own top class")
        self.attack_caption = QLabel("")
        self.attack_caption.setWordWrap(True)
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addLayout(_row("Towards", self.target, "Budget", self.epsilon, self.method,
                              self.run_attack))
        layout.addWidget(self.attack_view, 3)
        layout.addWidget(self.looked_view, 2)
        layout.addWidget(self.attack_caption)
        return tab

    # --- the session ---------------------------------------------------------------------------

    def _on_model(self, model) -> None:
        for kind in (VisualiseChannels, VisualiseClass, DreamPhoto, AttackPhoto):
            self.requests.forget(kind)
        self._busy(False)
        for view in (self.channel_images, self.dream_view, self.attack_view, self.looked_view):
            view.clear("")
        for caption in (self.channel_caption, self.dream_caption, self.attack_caption, self.status):
            caption.setText("")
        self.target.clear()
        self.class_box.clear()
        if model is not None:
            self.target.addItem(AWAY)
            self.target.addItems(model.labels)
            self.target.lineEdit().setCursorPosition(0)  # show the start of the long first entry
            self.class_box.addItems(model.labels)

    def _on_inspection(self, result) -> None:
        if result is None:
            return
        self._layers = {row[0]: row[2][0] for row in result.layers if len(row[2]) == 3}
        current = self.layer.currentText()
        self.layer.blockSignals(True)
        self.layer.clear()
        self.layer.addItems(list(self._layers))
        self.layer.setCurrentText(current if current in self._layers else (self.session.layer or ""))
        self.layer.blockSignals(False)

    def _on_layer(self, layer) -> None:
        if layer and self.layer.findText(layer) >= 0:
            self.layer.setCurrentText(layer)

    # --- runs --------------------------------------------------------------------------------------

    def _busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel.setVisible(busy)
        for button in (self.run_channels, self.run_class, self.run_dream, self.run_attack):
            button.setEnabled(not busy)

    def _ask(self, request, on_result) -> None:
        self._busy(True)
        self.progress.setRange(0, 0)
        self.status.setText("")
        self.requests.ask(request, on_result, self._on_failed, self._on_progress)

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def _on_failed(self, message: str) -> None:
        self._busy(False)
        self.status.setText(f"<span style='color:#c92a2a'>{message}</span>")

    def export_png(self) -> None:
        """Save the current mode's picture (the same pixels the commands write)."""
        view = (self.channel_images, self.dream_view, self.attack_view)[self.modes.currentIndex()]
        if view.array is None:
            self.status.setText("Nothing to save yet: run it first.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save PNG", "cnnscope-units.png", "PNG (*.png)")
        if path:
            try:
                save_png(view.array, path)
            except OSError as exc:  # a folder we may not write to: one sentence, nothing lost
                self.status.setText(f"<span style='color:#c92a2a'>Could not write {path}: "
                                    f"{exc.strerror or exc}</span>")
                return
            self.status.setText(f"saved {path}")

    def cancel_run(self) -> None:
        """Stop the run at its next step."""
        for kind in (VisualiseChannels, VisualiseClass, DreamPhoto, AttackPhoto):
            self.engine.cancel(kind)

    def show_channel(self, layer: str, channel: int) -> None:
        """What makes ``layer``'s ``channel`` fire: the channel images mode, run for that channel."""
        self.modes.setCurrentIndex(0)
        if self.layer.findText(layer) >= 0:
            self.layer.setCurrentText(layer)
        self.channels.setText(str(channel))
        self.visualise()

    def visualise(self) -> None:
        """Optimise an image for each chosen channel of the chosen layer."""
        layer = self.layer.currentText()
        if not layer or self.session.model is None:
            self.status.setText("Inspect an image first: its layers are listed then.")
            return
        try:
            channels = parse_channels(self.channels.text(), self._layers[layer])
        except OptionError as exc:
            self.status.setText(f"<span style='color:#c92a2a'>{exc}</span>")
            return
        self._ask(VisualiseChannels(layer, channels, self.steps.value(), not self.plain.isChecked()),
                  self._show_channels)

    def visualise_class(self) -> None:
        """Optimise an image for the chosen class's score."""
        label = self.class_box.currentText().strip()
        if not label or self.session.model is None:
            self.status.setText("Choose a class the model knows.")
            return
        self._ask(VisualiseClass(label, self.steps.value(), not self.plain.isChecked()),
                  self._show_channels)

    def _show_channels(self, result) -> None:
        self.channel_images.set_image(result.picture)
        self._channels_shown = result if result.done else None
        if not result.done:
            self.channel_caption.setText(f"forming: step {result.step} of {result.steps}")
            return
        self._busy(False)
        scores = ", ".join(
            f"{label.rsplit(' ', 1)[1]}: {s:.2f}" + (f" (photo {p:.2f})" if p is not None else "")
            for label, s, p in zip(result.labels, result.scores,
                                   result.photo_scores or [None] * len(result.scores)))
        if result.labels[0].startswith("class, "):
            self.channel_caption.setText(
                f"The image that raises the score of <b>{result.labels[0][7:]}</b> most: "
                f"{result.scores[0]:.2f} ({result.step} steps, {result.seconds:.1f} s"
                f"{', cancelled' if result.cancelled else ''})")
            return
        self.channel_caption.setText(
            f"<b>{result.labels[0].split(',')[0]}</b>, channels in reading order; mean activation "
            f"reached, and on the photo shown: {scores} ({result.step} steps, "
            f"{result.seconds:.1f} s{', cancelled' if result.cancelled else ''})")

    def dream(self) -> None:
        """Deep Dream on the session's photo at the chosen layer."""
        if self.session.image is None or not self.layer.currentText():
            self.status.setText("Inspect an image first.")
            return
        self._ask(DreamPhoto(self.session.image, self.layer.currentText(), self.octaves.value(),
                             self.dream_steps.value(), self.strength.value(), self._framing()),
                  self._show_dream)

    def _show_dream(self, result) -> None:
        self.dream_view.set_image(result.picture)
        if result.done:
            self._busy(False)
            self.dream_caption.setText(f"Deep Dream at <b>{result.labels[0]}</b>: its energy went to "
                                       f"{result.scores[0]:.2f} ({result.step} steps)")

    def attack(self) -> None:
        """An adversarial version of the session's photo."""
        if self.session.image is None:
            self.status.setText("Inspect an image first.")
            return
        target = self.target.currentText().strip()
        self._ask(AttackPhoto(self.session.image, self.epsilon.value() / 255,
                              None if target in ("", AWAY) else target, self.method.currentData(),
                              framing=self._framing()),
                  self._show_attack)

    def _framing(self) -> str:
        """How the inspection shown framed the photo ("crop" or "whole"): the dream and the attack
        start from the same picture."""
        framing = getattr(self.session.inspection, "framing", None)
        return framing.mode if framing is not None else "crop"

    def _show_attack(self, shown) -> None:
        self._busy(False)
        found = shown.attack
        self.attack_view.set_image(shown.picture)
        self.looked_view.set_image(shown.looked)
        (before, p_before), (after, p_after) = found.before[0], found.after[0]
        verdict = ("The saved 8-bit picture fools it." if found.fooled else
                   "Rounded to 8 bits it no longer fools it: raise the budget.")
        self.attack_caption.setText(
            f"Before: <b>{before}</b> ({p_before:.1%}). After a change of at most {found.levels}/255 "
            f"per pixel (middle: the change x{found.amplification}, grey = none): <b>{after}</b> "
            f"({p_after:.1%}). {verdict} Below: Grad-CAM for <b>{shown.looked_at[0]}</b> on the "
            f"photo and for <b>{shown.looked_at[1]}</b> on the adversarial photo.")

