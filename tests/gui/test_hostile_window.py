"""Hostile files and closing mid-work, in the real window: banners, the previous state kept,
nothing frozen, a clean exit within 2 s."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hostile import builders  # tests/hostile: the suite's own hostile files
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

WAIT_MS = 60_000
SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


def _drop(window, *paths) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    window.dropEvent(QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))


@pytest.fixture
def fifo_that_cannot_hang(tmp_path):
    """A named pipe. After 15 s a helper keeps opening its write end, so that a reader blocked on
    it (a regression) gets end-of-file and the test fails instead of hanging the suite."""
    pipe = builders.fifo(tmp_path / "pipe.png")
    done = threading.Event()

    def release_readers() -> None:
        if done.wait(15):
            return
        while not done.is_set():
            try:
                os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # no reader waiting right now
                pass
            time.sleep(0.2)
    threading.Thread(target=release_readers, daemon=True).start()
    yield pipe
    done.set()


def _shown_file(window) -> str:
    return Path(window.session.image.path or "").name if window.session.image else ""


def test_a_fifo_dropped_with_a_photo_freezes_nothing(window, qtbot, fifo_that_cannot_hang):
    shown = window.input_view.array.copy()
    pipe = fifo_that_cannot_hang
    started = time.monotonic()
    _drop(window, pipe, SAMPLES / "shape_circle.png")  # the pipe first, the photo queued
    _drop(window, SAMPLES / "shape_cross.png", pipe)  # and the other way round: a thumbnail for it
    qtbot.waitUntil(lambda: _shown_file(window) == "shape_cross.png", timeout=5000)
    _drop(window, pipe)
    qtbot.waitUntil(lambda: "pipe.png' is a named pipe" in window.banner.text(), timeout=5000)
    assert time.monotonic() - started < 5
    assert not np.array_equal(window.input_view.array, shown)  # the photo after it was shown
    assert _shown_file(window) == "shape_cross.png"  # and stays: the pipe changed nothing


def test_postscript_dropped_as_a_photo_never_runs_and_keeps_the_image(window, qtbot, tmp_path):
    marker = tmp_path / "marker.txt"
    shown = window.input_view.array.copy()
    _drop(window, builders.postscript_writing(tmp_path / "holiday.jpg", marker))
    qtbot.waitUntil(lambda: "PostScript/EPS" in window.banner.text(), timeout=WAIT_MS)
    _drop(window, builders.postscript_looping(tmp_path / "loop.jpg"))
    qtbot.waitUntil(lambda: "loop.jpg' is a PostScript/EPS" in window.banner.text(), timeout=5000)
    assert np.array_equal(window.input_view.array, shown) and not marker.exists()


def _checkpoint(tmp_path: Path, name: str, content) -> str:
    path = tmp_path / name
    torch.save(content, path)
    return str(path)


def test_broken_checkpoints_give_a_plain_banner_and_keep_the_model(window, qtbot, tmp_path):
    from cnnscope.core.checkpoint import make_checkpoint
    from cnnscope.core.weights import load_model

    demo = load_model("demo_shapes", "pretrained")
    state = {k: v.clone() for k, v in demo.module.state_dict().items()}
    good = make_checkpoint("demo_shapes", state, list(demo.labels))
    nan_state = dict(state, **{"fc.weight": state["fc.weight"] * float("nan")})
    cases = {
        _checkpoint(tmp_path, "list.pt", dict(good, state_dict=[1, 2])): "it holds no weights",
        _checkpoint(tmp_path, "classes.pt", dict(good, classes=3)): "class names are not a list",
        _checkpoint(tmp_path, "meta.pt", dict(good, meta=[1])): "is not a mapping",
        _checkpoint(tmp_path, "nan.pt", dict(good, state_dict=nan_state)): "not numbers (NaN or infinity)",
    }
    before = window.status.text()
    for path, message in cases.items():
        window.model_bar.load(weights=path)
        qtbot.waitUntil(lambda: message in window.banner.text(), timeout=WAIT_MS)
        assert "Error" not in window.banner.text() and "Traceback" not in window.banner.text()
    assert window.status.text() == before  # the demo model, as before


def _threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.is_alive() and t.name.startswith("cnnscope-")]


def test_closing_during_training_and_a_download_takes_under_2_s(make_window, qtbot, tmp_path,
                                                                slow_squeezenet_download,
                                                                isolated_torch_home):
    from cnnscope.core.shapes import write_shape_folder

    data = tmp_path / "data"
    write_shape_folder(data, ("arrow", "moon"), per_class=30, seed=1)
    window = make_window()
    qtbot.waitUntil(lambda: window.features.grid.array is not None, timeout=WAIT_MS)
    batches = []
    window.transfer.trainer.batch_done.connect(batches.append)
    panel = window.transfer
    panel.folder.setText(str(data))
    panel.epochs.setValue(panel.epochs.maximum())
    panel.batch.setValue(panel.batch.minimum())
    panel.start.click()
    window.model_bar.model_box.setCurrentIndex(window.model_bar.model_box.findData("squeezenet1_1"))
    window.model_bar.load(weights="pretrained")
    qtbot.waitUntil(lambda: window.model_bar.download.value() > 0 and len(batches) > 2, timeout=WAIT_MS)
    started = time.monotonic()
    window.close()
    while _threads() and time.monotonic() - started < 2:
        time.sleep(0.05)
    assert time.monotonic() - started < 2 and not [n for n in _threads() if n != "cnnscope-thumbnails"]


SCORECAM_CLOSE = textwrap.dedent("""
    import sys, time
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from cnnscope.core import batching, passes
    from cnnscope.gui import app as gui_app
    from cnnscope.gui.main_window import MainWindow

    batching.CPU_BATCH = 1
    real_forward = passes.Runner.forward

    def slow_forward(self, batch):  # 128 passes of 50 ms: Score-CAM runs for 6 s
        time.sleep(0.05)
        return real_forward(self, batch)
    passes.Runner.forward = slow_forward

    def poll():
        window = next((w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)), None)
        if window is None or window.features.grid.array is None:
            return
        view = window.heatmaps
        if view.method.currentData() != "scorecam":
            view.method.setCurrentIndex(view.method.findData("scorecam"))
            window.tabs.setCurrentWidget(view)
        elif view.progress.isVisible() and view.progress.value() > 2:
            print("CLOSING", time.time(), flush=True)
            timer.stop()
            window.close()

    app = QApplication(sys.argv[:1])
    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(20)
    sys.exit(gui_app.main(None))
""")


def test_closing_during_score_cam_exits_cleanly_within_2_s(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path))
    process = subprocess.Popen([sys.executable, "-c", SCORECAM_CLOSE], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    out, err = process.communicate(timeout=120)
    ended = time.time()
    assert process.returncode == 0, err[-2000:]
    closing = float(next(line for line in out.splitlines() if line.startswith("CLOSING")).split()[1])
    assert ended - closing < 2, f"took {ended - closing:.1f} s to exit"
    assert "terminate called" not in err and "Traceback" not in err
