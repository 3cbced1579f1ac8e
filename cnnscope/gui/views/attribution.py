"""Where did the network look: method, class, layer and style choices over photo | heatmap | overlay,
and under them whether to trust the map: its deletion / insertion curves and a box the user draws."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QCompleter, QHBoxLayout, QLabel, QProgressBar,
                               QPushButton, QSlider, QTabWidget, QVBoxLayout, QWidget)

from ..qimage import to_pixmap
from .box_picture import BoxPicture, FittedPicture

HEAT_COLORMAPS = ("jet", "turbo", "inferno", "magma", "viridis", "hot")
TOP = "Top prediction"


def _area(value: float) -> str:
    """An area under a curve as the plot's legend writes it (core.render_curves.area_text)."""
    return f"{value:.3f}" if value >= 0.01 or value == 0 else f"{value:.2g}"


class AttributionView(QWidget):
    """Controls in a row, a progress row for slow methods, a caption, and the three pictures."""

    request_changed = Signal()  # method, class or layer: the map must be computed again
    style_changed = Signal()  # opacity or colormap: the same map drawn again
    cancel_requested = Signal()
    export_requested = Signal()
    spot_clicked = Signal(float, float)  # (row, column) on the heatmap clicked, as shares 0..1
    check_requested = Signal()  # the faithfulness curves of the map shown
    box_drawn = Signal()  # a box was drawn (or cleared): score the map in it

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
        self.picture = BoxPicture("The heatmap appears here once an image is inspected")
        self.picture.setToolTip("The photo as the network saw it | the heatmap | the heatmap over the "
                                "photo. Drag on any of them to draw a box around the object.")
        self.picture.hovered.connect(self._on_hover)
        self.picture.clicked.connect(self._on_click)
        self.picture.drag_moved.connect(lambda *points: self._on_drag(points, False))
        self.picture.drag_finished.connect(lambda *points: self._on_drag(points, True))
        self.box: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1 in the crop (x1, y1 excluded)
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
        self._build_trust()
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addLayout(style)
        # pages: the map of one method (with its faithfulness check), then views that compare
        # methods (every method at once, the sanity check): added by the panel
        self.pages = QTabWidget()
        self.pages.setDocumentMode(True)
        map_page = QWidget()
        page = QVBoxLayout(map_page)
        page.setContentsMargins(0, 4, 0, 0)
        page.addLayout(status)
        page.addWidget(self.summary)
        scale = QVBoxLayout()
        scale.addWidget(self.scale_top)
        scale.addWidget(self.scale, 1)
        scale.addWidget(self.scale_bottom)
        pictures = QHBoxLayout()
        pictures.addWidget(self.picture, 1)
        pictures.addLayout(scale)
        page.addLayout(pictures, 1)
        page.addWidget(self.pointer)
        page.addLayout(self._trust_row)
        page.addWidget(self.trust_body)
        self.pages.addTab(map_page, "Map")
        self.pages.setTabToolTip(0, "The chosen method's heatmap, and how faithful it is")
        self.pages.currentChanged.connect(self._on_page)
        layout.addWidget(self.pages, 1)
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
        self._draw_box()
        self.check.setEnabled(not self.checking)
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
        self.clear_trust()

    def _on_map(self, x: int, y: int) -> tuple[int, int, int, int] | None:
        """(row, column, height, width) in the photo-sized map under panel pixel (x, y), when it
        is on the heatmap or the overlay."""
        if self._result is None or self._result.heatmap is None:
            return None
        for left, top, w, h in self._panes()[1:]:  # the heatmap, the overlay
            if left <= x < left + w and top <= y < top + h:
                return y - top, x - left, h, w
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

    def add_page(self, widget: QWidget, title: str, tip: str) -> None:
        """Another page beside the map (it shares the class, layer and style chosen above)."""
        self.pages.addTab(widget, title)
        self.pages.setTabToolTip(self.pages.count() - 1, tip)

    @property
    def on_map_page(self) -> bool:
        """Whether the single method's map is the page shown."""
        return self.pages.currentIndex() == 0

    def _on_page(self, index: int) -> None:
        # the method choice and the overlay export belong to the map page
        for widget in (self.method, self.export):
            widget.setEnabled(index == 0)

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

    # --- can we trust it? (faithfulness curves and a box) ----------------------------------------

    def _build_trust(self) -> None:
        self.check = QPushButton("Check faithfulness")
        self.check.setToolTip(
            "Can we trust this map? Deletion removes the pixels it ranks highest, step by step, "
            "filling them in from their neighbours: if the class's probability falls "
            "fast (a small area under the curve), they are pixels the "
            "network needs. Insertion puts them back into a blurred copy: a fast rise (a large area) "
            "says the same. A random map and a centre blob show what chance gives. About 70 passes "
            "through the network.")
        self.check_every = QCheckBox("every map")
        self.check_every.setToolTip("Check each new map by itself (about 70 passes each time: "
                                    "worth it on a GPU or with a small model)")
        self.check_progress = QProgressBar()
        self.check_progress.setFormat("%v / %m passes")
        self.check_progress.setMaximumWidth(200)
        self.check_cancel = QPushButton("Cancel")
        self.check_cancel.setToolTip("Stop the faithfulness check (Esc)")
        self.clear_box = QPushButton("Clear box")
        self.clear_box.setToolTip("Remove the box drawn on the photo")
        self.box_hint = QLabel("Or drag a box around the object.")
        self.box_hint.setStyleSheet("color: palette(mid)")
        self.box_hint.setToolTip("The pointing game asks whether the map's hottest pixel falls in "
                                 "your box; the share inside, how much of the map's heat does, "
                                 "against the share of the image the box covers.")
        row = self._trust_row = QHBoxLayout()
        for widget in (self.check, self.check_every, self.check_progress, self.check_cancel,
                       self.box_hint):
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(self.clear_box)
        self.curves = FittedPicture()
        self.curves.setToolTip(self.check.toolTip())
        self.trust_text = QLabel("")
        self.box_text = QLabel("")
        for label in (self.trust_text, self.box_text):
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.box_text.setToolTip(self.box_hint.toolTip())
        text = QVBoxLayout()
        text.setContentsMargins(0, 0, 0, 0)
        text.addWidget(self.trust_text)
        text.addWidget(self.box_text)
        text.addStretch(1)
        self.trust_body = QWidget()  # shown once there is something to show
        body = QHBoxLayout(self.trust_body)
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(self.curves, 3)
        body.addLayout(text, 2)
        self.clear_box.setVisible(False)
        self.check.clicked.connect(self.check_requested.emit)
        self.clear_box.clicked.connect(lambda: self.set_box(None, emit=True))
        self.set_checking(False)
        self._fit_body()

    @property
    def checking(self) -> bool:
        """Whether a faithfulness check runs (its progress row shows)."""
        return self.check_cancel.isVisible()

    def set_checking(self, busy: bool) -> None:
        """Show the check's progress row while it runs."""
        self.check_progress.setVisible(busy)
        self.check_cancel.setVisible(busy)
        self.box_hint.setVisible(not busy and self.box is None)  # the row stays narrow
        self.check.setEnabled(not busy and self._result is not None)
        if busy:
            self.check_progress.setRange(0, 0)

    def show_check_progress(self, done: int, total: int) -> None:
        """Passes through the network so far, of ``total``."""
        self.check_progress.setRange(0, max(1, total))
        self.check_progress.setValue(done)

    def show_faithfulness(self, result) -> None:
        """Paint an engine FaithfulnessResult: the curves, their areas and the verdict."""
        self.set_checking(False)
        self.curves.set_image(result.picture)
        rows = "".join(f"<tr><td>{name}</td><td align='right'>{_area(deletion)}</td>"
                       f"<td align='right'>{_area(insertion)}</td></tr>"
                       for name, deletion, insertion in result.areas)
        notes = "".join(f"<br><i>{note}</i>" for note in result.notes)
        self.trust_text.setText(
            "<table cellspacing='0' cellpadding='1'><tr><th align='left'>area</th>"
            "<th>&nbsp;deletion &darr;</th><th>&nbsp;insertion &uarr;</th></tr>" + rows + "</table>"
            f"{result.verdict}{notes} <span style='color:palette(mid)'>({result.passes} passes, "
            f"{result.elapsed_ms / 1000:.1f} s)</span>")
        self._fit_body()

    def show_check_message(self, text: str, error: bool = True) -> None:
        """A failure or a cancel of the check, where its numbers go."""
        self.set_checking(False)
        self.curves.set_image(None)
        colour = "#c92a2a" if error else "palette(mid)"
        self.trust_text.setText(f"<span style='color:{colour}'>{text}</span>")
        self._fit_body()

    def show_box_scores(self, result) -> None:
        """Paint an engine BoxResult: the pointing game and the share inside, and what they mean."""
        x0, y0, x1, y1 = result.box
        if result.hit is None:
            scores = result.sentence
        else:
            scores = (f"pointing game: <b>{'a hit' if result.hit else 'a miss'}</b>; "
                      f"<b>{result.inside_share:.0%}</b> of the map's heat inside, on "
                      f"{result.area_share:.0%} of the image")
        self.box_text.setText(
            f"<b>Box</b> {x0},{y0} to {x1},{y1}: {scores}.<br><span style='color:palette(mid)'>"
            "Pointing game: is the map's hottest pixel on the object? Share: how much of its heat "
            "is, against the box's share of the image (what an evenly spread map would get).</span>")
        self._fit_body()

    def clear_trust(self, keep_box: bool = False) -> None:
        """No curves and no box scores (the map they were about is gone); the box too unless
        ``keep_box``."""
        self.set_checking(False)
        self.curves.set_image(None)
        self.trust_text.setText("")
        self.box_text.setText("")
        if not keep_box:
            self.set_box(None)
        self._fit_body()

    def _fit_body(self) -> None:
        """Show the curves-and-numbers row only when it holds something (it costs the map height)."""
        self.trust_body.setVisible(bool(self.curves.array is not None or self.trust_text.text()
                                        or self.box_text.text()))

    def set_box(self, box: tuple[int, int, int, int] | None, emit: bool = False) -> None:
        """Outline ``box`` (x0, y0, x1, y1 in the crop, x1 and y1 excluded) on the photo, the
        heatmap and the overlay, or none; ``emit`` says so to whoever scores it."""
        self.box = box
        self.clear_box.setVisible(box is not None)
        self.box_hint.setVisible(box is None and not self.checking)
        if box is None:
            self.box_text.setText("")
            self._fit_body()
        self._draw_box()
        if emit:
            self.box_drawn.emit()

    def _draw_box(self) -> None:
        panes = self._panes()
        if self.box is None or not panes:
            self.picture.set_boxes([])
            return
        x0, y0, x1, y1 = self.box
        self.picture.set_boxes([(left + x0, top + y0, x1 - x0, y1 - y0) for left, top, _w, _h in panes])

    def _panes(self) -> list[tuple[int, int, int, int]]:
        """(left, top, width, height) in panel pixels of the photo, the heatmap and the overlay."""
        result = self._result
        if result is None or result.overlay is None:
            return []
        pad = result.panel_pad
        h, w = result.overlay.shape[:2]
        return [(pad + i * (w + pad), pad, w, h) for i in range(3)]

    def box_from_drag(self, x0: int, y0: int, x1: int, y1: int) -> tuple[int, int, int, int] | None:
        """The box in crop pixels for a drag from panel pixel (x0, y0) to (x1, y1): in the pane the
        drag began on (the end is held inside it); None when it began off every pane."""
        for left, top, w, h in self._panes():
            if left <= x0 < left + w and top <= y0 < top + h:
                a = (x0 - left, y0 - top)
                b = (min(max(x1 - left, 0), w - 1), min(max(y1 - top, 0), h - 1))
                return (min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]) + 1, max(a[1], b[1]) + 1)
        return None

    def _on_drag(self, points: tuple[int, int, int, int], finished: bool) -> None:
        box = self.box_from_drag(*points)
        if box is not None:
            self.set_box(box, emit=finished)
