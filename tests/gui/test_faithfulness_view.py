"""'Can we trust this map?' in the Where it looked tab: the curves on demand (or for every map), a
box dragged on the photo and its scores, stale numbers cleared, Esc cancelling the check."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

WAIT_MS = 60_000
SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


def _drag(view, start: tuple[int, int], end: tuple[int, int]) -> None:
    """A left-button drag on the panel picture between two of its pixels, as a mouse makes it."""
    picture = view.picture
    label = picture._label
    shown = label.pixmap().size()
    offset = QPoint((label.width() - shown.width()) // 2, (label.height() - shown.height()) // 2)

    def at(x: float, y: float) -> QPoint:
        return offset + QPoint(int((x + 0.5) * picture.zoom), int((y + 0.5) * picture.zoom))

    QTest.mousePress(label, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(*start))
    for share in (0.5, 1.0):
        point = at(start[0] + (end[0] - start[0]) * share, start[1] + (end[1] - start[1]) * share)
        QApplication.sendEvent(label, QMouseEvent(
            QEvent.Type.MouseMove, QPointF(point), QPointF(label.mapToGlobal(point)),
            Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    QTest.mouseRelease(label, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(*end))


def test_curves_box_and_stale_numbers(window, qtbot, monkeypatch):
    from cnnscope.core import faithfulness

    monkeypatch.setattr(faithfulness, "STEPS", 4)  # 20 passes a check instead of 92
    view = window.heatmaps
    window.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view._result is not None and "Grad-CAM" in view.caption.text(), timeout=WAIT_MS)
    assert not view.trust_body.isVisible()  # nothing to show yet: the map keeps the height

    view.check.click()
    qtbot.waitUntil(lambda: view.curves.array is not None, timeout=WAIT_MS)
    text = view.trust_text.text()
    for name in ("Grad-CAM", "random map", "centre blob", "deletion", "insertion"):
        assert name in text
    assert view.trust_body.isVisible() and not view.checking

    # a box dragged on the photo (the left pane), from inside to beyond its corner: held to the photo
    result = view._result
    pad, side = result.panel_pad, result.overlay.shape[0]
    _drag(view, (pad + 10, pad + 20), (pad + side + 30, pad + side + 30))
    assert view.box == (10, 20, side, side)
    assert len(view.picture.boxes()) == 3  # outlined on the photo, the heatmap and the overlay
    qtbot.waitUntil(lambda: "pointing game" in view.box_text.text(), timeout=WAIT_MS)
    covered = (side - 10) * (side - 20) / side ** 2
    assert f"on {covered:.0%} of the image" in view.box_text.text()
    clicks = []
    view.picture.clicked.connect(lambda x, y: clicks.append((x, y)))
    _drag(view, (pad + 40, pad + 40), (pad + 41, pad + 41))  # a short drag is a click, not a box
    assert clicks and view.box == (10, 20, side, side)

    # another class: the curves go (they were about the old map), the box stays and is scored again
    second = window.predictions.shown()[1][0]
    window.predictions.click_row(1)
    qtbot.waitUntil(lambda: f"for <b>{second}</b>" in view.caption.text(), timeout=WAIT_MS)
    assert view.curves.array is None and "deletion" not in view.trust_text.text()
    qtbot.waitUntil(lambda: "pointing game" in view.box_text.text(), timeout=WAIT_MS)

    # "every map": each new map is checked by itself; a new image clears the box
    view.check_every.setChecked(True)
    qtbot.waitUntil(lambda: view.curves.array is not None, timeout=WAIT_MS)
    window.open_path(str(SAMPLES / "shape_cross.png"))
    qtbot.waitUntil(lambda: view.box is None and view.curves.array is None, timeout=WAIT_MS)
    assert view.picture.boxes() == [] and view.box_text.text() == ""
    qtbot.waitUntil(lambda: view.curves.array is not None, timeout=WAIT_MS)
    view.check_every.setChecked(False)

    # Esc stops a check (each batch slowed down here, so that it is still running)
    from cnnscope.core import batching

    real = faithfulness._Batches._build
    monkeypatch.setattr(batching, "CPU_BATCH", 1)
    monkeypatch.setattr(faithfulness._Batches, "_build",
                        lambda self, job: time.sleep(0.05) or real(self, job))
    view.check.click()
    qtbot.waitUntil(lambda: view.check_progress.value() > 0, timeout=WAIT_MS)
    assert view.busy
    QTest.keyClick(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: "cancelled" in view.trust_text.text(), timeout=WAIT_MS)
    assert not view.checking and view.check.isEnabled() and view.curves.array is None
