"""The Dataset tab's widgets: a folder to scan and the scan's progress; the map of the dataset's
features; a unit's top images in the dataset. Plain widgets: they show what they are given and
say what the user did."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QProgressBar,
                               QPushButton, QSpinBox, QSplitter, QVBoxLayout, QWidget)

from .dataset_map import DatasetMapView
from .image_view import ImageView

MAP_METHODS = (("pca", "PCA"), ("tsne", "t-SNE"), ("umap", "UMAP"))


class DatasetView(QWidget):
    """See the module docstring."""

    scan_requested = Signal()
    cancel_requested = Signal()
    browse_requested = Signal()
    open_requested = Signal()
    unit_changed = Signal()  # the unit chooser's layer or channel
    method_changed = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("a folder of images: one subfolder per class, or flat")
        self.folder.setToolTip("The images to scan (class subfolders colour the map)")
        browse = QPushButton("Choose folder...")
        browse.clicked.connect(self.browse_requested)
        self.layers = QLineEdit()
        self.layers.setToolTip("Layers whose channels get their top images, separated by commas "
                               "(default: the selected layer and the CAM layer)")
        self.top_k = QSpinBox()
        self.top_k.setRange(1, 100)
        self.top_k.setValue(9)
        self.top_k.setToolTip("Images kept per channel")
        self.scan = QPushButton("Scan")
        self.scan.setToolTip("Stream the folder through the model once (in the background): each "
                             "unit's top images, the map of the dataset, every image's prediction. "
                             "Scanning the same folder again continues an interrupted scan.")
        self.scan.clicked.connect(self.scan_requested)
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop after the batch in flight; what was scanned is kept")
        self.cancel.clicked.connect(self.cancel_requested)
        self.cancel.setEnabled(False)
        open_scan = QPushButton("Open scan...")
        open_scan.setToolTip("Open a scan made before (by this window or 'cnnscope scan')")
        open_scan.clicked.connect(self.open_requested)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setVisible(False)
        row = QHBoxLayout()
        for widget, stretch in ((QLabel("Folder"), 0), (self.folder, 3), (browse, 0), (QLabel("Layers"), 0),
                                (self.layers, 2), (QLabel("Top"), 0), (self.top_k, 0), (self.scan, 0),
                                (self.cancel, 0), (open_scan, 0)):
            row.addWidget(widget, stretch)
        self.status = QLabel("Scan a folder of images to see what each unit responds to across it, "
                             "and how the network arranges the images.")
        self.status.setWordWrap(True)
        status_row = QHBoxLayout()
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.progress)

        self.method = QComboBox()
        for key, text in MAP_METHODS:
            self.method.addItem(text, key)
        self.method.setToolTip("PCA: the two directions the features vary most (fast, exact); "
                               "t-SNE and UMAP keep neighbours together and draw clusters apart")
        self.method.currentIndexChanged.connect(lambda _: self.method_changed.emit(self.method.currentData()))
        self.map = DatasetMapView()
        self.map_caption = QLabel("")
        self.map_caption.setWordWrap(True)
        map_box = QGroupBox("The dataset as the network sees it")
        map_layout = QVBoxLayout(map_box)
        method_row = QHBoxLayout()
        method_row.addWidget(QLabel("Map"))
        method_row.addWidget(self.method)
        method_row.addStretch(1)
        map_layout.addLayout(method_row)
        map_layout.addWidget(self.map, 1)
        map_layout.addWidget(self.map_caption)

        self.unit_layer = QComboBox()
        self.unit_layer.setToolTip("A layer the scan kept top images for")
        self.unit_channel = QSpinBox()
        self.unit_channel.setRange(0, 0)
        self.unit_channel.setToolTip("The channel (unit); clicking one in Feature maps picks it too")
        self.unit_layer.currentIndexChanged.connect(lambda _: self.unit_changed.emit())
        self.unit_channel.valueChanged.connect(lambda _: self.unit_changed.emit())
        self.tops = ImageView("The top images of a unit appear here after a scan")
        self.tops.setToolTip("Where the unit fired most in the dataset: its receptive field, cut "
                             "from each photo, strongest first")
        self.tops_caption = QLabel("")
        self.tops_caption.setWordWrap(True)
        self.tops_caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        unit_box = QGroupBox("What a unit responds to, across the dataset")
        unit_layout = QVBoxLayout(unit_box)
        unit_row = QHBoxLayout()
        unit_row.addWidget(QLabel("Layer"))
        unit_row.addWidget(self.unit_layer, 1)
        unit_row.addWidget(QLabel("Channel"))
        unit_row.addWidget(self.unit_channel)
        unit_layout.addLayout(unit_row)
        unit_layout.addWidget(self.tops, 1)
        unit_layout.addWidget(self.tops_caption)

        split = QSplitter()
        split.addWidget(map_box)
        split.addWidget(unit_box)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addLayout(status_row)
        layout.addWidget(split, 1)

    def set_running(self, running: bool) -> None:
        """Scan disabled and Cancel enabled while a scan runs, and the progress bar shown."""
        self.scan.setEnabled(not running)
        self.cancel.setEnabled(running)
        self.progress.setVisible(running)
        if running:
            self.progress.setRange(0, 0)

    def show_progress(self, done: int, total: int, seconds_left) -> None:
        """The scan's progress and time left."""
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        left = f", about {_duration(seconds_left)} left" if seconds_left is not None and done < total else ""
        self.progress.setFormat(f"{done:,} / {total:,}")
        self.status.setText(f"Scanning: {done:,} of {total:,} images{left}. The viewer stays usable meanwhile.")

    def set_unit_layers(self, layers: dict) -> None:
        """The scan's layers (name -> channels) in the unit chooser."""
        self.unit_layer.blockSignals(True)
        self.unit_layer.clear()
        for name, channels in layers.items():
            self.unit_layer.addItem(f"{name} ({channels} channels)", name)
        self.unit_layer.blockSignals(False)
        self._update_channel_range()

    def choose_unit(self, layer: str, channel: int) -> bool:
        """Show ``layer``'s ``channel`` in the chooser (False: the scan did not keep that layer)."""
        index = self.unit_layer.findData(layer)
        if index < 0:
            return False
        self.unit_layer.blockSignals(True)
        self.unit_layer.setCurrentIndex(index)
        self.unit_layer.blockSignals(False)
        self._update_channel_range()
        self.unit_channel.setValue(channel)
        self.unit_changed.emit()
        return True

    def _update_channel_range(self) -> None:
        text = self.unit_layer.currentText()
        channels = int(text.rsplit("(", 1)[1].split()[0]) if "(" in text else 1
        self.unit_channel.setRange(0, max(0, channels - 1))

    @property
    def unit(self) -> tuple[str | None, int]:
        """(layer, channel) chosen."""
        return self.unit_layer.currentData(), self.unit_channel.value()

    def show_tops(self, result) -> None:
        """A services.dataset.UnitTopsResult."""
        self.tops.set_image(result.sheet)
        lines = [f"{k + 1}. {path} ({value:.2f})" for k, (path, _label, value, _full) in enumerate(result.hits)]
        self.tops_caption.setText(f"<b>{result.layer}</b> channel {result.channel}: the {len(result.hits)} "
                                  "images where it fired most, strongest first (its receptive field, cut "
                                  "from each photo).<br>" + "<br>".join(lines[:9]) if result.hits else
                                  "No image scanned yet.")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
