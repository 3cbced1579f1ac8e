"""cnnscope.show: the window on a model object that exists only in the caller's program."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cnnscope.gui.window.model_details import ModelDetailsDialog

WAIT_MS = 60_000


class PlainNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))


def test_show_opens_the_window_on_the_callers_model_and_returns_when_it_closes(qapp, tmp_path, monkeypatch):
    """From a script (no event loop running) show() runs the window until it is closed."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    import cnnscope

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # the window's settings stay in the test
    seen: dict = {}
    started = QTimer()
    started.setInterval(100)
    before = set(QApplication.topLevelWidgets())  # other tests' windows may linger

    def ours():
        return next((w for w in QApplication.topLevelWidgets()
                     if type(w).__name__ == "MainWindow" and w not in before), None)

    def give_up() -> None:  # never hang the suite: close it, and the asserts below say why
        started.stop()
        if ours() is not None:
            ours().close()

    QTimer.singleShot(WAIT_MS, give_up)

    def look() -> None:
        window = ours()
        if window is None or window.session.inspection is None or window.session.model is None \
                or window.session.inspection.source.name != "your image":
            return
        seen.update(model=window.session.model, inspection=window.session.inspection,
                    box=window.model_bar.model_box.currentText(), tree=window.layers.current_layer())
        started.stop()
        window.close()

    started.timeout.connect(look)
    started.start()
    photo = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    torch.manual_seed(0)
    assert cnnscope.show(PlainNet(), photo, classes=["ant", "bee", "cat"]) is None
    assert seen, "the window never showed the model's inspection of the photo"
    model, inspection = seen["model"], seen["inspection"]
    assert model.name == "PlainNet" and model.weights == "given" and model.labels == ["ant", "bee", "cat"]
    assert seen["box"] == "PlainNet (yours)" and model.cam_layer == "conv"
    assert inspection.model == "PlainNet" and inspection.input_rgb.shape == (224, 224, 3)
    assert {p[0] for p in inspection.predictions} == {"ant", "bee", "cat"}
    assert seen["tree"] is not None  # the layer tree is the model's own


def test_the_model_menu_opens_a_model_from_the_users_file(make_window, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    net = tmp_path / "net.py"
    net.write_text("import torch\nfrom torch import nn\n\n\ndef build():\n    torch.manual_seed(0)\n"
                   "    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),\n"
                   "                         nn.Flatten(), nn.Linear(4, 2))\n\n\n"
                   "def broken():\n    raise ValueError('no data folder')\n")
    window = make_window()
    qtbot.waitUntil(lambda: window.session.inspection is not None, timeout=WAIT_MS)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(net), "Python files"))
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("build", True))
    monkeypatch.setattr(ModelDetailsDialog, "exec", lambda self: 1)  # the defaults, as offered
    window.model_bar.choose_user_model()
    qtbot.waitUntil(lambda: window.session.inspection is not None and window.session.inspection.model == "net.build",
                    timeout=WAIT_MS)
    bar = window.model_bar
    assert bar.model_box.currentText() == "net.build (yours)" and bar.weights_box.currentText() == "As given"
    assert window.settings.value("model") == "demo_shapes"  # never reopened (or run) by itself
    assert window.layers.current_layer() is not None
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("broken", True))
    bar.choose_user_model()
    qtbot.waitUntil(lambda: "broken() in net.py failed: ValueError: no data folder" in window.banner.text(),
                    timeout=WAIT_MS)
    assert window.session.model.name == "net.build"  # the model shown stays
    assert bar.model_box.currentText() == "net.build (yours)"


def test_the_model_menu_opens_a_torch_export_program(make_window, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    path = tmp_path / "exported.pt2"
    torch.export.save(torch.export.export(net.eval(), (torch.zeros(1, 3, 48, 48),)), str(path))
    window = make_window()
    qtbot.waitUntil(lambda: window.session.inspection is not None, timeout=WAIT_MS)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), "Models"))
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: pytest.fail("no function to ask for"))
    monkeypatch.setattr(ModelDetailsDialog, "exec", lambda self: 1)
    window.model_bar.choose_user_model()
    qtbot.waitUntil(lambda: window.session.inspection is not None and window.session.inspection.model == "exported",
                    timeout=WAIT_MS)
    assert window.model_bar.model_box.currentText() == "exported (yours)"
    assert window.session.inspection.input_rgb.shape == (48, 48, 3)  # the size it was exported at
    rows = {row[0]: row[1] for row in window.session.inspection.layers}
    assert rows["0"] == "Conv2d" and rows["4"] == "Linear"  # real layers, rebuilt from the graph


def test_the_transfer_tab_trains_a_copy_of_a_model_handed_in(make_window, qtbot, tmp_path, monkeypatch):
    """It reloaded the model by name, which a model object handed to cnnscope.show does not have
    ("Unknown model 'PlainNet'"); now a copy of that object trains and the shown one stays."""
    from PySide6.QtWidgets import QFileDialog

    from cnnscope.api import open_model

    torch.manual_seed(0)
    net = PlainNet()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    window = make_window()
    qtbot.waitUntil(lambda: window.session.inspection is not None, timeout=WAIT_MS)
    window.model_bar.adopt(open_model(net))
    qtbot.waitUntil(lambda: window.session.inspection is not None and window.session.inspection.model == "PlainNet",
                    timeout=WAIT_MS)
    panel = window.transfer
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    panel.make_sample_dataset()
    qtbot.waitUntil(lambda: panel.folder.text().endswith("cnnscope-shapes"), timeout=WAIT_MS)
    panel.preset.setCurrentIndex(panel.preset.findData("fine-tune-all"))
    panel.epochs.setValue(1)
    panel.start.click()
    qtbot.waitUntil(lambda: panel.save.isEnabled() or "failed" in panel.status.text().lower()
                    or "unknown" in panel.status.text().lower(), timeout=WAIT_MS)
    assert panel.save.isEnabled(), panel.status.text()
    assert panel.curve_points() == 1
    for key, value in net.state_dict().items():  # the object shown was not trained in place
        assert torch.equal(value, before[key]), key


def test_what_the_user_states_about_their_model_is_asked_and_used(make_window, qtbot, tmp_path, monkeypatch):
    """A 3-channel model that takes only 28 px opens once its size is stated in the dialog, with
    its class names and normalisation; Describe your model changes them later; switching to a
    registry model takes "As given" out of the weights box (it lingered)."""
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    net = tmp_path / "small.py"
    net.write_text("import torch\nfrom torch import nn\n\n\ndef build():\n    torch.manual_seed(0)\n"
                   "    return nn.Sequential(nn.Conv2d(3, 4, 5), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 24 * 24, 3))\n")
    labels = tmp_path / "labels.txt"
    labels.write_text("ant\nbee\ncat\n")
    window = make_window()
    qtbot.waitUntil(lambda: window.session.inspection is not None, timeout=WAIT_MS)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(net), "Python files"))
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("build", True))
    answers = []

    def answer(dialog) -> int:
        answers.append(dialog)
        if len(answers) == 1:  # opening: the size, the names and 0.5 / 0.5
            dialog.size.setValue(28)
            dialog.labels.setText(str(labels))
            dialog.normalisation.setCurrentIndex(dialog.normalisation.findData("half"))
        else:  # described again: the values shown are the ones stated; custom numbers now
            assert dialog.size.value() == 28 and dialog.labels.text() == str(labels)
            assert dialog.normalisation.currentData() == "half"
            dialog.normalisation.setCurrentIndex(dialog.normalisation.findData("custom"))
            dialog.mean.setText("0.2, 0.3, 0.4")
            dialog.std.setText("0.5 0.5 0.5")  # spaces or commas
        dialog._accept_if_valid()
        return dialog.result()

    monkeypatch.setattr(ModelDetailsDialog, "exec", answer)
    bar = window.model_bar
    bar.choose_user_model()
    qtbot.waitUntil(lambda: window.session.inspection is not None and window.session.inspection.model == "small.build",
                    timeout=WAIT_MS)
    model = window.session.model
    assert model.labels == ["ant", "bee", "cat"] and model.preprocessing["input_size"] == 28
    assert model.preprocessing["mean"] == (0.5, 0.5, 0.5)  # one value stands for every channel
    assert window.session.inspection.input_rgb.shape == (28, 28, 3)
    assert not any("Normalisation assumed" in note for note in model.notes)

    bar.describe_model()
    qtbot.waitUntil(lambda: window.session.model.preprocessing["mean"] == (0.2, 0.3, 0.4), timeout=WAIT_MS)
    assert window.session.model.preprocessing["std"] == (0.5, 0.5, 0.5)
    assert window.session.model.labels == ["ant", "bee", "cat"]

    broken = ModelDetailsDialog("x", (("input_size", 28),))
    broken.normalisation.setCurrentIndex(broken.normalisation.findData("custom"))
    broken.mean.setText("0.1, 0.2")
    broken.std.setText("1, 1")
    broken._accept_if_valid()
    assert not broken.result() and "three of each" in broken.problem.text()

    assert bar.weights_box.findData("given") >= 0  # a factory's model: as its code built it
    bar.load_named("demo_shapes", "pretrained")
    qtbot.waitUntil(lambda: window.session.model.name == "demo_shapes", timeout=WAIT_MS)
    assert bar.weights_box.findData("given") < 0 and bar.weights_box.currentData() == "pretrained"


def test_a_checkpoint_trained_from_a_model_handed_in_opens_in_a_copy_of_it(make_window, qtbot, tmp_path):
    """"Open trained model" after training a handed-in model re-adopted it and ignored the file."""
    from cnnscope.api import open_model
    from cnnscope.core.checkpoint import make_checkpoint, save_atomic
    from cnnscope.core.freeze import replace_head

    torch.manual_seed(0)
    net = PlainNet()
    trained = PlainNet()
    replace_head(trained, 2)
    path = save_atomic(make_checkpoint("PlainNet", trained.state_dict(), ["yes", "no"],
                                       {"user_model": "PlainNet"}), tmp_path / "trained.pt")
    window = make_window()
    qtbot.waitUntil(lambda: window.session.inspection is not None, timeout=WAIT_MS)
    window.model_bar.adopt(open_model(net))
    qtbot.waitUntil(lambda: window.session.model is not None and window.session.model.name == "PlainNet",
                    timeout=WAIT_MS)
    window.model_bar.load_file("yours:PlainNet", str(path))
    qtbot.waitUntil(lambda: window.session.model.labels == ["yes", "no"], timeout=WAIT_MS)
    assert window.session.model.weights == str(path)
    assert window.model_bar.weights_box.currentText() == "File: trained.pt"
    assert net.fc.out_features == 3  # the object handed in is untouched
