"""The 'Where it looked' tab: shown with every inspection, driven by the predictions and its controls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtWidgets import QFileDialog

WAIT_MS = 60_000
SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


def _caption(window) -> str:
    return window.heatmaps.caption.text()


def _open(window, qtbot, name: str, top: str) -> None:
    window.open_path(str(SAMPLES / name))
    qtbot.waitUntil(lambda: window.predictions.shown() and window.predictions.shown()[0][0] == top,
                    timeout=WAIT_MS)


def _wait_caption(window, qtbot, *parts: str) -> None:
    qtbot.waitUntil(lambda: all(p in _caption(window) for p in parts), timeout=WAIT_MS)


def test_gradcam_for_the_top_class_comes_with_every_inspection(window, qtbot):
    _open(window, qtbot, "shape_star.png", "star")
    _wait_caption(window, qtbot, "Grad-CAM", "star", "features.block4")
    panel = window.heatmaps.picture.array
    photo = window.input_view.array
    assert panel.shape[1] > 3 * photo.shape[1]  # photo | heatmap | overlay
    # the left third is the photo itself
    np.testing.assert_array_equal(panel[6:6 + photo.shape[0], 6:6 + photo.shape[1]], photo)


def test_clicking_a_prediction_shows_the_map_for_that_class(window, qtbot):
    _open(window, qtbot, "shape_star.png", "star")
    _wait_caption(window, qtbot, "star")
    first = window.heatmaps.picture.array.copy()
    second = window.predictions.shown()[1][0]
    window.predictions.click_row(1)
    assert window.tabs.currentWidget() is window.heatmaps
    _wait_caption(window, qtbot, f"for <b>{second}</b>")
    assert not np.array_equal(window.heatmaps.picture.array, first)
    # a new image keeps the chosen class: the map follows the user's question
    _open(window, qtbot, "shape_cross.png", "cross")
    _wait_caption(window, qtbot, f"for <b>{second}</b>")


def test_method_and_layer_choices_recompute(window, qtbot):
    view = window.heatmaps
    _wait_caption(window, qtbot, "Grad-CAM")
    view.method.setCurrentIndex(view.method.findData("cam"))
    _wait_caption(window, qtbot, "<b>CAM</b>")
    view.method.setCurrentIndex(view.method.findData("gradcam"))
    _wait_caption(window, qtbot, "Grad-CAM")
    index = view.layer.findData("features.block2")
    assert index > 0 and view.layer.itemText(0) == "features.block4 (default)"
    view.layer.setCurrentIndex(index)
    view.layer.activated.emit(index)
    _wait_caption(window, qtbot, "at <b>features.block2</b>")
    view.method.setCurrentIndex(view.method.findData("saliency"))
    _wait_caption(window, qtbot, "Saliency")
    assert not view.layer.isEnabled() and "at <b>" not in _caption(window)


def test_typing_a_class_name_explains_it(window, qtbot):
    view = window.heatmaps
    _wait_caption(window, qtbot, "Grad-CAM")
    view.target.setEditText("hexagon")
    view.target.lineEdit().returnPressed.emit()
    _wait_caption(window, qtbot, "for <b>hexagon</b>")
    view.target.setEditText("tabby")
    view.target.lineEdit().returnPressed.emit()
    _wait_caption(window, qtbot, "not a class of demo_shapes")


def test_opacity_and_colormap_redraw_without_recomputing(window, qtbot, monkeypatch):
    from cnnscope.core import attribution

    _wait_caption(window, qtbot, "Grad-CAM")
    calls = []
    real = attribution.attribute
    monkeypatch.setattr(attribution, "attribute", lambda *a, **k: calls.append(1) or real(*a, **k))
    before = window.heatmaps.picture.array.copy()
    window.heatmaps.opacity.setValue(90)
    qtbot.waitUntil(lambda: not np.array_equal(window.heatmaps.picture.array, before), timeout=WAIT_MS)
    redrawn = window.heatmaps.picture.array.copy()
    window.heatmaps.cmap.setCurrentText("inferno")
    qtbot.waitUntil(lambda: not np.array_equal(window.heatmaps.picture.array, redrawn), timeout=WAIT_MS)
    assert calls == []


def test_slow_method_shows_progress_and_cancels(window, qtbot, monkeypatch):
    from cnnscope.core import batching

    monkeypatch.setattr(batching, "CPU_BATCH", 1)  # one pass per channel: time to cancel
    view = window.heatmaps
    _wait_caption(window, qtbot, "Grad-CAM")
    view.method.setCurrentIndex(view.method.findData("scorecam"))  # not shown: waits for its tab
    _wait_caption(window, qtbot, "runs when this tab is shown")
    window.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.progress.isVisible() and view.progress.value() > 0, timeout=WAIT_MS)
    assert view.cancel.isVisible() and 100 < view.progress.maximum() <= 128  # live channels of 128
    view.cancel.click()
    _wait_caption(window, qtbot, "cancelled")
    assert not view.progress.isVisible() and not view.cancel.isVisible()
    # the window still answers: a fast method runs at once afterwards
    view.method.setCurrentIndex(view.method.findData("gradcam"))
    _wait_caption(window, qtbot, "Grad-CAM")


def test_cam_refusal_is_explained_in_the_view(window, qtbot):
    window.model_bar.model_box.setCurrentIndex(window.model_bar.model_box.findData("alexnet"))
    window.model_bar.weights_box.setCurrentIndex(window.model_bar.weights_box.findData("random"))
    window.model_bar.load(weights="random")
    qtbot.waitUntil(lambda: getattr(window.session.inspection, "model", None) == "alexnet",
                    timeout=WAIT_MS)
    view = window.heatmaps
    view.method.setCurrentIndex(view.method.findData("cam"))
    _wait_caption(window, qtbot, "fully connected")
    assert "Grad-CAM" in view.summary.text()
    assert window.banner.isHidden()  # a refusal is not an error to shout about


def test_exported_overlay_is_the_pixels_the_cli_writes(window, qtbot, tmp_path, monkeypatch):
    from cnnscope.cli import main

    _open(window, qtbot, "shape_triangle.png", "triangle")
    _wait_caption(window, qtbot, "for <b>triangle</b>")
    target = tmp_path / "gui.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "PNG"))
    window.heatmaps.export_overlay()
    out = tmp_path / "cli"
    assert main(["render", "--image", str(SAMPLES / "shape_triangle.png"), "--out", str(out),
                 "--cam", "gradcam", "--alpha", "0.5", "--heat-cmap", "jet"]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(target)),
                                  np.asarray(Image.open(out / "cam_gradcam_triangle.png")))


def test_the_view_offers_every_core_method(window):
    from cnnscope.core.attribution import METHODS

    view = window.heatmaps
    assert [view.method.itemData(i) for i in range(view.method.count())] == list(METHODS)


def test_the_heatmap_has_a_scale_and_shows_its_value_under_the_pointer(window, qtbot):
    import numpy as np

    from cnnscope.core import render

    view = window.heatmaps
    _wait_caption(window, qtbot, "Grad-CAM")
    result = view._result
    assert view.scale.pixmap() is not None and not view.scale.pixmap().isNull()
    assert np.array_equal(result.colorbar[0, 0], render.colormap_lut(view.cmap.currentText())[255])
    h, w = result.overlay.shape[:2]
    pad = render.PANEL_PAD
    row, col = np.unravel_index(np.argmax(result.heatmap), result.heatmap.shape)
    y = pad + row * h // result.heatmap.shape[0]
    for left in (pad + w + pad, pad + 2 * (w + pad)):  # the same place on the heatmap and the overlay
        view.picture.hovered.emit(left + col * w // result.heatmap.shape[1], y)
        assert view.pointer.text() == f"heatmap here: {result.heatmap.max():.2f} (0 least, 1 most)"
    view.picture.hovered.emit(pad + 1, pad + 1)  # the photo itself: no heatmap value
    assert view.pointer.text() == ""


def test_all_methods_page_shows_every_fast_method_for_the_class_and_exports(window, qtbot, tmp_path,
                                                                             monkeypatch):
    _open(window, qtbot, "shape_star.png", "star")
    view = window.heatmaps
    _wait_caption(window, qtbot, "Grad-CAM", "star")
    window.tabs.setCurrentWidget(view)
    grid = window.method_grid
    assert grid.picture.array is None  # not computed while unseen
    view.pages.setCurrentWidget(grid)
    assert not view.method.isEnabled()  # one method's choice means nothing here
    qtbot.waitUntil(lambda: grid.picture.array is not None and "for <b>star" in grid.caption.text(),
                    timeout=WAIT_MS)
    assert "19 methods" not in grid.caption.text() and "methods</b>" in grid.caption.text()
    first = grid.picture.array.copy()
    runner_up = window.predictions.shown()[1][0]
    window.predictions.click_row(1)  # another class: the grid follows it
    qtbot.waitUntil(lambda: f"for <b>{runner_up}" in grid.caption.text(), timeout=WAIT_MS)
    assert not np.array_equal(grid.picture.array, first)
    target = tmp_path / "all.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    grid.export.click()
    np.testing.assert_array_equal(np.asarray(Image.open(target)), grid.picture.array)
    view.pages.setCurrentIndex(0)
    assert view.method.isEnabled()


def test_the_pages_leave_the_window_at_1280_px(window, qtbot):
    """Every page of the tab counts in its minimum width (the sanity page's six columns of method
    boxes made the window outgrow a 1280 px screen)."""
    window.resize(1280, 800)
    window.tabs.setCurrentWidget(window.heatmaps)
    for page in range(window.heatmaps.pages.count()):
        window.heatmaps.pages.setCurrentIndex(page)
        qtbot.wait(20)
        assert window.width() <= 1280 and window.heatmaps.minimumSizeHint().width() <= 640
