"""The main window, driven as a user drives it: start, drop, step through layers, click."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QAction, QDropEvent

WAIT_MS = 60_000  # generous: CI machines are small

SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


def _drop(window, *paths) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def _top(window) -> str | None:
    shown = window.predictions.shown()
    return shown[0][0] if shown else None


def _action(window, text: str) -> QAction:
    return next(a for a in window.findChildren(QAction) if a.text().replace("&", "") == text)


def test_starts_offline_with_the_demo_model_and_a_sample(window):
    assert window.model_box.currentData() == "demo_shapes"
    assert _top(window) == "circle"  # the first shape sample
    layer = window.layers.current_layer()
    grid = window.features._geometry
    channels = grid.shape[0]
    assert grid.layer == layer and grid.rows * grid.cols >= channels > (grid.rows - 1) * grid.cols
    assert window.features.grid.array.shape[0] == grid.rows * (grid.tile[0] + 1) + 1
    assert "demo_shapes" in window.status.text() and "Inspection" in window.status.text()
    assert not window.predictions.untrained_warning_visible()


def test_drop_an_image(window, qtbot):
    _drop(window, SAMPLES / "shape_star.png")
    qtbot.waitUntil(lambda: _top(window) == "star", timeout=WAIT_MS)
    assert window.input_view.array.shape == (96, 96, 3)


def test_page_down_steps_to_the_next_layer(window, qtbot):
    window.layers.select("features.block1.conv")
    qtbot.waitUntil(lambda: window.features._geometry.layer == "features.block1.conv", timeout=WAIT_MS)
    _action(window, "Next layer").trigger()
    qtbot.waitUntil(lambda: window.features._geometry.layer == "features.block1.bn", timeout=WAIT_MS)
    assert window.features._geometry.shape == (16, 96, 96)
    assert "16 channels" in window.features.caption.text()
    _action(window, "Previous layer").trigger()
    qtbot.waitUntil(lambda: window.features._geometry.layer == "features.block1.conv", timeout=WAIT_MS)


def test_clicking_a_channel_shows_it_over_the_photo(window, qtbot):
    grid = window.features._geometry
    x = grid.pad + grid.tile[1] + grid.pad + 2  # inside the second tile of the first row
    window.features.grid.clicked.emit(x, grid.pad + 2)
    expected = grid.order[1]
    qtbot.waitUntil(lambda: f"channel {expected}:" in window.features.stats.text(), timeout=WAIT_MS)
    assert window.features.detail.array.shape == window.input_view.array.shape
    assert "min" in window.features.stats.text() and "mean" in window.features.stats.text()


def test_bad_file_shows_a_banner_and_keeps_everything(window, qtbot, tmp_path):
    before = (window.predictions.shown(), window.layers.current_layer())
    bad = tmp_path / "holiday.png"
    bad.write_text("this is not a picture")
    _drop(window, bad)
    qtbot.waitUntil(lambda: "holiday.png" in window.banner.text(), timeout=WAIT_MS)
    assert "not an image" in window.banner.text()
    assert (window.predictions.shown(), window.layers.current_layer()) == before
    _drop(window, tmp_path)  # a folder
    qtbot.waitUntil(lambda: "is a folder" in window.banner.text(), timeout=WAIT_MS)
    assert window.predictions.shown() == before[0]


def test_a_burst_of_drops_ends_on_the_last_image(window, qtbot):
    shapes = ["star", "cross", "square", "hexagon"]
    for i in range(20):
        _drop(window, SAMPLES / f"shape_{shapes[i % 4]}.png")
    _drop(window, SAMPLES / "shape_triangle.png")
    qtbot.waitUntil(lambda: _top(window) == "triangle", timeout=WAIT_MS)
    qtbot.wait(1500)  # nothing stale may paint over it afterwards
    assert _top(window) == "triangle"


def test_several_dropped_files_queue_in_the_strip(window, qtbot):
    count = window.strip.count()
    _drop(window, SAMPLES / "shape_square.png", SAMPLES / "chelsea.png", SAMPLES / "coffee.jpg")
    qtbot.waitUntil(lambda: _top(window) == "square", timeout=WAIT_MS)
    assert window.strip.count() == count + 2


def test_untrained_weights_are_flagged(window, qtbot):
    window._use_untrained()
    qtbot.waitUntil(lambda: window.predictions.untrained_warning_visible(), timeout=WAIT_MS)
    assert "untrained" in window.status.text()


def test_offline_download_failure_offers_the_alternatives(make_window, qtbot, monkeypatch,
                                                          isolated_torch_home, no_network):
    window = make_window()
    qtbot.waitUntil(lambda: window.features.grid.array is not None, timeout=WAIT_MS)
    window.model_box.setCurrentIndex(window.model_box.findData("resnet18"))
    window._load_selected()
    qtbot.waitUntil(lambda: "could not be fetched" in window.banner.text(), timeout=WAIT_MS)
    buttons = [b.text() for b in window.banner._actions]
    assert buttons == ["Load weights file...", "Use untrained weights"]
    assert "demo_shapes" in window.status.text()  # the previous model stays
    assert window.download.isHidden()


def test_settings_remember_model_and_layer(make_window, qtbot):
    first = make_window(settings_file="remember.ini")
    qtbot.waitUntil(lambda: first.features.grid.array is not None, timeout=WAIT_MS)
    first.layers.select("features.block2.relu")
    qtbot.waitUntil(lambda: first.features._geometry.layer == "features.block2.relu", timeout=WAIT_MS)
    first.close()
    second = make_window(settings_file="remember.ini")
    qtbot.waitUntil(lambda: second.features.grid.array is not None, timeout=WAIT_MS)
    assert second.layers.current_layer() == "features.block2.relu"


def test_real_mobilenet_on_a_photo(window, qtbot, mobilenet_file):
    window.model_box.setCurrentIndex(window.model_box.findData("mobilenet_v2"))
    window._weights_file = str(mobilenet_file)
    window._load_selected(weights=str(mobilenet_file))
    _drop(window, SAMPLES / "coffee.jpg")  # while the model is still loading: it must not be lost
    qtbot.waitUntil(lambda: _top(window) == "espresso", timeout=WAIT_MS)
    assert window.input_view.array.shape == (224, 224, 3)


def test_window_opens_before_torch_is_imported():
    code = ("import os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
            "from PySide6.QtWidgets import QApplication\n"
            "app = QApplication([])\n"
            "from cnnscope.gui.engine import Engine\n"
            "from cnnscope.gui.main_window import MainWindow\n"
            "w = MainWindow(Engine())\n"
            "assert 'torch' not in sys.modules, 'torch imported before the window shows'\n"
            "assert w.status.text() == 'loading model...'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_exports_write_the_pixels_shown(window, tmp_path, monkeypatch):
    from PIL import Image

    from cnnscope.gui import main_window

    target = tmp_path / "grid.png"
    monkeypatch.setattr(main_window.QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    window.export_view()
    assert np.array_equal(np.asarray(Image.open(target)), window.features.grid.array)
