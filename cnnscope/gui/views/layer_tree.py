"""Every layer of the model, nested as the model is, with type, output shape and parameters."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem

NAME_ROLE = Qt.ItemDataRole.UserRole


class LayerTree(QTreeWidget):
    """Rows from the inspection's layer table; layers with feature maps are selectable."""

    layer_selected = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setHeaderLabels(["Layer", "Type", "Output", "Params"])
        self.setAlternatingRowColors(True)
        self.setUniformRowHeights(True)
        # Numbers are never cut: type, output and params take their contents' width and the layer
        # name takes what is left (a long name is elided; its tooltip has it whole).
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._selectable: list[str] = []
        self.currentItemChanged.connect(self._on_current)

    def show_layers(self, layers: list[tuple], select: str | None) -> None:
        """Rebuild from (name, type, shape, params, has_children) rows; select ``select``."""
        self.blockSignals(True)
        self.clear()
        self._items.clear()
        self._selectable = []
        for name, kind, shape, params, _has_children in layers:
            parent_name = name.rpartition(".")[0]
            while parent_name and parent_name not in self._items:
                parent_name = parent_name.rpartition(".")[0]
            leaf = name.rpartition(".")[2]
            item = QTreeWidgetItem([leaf, kind, " x ".join(map(str, shape)), f"{params:,}"])
            item.setData(0, NAME_ROLE, name)
            item.setToolTip(0, name)
            item.setTextAlignment(3, Qt.AlignmentFlag.AlignRight)
            if len(shape) == 3:
                self._selectable.append(name)
            else:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable)
                item.setToolTip(0, f"{name}: a vector, no feature maps to show")
            (self._items[parent_name].addChild(item) if parent_name else self.addTopLevelItem(item))
            self._items[name] = item
        self.expandToDepth(0)
        self.blockSignals(False)
        if select in self._items:
            self.select(select)

    def select(self, name: str) -> None:
        """Make ``name`` current (expanding its parents) and emit layer_selected."""
        item = self._items.get(name)
        if item is not None and name in self._selectable:
            parent = item.parent()
            while parent is not None:
                parent.setExpanded(True)
                parent = parent.parent()
            self.setCurrentItem(item)
            self.scrollToItem(item)

    def current_layer(self) -> str | None:
        """The selected layer's full name."""
        item = self.currentItem()
        return item.data(0, NAME_ROLE) if item is not None else None

    def step(self, delta: int) -> None:
        """Select the next (+1) or previous (-1) layer that has feature maps."""
        if not self._selectable:
            return
        current = self.current_layer()
        index = self._selectable.index(current) if current in self._selectable else -1
        self.select(self._selectable[max(0, min(len(self._selectable) - 1, index + delta))])

    def _on_current(self, item, _previous) -> None:
        if item is not None and item.data(0, NAME_ROLE) in self._selectable:
            self.layer_selected.emit(item.data(0, NAME_ROLE))
