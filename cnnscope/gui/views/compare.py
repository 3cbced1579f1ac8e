"""Compare: the same image through 2 to 4 models, a column each, with their stages matched."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSlider,
                               QVBoxLayout, QWidget)

from .image_view import ImageView

NONE = "(none)"
RESOLUTIONS = ((2, "112 px (1/2)"), (4, "56 px (1/4)"), (8, "28 px (1/8)"), (16, "14 px (1/16)"),
               (32, "7 px (1/32)"))


class CompareColumnView(QWidget):
    """One model: header, facts, top-5, heatmap over the crop, matched feature maps."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.header = QLabel("")
        self.header.setWordWrap(True)
        self.facts = QLabel("")
        self.facts.setWordWrap(True)
        self.facts.setStyleSheet("color: palette(mid)")
        self.predictions = QLabel("")
        self.predictions.setTextFormat(Qt.TextFormat.RichText)
        self.heat_title = QLabel("")
        self.heat = ImageView("")
        self.layer_title = QLabel("")
        self.layer_title.setWordWrap(True)
        self.grid = ImageView("")
        layout = QVBoxLayout(self)
        for widget in (self.header, self.facts, self.predictions, self.heat_title):
            layout.addWidget(widget)
        layout.addWidget(self.heat, 3)
        layout.addWidget(self.layer_title)
        layout.addWidget(self.grid, 3)
        self.result = None

    def clear(self, name: str) -> None:
        """Waiting for this model's result."""
        self.result = None
        self.header.setText(f"<b>{name}</b>: working...")
        for label in (self.facts, self.predictions, self.heat_title, self.layer_title):
            label.setText("")
        self._show_pictures(True)

    def _show_pictures(self, shown: bool) -> None:
        # a column that failed shows its reason alone, not two empty frames under it
        self.heat.setVisible(shown)
        self.grid.setVisible(shown)

    def show(self, column) -> None:  # noqa: A003 - QWidget.show is not used on columns directly
        """Paint an engine CompareColumn (or say why it could not be made)."""
        if column.error:
            self.result = None
            self.header.setText(f"<b>{column.model}</b>: <span style='color:#c92a2a'>{column.error}</span>")
            self._show_pictures(False)
            return
        self.result = column
        self._show_pictures(True)
        self.header.setText(f"<b>{column.model}</b> ({column.weights})")
        self.facts.setText(column.facts + "".join(f"<br><i>{n}</i>" for n in column.notes))
        self.predictions.setText("<br>".join(f"{p:6.1%} &nbsp;{label}" for label, p in column.predictions))
        self.heat_title.setText(column.heat_label)
        self.heat.set_image(column.heat)
        c, h, w = column.layer_shape
        self.layer_title.setText(f"<b>{column.layer}</b>: {c} x {h} x {w}")
        self.grid.set_image(column.grid)


class CompareView(QWidget):
    """Model choices, stage matching, the columns, and an export of the whole comparison."""

    run_requested = Signal()
    export_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.model_boxes = [QComboBox() for _ in range(4)]
        for box in self.model_boxes:
            box.setToolTip("A model to compare ((none) leaves the column out)")
            box.activated.connect(lambda _: self.run_requested.emit())
        # each column its own weights: offline, one column can be untrained while another uses
        # a file and a third its cached pretrained weights
        self.weight_boxes = [QComboBox() for _ in range(4)]
        for box in self.weight_boxes:
            box.addItem("Pretrained", "pretrained")
            box.addItem("Untrained", "random")
            box.setToolTip("This column's weights: pretrained (downloaded once, then cached), "
                           "untrained, or the weights file the main window uses")
            box.activated.connect(lambda _: self.run_requested.emit())
        for model_box, weights_box in zip(self.model_boxes, self.weight_boxes):
            model_box.currentIndexChanged.connect(  # no model, no weights to choose
                lambda _, m=model_box, w=weights_box: w.setEnabled(bool(m.currentData())))
        self.mode = QComboBox()
        self.mode.addItem("Same relative depth", "depth")
        self.mode.addItem("Same resolution", "stride")
        self.mode.setToolTip("Match the layers by how deep they are, or by the size of their maps")
        self.depth = QSlider(Qt.Orientation.Horizontal)
        self.depth.setRange(0, 100)
        self.depth.setValue(50)
        self.depth.setToolTip("0: the first layer after the input; 100: the last conv stage")
        self.resolution = QComboBox()
        for stride, text in RESOLUTIONS:
            self.resolution.addItem(text, stride)
        self.resolution.setCurrentIndex(2)
        self.method = QComboBox()
        self.method.addItem("Grad-CAM", "gradcam")
        self.method.addItem("CAM", "cam")
        self.target = QLineEdit()
        self.target.setPlaceholderText("class (default: the first model's top)")
        self.target.setToolTip("Explain this class in every column that knows it (matched by label)")
        self.export = QPushButton("Export PNG...")
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop the comparison (and a download it waits for); finished columns stay")
        self.cancel.setEnabled(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.linkActivated.connect(self._status_link)
        self._missing: list[int] = []  # columns whose weights could not be had
        top = QHBoxLayout()
        top.addWidget(QLabel("Models"))
        for model_box, weights_box in zip(self.model_boxes, self.weight_boxes):
            pair = QVBoxLayout()
            pair.addWidget(model_box)
            pair.addWidget(weights_box)
            top.addLayout(pair)
        top.addStretch(1)
        second = QHBoxLayout()
        for widget in (self.mode, self.depth, self.resolution, QLabel("Heatmap"), self.method,
                       self.target, self.export, self.cancel):
            second.addWidget(widget)
        self.columns = [CompareColumnView() for _ in range(4)]
        row = QHBoxLayout()
        for column in self.columns:
            row.addWidget(column, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(second)
        layout.addWidget(self.status)
        layout.addLayout(row, 1)
        self._sync_mode()
        self.mode.currentIndexChanged.connect(lambda _: (self._sync_mode(), self.run_requested.emit()))
        self.depth.sliderReleased.connect(self.run_requested.emit)
        self.depth.valueChanged.connect(lambda _: not self.depth.isSliderDown() and self.run_requested.emit())
        self.resolution.activated.connect(lambda _: self.run_requested.emit())
        self.method.activated.connect(lambda _: self.run_requested.emit())
        self.target.returnPressed.connect(self.run_requested.emit)
        self.export.clicked.connect(self.export_requested.emit)
        self.cancel.clicked.connect(self.cancel_requested.emit)

    def set_models(self, names: list[str], defaults: tuple[str, ...]) -> None:
        """Offer the registry's models, starting with ``defaults`` (the registry's choice)."""
        for i, box in enumerate(self.model_boxes):
            box.clear()
            box.addItem(NONE, "")
            for name in names:
                box.addItem(name, name)
            default = defaults[i] if i < len(defaults) else ""
            box.setCurrentIndex(max(0, box.findData(default)))

    def _sync_mode(self) -> None:
        by_depth = self.mode.currentData() == "depth"
        self.depth.setVisible(by_depth)
        self.resolution.setVisible(not by_depth)

    def request(self) -> dict:
        """The comparison the controls describe (models, matching, heatmap)."""
        models = [[box.currentData(), weights.currentData()]
                  for box, weights in zip(self.model_boxes, self.weight_boxes) if box.currentData()]
        by_depth = self.mode.currentData() == "depth"
        return {"models": models, "depth": self.depth.value() / 100 if by_depth else None,
                "stride": None if by_depth else self.resolution.currentData(),
                "method": self.method.currentData(), "target": self.target.text().strip() or None}

    def offer_weights_file(self, path: str) -> None:
        """Offer the weights file the main window uses in every column (replacing an older one)."""
        from pathlib import Path

        for box in self.weight_boxes:
            index = next((i for i in range(box.count()) if box.itemData(i) not in ("pretrained", "random")), -1)
            if index >= 0:
                box.removeItem(index)
            box.addItem(f"File: {Path(path).name}", path)
            box.setItemData(box.count() - 1, path, Qt.ItemDataRole.ToolTipRole)

    def set_weights(self, index: int, weights: str) -> None:
        """Choose column ``index``'s weights: "pretrained", "random" or an offered file."""
        box = self.weight_boxes[index]
        box.setCurrentIndex(max(0, box.findData(weights)))

    def _status_link(self, link: str) -> None:
        if link == "untrained":  # the columns whose weights are missing, untrained; the rest stay
            for index in self._missing:
                self.set_weights(index, "random")
            self.run_requested.emit()

    def start(self, models: list) -> None:
        """A comparison begins: show which columns are coming."""
        self._missing: list[int] = []
        for i, column in enumerate(self.columns):
            column.setVisible(i < len(models))
            if i < len(models):
                column.clear(models[i][0])
        self.status.setText("comparing...")
        self.cancel.setEnabled(True)

    def show_column(self, column) -> None:
        """Paint one finished column."""
        if column.weights_missing:
            self._missing.append(column.index)
        self.columns[column.index].show(column)

    def done(self, notes: list[str]) -> None:
        """All columns painted (or the rest cancelled)."""
        self.cancel.setEnabled(False)
        for column in self.columns:
            if column.result is None and column.header.text().endswith("working..."):
                column.header.setText(column.header.text().replace("working...", "cancelled"))
        text = "; ".join(notes)
        if self._missing:
            # offline without cached weights (a classroom, say): the architectures can still be
            # compared, so offer that in one click rather than leave only error messages
            text = ("Some pretrained weights are not on this computer. "
                    "<a href='untrained'>Use untrained weights in those columns</a>, or "
                    "download them once with an internet connection." + (f" ({text})" if text else ""))
        self.status.setText(text)

    def show_progress(self, done: int, total: int) -> None:
        """A model being downloaded for a column."""
        size = f"{done / 1e6:.0f} / {total / 1e6:.0f} MB" if total > 0 else f"{done / 1e6:.0f} MB"
        self.status.setText(f"downloading weights: {size} (Cancel stops)")

    def shown_layers(self) -> list[str]:
        """The matched layer of each painted column (for tests and the export)."""
        return [c.result.layer for c in self.columns if c.isVisibleTo(self) and c.result is not None]
