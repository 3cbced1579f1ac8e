"""The compare tab: three random-weight models, matched layers, a new image, export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtWidgets import QFileDialog

WAIT_MS = 120_000
SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


def _setup(window, qtbot, models, weights="random"):
    view = window.compare
    qtbot.waitUntil(lambda: view.model_boxes[0].count() > 1, timeout=WAIT_MS)
    for index, (box, name) in enumerate(zip(view.model_boxes, [*models, "", "", "", ""])):
        box.setCurrentIndex(box.findData(name))
        view.set_weights(index, weights)
    return view


def test_three_models_in_three_columns_with_matched_layers(window, qtbot, tmp_path, monkeypatch):
    view = _setup(window, qtbot, ["resnet18", "vgg11", "demo_shapes"])
    view.mode.setCurrentIndex(view.mode.findData("stride"))
    view.resolution.setCurrentIndex(view.resolution.findData(8))  # 28 px maps for a 224 px input
    window.tabs.setCurrentWidget(view)
    window.compare.run()
    qtbot.waitUntil(lambda: len(view.shown_layers()) == 3, timeout=WAIT_MS)
    # by hand from the architectures: ResNet-18's layer2 ends at 28 px, VGG-11's 4th stage ReLU,
    # the demo model's block 4 (12 px of its 96 px input: also 1/8)
    assert view.shown_layers() == ["layer2.1.relu", "features.14", "features.block4.relu2"]
    assert not view.columns[3].isVisibleTo(view)
    first = view.columns[0]
    assert "resnet18" in first.header.text() and "11.7M params" in first.facts.text()
    assert "inspect" in first.facts.text() and first.grid.array is not None
    assert "layer2.1.relu" in first.layer_title.text()

    view.mode.setCurrentIndex(view.mode.findData("depth"))
    view.depth.setValue(0)
    qtbot.waitUntil(lambda: view.shown_layers() == ["relu", "features.1", "features.block1.relu"],
                    timeout=WAIT_MS)

    target = tmp_path / "compare.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "PNG"))
    view.export.click()
    qtbot.waitUntil(lambda: "saved" in view.status.text(), timeout=WAIT_MS)
    assert np.asarray(Image.open(target)).shape[1] > 3 * 400


def test_a_new_image_reruns_every_column(window, qtbot):
    view = _setup(window, qtbot, ["squeezenet1_1", "demo_shapes"])
    window.tabs.setCurrentWidget(view)
    window.compare.run()
    qtbot.waitUntil(lambda: len(view.shown_layers()) == 2, timeout=WAIT_MS)
    before = view.columns[1].result.predictions
    window.open_path(str(SAMPLES / "shape_triangle.png"))
    qtbot.waitUntil(lambda: view.columns[1].result is not None
                    and view.columns[1].result.predictions != before, timeout=WAIT_MS)
    assert "squeezenet1_1" in view.columns[0].header.text()
    # View > Whole image: the columns see the whole photo too (they kept the centre crop)
    window.open_path(str(SAMPLES / "chelsea.png"))  # wider than tall: crop and whole differ
    qtbot.waitUntil(lambda: view._compared is not None and "chelsea" in str(view._compared[0])
                    and view.columns[1].result is not None, timeout=WAIT_MS)
    cropped = view.columns[1].result
    window.whole_image_action.trigger()
    qtbot.waitUntil(lambda: view._compared[1] == "whole" and view.columns[1].result is not cropped
                    and view.columns[1].result is not None, timeout=WAIT_MS)
    assert view.columns[1].result.predictions != cropped.predictions


def test_fewer_than_two_models_says_so(window, qtbot):
    view = _setup(window, qtbot, ["resnet18"])
    window.compare.run()
    assert "2 to 4 models" in view.status.text()


def test_a_model_without_weights_fails_in_its_column_only(window, qtbot, isolated_torch_home, no_network):
    view = _setup(window, qtbot, ["resnet18", "demo_shapes"], "pretrained")  # resnet18's are not cached
    window.tabs.setCurrentWidget(view)
    window.compare.run()
    qtbot.waitUntil(lambda: view.columns[1].result is not None, timeout=WAIT_MS)
    assert view.columns[0].result is None and "untrained" in view.columns[0].header.text()
    assert view.columns[1].result.model == "demo_shapes"
    # the failed column is its reason alone, with no empty picture frames under it
    assert not view.columns[0].heat.isVisibleTo(view) and view.columns[1].heat.isVisibleTo(view)
    # one click compares the architectures untrained instead
    qtbot.waitUntil(lambda: "untrained'>" in view.status.text(), timeout=WAIT_MS)
    view.status.linkActivated.emit("untrained")
    qtbot.waitUntil(lambda: len(view.shown_layers()) == 2, timeout=WAIT_MS)
    # only the column whose weights were missing became untrained
    assert [box.currentData() for box in view.weight_boxes[:2]] == ["random", "pretrained"]
    assert view.columns[0].heat.isVisibleTo(view)
    assert view.columns[1].result.weights == "bundled demo weights"
    assert "untrained" not in view.status.text()


def test_wide_tabs_borrow_the_layers_dock_room_and_give_it_back(window, qtbot):
    assert window.layers_dock.isVisible()
    window.tabs.setCurrentWidget(window.compare)
    assert not window.layers_dock.isVisible()
    window.tabs.setCurrentWidget(window.features)
    assert window.layers_dock.isVisible()
    window.layers_dock.hide()  # closed by the user: it stays closed
    window.tabs.setCurrentWidget(window.transfer)
    window.tabs.setCurrentWidget(window.filters)
    assert not window.layers_dock.isVisible()


def test_a_download_for_a_column_shows_progress_and_cancels(window, qtbot, isolated_torch_home,
                                                            slow_squeezenet_download):
    view = _setup(window, qtbot, ["demo_shapes", "squeezenet1_1"], "pretrained")
    window.tabs.setCurrentWidget(view)
    window.compare.run()
    qtbot.waitUntil(lambda: "downloading weights" in view.status.text(), timeout=WAIT_MS)
    assert view.columns[0].result is not None and view.cancel.isEnabled()  # the demo is already painted
    view.cancel.click()
    qtbot.waitUntil(lambda: "cancelled" in view.columns[1].header.text().lower(), timeout=WAIT_MS)
    assert not view.cancel.isEnabled()
    assert not list((isolated_torch_home / "hub" / "checkpoints").glob("*.pth"))
    view.model_boxes[1].setCurrentIndex(view.model_boxes[1].findData("resnet18"))
    view.set_weights(1, "random")
    window.compare.run()  # the engine is free again
    qtbot.waitUntil(lambda: len(view.shown_layers()) == 2, timeout=WAIT_MS)


def test_models_sharing_a_label_set_explain_the_same_class(window, qtbot):
    view = _setup(window, qtbot, ["resnet18", "squeezenet1_1"])  # both ImageNet's; VGG-11 takes 1 s to build
    window.tabs.setCurrentWidget(view)
    window.compare.run()
    qtbot.waitUntil(lambda: len(view.shown_layers()) == 2, timeout=WAIT_MS)
    first_top = view.columns[0].result.predictions[0][0]
    assert f"'{first_top}'" in view.columns[0].result.heat_label
    assert f"'{first_top}'" in view.columns[1].result.heat_label  # not squeezenet's own top, necessarily
    view.target.setText("tabby")
    view.target.returnPressed.emit()
    qtbot.waitUntil(lambda: all(c.result is not None and "'tabby'" in c.result.heat_label
                                for c in view.columns[:2]), timeout=WAIT_MS)


def test_each_column_has_its_weights_and_the_main_windows_file_is_offered(window, qtbot, tmp_path,
                                                                          isolated_torch_home, no_network):
    import shutil

    from cnnscope.core.resources import assets_dir

    mine = tmp_path / "my_demo.pt"
    shutil.copy(assets_dir() / "demo_shapes.pt", mine)
    window.model_bar.load(weights=str(mine))
    qtbot.waitUntil(lambda: "my_demo.pt" in window.status.text(), timeout=WAIT_MS)
    view = _setup(window, qtbot, ["demo_shapes", "demo_shapes", "resnet18"])
    assert all(box.findData(str(mine)) >= 0 for box in view.weight_boxes)
    view.set_weights(0, str(mine))
    view.set_weights(1, "pretrained")  # the bundled demo weights: offline too
    view.set_weights(2, "random")  # resnet18 untrained: no download error offline
    window.tabs.setCurrentWidget(view)
    window.compare.run()
    qtbot.waitUntil(lambda: len(view.shown_layers()) == 3, timeout=WAIT_MS)
    assert [c.result.weights for c in view.columns[:3]] == [
        "weights from my_demo.pt", "bundled demo weights", "untrained (random weights)"]
    assert not no_network  # nothing tried to download
