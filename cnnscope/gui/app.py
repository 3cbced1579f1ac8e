"""Start the window: QApplication, settings, the engine thread."""

from __future__ import annotations

import os
import sys
import threading

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from .engine import Engine
from .main_window import MainWindow


_shown_windows: list = []  # windows cnnscope.show opened in a running event loop (kept alive)


def show_window(loaded=None, image=None):
    """The window on ``loaded`` (a core LoadedModel) and ``image`` (a path, or pixels as uint8
    (H, W, 3)). Where an event loop already runs (Jupyter with Qt integration, or a Qt program)
    it returns the window at once; otherwise it runs the loop until the window closes."""
    from PySide6.QtCore import QEventLoop, Qt

    from .services.base import ImageSource

    interactive = _enable_notebook_event_loop()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    running = app.thread().loopLevel() > 0  # called from inside a running Qt program
    if image is None or isinstance(image, (str, os.PathLike)):
        first = str(image) if image is not None else None
    else:
        import io

        import numpy as np
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
        first = ImageSource(data=buffer.getvalue(), name="your image")
    window = MainWindow(Engine(), first, QSettings("cnnscope", "cnnscope"), model=loaded)
    window.show()
    window.raise_()
    if running or interactive:
        _shown_windows.append(window)
        window.destroyed.connect(lambda *_: _shown_windows.remove(window) if window in _shown_windows else None)
        return window
    # A loop of its own that ends when this window closes (the application's loop may have
    # been asked to quit before, by a window closed earlier in the same program)
    loop = QEventLoop()
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    window.destroyed.connect(loop.quit)
    loop.exec()
    return None


def _enable_notebook_event_loop() -> bool:
    """In a Jupyter kernel, let Qt's events run between cells (IPython's %gui qt); True there."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return False
    shell.enable_gui("qt")
    return True


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
