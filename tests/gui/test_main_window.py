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
    assert window.model_bar.model_box.currentData() == "demo_shapes"
    assert _top(window) == "circle"  # the first shape sample
    layer = window.layers.current_layer()
    grid = window.features._geometry
    channels = grid.shape[0]
    assert grid.layer == layer and grid.rows * grid.cols >= channels > (grid.rows - 1) * grid.cols
    assert window.features.grid.array.shape[0] == grid.rows * (grid.tile[0] + 1) + 1
    assert "demo_shapes" in window.status.text() and "Inspection" in window.status.text()
    assert not window.predictions.untrained_warning_visible()
    assert "only 6 classes: circle, square" in window.predictions._vocabulary.text()


def test_drop_an_image(window, qtbot):
    _drop(window, SAMPLES / "shape_star.png")
    qtbot.waitUntil(lambda: _top(window) == "star", timeout=WAIT_MS)
    assert window.input_view.array.shape == (96, 96, 3)


def test_page_down_steps_to_the_next_layer(window, qtbot):
    window.layers.select("features.block1.conv")
    qtbot.waitUntil(lambda: window.features._geometry.layer == "features.block1.conv", timeout=WAIT_MS)
    _action(window, "Next layer").trigger()
    qtbot.waitUntil(lambda: window.features._geometry.layer == "features.block1.bn", timeout=WAIT_MS)
    assert window.features._geometry.shape == (16, 48, 48)
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
    window.model_bar.use_untrained()
    qtbot.waitUntil(lambda: window.predictions.untrained_warning_visible(), timeout=WAIT_MS)
    assert "untrained" in window.status.text()


def test_offline_download_failure_offers_the_alternatives(make_window, qtbot, monkeypatch,
                                                          isolated_torch_home, no_network):
    window = make_window()
    qtbot.waitUntil(lambda: window.features.grid.array is not None, timeout=WAIT_MS)
    window.model_bar.model_box.setCurrentIndex(window.model_bar.model_box.findData("resnet18"))
    window.model_bar.load()
    qtbot.waitUntil(lambda: "could not be fetched" in window.banner.text(), timeout=WAIT_MS)
    buttons = [b.text() for b in window.banner._actions]
    assert buttons == ["Load weights file...", "Use untrained weights"]
    assert "demo_shapes" in window.status.text()  # the previous model stays
    # and the toolbar names it again, not the model that failed
    assert window.model_bar.model_box.currentData() == "demo_shapes"
    assert window.model_bar.weights_box.currentData() == "pretrained"
    qtbot.waitUntil(lambda: not window.model_bar.download.isVisible(), timeout=WAIT_MS)


def test_first_launch_whose_remembered_model_is_gone_shows_the_demo(make_window, qtbot, tmp_path,
                                                                     isolated_torch_home, no_network):
    from PySide6.QtCore import QSettings

    remembered = QSettings(str(tmp_path / "gone.ini"), QSettings.Format.IniFormat)
    remembered.setValue("model", "resnet18")  # last session's model, its weights since deleted
    remembered.setValue("weights", "pretrained")
    remembered.sync()
    window = make_window(image=str(SAMPLES / "shape_star.png"), settings_file="gone.ini")
    qtbot.waitUntil(lambda: _top(window) == "star", timeout=WAIT_MS)  # never an empty window
    assert "could not be fetched" in window.banner.text() and "demo_shapes" in window.banner.text()
    assert window.model_bar.model_box.currentData() == "demo_shapes"
    # the banner's buttons still act on the model the user wanted
    untrained = next(b for b in window.banner._actions if b.text() == "Use untrained weights")
    qtbot.mouseClick(untrained, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "resnet18" in window.status.text() and "untrained" in window.status.text(),
                    timeout=WAIT_MS)
    assert window.model_bar.model_box.currentData() == "resnet18"


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
    window.model_bar.model_box.setCurrentIndex(window.model_bar.model_box.findData("mobilenet_v2"))
    window.model_bar.weights_file = str(mobilenet_file)
    window.model_bar.load(weights=str(mobilenet_file))
    _drop(window, SAMPLES / "coffee.jpg")  # while the model is still loading: it must not be lost
    qtbot.waitUntil(lambda: _top(window) == "espresso", timeout=WAIT_MS)
    assert window.input_view.array.shape == (224, 224, 3)
    assert window.model_bar.weights_box.currentText() == "File: mobilenet_v2-b0353104.pth"


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


def test_paste_an_image_from_the_clipboard(window, qtbot):
    from PySide6.QtGui import QImage
    from PySide6.QtWidgets import QApplication

    QApplication.clipboard().setImage(QImage(str(SAMPLES / "shape_cross.png")))
    window.paste_image()
    qtbot.waitUntil(lambda: _top(window) == "cross", timeout=WAIT_MS)


def test_clicking_a_sample_in_the_strip(window, qtbot):
    item = next(window.strip.item(i) for i in range(window.strip.count())
                if window.strip.item(i).text().endswith("shape_hexagon.png"))
    rect = window.strip.visualItemRect(item)
    qtbot.mouseClick(window.strip.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: _top(window) == "hexagon", timeout=WAIT_MS)


def test_decompression_bomb_is_refused_in_a_banner(window, qtbot, tmp_path):
    from PIL import Image

    Image.new("1", (12_000, 12_000)).save(tmp_path / "bomb.png")
    _drop(window, tmp_path / "bomb.png")
    qtbot.waitUntil(lambda: "too large" in window.banner.text(), timeout=WAIT_MS)
    assert _top(window) == "circle"


def test_saved_grid_and_filters_are_the_pixels_the_cli_writes(window, qtbot, tmp_path):
    from PIL import Image

    from cnnscope.cli import main as cli

    layer = window.features._geometry.layer
    window.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: window.filters.first.array is not None, timeout=WAIT_MS)
    assert cli(["render", "--image", str(SAMPLES / "shape_circle.png"), "--layer", layer,
                "--out", str(tmp_path)]) == 0
    cli_grid = np.asarray(Image.open(tmp_path / f"features_{layer}.png"))
    cli_filters = np.asarray(Image.open(tmp_path / "filters.png"))
    assert np.array_equal(window.features.grid.array, cli_grid)
    assert np.array_equal(window.filters.first.array, cli_filters)


def test_conv_layer_kernels_show_in_the_filters_tab(window, qtbot):
    window.layers.select("features.block2.conv")
    qtbot.waitUntil(lambda: "block2.conv" in window.filters.selected_title.text(), timeout=WAIT_MS)
    assert window.filters.selected.array.shape[1] > window.filters.selected.array.shape[0] / 4


def test_every_model_is_in_the_model_menu(window):
    names = [a.text() for a in window.model_bar.models_menu.actions()]
    assert names[0] == "demo_shapes" and {"vgg16", "resnet50", "inception_v3"} <= set(names)
    assert all(a.toolTip() for a in window.model_bar.models_menu.actions())


def test_download_shows_progress_and_can_be_cancelled(window, qtbot, isolated_torch_home,
                                                      slow_squeezenet_download):
    window.model_bar.model_box.setCurrentIndex(window.model_bar.model_box.findData("squeezenet1_1"))
    window.model_bar.load(weights="pretrained")
    qtbot.waitUntil(lambda: window.model_bar.download.value() > 0, timeout=WAIT_MS)
    assert window.model_bar.download.isVisible() and window.model_bar.cancel.isVisible() and window.model_bar.cancel.isEnabled()
    assert "MB" in window.model_bar.download.format()
    qtbot.mouseClick(window.model_bar.cancel, Qt.MouseButton.LeftButton)  # a real click, as a user would
    assert "cancelled" in window.status.text()
    qtbot.waitUntil(lambda: not window.model_bar.download.isVisible(), timeout=WAIT_MS)
    qtbot.wait(1000)
    assert not list((isolated_torch_home / "hub" / "checkpoints").glob("*.pth"))
    _drop(window, SAMPLES / "shape_star.png")  # the previous model still works
    qtbot.waitUntil(lambda: _top(window) == "star", timeout=WAIT_MS)


def test_opens_on_the_image_given(make_window, qtbot):
    window = make_window(image=str(SAMPLES / "shape_square.png"))
    qtbot.waitUntil(lambda: _top(window) == "square", timeout=WAIT_MS)


def test_file_open(window, qtbot, monkeypatch):
    from cnnscope.gui import main_window

    monkeypatch.setattr(main_window.QFileDialog, "getOpenFileName",
                        lambda *a, **k: (str(SAMPLES / "shape_cross.png"), ""))
    _action(window, "Open image...").trigger()
    qtbot.waitUntil(lambda: _top(window) == "cross", timeout=WAIT_MS)
    assert _action(window, "Open image...").shortcut().toString() == "Ctrl+O"


def test_device_choice_lists_only_devices_present(window):
    from cnnscope.core.devices import available_devices

    items = [window.model_bar.device_box.itemData(i) for i in range(window.model_bar.device_box.count())]
    assert items == ["auto"] + available_devices()


def test_layer_tree_nests_as_the_model_does(window, qtbot):
    window.model_bar.model_box.setCurrentIndex(window.model_bar.model_box.findData("resnet18"))
    window.model_bar.use_untrained()
    qtbot.waitUntil(lambda: window.layers.topLevelItemCount() > 5, timeout=WAIT_MS)
    top = [window.layers.topLevelItem(i).text(0) for i in range(window.layers.topLevelItemCount())]
    assert top[:4] == ["conv1", "bn1", "relu", "maxpool"] and "layer4" in top and top[-1] == "fc"
    layer1 = window.layers.topLevelItem(top.index("layer1"))
    assert [layer1.child(i).text(0) for i in range(layer1.childCount())] == ["0", "1"]
    block = layer1.child(0)
    assert {block.child(i).text(0) for i in range(block.childCount())} >= {"conv1", "bn2", "relu"}
    assert block.text(2) == "64 x 56 x 56" and block.text(1) == "BasicBlock"


def test_colormap_and_order_redraw_the_grid(window, qtbot):
    before = window.features.grid.array
    window.features.cmap.setCurrentText("gray")
    qtbot.waitUntil(lambda: window.features.grid.array is not before, timeout=WAIT_MS)
    gray = window.features.grid.array
    assert np.all(gray[..., 0] == gray[..., 1])  # a grey colormap
    order = list(window.features._geometry.order)
    window.features.sort.setCurrentIndex(window.features.sort.findData("mean"))
    qtbot.waitUntil(lambda: window.features._geometry.order != order, timeout=WAIT_MS)
    assert sorted(window.features._geometry.order) == sorted(order)


def test_model_and_weights_are_remembered(make_window, qtbot):
    first = make_window(settings_file="model.ini")
    qtbot.waitUntil(lambda: first.features.grid.array is not None, timeout=WAIT_MS)
    first.model_bar.model_box.setCurrentIndex(first.model_bar.model_box.findData("squeezenet1_1"))
    first.model_bar.use_untrained()
    qtbot.waitUntil(lambda: "squeezenet1_1" in first.status.text() and "Inspection" in first.status.text(),
                    timeout=WAIT_MS)
    first.close()
    second = make_window(settings_file="model.ini")
    qtbot.waitUntil(lambda: "squeezenet1_1" in second.status.text(), timeout=WAIT_MS)
    assert second.model_bar.weights_box.currentData() == "random"


def test_every_menu_action_has_a_tooltip(window):
    actions = [a for menu in window.menuBar().findChildren(type(window.model_bar.models_menu))
               for a in menu.actions() if not a.isSeparator() and a.menu() is None]
    assert len(actions) > 20
    assert all(a.toolTip() and a.toolTip() != a.text().replace("&", "") for a in actions
               if a.text() not in {m.name for m in window.model_bar.models})


def test_page_down_key_steps_through_layers(window, qtbot):
    window.layers.select("features.block2.conv")
    qtbot.waitUntil(lambda: window.features._geometry.layer == "features.block2.conv", timeout=WAIT_MS)
    window.activateWindow()
    window.features.grid.setFocus()
    qtbot.keyClick(window.features.grid, Qt.Key.Key_PageDown)
    qtbot.waitUntil(lambda: window.features._geometry.layer == "features.block2.bn", timeout=WAIT_MS)
    qtbot.keyClick(window.features.grid, Qt.Key.Key_PageUp)
    qtbot.waitUntil(lambda: window.features._geometry.layer == "features.block2.conv", timeout=WAIT_MS)
    window.layers.setFocus()  # the tree, where a user is most likely to press it
    qtbot.keyClick(window.layers, Qt.Key.Key_PageDown)
    qtbot.waitUntil(lambda: window.features._geometry.layer == "features.block2.bn", timeout=WAIT_MS)


def test_toolbar_and_view_choices_have_menu_entries(window, qtbot):
    from cnnscope.core.devices import available_devices

    devices = [a.text() for a in window.model_bar.devices_menu.actions()]
    assert devices == ["Auto"] + [d.upper() for d in available_devices()]
    for text in ("Use pretrained weights", "Use untrained weights", "Load weights file...",
                 "Cancel download", "Fit feature grid", "magma"):
        assert _action(window, text).toolTip()
    _action(window, "Most active channels first").trigger()
    assert window.features.sort_key == "mean"
    _action(window, "magma").trigger()
    assert window.features.colormap == "magma"


def test_weights_file_of_another_architecture_switches_the_toolbar(window, qtbot, tmp_path, monkeypatch):
    import torch

    from cnnscope.core.weights import load_model
    from cnnscope.gui import main_window

    file = tmp_path / "shapes.pth"  # a bare state_dict: it names no architecture
    torch.save(load_model("demo_shapes", "pretrained").module.state_dict(), file)
    window.model_bar.model_box.setCurrentIndex(window.model_bar.model_box.findData("squeezenet1_1"))  # the wrong one
    monkeypatch.setattr(main_window.QFileDialog, "getOpenFileName", lambda *a, **k: (str(file), ""))
    window.model_bar.choose_weights_file()
    qtbot.waitUntil(lambda: "shapes.pth" in window.status.text(), timeout=WAIT_MS)
    assert "demo_shapes" in window.status.text() and window.model_bar.model_box.currentData() == "demo_shapes"
    assert "holds demo_shapes weights" in window.banner.text()
    assert window.model_bar.weights_box.currentText() == "File: shapes.pth"
    qtbot.waitUntil(lambda: _top(window) == "circle", timeout=WAIT_MS)  # the first sample


def test_a_local_weights_file_is_reopened_at_the_next_launch(make_window, qtbot, tmp_path, no_network):
    import shutil

    from cnnscope.core.resources import assets_dir

    weights = tmp_path / "my_shapes.pt"
    shutil.copy(assets_dir() / "demo_shapes.pt", weights)
    first = make_window(settings_file="relaunch.ini")
    qtbot.waitUntil(lambda: first.features.grid.array is not None, timeout=WAIT_MS)
    first.model_bar.load(weights=str(weights))
    qtbot.waitUntil(lambda: "my_shapes.pt" in first.status.text(), timeout=WAIT_MS)
    first.close()

    again = make_window(settings_file="relaunch.ini")  # the same file opens; nothing is downloaded
    qtbot.waitUntil(lambda: "weights from my_shapes.pt" in again.status.text(), timeout=WAIT_MS)
    assert "File: my_shapes.pt" in again.model_bar.weights_box.currentText() and not no_network
    again.close()

    weights.unlink()  # gone: the window says so and shows the demo model meanwhile
    last = make_window(settings_file="relaunch.ini")
    qtbot.waitUntil(lambda: "my_shapes.pt" in last.banner.text(), timeout=WAIT_MS)
    assert "does not exist" in last.banner.text() and "Showing the bundled" in last.banner.text()
    qtbot.waitUntil(lambda: "bundled demo weights" in last.status.text(), timeout=WAIT_MS)


def test_the_channel_pane_follows_the_image_and_clears_on_a_layer_or_model_change(window, qtbot):
    def click_second_tile() -> int:
        grid = window.features._geometry
        window.features.grid.clicked.emit(grid.pad + grid.tile[1] + grid.pad + 2, grid.pad + 2)
        channel = grid.order[1]
        qtbot.waitUntil(lambda: f"channel {channel}:" in window.features.stats.text(), timeout=WAIT_MS)
        return channel

    channel = click_second_tile()
    before = window.features.detail.array.copy()
    _drop(window, SAMPLES / "shape_star.png")  # a new image: the same channel, redrawn
    qtbot.waitUntil(lambda: not np.array_equal(window.features.detail.array, before), timeout=WAIT_MS)
    assert f"channel {channel}:" in window.features.stats.text()

    window.layers.step(-1)  # another layer: its channels are others
    qtbot.waitUntil(lambda: window.features.detail.array is None, timeout=WAIT_MS)
    assert window.features.stats.text() == ""

    click_second_tile()
    window.model_bar.load(weights="random")  # another model (the same architecture, untrained)
    qtbot.waitUntil(lambda: "untrained" in window.status.text(), timeout=WAIT_MS)
    assert window.features.detail.array is None and window.features.stats.text() == ""


def test_filters_follow_a_change_of_weights_on_the_same_architecture(window, qtbot):
    window.tabs.setCurrentWidget(window.filters)
    qtbot.waitUntil(lambda: window.filters.first.array is not None, timeout=WAIT_MS)
    trained = window.filters.first.array.copy()
    window.model_bar.load(weights="random")  # the same layers, other kernels
    qtbot.waitUntil(lambda: "untrained" in window.status.text(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not np.array_equal(window.filters.first.array, trained), timeout=WAIT_MS)


def test_hover_values_and_the_clicked_tile_and_explained_class_are_marked(window, qtbot):
    features = window.features
    grid = features._geometry
    channel = grid.order[1]
    x, y = grid.pad + grid.tile[1] + grid.pad, grid.pad  # second tile, its top-left pixel
    features.grid.hovered.emit(x, y)
    expected = float(grid.values[channel, 0, 0])
    assert features.pointer.text() == f"channel {channel}, row 0, column 0: {expected:.4g}"
    features.grid.hovered.emit(-1, -1)
    assert features.pointer.text() == ""

    features.grid.clicked.emit(x, y)
    qtbot.waitUntil(lambda: f"channel {channel}:" in features.stats.text(), timeout=WAIT_MS)
    assert features.grid._highlight == features.tile_rect(channel)
    assert features.tile_rect(channel)[:2] == (grid.pad + grid.tile[1] + grid.pad, grid.pad)
    values = features._channel_result.values
    h, w = values.shape
    big_h, big_w = features.detail.array.shape[:2]
    features.detail.hovered.emit(big_w - 1, big_h - 1)  # the bottom-right corner
    assert features.pointer.text().endswith(f"row {h - 1}, column {w - 1}: {float(values[-1, -1]):.4g}")

    qtbot.waitUntil(lambda: window.predictions.highlighted() == _top(window), timeout=WAIT_MS)
    window.predictions.click_row(2)  # explain the third class: its row is marked instead
    third = window.predictions.shown()[2][0]
    qtbot.waitUntil(lambda: window.predictions.highlighted() == third, timeout=WAIT_MS)


def test_tiles_can_show_their_channel_numbers_in_the_grids_order(window, qtbot):
    features = window.features
    assert features.grid.labels() == []
    features.numbers.setChecked(True)
    grid = features._geometry
    labels = features.grid.labels()
    assert [text for _x, _y, text in labels] == [str(c) for c in grid.order]
    assert labels[1][:2] == (grid.pad + grid.tile[1] + grid.pad, grid.pad)  # each at its tile's corner
    features.sort.setCurrentIndex(features.sort.findData("mean"))  # most active first: numbers follow
    qtbot.waitUntil(lambda: features._geometry is not grid, timeout=WAIT_MS)
    assert [t for _x, _y, t in features.grid.labels()] == [str(c) for c in features._geometry.order]
    assert features._geometry.order != grid.order
    features.numbers.setChecked(False)
    assert features.grid.labels() == []


def test_a_new_model_empties_every_view_of_the_old_one_at_once(window, qtbot):
    """Checked inside the model change itself, after every panel has heard it: nothing of the old
    model is left on screen while the new one's first inspection runs."""
    window.tabs.setCurrentWidget(window.architecture)
    qtbot.waitUntil(lambda: window.summary.table.rowCount() > 0 and window.heatmaps.overlay is not None
                    and bool(window.explanation.toPlainText()), timeout=WAIT_MS)
    seen = {}

    def check(_model) -> None:
        seen.update(grid=window.features.grid.array, heatmap=window.heatmaps.overlay,
                    predictions=window.predictions.shown(), filters=window.filters.first.array,
                    summary=window.summary.table.rowCount(), explanation=window.explanation.toPlainText(),
                    channel=window.session.channel, layers=window.layers.topLevelItemCount(),
                    photo=window.input_view.array, inspection=window.session.inspection)
    window.session.model_changed.connect(check)
    window.model_bar.use_untrained()
    qtbot.waitUntil(lambda: bool(seen), timeout=WAIT_MS)
    assert seen == {"grid": None, "heatmap": None, "predictions": [], "filters": None, "summary": 0,
                    "explanation": "", "channel": None, "layers": 0, "photo": None, "inspection": None}
    qtbot.waitUntil(lambda: window.features.grid.array is not None and window.summary.table.rowCount() > 0,
                    timeout=WAIT_MS)  # and the new model's views come


def test_the_last_prediction_clicked_is_the_one_explained(window, qtbot):
    """Another class, then at once the class on screen again (before the first heatmap comes):
    the class clicked last is explained (the second click was ignored before)."""
    qtbot.waitUntil(lambda: window.heatmaps.overlay is not None, timeout=WAIT_MS)
    shown = [label for label, _p in window.predictions.shown()]
    assert window.session.heatmap.label == shown[0]
    window.predictions.click_row(1)
    window.predictions.click_row(0)
    qtbot.wait(500)
    qtbot.waitUntil(lambda: window.heatmaps.target_choice == shown[0], timeout=WAIT_MS)
    assert window.session.heatmap.label == shown[0] == window.predictions.highlighted()
    window.model_bar.use_untrained()
    qtbot.waitUntil(lambda: "untrained" in window.status.text().lower() and window.session.heatmap is not None,
                    timeout=WAIT_MS)
    top = window.session.heatmap.label
    second = next(label for label, _p in window.predictions.shown() if label != top)
    window.predictions.click_row([label for label, _p in window.predictions.shown()].index(second))
    qtbot.waitUntil(lambda: window.session.heatmap.label == second, timeout=WAIT_MS)


def test_a_feature_grid_that_cannot_be_drawn_says_so(window, qtbot, monkeypatch):
    from cnnscope.core.errors import ModelError
    from cnnscope.gui.services.maps import MapsService

    def refuse(self, request):
        raise ModelError("This layer cannot be drawn.")
    monkeypatch.setattr(MapsService, "_grid", refuse)
    window.layers.step(1)
    qtbot.waitUntil(lambda: "cannot be drawn" in window.banner.text(), timeout=WAIT_MS)
    assert "cannot be drawn" in window.features.caption.text()


def test_a_bad_image_dropped_as_the_model_changes_leaves_the_last_good_one_inspected(window, qtbot, tmp_path):
    good = window.session.image
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    window.open_path(str(bad))
    window.model_bar.use_untrained()
    qtbot.waitUntil(lambda: "broken.png" in window.banner.text() or "PNG" in window.banner.text(),
                    timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.session.inspection is not None
                    and not window.session.inspection.trained, timeout=WAIT_MS)
    assert window.session.image == good and window.input_view.array is not None
    qtbot.waitUntil(lambda: window.features.grid.array is not None, timeout=WAIT_MS)


def test_esc_right_after_asking_for_a_slow_heatmap_leaves_nothing_busy(window, qtbot):
    view = window.heatmaps
    qtbot.waitUntil(lambda: view.overlay is not None, timeout=WAIT_MS)
    window.tabs.setCurrentWidget(view)
    view.method.setCurrentIndex(view.method.findData("scorecam"))  # asks at once (tab shown)
    view.method.setCurrentIndex(view.method.findData("occlusion"))  # and again, before it runs
    assert view.busy
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not view.busy and "cancelled" in view.caption.text()
    qtbot.wait(500)
    assert not view.busy  # nothing comes back to set it busy again


def test_what_makes_a_clicked_channel_fire(window, qtbot):
    """The channel pane's button opens What units see on that channel and makes its image; the
    caption compares what it reached with the channel's mean on the photo."""
    assert not window.features.what_fires.isEnabled()  # no channel clicked yet
    grid = window.features._geometry
    window.features.grid.clicked.emit(grid.pad + 2, grid.pad + 2)
    channel = grid.order[0]
    qtbot.waitUntil(lambda: window.features.what_fires.isEnabled(), timeout=WAIT_MS)
    window.units.steps.setValue(12)
    window.features.what_fires.click()
    assert window.tabs.currentWidget() is window.units and window.units.channels.text() == str(channel)
    qtbot.waitUntil(lambda: window.units.run_channels.isEnabled()
                    and "photo" in window.units.channel_caption.text(), timeout=WAIT_MS)
    assert window.units.layer.currentText() == window.session.layer
    assert window.units.channel_images.array is not None


def test_saving_a_picture_where_it_cannot_go_says_so(window, qtbot, tmp_path, monkeypatch):
    """A folder, or a name without .png: before, Pillow raised out of the slot (no message; a name
    without an extension failed too)."""
    from PIL import Image
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path), "PNG"))
    window.save_png(window.features.grid)
    assert "Could not write" in window.banner.text()
    window.banner.hide()
    qtbot.waitUntil(lambda: window.heatmaps.overlay is not None, timeout=WAIT_MS)
    window.heatmaps.export_overlay()
    assert "Could not write" in window.banner.text()
    plain = tmp_path / "grid-without-extension"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(plain), "PNG"))
    window.save_png(window.features.grid)
    assert Image.open(plain).format == "PNG"


def test_the_window_fits_a_1280_pixel_projector(window):
    """Classroom projectors and small laptops are 1280 px wide; the window once needed 1,400
    (a 470 px minimum on the layers dock beside a 300 px left column)."""
    assert window.minimumSizeHint().width() <= 1280
    window.resize(1280, 800)
    assert window.width() <= 1280


def test_an_image_opened_before_the_first_model_loads_is_the_one_inspected(make_window, qtbot):
    """Opened while the engine still starts, it failed as 'no model yet' and the first sample
    was shown instead; now the first model to load inspects it."""
    from cnnscope.core.resources import sample_images

    window = make_window()
    star = next(p for p in sample_images() if p.name == "shape_star.png")
    window.open_path(str(star))  # at once: no model is loaded yet
    qtbot.waitUntil(lambda: window.session.inspection is not None, timeout=WAIT_MS)
    assert window.session.image.name == "shape_star.png"
    assert not window.banner.isVisible()  # no "No model is loaded yet" on the way


def test_selecting_a_layer_outlines_nothing_on_the_photo_until_a_value_is_asked_for(make_window, qtbot):
    """A layer chosen started the Arithmetic tab at its centre even unseen, so the centre value's
    patch was outlined on the photo in every tab; now only where the tab is shown (or a value
    clicked)."""
    window = make_window()
    qtbot.waitUntil(lambda: window.session.inspection is not None, timeout=60_000)
    window.tabs.setCurrentWidget(window.features)
    window.layers.select("features.block2.relu")
    qtbot.waitUntil(lambda: window.session.layer == "features.block2.relu", timeout=60_000)
    qtbot.wait(300)
    assert window.session.position is None and window.session.field_box is None
    window.tabs.setCurrentWidget(window.mechanism)  # the Arithmetic tab: it starts at the centre
    qtbot.waitUntil(lambda: window.session.field_box is not None, timeout=60_000)
    assert window.session.position.layer == "features.block2.relu"
