"""GUI tests drive the real main window offscreen, with a real engine thread."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

WAIT_MS = 60_000  # generous: CI machines are small


@pytest.fixture
def make_window(qtbot, tmp_path):
    """Factory: a shown MainWindow with its own settings file, closed after the test."""
    from cnnscope.gui.engine import Engine
    from cnnscope.gui.main_window import MainWindow

    windows = []

    def make(image: str | None = None, settings_file: str = "settings.ini"):
        settings = QSettings(str(tmp_path / settings_file), QSettings.Format.IniFormat)
        window = MainWindow(Engine(), image, settings)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()


@pytest.fixture
def window(make_window, qtbot):
    """A window that has inspected its first image."""
    w = make_window()
    qtbot.waitUntil(lambda: w.features.grid.array is not None, timeout=WAIT_MS)
    return w
