"""The transfer-learning tab: plan, train on a generated folder, watch the curves, cancel, save, reload."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

WAIT_MS = 120_000


def _panel_ready(window, qtbot):
    qtbot.waitUntil(lambda: window.transfer.tree.topLevelItemCount() > 0 and window.transfer.preset.count() > 0,
                    timeout=WAIT_MS)
    return window.transfer


def test_presets_tick_the_layers_they_name_and_counts_follow(window, qtbot):
    panel = _panel_ready(window, qtbot)
    blocks = [panel.tree.topLevelItem(i).text(0) for i in range(panel.tree.topLevelItemCount() - 1)]
    assert blocks == ["features.block1", "features.block2", "features.block3", "features.block4"]
    panel.preset.setCurrentIndex(panel.preset.findData("feature-extractor"))
    assert panel.trainable_layers() == []
    assert panel.counts_values[0] == 0  # only the new head, sized once the data is read
    panel.preset.setCurrentIndex(panel.preset.findData("fine-tune-all"))
    everything = panel.counts_values
    assert everything[1] == 0 and everything[0] > 280_000
    panel.preset.setCurrentIndex(panel.preset.findData("freeze-first"))
    panel.blocks_slider.setValue(2)
    first_two = [n for n in panel.trainable_layers() if n.startswith(("features.block1", "features.block2"))]
    assert first_two == [] and any(n.startswith("features.block3") for n in panel.trainable_layers())
    trainable, frozen = panel.counts_values
    assert trainable + frozen == everything[0] and 0 < frozen < 10_000
    assert panel.plan()["blocks_frozen"] == 2
    # a tick by hand makes the plan custom and counts it at once
    block4 = panel.tree.topLevelItem(3)
    block4.setCheckState(0, Qt.CheckState.Unchecked)
    assert panel.preset_key == "custom" and panel.counts_values[0] < trainable
    panel.preset.setCurrentIndex(panel.preset.findData("early-features"))
    panel.cut.setCurrentIndex(1)
    assert panel.plan() == {"preset": "early-features", "trainable": ["head"],
                            "cut_after": "features.block2", "blocks_frozen": None}
    assert panel.tree.topLevelItem(2).isDisabled() and not panel.tree.topLevelItem(1).isDisabled()
    panel.set_classes(3)  # once the data is read, the new head after block2 (32 channels) is counted
    assert panel.counts_values[0] == 32 * 3 + 3


def test_train_watch_cancel_save_and_reload(window, qtbot, tmp_path, monkeypatch):
    panel = _panel_ready(window, qtbot)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    window.transfer.make_sample_dataset()
    qtbot.waitUntil(lambda: panel.folder.text().endswith("cnnscope-shapes"), timeout=WAIT_MS)
    assert window.tabs.currentWidget() is panel

    # a full short run: curves per epoch, then the confusion matrix and per-class accuracy
    panel.preset.setCurrentIndex(panel.preset.findData("feature-extractor"))
    panel.epochs.setValue(3)
    panel.lr.setValue(0.01)
    panel.start.click()
    assert not panel.start.isEnabled() and panel.cancel.isEnabled()
    qtbot.waitUntil(lambda: panel.save.isEnabled(), timeout=WAIT_MS)
    assert panel.curve_points() == 3 and "validation accuracy" in panel.status.text()
    # the validation images' features before and after the run, one dot each, by class
    assert panel.map_before.shown_count == panel.map_after.shown_count > 0
    assert panel.map_after.names == panel.map_before.names and len(panel.map_after.names) >= 2
    assert "3 classes" in panel.data_summary.text() and "arrow" in panel.per_class.text()
    assert panel.counts_values[0] > 0  # the new head's parameters, now that the classes are known

    # a long run, cancelled after its curves started: the best epoch so far is kept
    panel.preset.setCurrentIndex(panel.preset.findData("fine-tune-all"))
    panel.epochs.setValue(200)
    panel.batch.setValue(8)
    panel.start.click()
    qtbot.waitUntil(lambda: panel.curve_points() >= 1, timeout=WAIT_MS)
    panel.cancel.click()
    qtbot.waitUntil(lambda: panel.save.isEnabled(), timeout=WAIT_MS)
    assert "cancelled" in panel.status.text() and panel.curve_points() < 200

    target = tmp_path / "finetuned.pt"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "pt"))
    panel.save.click()
    qtbot.waitUntil(lambda: panel.open.isEnabled(), timeout=WAIT_MS)
    assert target.is_file()
    panel.open.click()
    qtbot.waitUntil(lambda: bool(window.predictions.shown())
                    and window.predictions.shown()[0][0] in ("arrow", "moon", "diamond"), timeout=WAIT_MS)
    assert "only 3 classes" in window.predictions._vocabulary.text()
    assert window.tabs.currentWidget() is window.features
    window.tabs.setCurrentWidget(window.heatmaps)
    qtbot.waitUntil(lambda: "Grad-CAM" in window.heatmaps.caption.text()
                    and any(c in window.heatmaps.caption.text() for c in ("arrow", "moon", "diamond")),
                    timeout=WAIT_MS)


def test_training_without_a_folder_says_what_to_do(window, qtbot):
    panel = _panel_ready(window, qtbot)
    panel.folder.setText("")
    panel.start.click()
    assert "Choose a folder" in panel.status.text() and panel.start.isEnabled()


def test_a_bad_folder_fails_with_the_reason(window, qtbot, tmp_path):
    panel = _panel_ready(window, qtbot)
    (tmp_path / "only").mkdir()
    panel.folder.setText(str(tmp_path))
    panel.start.click()
    qtbot.waitUntil(lambda: "at least 2" in panel.status.text(), timeout=WAIT_MS)
    assert panel.start.isEnabled() and not panel.cancel.isEnabled()


def test_loading_another_model_mid_run_keeps_the_run_and_its_plan(window, qtbot, tmp_path, monkeypatch):
    panel = _panel_ready(window, qtbot)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    window.transfer.make_sample_dataset()
    qtbot.waitUntil(lambda: panel.folder.text().endswith("cnnscope-shapes"), timeout=WAIT_MS)
    panel.epochs.setValue(200)
    panel.batch.setValue(8)
    panel.start.click()
    qtbot.waitUntil(lambda: panel.curve_points() >= 1, timeout=WAIT_MS)
    window.model_bar.model_box.setCurrentIndex(window.model_bar.model_box.findData("squeezenet1_1"))
    window.model_bar.use_untrained()
    qtbot.waitUntil(lambda: "squeezenet1_1" in window.status.text(), timeout=WAIT_MS)
    # the run goes on, the panel still shows the demo's blocks, and Train stays off
    blocks = [panel.tree.topLevelItem(i).text(0) for i in range(panel.tree.topLevelItemCount())]
    assert blocks[0] == "features.block1" and not panel.start.isEnabled()
    before = panel.curve_points()
    qtbot.waitUntil(lambda: panel.curve_points() > before, timeout=WAIT_MS)
    panel.cancel.click()
    qtbot.waitUntil(lambda: panel.save.isEnabled(), timeout=WAIT_MS)
    # the run over, the panel turns to the model in the viewer
    qtbot.waitUntil(lambda: panel.tree.topLevelItem(0).text(0).startswith("features.0"), timeout=WAIT_MS)
    assert panel.start.isEnabled()


def test_runs_are_compared_in_one_table_with_their_mistakes(window, qtbot, tmp_path, monkeypatch):
    """Two cases run one after the other: two rows, both curves overlaid, the mistakes of the
    selected run in the gallery, the table as CSV and the curves as PNG."""
    import csv

    from cnnscope.core.shapes import write_shape_folder

    panel = _panel_ready(window, qtbot)
    folder = tmp_path / "shapes"
    write_shape_folder(folder, per_class=12, seed=3)
    panel.folder.setText(str(folder))
    for preset, epochs in (("feature-extractor", 2), ("freeze-first", 1)):
        panel.preset.setCurrentIndex(panel.preset.findData(preset))
        panel.epochs.setValue(epochs)
        panel.lr.setValue(0.0001)  # a weak run: some validation images are wrong
        panel.start.click()
        qtbot.waitUntil(lambda: panel.save.isEnabled(), timeout=WAIT_MS)
    runs = panel.runs
    assert runs.table.rowCount() == 2 and runs.ticked() == [0, 1]
    assert [runs.table.item(r, 1).text() for r in range(2)] == ["feature-extractor", "freeze-first"]
    assert len(runs._canvas.figure.axes[0].lines) == 2  # both curves overlaid
    runs.table.item(0, 0).setCheckState(Qt.CheckState.Unchecked)
    assert len(runs._canvas.figure.axes[0].lines) == 1
    runs.table.selectRow(1)
    total = runs._mistakes[1][1]
    assert runs.gallery.count() == min(total, 60) and f"{total} validation image" in runs.gallery_title.text()
    if total:
        assert " -> " in runs.gallery.item(0).text()
    target = tmp_path / "runs.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "CSV"))
    runs.csv.click()
    rows = list(csv.DictReader(target.open()))
    assert [r["preset"] for r in rows] == ["feature-extractor", "freeze-first"]
    assert int(rows[1]["mistakes"]) == total and 0 <= float(rows[0]["best_val_accuracy"]) <= 1
    picture = tmp_path / "runs.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(picture), "PNG"))
    runs.png.click()
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path), "CSV"))
    runs.csv.click()  # a folder where the file should go: one sentence, the runs stay
    assert "Could not write" in panel.status.text() and runs.table.rowCount() == 2
