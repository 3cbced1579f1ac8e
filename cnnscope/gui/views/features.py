"""All channels of the selected layer, and one channel large, overlaid on the photo."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider,
                               QSplitter, QVBoxLayout, QWidget)

from .image_view import ImageView

COLORMAPS = ("viridis", "magma", "inferno", "plasma", "cividis", "gray", "jet")
SORTS = (("none", "Model order"), ("mean", "Most active first"))


class FeatureView(QWidget):
    """A toolbar (colormap, sort, zoom), the grid, and the clicked channel's detail panel."""

    settings_changed = Signal()
    channel_clicked = Signal(int)
    position_clicked = Signal(int, int, int)  # channel, row, column of the map value clicked
    opacity_changed = Signal(float)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.cmap = QComboBox()
        self.cmap.addItems(COLORMAPS)
        self.cmap.setToolTip("Colormap for activations (each channel scaled to its own range)")
        self.sort = QComboBox()
        for key, text in SORTS:
            self.sort.addItem(text, key)
        self.sort.setToolTip("Order of the channels in the grid")
        zoom_in, zoom_out, fit = QPushButton("+"), QPushButton("-"), QPushButton("Fit")
        for button in (zoom_in, zoom_out, fit):
            button.setMaximumWidth(44)
        zoom_in.setToolTip("Zoom in (Ctrl++ or Ctrl+wheel)")
        zoom_out.setToolTip("Zoom out (Ctrl+- or Ctrl+wheel)")
        fit.setToolTip("Fit the whole grid in the view")
        self.caption = QLabel("")
        self.caption.setWordWrap(True)  # on a line of its own: a long layer name never widens the window
        self.numbers = QCheckBox("Numbers")
        self.numbers.setToolTip("Write each tile's channel number on it")
        bar = QHBoxLayout()
        for w in (QLabel("Colormap"), self.cmap, QLabel("Order"), self.sort, self.numbers, zoom_out,
                  zoom_in, fit):
            bar.addWidget(w)
        bar.addStretch(1)

        self.grid = ImageView("Drop an image to see its feature maps")
        self.grid.setToolTip("Click a channel to see it large, over the photo")
        self.detail = ImageView("Click a channel")
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(60)
        self.opacity.setToolTip("Opacity of the channel over the photo")
        self.stats = QLabel("")
        self.stats.setWordWrap(True)
        self.pointer = QLabel("")  # the value under the mouse pointer
        self.pointer.setStyleSheet("color: palette(mid)")
        self.what_fires = QPushButton("What makes it fire?")
        self.what_fires.setToolTip("Make the image this channel responds to most (What units see)")
        self.what_fires.setEnabled(False)
        self._channel_result = None
        self._shown_channel: int | None = None
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.addWidget(QLabel("<b>Channel over the photo</b>"))
        side_layout.addWidget(self.detail, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel("Opacity"))
        row.addWidget(self.opacity)
        side_layout.addLayout(row)
        side_layout.addWidget(self.stats)
        side_layout.addWidget(self.pointer)
        side_layout.addWidget(self.what_fires)
        self.dataset_caption = QLabel("")
        self.dataset_caption.setWordWrap(True)
        self.dataset_tops = ImageView("")
        self.dataset_tops.setToolTip("Where this channel fired most in the scanned dataset (Dataset "
                                     "tab): the receptive field of its peak, cut from each photo")
        self.dataset_tops.setMinimumHeight(140)
        side_layout.addWidget(self.dataset_caption)
        side_layout.addWidget(self.dataset_tops, 1)
        self.show_dataset_tops(None)
        split = QSplitter()
        split.addWidget(self.grid)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.caption)
        layout.addWidget(split, 1)

        self._geometry = None
        self.cmap.currentIndexChanged.connect(lambda _: self.settings_changed.emit())
        self.sort.currentIndexChanged.connect(lambda _: self.settings_changed.emit())
        zoom_in.clicked.connect(self.grid.zoom_in)
        zoom_out.clicked.connect(self.grid.zoom_out)
        fit.clicked.connect(self.grid.fit)
        self.grid.clicked.connect(self._on_grid_click)
        self.numbers.toggled.connect(lambda _: self._label_tiles())
        self.grid.hovered.connect(self._on_grid_hover)
        self.detail.hovered.connect(self._on_detail_hover)
        self.detail.clicked.connect(self._on_detail_click)
        self.opacity.valueChanged.connect(lambda v: self.opacity_changed.emit(v / 100))

    def show_dataset_tops(self, result) -> None:
        """A channel's top images in the scanned dataset (services.dataset.UnitTopsResult), or
        None to hide them (no scan of this model and layer)."""
        shown = result is not None and bool(result.hits)
        self.dataset_caption.setVisible(shown)
        self.dataset_tops.setVisible(shown)
        if shown:
            self.dataset_caption.setText(f"<b>In the dataset</b>: channel {result.channel}'s top "
                                         f"{len(result.hits)} images")
            self.dataset_tops.set_image(result.sheet)

    @property
    def colormap(self) -> str:
        """The chosen matplotlib colormap name."""
        return self.cmap.currentText()

    @property
    def sort_key(self) -> str:
        """'none' or 'mean'."""
        return self.sort.currentData()

    def show_grid(self, result) -> None:
        """Paint an engine GridResult and remember its layout for clicks."""
        if self._geometry is None or self._geometry.layer != result.layer:
            self.grid.fitting = True  # a new layer starts fitted; a zoom holds while they tweak it
        self._geometry = result
        self.grid.set_image(result.image)
        self._highlight_channel()
        self._label_tiles()
        c, h, w = result.shape
        self.caption.setText(f"<b>{result.layer}</b>: {c} channels of {h} x {w}")

    def show_channel(self, result) -> None:
        """Paint an engine ChannelResult, and outline its tile in the grid."""
        self._channel_result = result
        self._shown_channel = result.channel
        self.detail.set_image(result.overlay)
        self._highlight_channel()
        s = result.stats
        self.stats.setText(f"{result.layer}, channel {result.channel}: "
                           f"min {s['min']:.3g}, max {s['max']:.3g}, mean {s['mean']:.3g}")
        self.what_fires.setEnabled(True)

    def clear(self) -> None:
        """Empty the grid and the channel pane (they showed a model or image no longer shown)."""
        self.clear_channel()
        self.grid.clear("Drop an image to see its feature maps")
        self._geometry = None
        self.caption.setText("")

    def clear_channel(self) -> None:
        """Empty the channel pane (its channel belongs to a layer or model no longer shown)."""
        self.detail.clear("Click a channel")
        self.stats.setText("")
        self._channel_result, self._shown_channel = None, None
        self.grid.set_highlight(None)
        self.what_fires.setEnabled(False)

    def tile_rect(self, channel: int) -> tuple[int, int, int, int] | None:
        """Where ``channel``'s tile is in the grid picture: (x, y, w, h)."""
        g = self._geometry
        if g is None or channel not in g.order:
            return None
        index = g.order.index(channel)
        th, tw = g.tile
        row, col = divmod(index, g.cols)
        return (g.pad + col * (tw + g.pad), g.pad + row * (th + g.pad), tw, th)

    def _label_tiles(self) -> None:
        """Channel numbers on the tiles when Numbers is ticked (in the grid's own order)."""
        g = self._geometry
        if g is None or not self.numbers.isChecked():
            self.grid.set_labels([])
            return
        labels = []
        for channel in g.order:
            x, y, _w, _h = self.tile_rect(channel)
            labels.append((x, y, str(channel)))
        self.grid.set_labels(labels)

    def _highlight_channel(self) -> None:
        shown = self._shown_channel
        self.grid.set_highlight(self.tile_rect(shown) if shown is not None else None)

    def value_at(self, x: int, y: int) -> tuple[int, int, int, float] | None:
        """(channel, row, column, activation) under grid picture pixel (x, y), if on a tile."""
        g, channel = self._geometry, self.channel_at(x, y)
        if g is None or channel is None or g.values is None:
            return None
        th, tw = g.tile
        _, h, w = g.values.shape
        tx, ty = (x - g.pad) % (tw + g.pad), (y - g.pad) % (th + g.pad)
        row, col = min(h - 1, ty * h // th), min(w - 1, tx * w // tw)
        return channel, row, col, float(g.values[channel, row, col])

    def _on_grid_hover(self, x: int, y: int) -> None:
        found = self.value_at(x, y) if x >= 0 else None
        self.pointer.setText("" if found is None else
                             f"channel {found[0]}, row {found[1]}, column {found[2]}: {found[3]:.4g}")

    def detail_position(self, x: int, y: int) -> tuple[int, int] | None:
        """(row, column) of the clicked channel's map under pixel (x, y) of its enlarged picture."""
        result = self._channel_result
        if x < 0 or result is None or result.values is None:
            return None
        big_h, big_w = result.overlay.shape[:2]
        h, w = result.values.shape
        return min(h - 1, max(0, y * h // big_h)), min(w - 1, max(0, x * w // big_w))

    def _on_detail_hover(self, x: int, y: int) -> None:
        found = self.detail_position(x, y)
        if found is None:
            self.pointer.setText("")
            return
        result, (row, col) = self._channel_result, found
        self.pointer.setText(f"channel {result.channel}, row {row}, column {col}: "
                             f"{float(result.values[row, col]):.4g}")

    def _on_detail_click(self, x: int, y: int) -> None:
        found = self.detail_position(x, y)
        if found is not None:
            self.position_clicked.emit(self._channel_result.channel, *found)

    def channel_at(self, x: int, y: int) -> int | None:
        """Which channel the grid shows at picture pixel (x, y), if any."""
        g = self._geometry
        if g is None:
            return None
        th, tw = g.tile
        col, row = (x - g.pad) // (tw + g.pad), (y - g.pad) // (th + g.pad)
        index = row * g.cols + col
        if 0 <= col < g.cols and 0 <= row < g.rows and index < len(g.order):
            return g.order[index]
        return None

    def _on_grid_click(self, x: int, y: int) -> None:
        channel = self.channel_at(x, y)
        if channel is not None:
            self.channel_clicked.emit(channel)
            found = self.value_at(x, y)
            if found is not None:
                self.position_clicked.emit(*found[:3])
