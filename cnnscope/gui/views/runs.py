"""Every training run of the session side by side: a table (preset, what learns, epochs, time,
best validation accuracy), the validation-accuracy curves of the ticked runs overlaid, and the
selected run's mistakes (validation images with their true and predicted class).

So a class can run the four textbook cases and compare them in one picture. The table exports as
CSV, the curves as PNG."""

from __future__ import annotations

import csv
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton,
                               QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from ..qimage import to_pixmap

COLUMNS = ("Run", "Preset", "Learn", "Frozen", "Epochs", "s", "Val acc")


class RunsView(QWidget):
    """See the module docstring."""

    export_csv_requested = Signal()
    export_png_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.runs: list[dict] = []
        self._mistakes: list[tuple[list, int]] = []  # per run: (pictures, how many in all)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setToolTip("Tick runs to overlay their curves; select one to see its mistakes")
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListWidget.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(64, 64))
        self.gallery.setGridSize(QSize(118, 92))
        self.gallery.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.gallery.setToolTip("Validation images the selected run got wrong: true -> predicted")
        self.gallery.setMinimumHeight(40)
        self.table.setMinimumHeight(40)
        self.gallery_title = QLabel("<b>Mistakes</b>: select a run")
        self.csv = QPushButton("Export CSV...")
        self.png = QPushButton("Export PNG...")
        self.csv.setToolTip("The table of runs as CSV")
        self.png.setToolTip("The overlaid validation curves as PNG")
        self._canvas = None
        self.plot_box = QVBoxLayout()
        buttons = QHBoxLayout()
        buttons.addWidget(QLabel("<b>Runs of this session</b>"))
        buttons.addStretch(1)
        buttons.addWidget(self.csv)
        buttons.addWidget(self.png)
        mistakes = QWidget()
        mistakes_layout = QVBoxLayout(mistakes)
        mistakes_layout.setContentsMargins(0, 0, 0, 0)
        mistakes_layout.addWidget(self.gallery_title)
        mistakes_layout.addWidget(self.gallery, 1)
        left = QSplitter(Qt.Orientation.Vertical)  # the runs over the selected run's mistakes
        left.addWidget(self.table)
        left.addWidget(mistakes)
        plots = QWidget()
        plots.setLayout(self.plot_box)
        self.plot_box.setContentsMargins(0, 0, 0, 0)
        split = QSplitter()  # the runs beside their curves: both get the tab's full height
        split.addWidget(left)
        split.addWidget(plots)
        split.setSizes([390, 210])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(split, 1)
        self.table.itemChanged.connect(lambda item: item.column() == 0 and self._plot())
        self.table.itemSelectionChanged.connect(self._show_selected_mistakes)
        self.csv.clicked.connect(self.export_csv_requested.emit)
        self.png.clicked.connect(self.export_png_requested.emit)
        self._set_exportable()

    def add_run(self, run: dict, mistakes: list, mistakes_total: int) -> None:
        """A finished run (Trainer's "run" dict) and its mistakes: a new row, ticked and selected."""
        self.runs.append(run)
        self._mistakes.append((mistakes, mistakes_total))
        row = self.table.rowCount()
        self.table.blockSignals(True)
        self.table.insertRow(row)
        accuracy = run["val_accuracy"]
        cells = (f"{row + 1}", run["preset"], f"{run['trainable']:,}", f"{run['frozen']:,}",
                 str(run["epochs"]), f"{run['seconds']:.1f}",
                 f"{accuracy:.1%}" if accuracy is not None else "-")
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if column == 0:
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked)
                item.setToolTip(f"{run['model']}, learning rate {run['learning_rate']:g}, "
                                f"seed {run['seed']}")
            if column >= 2:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, column, item)
        self.table.blockSignals(False)
        self.table.resizeColumnsToContents()
        self.table.selectRow(row)
        self._set_exportable()
        self._plot()

    def ticked(self) -> list[int]:
        """The rows whose curves are drawn."""
        return [r for r in range(self.table.rowCount())
                if self.table.item(r, 0).checkState() == Qt.CheckState.Checked]

    def _set_exportable(self) -> None:
        self.csv.setEnabled(bool(self.runs))
        self.png.setEnabled(bool(self.runs))

    def _show_selected_mistakes(self) -> None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        self.gallery.clear()
        if len(rows) != 1:
            self.gallery_title.setText("<b>Mistakes</b>: select a run")
            return
        row = rows.pop()
        pictures, total = self._mistakes[row]
        shown = f" (the first {len(pictures)})" if total > len(pictures) else ""
        self.gallery_title.setText(f"<b>Mistakes of run {row + 1}</b>: {total} validation "
                                   f"image{'s' if total != 1 else ''} wrong{shown}")
        for rgb, true, predicted in pictures:
            item = QListWidgetItem(QIcon(to_pixmap(rgb)), f"{true} -> {predicted}")
            item.setToolTip(f"true class: {true}; the run predicted: {predicted}")
            self.gallery.addItem(item)

    def _plot(self) -> None:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        if self._canvas is None:
            self._canvas = FigureCanvasQTAgg(Figure(figsize=(3.2, 2.6), layout="constrained"))
            self._canvas.setMinimumSize(200, 120)
            self.plot_box.addWidget(self._canvas)
        figure = self._canvas.figure
        figure.clear()
        axes = figure.add_subplot(1, 1, 1)
        for row in self.ticked():
            run = self.runs[row]
            points = [(epoch, acc) for epoch, acc, _train in run["curve"] if acc is not None]
            if points:
                axes.plot(*zip(*points), "o-", markersize=2, label=f"{row + 1}: {run['preset']}")
        axes.set_xlabel("epoch", fontsize=8)
        axes.set_title("validation accuracy", fontsize=9)
        axes.set_ylim(0, 1.02)
        axes.tick_params(labelsize=7)
        if axes.lines:
            axes.legend(fontsize=7, loc="lower right")
        self._canvas.draw_idle()

    def write_csv(self, path: str) -> None:
        """The table, one row per run."""
        with open(path, "w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle)
            out.writerow(["run", "model", "preset", "trainable_params", "frozen_params", "epochs",
                          "seconds", "best_val_accuracy", "learning_rate", "seed", "mistakes"])
            for index, run in enumerate(self.runs):
                out.writerow([index + 1, run["model"], run["preset"], run["trainable"],
                              run["frozen"], run["epochs"], f"{run['seconds']:.2f}",
                              "" if run["val_accuracy"] is None else f"{run['val_accuracy']:.4f}",
                              run["learning_rate"], run["seed"], self._mistakes[index][1]])

    def write_png(self, path: str) -> None:
        """The overlaid curves as they are drawn."""
        self._plot()
        self._canvas.figure.savefig(Path(path), dpi=150)
