"""The architecture summary: a Keras-style table, its totals, a diagram of the stages, CSV export."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

COLUMNS = ("Layer", "Type", "Output shape", "Parameters", "Multiply-adds", "Receptive field")


class StagesDiagram(QWidget):
    """One square per resolution, its side proportional to the maps' side, labelled."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.stages: list[tuple[int, int, str]] = []
        self.setMinimumHeight(150)

    def set_stages(self, stages: list[tuple[int, int, str]]) -> None:
        """(side, channels, layer) per resolution, input to output."""
        self.stages = list(stages)
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt naming)
        if not self.stages:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        width = self.width() / len(self.stages)
        biggest = max(side for side, _, _ in self.stages)
        top_room = self.height() - 48
        for i, (side, channels, name) in enumerate(self.stages):
            size = max(6.0, min(width - 12, top_room) * (0.2 + 0.8 * side / biggest))
            x = i * width + (width - size) / 2
            painter.setBrush(QColor("#74c0fc"))
            painter.setPen(QColor("#1864ab"))
            painter.drawRect(QRectF(x, top_room - size + 4, size, size))
            painter.setPen(self.palette().text().color())
            painter.drawText(QRectF(i * width, top_room + 6, width, 44),
                             Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                             f"{side} px x {channels}\n{name}")
        painter.end()


class SummaryView(QWidget):
    """See the module docstring."""

    export_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip("Receptive field: how many input pixels along a side can influence "
                              "one value of the layer's output")
        self.totals = QLabel("")
        self.totals.setWordWrap(True)  # long totals wrap instead of widening the window
        self.diagram = StagesDiagram()
        self.export = QPushButton("Export CSV...")
        self.export.clicked.connect(self.export_requested.emit)
        row = QHBoxLayout()
        row.addWidget(self.totals, 1)
        row.addWidget(self.export)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.diagram)
        layout.addWidget(self.table, 1)
        self.shown_model: str | None = None

    def clear(self) -> None:
        """An empty table (it described a model no longer shown)."""
        self.shown_model = None
        self.table.setRowCount(0)
        self.totals.setText("")
        self.diagram.set_stages([])

    def show_summary(self, summary) -> None:
        """Fill the table from the engine's services.architecture.SummaryTable."""
        self.shown_model = summary.model
        rows = summary.rows
        self.table.setRowCount(len(rows))
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for i, (name, kind, shape, params, macs, field, depth) in enumerate(rows):
            cells = ("  " * depth + name, kind, " x ".join(map(str, shape)), f"{params:,}",
                     f"{macs:,}" if macs else "", str(field) if field is not None else "")
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j >= 3:
                    item.setTextAlignment(right)
                self.table.setItem(i, j, item)
        self.table.resizeColumnsToContents()
        self.totals.setText(
            f"<b>{summary.model}</b>: {summary.total_params:,} parameters "
            f"({summary.trainable_params:,} trainable), {summary.total_macs / 1e9:.2f} G "
            f"multiply-adds per {summary.input_size} px image, {summary.weight_layers} weight "
            "layers (convolutions and fully connected)")
        self.diagram.set_stages(summary.stages)
