"""The strip of sample images and queued drops along the bottom of the window. Thumbnails are
made on a thread of their own through core's loader; the first nine carry the number that opens
them in presentation mode."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QListWidget, QListWidgetItem

from ..qimage import to_pixmap
from ..thumbnails import ThumbnailLoader


class ImageStrip(QListWidget):
    """See the module docstring."""

    chosen = Signal(str)  # the path of the image clicked (or picked by number)

    def __init__(self, paths: list[Path], parent=None) -> None:
        super().__init__(parent)
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setIconSize(QSize(72, 72))
        self.setGridSize(QSize(132, 90))  # one cell per sample, long names elided
        self.setFlow(QListWidget.Flow.LeftToRight)
        self.setWrapping(False)
        self.setFixedHeight(110)
        self.setToolTip("Sample images and queued drops: click one to inspect it")
        self.thumbnails = ThumbnailLoader()
        self.thumbnails.ready.connect(self._show_thumbnail)
        for path in paths:
            self.add(path)
        self.itemClicked.connect(lambda item: self.chosen.emit(item.data(Qt.ItemDataRole.UserRole)))

    def add(self, path: Path) -> None:
        """Append ``path``; its thumbnail follows."""
        row = self.count()
        item = QListWidgetItem(f"{row + 1}  {path.name}" if row < 9 else path.name)
        item.setData(Qt.ItemDataRole.UserRole, str(path))
        item.setToolTip(f"{path}\n(key {row + 1} in presentation mode)" if row < 9 else str(path))
        self.addItem(item)
        self.thumbnails.request(str(path))

    def pick(self, index: int) -> None:
        """Choose the image at ``index`` (0-based), if there is one."""
        if 0 <= index < self.count():
            self.chosen.emit(self.item(index).data(Qt.ItemDataRole.UserRole))

    def _show_thumbnail(self, path: str, rgb) -> None:
        icon = QIcon(to_pixmap(rgb))
        for row in range(self.count()):
            item = self.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == path:
                item.setIcon(icon)

    def stop_thumbnails(self) -> None:
        """Stop making thumbnails (the window is closing)."""
        self.thumbnails.close()
