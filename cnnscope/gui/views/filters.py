"""The first convolution's kernels as RGB tiles, and the selected conv layer's kernels."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ...core.render import tile_at  # numpy only: no torch on the window side
from .image_view import ImageView


class FiltersView(QWidget):
    """Two pictures: first-layer filters (always) and the selected conv layer's (when it is one)."""

    filter_clicked = Signal(str, int)  # the first layer's name, the filter (= its output channel)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.first_title = QLabel("<b>First-layer filters</b>")
        self.first = ImageView()
        self.first.setToolTip("Each tile is one filter: grey is zero, colours show what it responds "
                              "to. Click one to see its map over the photo (Feature maps) and, "
                              "after a scan, its top images in the dataset")
        self.first.clicked.connect(self._on_first_click)
        self._first = None  # the FiltersResult shown
        self.selected_title = QLabel("Select a convolution layer to see its kernels")
        self.selected = ImageView()
        self.selected.setToolTip("One row per output filter, one tile per input channel (grey = 0)")
        layout = QVBoxLayout(self)
        for w in (self.first_title, self.first, self.selected_title, self.selected):
            layout.addWidget(w)
        layout.setStretch(1, 1)
        layout.setStretch(3, 2)

    def clear(self) -> None:
        """No kernels (they were a model's no longer shown)."""
        self.first_title.setText("<b>First-layer filters</b>")
        self.first.clear()
        self.selected_title.setText("Select a convolution layer to see its kernels")
        self.selected.clear()
        self.selected.hide()
        self._first = None

    def _on_first_click(self, x: int, y: int) -> None:
        result = self._first
        if result is None or result.first_layout is None:
            return
        index = tile_at(result.first_layout, x, y)
        if index is not None:
            self.filter_clicked.emit(result.first_name, index)

    def show_filters(self, result) -> None:
        """Paint an engine FiltersResult."""
        self._first = result
        self.first_title.setText(f"<b>First-layer filters</b> ({result.first_name})")
        self.first.set_image(result.first)
        if result.selected is not None:
            self.selected_title.setText(f"<b>Kernels of {result.selected_name}</b>")
            self.selected.set_image(result.selected)
            # Hundreds of small kernels fitted into the pane shrink to a few pixels each and read
            # as noise; at 2x each kernel pixel is 6 screen pixels, and the pane scrolls instead.
            self.selected.set_zoom(2.0)
            self.selected.show()
        else:
            self.selected_title.setText("Select a convolution layer to see its kernels")
            self.selected.hide()
