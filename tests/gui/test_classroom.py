"""Classroom views: the selected layer explained in plain words, the architecture summary tab."""

from __future__ import annotations

import csv

from PySide6.QtWidgets import QFileDialog

WAIT_MS = 60_000


def test_selecting_a_layer_explains_it_with_its_numbers(window, qtbot):
    window.layers.select("features.block2.conv")
    qtbot.waitUntil(lambda: window.explanation.toPlainText().startswith("features.block2.conv"),
                    timeout=WAIT_MS)
    text = window.explanation.toPlainText()
    assert "a convolution: 32 filters, each 3x3 over all 16 input channels" in text
    assert "receptive field" in text and "parameters" in text
    window.layers.select("features.block1.pool")
    qtbot.waitUntil(lambda: "max pooling" in window.explanation.toPlainText(), timeout=WAIT_MS)


def test_summary_tab_shows_the_table_and_exports_csv(window, qtbot, tmp_path, monkeypatch):
    view = window.summary
    window.tabs.setCurrentWidget(window.architecture)
    qtbot.waitUntil(lambda: view.table.rowCount() > 10, timeout=WAIT_MS)
    assert view.table.item(0, 0).text().strip() == "features"
    assert "demo_shapes" in view.totals.text() and "parameters" in view.totals.text()
    assert [s[0] for s in view.diagram.stages] == [48, 24, 12]
    target = tmp_path / "demo.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "CSV"))
    view.export.click()
    qtbot.waitUntil(lambda: target.is_file() and target.stat().st_size > 0, timeout=WAIT_MS)
    qtbot.wait(200)
    rows = list(csv.reader(target.open()))
    assert rows[0][0] == "layer" and rows[-1][0] == "total" and len(rows) == view.table.rowCount() + 2


def _key(qtbot, widget, key):
    from PySide6.QtCore import Qt

    qtbot.keyClick(widget, getattr(Qt.Key, key))


def test_presentation_mode_is_driven_from_the_keyboard(window, qtbot):
    from PySide6.QtCore import Qt

    qtbot.keyClick(window, Qt.Key.Key_F11)
    view = window.presentation
    qtbot.waitUntil(lambda: view is not None and view.isVisible(), timeout=WAIT_MS)
    assert view.windowState() & Qt.WindowState.WindowFullScreen
    assert view.font().pointSizeF() > 2 * window.font().pointSizeF()  # readable from the back
    qtbot.waitUntil(lambda: view.middle.array is not None, timeout=WAIT_MS)
    assert view.rows[0][0].text().startswith("circle")
    first = window.layers.current_layer()
    _key(qtbot, view, "Key_Right")
    qtbot.waitUntil(lambda: window.layers.current_layer() != first, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.layers.current_layer() in view.title.text(), timeout=WAIT_MS)
    _key(qtbot, view, "Key_PageUp")
    assert window.layers.current_layer() == first
    _key(qtbot, view, "Key_C")  # CAM over the photo instead of the feature maps
    qtbot.waitUntil(lambda: view.showing_cam and "Grad-CAM" in view.title.text(), timeout=WAIT_MS)
    assert view.middle.array.shape == window.heatmaps.overlay.shape
    assert " ms" not in view.title.text()  # the method and the class; no timings on a projector
    samples = [window.strip.item(i).text() for i in range(window.strip.count())]
    index = next(i for i, text in enumerate(samples) if text.endswith("shape_star.png"))
    assert samples[index] == f"{index + 1}  shape_star.png"  # the key that opens it, shown
    _key(qtbot, view, f"Key_{index + 1}")
    qtbot.waitUntil(lambda: view.rows[0][0].text().startswith("star"), timeout=WAIT_MS)
    _key(qtbot, view, "Key_Escape")
    assert not view.isVisible()


def test_presentation_shows_the_arithmetic_large_and_slides_it_from_the_keyboard(window, qtbot):
    from PySide6.QtCore import Qt

    window.layers.select("features.block1.conv")
    qtbot.keyClick(window, Qt.Key.Key_F11)
    view = window.presentation
    qtbot.waitUntil(lambda: view.middle.array is not None, timeout=WAIT_MS)
    _key(qtbot, view, "Key_A")  # no value was clicked: it starts at the layer's centre
    qtbot.waitUntil(lambda: "features.block1.conv" in view.title.text()
                    and "the map holds" in view.numbers.toPlainText(), timeout=WAIT_MS)
    assert view.middle_stack.currentWidget() is view.numbers
    start = window.session.position
    assert start.layer == "features.block1.conv" and f"column {start.x}" in view.title.text()
    assert view.numbers.document().defaultFont().pointSizeF() > 2 * window.font().pointSizeF()
    box = window.session.field_box
    assert view.image._highlight == (box.x, box.y, box.width, box.height)  # the patch, outlined
    _key(qtbot, view, "Key_Right")  # slides the kernel, not the layer
    qtbot.waitUntil(lambda: f"column {start.x + 1}" in view.title.text(), timeout=WAIT_MS)
    assert window.layers.current_layer() == "features.block1.conv"
    _key(qtbot, view, "Key_Space")
    assert window.arithmetic.play.isChecked()
    _key(qtbot, view, "Key_Space")
    assert not window.arithmetic.play.isChecked()
    bar = view.numbers.verticalScrollBar()
    _key(qtbot, view, "Key_Down")  # scroll down to the numbers...
    scrolled = bar.value()
    assert scrolled > 0
    _key(qtbot, view, "Key_Right")  # ...and slide on: the reader keeps their place
    qtbot.waitUntil(lambda: f"column {start.x + 2}" in view.title.text(), timeout=WAIT_MS)
    assert bar.value() == scrolled
    window.model_bar.load(weights="random")  # another model clears the value: a new one is chosen
    qtbot.waitUntil(lambda: window.session.model.weights == "random" and window.session.arithmetic is not None
                    and "the map holds" in view.numbers.toPlainText(), timeout=WAIT_MS)
    _key(qtbot, view, "Key_Space")
    assert window.arithmetic.play.isChecked()
    _key(qtbot, view, "Key_A")  # back to the maps (the slide stops): arrows step layers again
    assert not window.arithmetic.play.isChecked()
    assert view.middle_stack.currentWidget() is view.middle and view.image._highlight is None
    _key(qtbot, view, "Key_Right")
    qtbot.waitUntil(lambda: window.layers.current_layer() != "features.block1.conv", timeout=WAIT_MS)
    _key(qtbot, view, "Key_Escape")


def test_presentation_keys_work_after_a_click_on_a_picture(window, qtbot):
    from PySide6.QtCore import Qt

    qtbot.keyClick(window, Qt.Key.Key_F11)
    view = window.presentation
    qtbot.waitUntil(lambda: view.middle.array is not None, timeout=WAIT_MS)
    for picture in (view.middle, view.image):
        qtbot.mouseClick(picture.viewport(), Qt.MouseButton.LeftButton)
        picture.setFocus()  # as a click on a focusable scroll area would
        for forward, back in (("Key_Right", "Key_Left"), ("Key_PageDown", "Key_PageUp")):
            first = window.layers.current_layer()
            _key(qtbot, picture, forward)  # the key goes where the focus is: the picture
            qtbot.waitUntil(lambda: window.layers.current_layer() != first, timeout=5000)
            _key(qtbot, picture, back)
            assert window.layers.current_layer() == first
    _key(qtbot, view.middle, "Key_Escape")
    assert not view.isVisible()


def test_live_frames_are_dropped_while_the_engine_is_busy_and_fps_is_counted(window, qtbot):
    import numpy as np

    from cnnscope.core.shapes import make_samples
    from cnnscope.gui.live import ArraySource

    frames = [s.image for s in make_samples(12, seed=3)] * 10
    source = ArraySource(frames, interval_ms=1)  # far faster than the network can go
    window.live.start_live(source)
    assert window.tabs.currentWidget() is window.live
    qtbot.waitUntil(lambda: source.emitted == len(frames), timeout=WAIT_MS)
    qtbot.wait(500)  # the last frame in flight comes back
    controller = window.live.controller
    assert controller.dropped > 0 and controller.shown_count > 0
    assert controller.shown_count + controller.dropped == source.emitted  # none queued, none lost
    assert "fps" in window.live.fps.text() and window.live.picture.array is not None
    assert np.array_equal(window.live.frame.array.shape, (96, 96, 3))
    # Grad-CAM instead of the maps, and Stop stops
    window.live.mode.setCurrentIndex(window.live.mode.findData("cam"))
    again = ArraySource(frames[:20], interval_ms=5)
    window.live.start_live(again)
    qtbot.waitUntil(lambda: "Grad-CAM" in window.live.caption.text(), timeout=WAIT_MS)
    window.live.stop_live()
    sent = again.emitted
    qtbot.wait(100)
    assert again.emitted == sent


def test_no_camera_is_said_in_the_menu(window, qtbot, monkeypatch):
    from cnnscope.gui.panels import live as live_panel

    monkeypatch.setattr(live_panel, "cameras", lambda: [])
    window.live.discover_cameras()
    assert "none found" in window.live.camera_action.text()
    window.live.open_camera()
    assert window.banner.isVisible() and "camera" in window.banner.text().lower()


def test_a_video_file_feeds_the_live_view(window, qtbot, tmp_path, monkeypatch):
    import pytest
    from PIL import Image

    from cnnscope.core.shapes import make_samples
    from cnnscope.gui.live import multimedia_problem

    problem = multimedia_problem()
    if problem:
        pytest.skip(problem)
    video = tmp_path / "shapes.gif"  # an animated GIF: Qt's FFmpeg backend plays it like a video
    frames = [Image.fromarray(s.image) for s in make_samples(20, seed=1)]
    frames[0].save(video, save_all=True, append_images=frames[1:], duration=40, loop=0)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(video), ""))
    window.live.play_video()
    qtbot.waitUntil(lambda: window.live.controller.shown_count >= 5, timeout=WAIT_MS)
    assert window.live.frame.array.shape == (96, 96, 3)
    window.live.stop_live()


def test_cameras_are_looked_for_only_when_the_user_goes_near_them(window):
    assert window.live._cameras is None  # nothing asked of Qt Multimedia at start-up
    window.tabs.setCurrentWidget(window.live)
    assert window.live._cameras is not None
    assert window.live.camera.count() >= 1  # cameras, or a line saying there are none


def test_live_input_owns_the_predictions_and_stop_only_while_it_plays(window, qtbot, monkeypatch):
    from cnnscope.core.shapes import make_samples
    from cnnscope.gui.live import ArraySource
    from cnnscope.gui.panels import live as live_panel

    assert not window.live.stop.isEnabled()  # nothing plays yet
    still = window.predictions.shown()[0][0]
    stars = [s.image for s in make_samples(30, seed=5) if s.label == 3]  # DEMO_CLASSES[3] == "star"
    assert still != "star" and stars
    source = ArraySource(stars * 20, interval_ms=20)
    window.live.start_live(source)
    assert window.live.stop.isEnabled()
    qtbot.waitUntil(lambda: window.predictions.shown()[0][0] == "star", timeout=WAIT_MS)
    window.live.stop.click()
    assert not window.live.stop.isEnabled()
    qtbot.waitUntil(lambda: window.predictions.shown()[0][0] == still, timeout=WAIT_MS)

    offered = []
    monkeypatch.setattr(live_panel, "multimedia_problem", lambda: None)
    monkeypatch.setattr(live_panel.QFileDialog, "getOpenFileName",
                        lambda *args: offered.append(args[3]) or ("", ""))
    window.live.play_video()
    assert "*.gif" in offered[0].split(";;")[0]  # an animated GIF plays as a video
