"""Start the window: QApplication, settings, the engine thread."""

from __future__ import annotations

import os
import sys
import threading

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
    code = app.exec()
    if any(t.is_alive() and t.name.startswith("cnnscope-") for t in threading.enumerate()):
        # A worker is still inside one step it cannot leave (a forward pass, a read from a stalled
        # drive). Tearing the interpreter down under it would abort the process; everything the
        # user asked to keep (settings, saved files) is written by now, so end here.
        window.settings.sync()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
