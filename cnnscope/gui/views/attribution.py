"""Where did the network look: method, class, layer and style choices over photo | heatmap | overlay."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QCompleter, QHBoxLayout, QLabel, QProgressBar,
                               QPushButton, QSlider, QVBoxLayout, QWidget)

from ..qimage import to_pixmap
from .image_view import ImageView

HEAT_COLORMAPS = ("jet", "turbo", "inferno", "magma", "viridis", "hot")
TOP = "Top prediction"


class AttributionView(QWidget):
    """Controls in a row, a progress row for slow methods, a caption, and the three pictures."""

    request_changed = Signal()  # method, class or layer: the map must be computed again
    style_changed = Signal()  # opacity or colormap: the same map drawn again
    cancel_requested = Signal()
    export_requested = Signal()
    spot_clicked = Signal(float, float)  # (row, column) on the heatmap clicked, as shares 0..1

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.method = QComboBox()
        self.method.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self._methods: dict = {}  # key -> core.attribution.Method (plain data, from the engine)
        self.method.setToolTip("How the heatmap is computed (hover the entries for what each does)")
        self.target = QComboBox()
        self.target.setEditable(True)
        self.target.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.target.setMinimumContentsLength(16)
        self.target.setToolTip("The class to explain: type to search; 'Top prediction' follows the image")
        self.layer = QComboBox()
        self.layer.setMinimumContentsLength(16)
        self.layer.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.layer.setToolTip("Layer for the CAM methods: later layers are coarser but more about "
                              "the class")
        self.cmap = QComboBox()
        self.cmap.addItems(HEAT_COLORMAPS)
        self.cmap.setToolTip("Heatmap colormap (matplotlib's)")
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.setMinimumWidth(100)
        self.opacity.setMaximumWidth(160)
        self.opacity.setToolTip("Opacity of the heatmap over the photo")
        self.export = QPushButton("Export...")
        self.export.setToolTip("Save the overlay as PNG (Ctrl+Shift+E)")
        controls = QHBoxLayout()  # what is computed
        for widget in (QLabel("Method"), self.method, QLabel("Class"), self.target,
                       QLabel("Layer"), self.layer):
            controls.addWidget(widget)
        controls.addStretch(1)
        style = QHBoxLayout()  # how it is drawn
        for widget in (QLabel("Colormap"), self.cmap, QLabel("Opacity"), self.opacity, self.export):
            style.addWidget(widget)
        style.addStretch(1)

        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m passes")
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop this computation (Esc)")
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("color: palette(mid)")
        status = QHBoxLayout()
        status.addWidget(self.caption, 1)
        status.addWidget(self.progress)
        status.addWidget(self.cancel)
        self.picture = ImageView("The heatmap appears here once an image is inspected")
        self.picture.setToolTip("The photo as the network saw it | the heatmap | the heatmap over the photo")
        self.picture.hovered.connect(self._on_hover)
        self.picture.clicked.connect(self._on_click)
        # the colour scale: 1 is where the method found the most evidence for the class, 0 none
        self.scale = QLabel()
        self.scale.setScaledContents(True)  # the bar stretches with the pane; it adds no width
        self.scale.setFixedWidth(14)
        self.scale.setMinimumHeight(40)
        self.scale.setToolTip("The heatmap's scale: each map is scaled to 0..1, so colours compare "
                              "places within one map, not across maps")
        self.scale_top, self.scale_bottom = QLabel("1"), QLabel("0")
        for end in (self.scale_top, self.scale_bottom):
            end.setToolTip(self.scale.toolTip())
        self.pointer = QLabel("")  # the heatmap's value under the mouse pointer
        self.pointer.setStyleSheet("color: palette(mid)")
        self._result = None
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addLayout(style)
        layout.addLayout(status)
        layout.addWidget(self.summary)
        scale = QVBoxLayout()
        scale.addWidget(self.scale_top)
        scale.addWidget(self.scale, 1)
        scale.addWidget(self.scale_bottom)
        pictures = QHBoxLayout()
        pictures.addWidget(self.picture, 1)
        pictures.addLayout(scale)
        layout.addLayout(pictures, 1)
        layout.addWidget(self.pointer)
        self.set_busy(False)
        self.overlay = None  # the last heatmap over the photo, for export
        self._cam_layer: str | None = None
        self._cam_refusal: str | None = None
        self._describe_method()

        self.method.currentIndexChanged.connect(self._on_method)
        self.target.activated.connect(lambda _: self.request_changed.emit())
        self.target.lineEdit().returnPressed.connect(self.request_changed.emit)
        self.layer.activated.connect(lambda _: self.request_changed.emit())
        self.cmap.currentIndexChanged.connect(lambda _: self.style_changed.emit())
        self.opacity.valueChanged.connect(lambda _: self.style_changed.emit())
        self.cancel.clicked.connect(self.cancel_requested.emit)
        self.export.clicked.connect(self.export_requested.emit)

    # --- what the window reads -----------------------------------------------------------------

    @property
    def method_key(self) -> str:
        """The chosen method's key (core.attribution.METHODS)."""
        return self.method.currentData()

    @property
    def is_slow(self) -> bool:
        """Whether the chosen method makes many passes (progress, cancel, not run unseen)."""
        method = self._methods.get(self.method_key)
        return bool(method and method.slow)

    @property
    def target_choice(self) -> str | None:
        """The class label typed or picked, or None for the top prediction."""
        text = self.target.currentText().strip()
        return None if not text or text == TOP else text

    @property
    def layer_choice(self) -> str | None:
        """The chosen layer, or None for the model's default CAM layer."""
        return self.layer.currentData() or None

    @property
    def colormap(self) -> str:
        """The heatmap colormap name."""
        return self.cmap.currentText()

    @property
    def alpha(self) -> float:
        """Heatmap opacity, 0..1."""
        return self.opacity.value() / 100

    # --- what the window sets ------------------------------------------------------------------

    def set_methods(self, methods: list, default: str) -> None:
        """Offer core.attribution's methods (sent by the engine, which imports core)."""
        self._methods = {m.key: m for m in methods}
        self.method.blockSignals(True)
        self.method.clear()
        for m in methods:
            self.method.addItem(m.label + (" (slow)" if m.slow else ""), m.key)
            self.method.setItemData(self.method.count() - 1, m.summary, Qt.ItemDataRole.ToolTipRole)
        self.method.setCurrentIndex(max(0, self.method.findData(default)))
        self.method.blockSignals(False)
        self._describe_method()

    def set_model(self, labels: list[str], cam_layer: str, cam_refusal: str | None) -> None:
        """A new model: its classes, its default CAM layer, and why CAM does not apply (or None)."""
        self._cam_layer, self._cam_refusal = cam_layer, cam_refusal
        self.target.blockSignals(True)
        self.target.clear()
        self.target.addItem(TOP)
        self.target.addItems(labels)
        completer = QCompleter(labels, self.target)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.target.setCompleter(completer)
        self.target.setCurrentIndex(0)
        self.target.blockSignals(False)
        self.set_layers([])
        self._describe_method()

    def set_layers(self, layers: list[str]) -> None:
        """Layers with feature maps, offered for the CAM methods; the default CAM layer first."""
        current = self.layer_choice
        self.layer.blockSignals(True)
        self.layer.clear()
        self.layer.addItem(f"{self._cam_layer} (default)" if self._cam_layer else "default", "")
        for name in layers:
            if name != self._cam_layer:
                self.layer.addItem(name, name)
        index = self.layer.findData(current) if current else 0
        self.layer.setCurrentIndex(max(0, index))
        self.layer.blockSignals(False)

    def choose_class(self, label: str) -> None:
        """Explain ``label`` (a click on a prediction)."""
        index = self.target.findText(label, Qt.MatchFlag.MatchExactly)
        if index >= 0:
            self.target.setCurrentIndex(index)
        else:
            self.target.setEditText(label)

    def set_busy(self, busy: bool, slow: bool = False) -> None:
        """Show the progress row while a slow method runs."""
        self.progress.setVisible(busy and slow)
        self.cancel.setVisible(busy and slow)
        if busy:
            self.progress.setRange(0, 0)

    def show_progress(self, done: int, total: int) -> None:
        """Passes through the network so far, of ``total``."""
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def show_result(self, result) -> None:
        """Paint an engine AttributionResult."""
        self.set_busy(False)
        self.overlay = result.overlay
        self._result = result
        self.picture.set_image(result.panel)
        if result.colorbar is not None:
            self.scale.setPixmap(to_pixmap(result.colorbar))
        where = f" at <b>{result.layer}</b>" if result.layer else ""
        notes = "".join(f"<br><i>{note}</i>" for note in result.notes)
        self.caption.setText(f"<b>{result.method_label}</b> for <b>{result.label}</b> "
                             f"({result.probability:.1%}){where} &middot; {result.elapsed_ms:.0f} ms{notes}")

    def clear(self) -> None:
        """No heatmap (the one shown explained a model or image no longer shown)."""
        self.set_busy(False)
        self.overlay, self._result = None, None
        self.picture.clear("The heatmap appears here once an image is inspected")
        self.caption.setText("")

    def _on_map(self, x: int, y: int) -> tuple[int, int, int, int] | None:
        """(row, column, height, width) in the photo-sized map under panel pixel (x, y), when it
        is on the heatmap or the overlay."""
        result = self._result
        if result is None or result.heatmap is None:
            return None
        pad = result.panel_pad
        h, w = result.overlay.shape[:2]
        for left in (pad + (w + pad), pad + 2 * (w + pad)):  # the heatmap, the overlay
            if left <= x < left + w and pad <= y < pad + h:
                return y - pad, x - left, h, w
        return None

    def spot_at(self, x: int, y: int) -> tuple[float, float] | None:
        """(row, column) as shares 0..1 of the heatmap or overlay under panel pixel (x, y)."""
        found = self._on_map(x, y)
        return None if found is None else (found[0] / found[2], found[1] / found[3])

    def _on_click(self, x: int, y: int) -> None:
        spot = self.spot_at(x, y)
        if spot is not None:
            self.spot_clicked.emit(*spot)

    def value_at(self, x: int, y: int) -> float | None:
        """The heatmap's value (0..1) under panel pixel (x, y): on the heatmap or the overlay."""
        found = self._on_map(x, y)
        if found is None:
            return None
        row, col, h, w = found
        rows, cols = self._result.heatmap.shape
        return float(self._result.heatmap[row * rows // h, col * cols // w])

    def _on_hover(self, x: int, y: int) -> None:
        value = self.value_at(x, y) if x >= 0 else None
        self.pointer.setText("" if value is None else f"heatmap here: {value:.2f} (0 least, 1 most)")

    def show_message(self, text: str, error: bool = True) -> None:
        """A refusal, a failure or a cancel, in the caption (the picture keeps the last map)."""
        self.set_busy(False)
        colour = "#c92a2a" if error else "palette(mid)"
        self.caption.setText(f"<span style='color:{colour}'>{text}</span>")

    def _on_method(self, _index: int) -> None:
        self._describe_method()
        self.request_changed.emit()

    def _describe_method(self) -> None:
        method = self._methods.get(self.method_key)
        if method is None:
            return
        self.layer.setEnabled(method.uses_layer and method.key != "cam")
        text = method.summary
        if method.key == "cam" and self._cam_refusal:
            text += " " + self._cam_refusal
        self.summary.setText(text)
