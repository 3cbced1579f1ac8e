"""View > Whole image: the photo inspected whole, and the Input panel's Photo tab framing the crop."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction

WAIT_MS = 60_000  # generous: CI machines are small


def _red(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0] > 200) & (rgb[..., 1] < 60) & (rgb[..., 2] < 60)


def _whole_image_action(window) -> QAction:
    return next(a for a in window.findChildren(QAction) if a.text().replace("&", "") == "Whole image")


def test_whole_image_inspects_the_photo_again_and_the_photo_tab_frames_what_is_seen(make_window, qtbot,
                                                                                     tmp_path, wide_photo_file):
    window = make_window(wide_photo_file)
    qtbot.waitUntil(lambda: window.session.inspection is not None, timeout=WAIT_MS)
    panel = window.input_view
    assert window.session.inspection.framing.mode == "crop"
    assert not _red(panel.array).any()  # the red block lies left of the crop
    # the demo's 96 px crop of the photo resized to 192 x 96 is photo x 100..300, all of y
    assert panel.photo.frame == (100, 0, 200, 200)
    photo = panel.photo.array
    assert (photo[:, 100:300] == 255).all() and (photo[:, 300:] < 100).all()  # the rest darkened
    assert photo[100, 30, 0] < 100  # the red block too
    assert "50%" in panel.caption.text()
    from cnnscope.gui.services.arithmetic import FieldBox

    window.session.field_box = FieldBox(48, 0, 12, 12)  # a clicked value's patch, in input pixels
    assert panel.input._highlight == (48, 0, 12, 12)
    assert panel.photo._highlight == (200, 0, 25, 25)  # 400 / 192 photo pixels per input pixel
    window.session.field_box = None

    action = _whole_image_action(window)
    assert action.isCheckable() and not action.isChecked()
    assert action.shortcut().toString() == "Ctrl+Shift+W"
    action.trigger()
    qtbot.waitUntil(lambda: window.session.inspection.framing.mode == "whole", timeout=WAIT_MS)
    assert _red(panel.array[44:52, 4:12]).all()  # now the network sees it
    assert panel.photo.frame == (0, 0, 400, 200) and (panel.photo.array[100, 30] == (255, 0, 0)).all()
    assert "whole photo" in panel.caption.text()
    assert "crop" not in panel.input.toolTip() and "crop" not in panel.pages.tabToolTip(1)
    assert window.settings.value("whole_image", type=bool) is True

    from cnnscope.gui.engine import Engine
    from cnnscope.gui.main_window import MainWindow

    window.settings.sync()
    again = MainWindow(Engine(), None, QSettings(window.settings.fileName(), QSettings.Format.IniFormat))
    qtbot.addWidget(again)  # never shown, so its engine never starts: remembered is enough
    assert _whole_image_action(again).isChecked() and again.inspector.framing == "whole"


def test_the_attack_and_the_dream_follow_the_whole_image(make_window, qtbot, wide_photo_file):
    """Adversarial photos and Deep Dream start from the picture the network was shown: with Whole
    image on, the red block the centre crop cuts off is in both."""
    window = make_window(wide_photo_file)
    qtbot.waitUntil(lambda: window.session.inspection is not None, timeout=WAIT_MS)
    _whole_image_action(window).trigger()
    qtbot.waitUntil(lambda: window.session.inspection.framing.mode == "whole", timeout=WAIT_MS)
    units = window.units
    units.attack()
    qtbot.waitUntil(lambda: units.run_attack.isEnabled() and units.attack_view.array is not None,
                    timeout=WAIT_MS)
    assert _red(units.attack_view.array[:, :96]).any()  # the photo, left of the change
    units.octaves.setValue(1)
    units.dream_steps.setValue(1)
    units.dream()
    qtbot.waitUntil(lambda: units.run_dream.isEnabled() and units.dream_view.array is not None,
                    timeout=WAIT_MS)
    assert _red(units.dream_view.array[:, :96]).any()
