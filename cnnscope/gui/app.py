"""Start the window: QApplication, settings, the engine thread."""

from __future__ import annotations

import sys

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from .engine import Engine
from .main_window import MainWindow


def main(image: str | None = None) -> int:
    """Open the main window (with ``image`` if given) and run until it closes."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("cnnscope")
    app.setOrganizationName("cnnscope")
    window = MainWindow(Engine(), image, QSettings())
    window.show()
    return app.exec()
