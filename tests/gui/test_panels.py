"""Panels are built from (session, engine) alone, and never import each other."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path


WAIT_MS = 60_000
PANELS = Path(__file__).resolve().parents[2] / "cnnscope" / "gui" / "panels"


def test_no_panel_imports_another():
    names = {p.stem for p in PANELS.glob("*.py")} - {"__init__"}
    assert names, "no panels found"
    for path in PANELS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                imported = {module.rsplit(".", 1)[-1]} | {a.name for a in node.names}
                if node.level == 1 or "panels" in module:
                    assert not (imported & (names - {path.stem})), f"{path.name} imports {module}"


def _answer(qtbot, engine, request, kind):
    """Submit ``request`` and wait for its result of type ``kind``."""
    with qtbot.waitSignal(engine.finished, timeout=WAIT_MS,
                          check_params_cb=lambda _id, result: isinstance(result, kind)) as answer:
        engine.submit(request)
    return answer.args[1]


def _load(qtbot, engine, weights: str = "pretrained"):
    from cnnscope.gui.services.model import LoadModel, ModelLoaded

    return _answer(qtbot, engine, LoadModel("demo_shapes", weights, "cpu"), ModelLoaded)


def _inspect(qtbot, engine, index: int = 0):
    from cnnscope.core.resources import sample_images
    from cnnscope.gui.services.base import ImageSource
    from cnnscope.gui.services.model import Inspect, InspectionResult

    source = ImageSource(path=str(sample_images()[index]))
    return _answer(qtbot, engine, Inspect(source), InspectionResult)


def _shown(qtbot, panel):
    qtbot.addWidget(panel)
    panel.show()
    return panel


def test_the_summary_panel_works_without_the_main_window(qtbot, tmp_path, monkeypatch, engine):
    from PySide6.QtWidgets import QFileDialog

    from cnnscope.gui.panels.summary import SummaryPanel
    from cnnscope.gui.session import Session

    session = Session()
    panel = _shown(qtbot, SummaryPanel(session, engine))
    model = _load(qtbot, engine)
    inspection = _inspect(qtbot, engine)
    session.model = model
    session.inspection = inspection  # the panel asks for its table by itself
    qtbot.waitUntil(lambda: panel.table.rowCount() > 10, timeout=WAIT_MS)
    assert panel.shown_model == "demo_shapes" and "weight layers" in panel.totals.text()

    session.model = dataclasses.replace(model, name="another")  # a new model: the table is stale
    assert panel.shown_model is None and panel.table.rowCount() == 0
    target = tmp_path / "summary.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "CSV"))
    panel.export.click()
    qtbot.waitUntil(lambda: "saved" in panel.totals.toolTip(), timeout=WAIT_MS)
    assert target.read_text().startswith("layer")


def test_the_filters_panel_follows_the_sessions_model_and_layer(qtbot, engine):
    import numpy as np

    from cnnscope.gui.panels.filters import FiltersPanel
    from cnnscope.gui.session import Session

    session = Session()
    panel = _shown(qtbot, FiltersPanel(session, engine))
    session.model = _load(qtbot, engine)
    qtbot.waitUntil(lambda: panel.first.array is not None, timeout=WAIT_MS)
    trained = panel.first.array.copy()
    assert panel.selected.isHidden()
    session.layer = "features.block2.conv"  # a convolution: its kernels too
    qtbot.waitUntil(lambda: "features.block2.conv" in panel.selected_title.text(), timeout=WAIT_MS)
    assert panel.selected.array is not None and not panel.selected.isHidden()
    session.model = _load(qtbot, engine, "random")  # other weights: other kernels
    qtbot.waitUntil(lambda: not np.array_equal(panel.first.array, trained), timeout=WAIT_MS)


def test_the_explanation_panel_explains_the_sessions_layer(qtbot, engine):
    from cnnscope.gui.panels.explanation import ExplanationPanel
    from cnnscope.gui.session import Session

    session = Session(layer="features.block2.conv")
    panel = _shown(qtbot, ExplanationPanel(session, engine))
    session.model = _load(qtbot, engine)
    assert panel.toPlainText() == ""  # nothing to say before an inspection gives the numbers
    session.inspection = _inspect(qtbot, engine)
    qtbot.waitUntil(lambda: panel.toPlainText().startswith("features.block2.conv (Conv2d)"),
                    timeout=WAIT_MS)
    session.layer = "features.block2.pool"
    qtbot.waitUntil(lambda: "max pooling" in panel.toPlainText(), timeout=WAIT_MS)
    session.model = _load(qtbot, engine, "random")  # another model: the old text goes at once
    assert panel.toPlainText() == ""


def _catalogue():
    from cnnscope.gui.services.model import catalogue

    return catalogue()


def test_the_viewer_panels_follow_the_session_and_clear_on_a_new_model(qtbot, engine):
    """Input, predictions, layers, feature maps and heatmaps on one session, no main window."""
    from cnnscope.gui.panels.features import FeatureMapsPanel
    from cnnscope.gui.panels.heatmaps import HeatmapsPanel
    from cnnscope.gui.panels.input_image import InputImagePanel
    from cnnscope.gui.panels.layers import LayersPanel
    from cnnscope.gui.panels.predictions import PredictionsPanel
    from cnnscope.gui.session import Session

    session = Session(layer="no.such.layer")
    image, top5 = _shown(qtbot, InputImagePanel(session, engine)), _shown(qtbot, PredictionsPanel(session, engine))
    tree, maps = _shown(qtbot, LayersPanel(session, engine)), _shown(qtbot, FeatureMapsPanel(session, engine))
    heat = _shown(qtbot, HeatmapsPanel(session, engine))
    heat.set_methods(_catalogue().methods, "gradcam")
    session.model = _load(qtbot, engine)
    inspection = _inspect(qtbot, engine)
    session.image, session.inspection = inspection.source, inspection
    # the remembered layer is not in this model: the tree falls back to the default one
    assert session.layer == inspection.default_layer == tree.current_layer()
    assert image.array is not None and top5.shown()[0][0] == inspection.predictions[0][0]
    qtbot.waitUntil(lambda: maps.grid.array is not None and heat.overlay is not None, timeout=WAIT_MS)
    assert session.grid.layer == session.layer and session.explained_class == top5.highlighted()

    other = inspection.predictions[1][0]
    top5.class_clicked.connect(heat.explain)  # as the window wires them
    top5.click_row(1)  # a click on a prediction: the heatmap explains that class
    qtbot.waitUntil(lambda: session.heatmap.label == other, timeout=WAIT_MS)
    assert top5.highlighted() == other
    grid = maps._geometry
    maps.grid.clicked.emit(grid.pad + 2, grid.pad + 2)  # the first tile
    qtbot.waitUntil(lambda: maps.detail.array is not None, timeout=WAIT_MS)
    assert session.channel == grid.order[0]
    # a click on the Grad-CAM map (the overlay's bottom-right corner) chooses that position of
    # the layer it was made at: block4, 12 x 12
    result = heat._result
    h, w = result.overlay.shape[:2]
    pad = result.panel_pad
    heat.picture.clicked.emit(pad + 2 * (w + pad) + w - 1, pad + h - 1)
    assert session.position is not None and session.position.layer == result.layer == "features.block4"
    assert (session.position.y, session.position.x) == (11, 11)

    session.layer = tree._selectable[0]  # another layer: the channel pane empties at once
    assert maps.detail.array is None and session.channel is None
    session.model = _load(qtbot, engine, "random")  # another model: every view of the old one empties
    assert top5.shown() == [] and maps.grid.array is None and heat.overlay is None
    assert session.grid is None and session.heatmap is None


def test_the_compare_panel_compares_the_sessions_image_column_by_column(qtbot, engine):
    from cnnscope.gui.panels.compare import ComparePanel
    from cnnscope.gui.session import Session

    session = Session()
    panel = _shown(qtbot, ComparePanel(session, engine))
    panel.set_models(["demo_shapes"], ("demo_shapes", "demo_shapes"))
    panel.set_weights(1, "random")
    panel.run()
    assert "image first" in panel.status.text()
    session.model = _load(qtbot, engine)
    session.image = _inspect(qtbot, engine).source  # shown, with a new image: it compares
    qtbot.waitUntil(lambda: len(panel.shown_layers()) == 2, timeout=WAIT_MS)
    assert [c.result.weights for c in panel.columns[:2]] == ["bundled demo weights", "untrained (random weights)"]


def test_the_live_panel_owns_the_predictions_only_while_it_plays(qtbot, engine):
    from cnnscope.core.shapes import make_samples
    from cnnscope.gui.live import ArraySource
    from cnnscope.gui.panels.live import LivePanel
    from cnnscope.gui.session import Session

    session = Session()
    panel = _shown(qtbot, LivePanel(session, engine))
    session.model = _load(qtbot, engine)
    frames = [s.image for s in make_samples(4, seed=2)]
    panel.start_live(ArraySource(frames * 50, interval_ms=20))
    qtbot.waitUntil(lambda: session.live_predictions is not None, timeout=WAIT_MS)
    assert panel.frame.array is not None and panel.stop.isEnabled()
    panel.stop.click()
    assert session.live_predictions is None and not panel.stop.isEnabled()


def test_presentation_mirrors_the_session_without_timings(qtbot, engine):
    from cnnscope.gui.panels.presentation import PresentationPanel
    from cnnscope.gui.services.maps import Grid, GridResult
    from cnnscope.gui.session import Session

    session = Session()
    panel = PresentationPanel(session, engine)
    qtbot.addWidget(panel)
    panel.show()
    session.model = _load(qtbot, engine)
    session.inspection = inspection = _inspect(qtbot, engine)
    session.grid = _answer(qtbot, engine, Grid(inspection.default_layer), GridResult)
    assert panel.middle.array is not None and panel.image.array is not None
    assert panel.title.text().startswith(f"demo_shapes: <b>{inspection.default_layer}</b>: ")
    wanted = []
    panel.heatmap_wanted.connect(lambda: wanted.append(True))
    panel._handle_key(__import__("PySide6.QtCore").QtCore.Qt.Key.Key_C)  # no heatmap yet: ask
    assert wanted and panel.showing_cam and panel.middle.array is None
    assert "ms" not in panel.title.text()
    wanted.clear()
    session.inspection = _inspect(qtbot, engine, 1)  # a new image and no heatmap for it: ask again
    assert wanted


def test_the_transfer_panel_waits_with_a_new_model_while_a_run_trains(qtbot, engine):
    from cnnscope.gui.panels.transfer import TransferLearningPanel
    from cnnscope.gui.session import Session

    session = Session()
    panel = _shown(qtbot, TransferLearningPanel(session, engine))
    catalogue = _catalogue()
    panel.set_presets(catalogue.presets, catalogue.preset_defaults)
    model = _load(qtbot, engine)
    session.model = model
    assert panel.tree.topLevelItemCount() > 0
    # each case starts from its own settings, and says why
    panel.preset.setCurrentIndex(panel.preset.findData("fine-tune-all"))
    assert (panel.lr.value(), panel.batch.value(), panel.epochs.value()) == (0.001, 16, 5)
    assert "small step" in panel.why.text()
    panel.preset.setCurrentIndex(panel.preset.findData("freeze-first"))
    assert panel.blocks_slider.value() == 3 and panel.lr.value() == 0.003  # 3 of the demo's 4 blocks
    panel.preset.setCurrentIndex(panel.preset.findData("early-features"))
    assert panel.cut.currentData() == "features.block3" and panel.epochs.value() == 40
    panel.preset.setCurrentIndex(panel.preset.findData("feature-extractor"))
    panel.set_running(True)  # as while a run trains
    session.model = dataclasses.replace(model, name="another", freeze=None)
    assert "still training" in panel.status.text() and panel.tree.topLevelItemCount() > 0
    panel.set_running(False)
    panel.trainer.failed.emit("stopped")  # the run ends: the waiting model's layers show
    assert panel.tree.topLevelItemCount() == 0


def test_the_units_panel_cancel_stops_a_long_run_at_its_next_step(qtbot, engine):
    from cnnscope.gui.panels.units import UnitsPanel
    from cnnscope.gui.session import Session

    session = Session(layer="features.block3.relu2")
    panel = _shown(qtbot, UnitsPanel(session, engine))
    session.model = _load(qtbot, engine)
    session.inspection = _inspect(qtbot, engine)
    panel.channels.setText("1")
    panel.steps.setValue(2000)  # minutes if it ran on
    panel.visualise()
    qtbot.waitUntil(lambda: "forming: step" in panel.channel_caption.text(), timeout=WAIT_MS)
    assert panel.cancel.isVisible()
    panel.cancel.click()
    qtbot.waitUntil(lambda: panel.run_channels.isEnabled(), timeout=10_000)
    assert "cancelled" in panel.channel_caption.text() and not panel.cancel.isVisible()
    steps = int(panel.channel_caption.text().split("(")[-1].split(" steps")[0])
    assert steps < 2000


def test_the_units_panel_shows_channel_images_a_dream_and_an_attack(qtbot, engine, tmp_path,
                                                                    monkeypatch):
    from PIL import Image
    from PySide6.QtWidgets import QFileDialog

    from cnnscope.gui.panels.units import UnitsPanel
    from cnnscope.gui.session import Session

    session = Session(layer="features.block3.relu2")
    panel = _shown(qtbot, UnitsPanel(session, engine))
    session.model = _load(qtbot, engine)
    inspection = _inspect(qtbot, engine, index=[p.name for p in __import__(
        "cnnscope.core.resources", fromlist=["x"]).sample_images()].index("shape_star.png"))
    session.image, session.inspection = inspection.source, inspection
    assert panel.layer.currentText() == "features.block3.relu2" and "star" in [
        panel.target.itemText(i) for i in range(panel.target.count())]
    panel.channels.setText("2,5")
    panel.steps.setValue(16)
    panel.visualise()
    qtbot.waitUntil(lambda: panel.run_channels.isEnabled(), timeout=WAIT_MS)
    assert panel.channel_images.array is not None and "2: " in panel.channel_caption.text()
    panel.class_box.setCurrentText("star")
    panel.visualise_class()
    qtbot.waitUntil(lambda: panel.run_class.isEnabled(), timeout=WAIT_MS)
    assert "score of <b>star</b>" in panel.channel_caption.text()
    panel.epsilon.setValue(8)
    panel.attack()
    qtbot.waitUntil(lambda: panel.run_attack.isEnabled(), timeout=WAIT_MS)
    assert "Before: <b>star</b>" in panel.attack_caption.text()
    assert "Grad-CAM for <b>star</b> on the photo" in panel.attack_caption.text()
    assert panel.looked_view.array.shape[1] > 2 * 96  # the photo's map beside the adversarial's
    panel.octaves.setValue(1)
    panel.dream_steps.setValue(2)
    panel.dream()
    qtbot.waitUntil(lambda: panel.run_dream.isEnabled(), timeout=WAIT_MS)
    assert panel.dream_view.array.shape[1] > 2 * 96  # the photo beside its dream
    target = tmp_path / "dream.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "PNG"))
    panel.modes.setCurrentIndex(1)
    panel.export.click()  # the mode shown: the dream
    assert Image.open(target).size == (panel.dream_view.array.shape[1], panel.dream_view.array.shape[0])
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(tmp_path / "no" / "such" / "folder.png"), "PNG"))
    panel.export.click()  # into a folder that does not exist: one sentence, nothing else
    assert "Could not write" in panel.status.text()
    panel.channels.setText("0-99")
    panel.visualise()  # more than 16 at once: said, nothing runs
    assert "1 to 16 channels" in panel.status.text() and panel.run_channels.isEnabled()


def test_the_arithmetic_panel_shows_the_numbers_and_steps_along_the_row(qtbot, engine):
    import re

    from cnnscope.gui.panels.arithmetic import ArithmeticPanel
    from cnnscope.gui.panels.input_image import InputImagePanel
    from cnnscope.gui.services.arithmetic import FieldBox, MapPosition
    from cnnscope.gui.session import Session

    session = Session()
    panel = _shown(qtbot, ArithmeticPanel(session, engine))
    photo = _shown(qtbot, InputImagePanel(session))
    session.model = _load(qtbot, engine)
    session.inspection = _inspect(qtbot, engine)
    session.position = MapPosition("features.block2.conv", 5, 6, 7)
    qtbot.waitUntil(lambda: "the map holds" in panel.numbers.toPlainText(), timeout=WAIT_MS)
    text = panel.numbers.toPlainText()
    shown, held = re.search(r"= ([+-][0-9.]+) \(the map holds ([+-][0-9.]+)\)", text).groups()
    assert shown == held
    assert "input channel 0" in text and "the other 13 channels' sums" in text
    # its 17 x 17 px field (block2's conv at jump 4), centred at input pixel (1 + 4 * 6, 1 + 4 * 7)
    assert session.field_box == FieldBox(29 - 8, 25 - 8, 17, 17)
    assert photo.input._highlight == (21, 17, 17, 17)
    assert (panel.row.value(), panel.col.value()) == (6, 7)
    panel.step_forward()
    qtbot.waitUntil(lambda: panel.col.value() == 8, timeout=WAIT_MS)
    assert session.position == MapPosition("features.block2.conv", 5, 6, 8)
    last = panel._shape[2] - 1  # block2's conv maps are 24 x 24 (its pool halves them)
    session.position = MapPosition("features.block2.conv", 5, 6, last)  # the row's end
    qtbot.waitUntil(lambda: panel.col.value() == last, timeout=WAIT_MS)
    panel.step_forward()
    qtbot.waitUntil(lambda: (panel.row.value(), panel.col.value()) == (7, 0), timeout=WAIT_MS)
    panel.speed.setValue(10)
    panel.play.click()  # slides on by itself
    qtbot.waitUntil(lambda: panel.col.value() >= 2, timeout=WAIT_MS)
    panel.play.click()
    assert panel.play.text() == "Play"
    session.position = MapPosition("features.block1.pool", 9, 4, 10)
    qtbot.waitUntil(lambda: "max pooling" in panel.numbers.toPlainText(), timeout=WAIT_MS)
    session.position = MapPosition("features.block2.bn", 0, 0, 0)  # no arithmetic for this kind
    qtbot.waitUntil(lambda: "shown for convolutions" in panel.numbers.toPlainText(), timeout=WAIT_MS)


def test_the_first_layer_shows_the_photos_patch_and_the_kernel_as_pictures(qtbot, engine):
    import numpy as np

    from cnnscope.gui.panels.arithmetic import ArithmeticPanel
    from cnnscope.gui.services.arithmetic import MapPosition
    from cnnscope.gui.session import Session

    session = Session()
    panel = _shown(qtbot, ArithmeticPanel(session, engine))
    session.model = _load(qtbot, engine)
    session.inspection = inspection = _inspect(qtbot, engine)
    session.position = MapPosition("features.block1.conv", 4, 10, 0)  # the left border: padding
    qtbot.waitUntil(lambda: session.arithmetic is not None, timeout=WAIT_MS)
    shown = session.arithmetic
    # a 7x7 kernel at stride 2, padding 3: output (10, 0) reads input rows 17..23, columns -3..3
    expected = np.full((7, 7, 3), 128, np.uint8)
    expected[:, 3:] = inspection.input_rgb[17:24, 0:4]
    assert np.array_equal(shown.colour_patch, expected)
    kernel = shown.arithmetic.kernel  # (3, 7, 7): red, green, blue weights of output channel 4
    colours = shown.colour_kernel.astype(int)
    assert np.array_equal(colours > 128, kernel.transpose(1, 2, 0) > 0.5 / 255 * np.abs(kernel).max())
    assert len(shown.pictures) == 3
    patch_picture, kernel_picture = shown.pictures[0]
    positive = kernel[0] > 0  # blue below 0, red above
    assert (kernel_picture[positive, 0] > kernel_picture[positive, 2]).all()
    assert (kernel_picture[~positive, 0] <= kernel_picture[~positive, 2]).all()
    document = panel.numbers.document()
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QTextDocument

    for name in ("colour_patch", "colour_kernel", "patch0", "kernel2"):
        image = document.resource(QTextDocument.ResourceType.ImageResource, QUrl(f"cnnscope:{name}"))
        assert image is not None and not image.isNull(), name
    assert "cnnscope:kernel0" in panel.numbers.toHtml()


def test_a_click_on_a_feature_tile_chooses_that_map_value(qtbot, engine):
    from cnnscope.gui.panels.features import FeatureMapsPanel
    from cnnscope.gui.services.arithmetic import MapPosition
    from cnnscope.gui.session import Session

    session = Session(layer="features.block2.conv")
    panel = _shown(qtbot, FeatureMapsPanel(session, engine))
    session.model = _load(qtbot, engine)
    session.inspection = _inspect(qtbot, engine)
    qtbot.waitUntil(lambda: panel._geometry is not None, timeout=WAIT_MS)
    x, y, w, h = panel.tile_rect(3)
    panel.grid.clicked.emit(x + w // 2, y + h - 1)  # channel 3, the last row, the middle column
    _c, rows, cols = panel._geometry.shape
    assert session.position == MapPosition("features.block2.conv", 3, rows - 1, cols // 2)
    qtbot.waitUntil(lambda: panel.detail.array is not None, timeout=WAIT_MS)
    big_h, big_w = panel.detail.array.shape[:2]
    panel.detail.clicked.emit(0, big_h - 1)  # the enlarged channel's bottom-left corner
    assert session.position == MapPosition("features.block2.conv", 3, rows - 1, 0)
