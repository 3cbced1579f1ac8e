"""The sanity check page, built from (session, engine) with the demo model: it runs on the engine,
shows the grid, exports it, clears on a new image and cancels."""

from __future__ import annotations

import numpy as np
from PIL import Image

WAIT_MS = 60_000


def _inspect(ask, index: int):
    from cnnscope.core.resources import sample_images
    from cnnscope.gui.services.base import ImageSource
    from cnnscope.gui.services.model import Inspect, InspectionResult

    return ask(Inspect(ImageSource(path=str(sample_images()[index]))), InspectionResult)


def test_the_sanity_panel_runs_exports_clears_and_cancels(qtbot, engine, ask, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from cnnscope.core.sanity import PREFERRED_METHODS
    from cnnscope.gui.panels.sanity import DEFAULT_METHODS, SanityPanel
    from cnnscope.gui.services.model import LoadModel, ModelLoaded, catalogue
    from cnnscope.gui.session import Session

    assert DEFAULT_METHODS == PREFERRED_METHODS
    session = Session()
    panel = SanityPanel(session, engine)
    qtbot.addWidget(panel)
    panel.show()
    panel.set_methods(catalogue().methods)
    assert panel.checked_methods()[:2] == ["gradcam", "guided_backprop"]
    assert "smoothgrad" not in panel._boxes  # slow methods are not offered
    assert not panel.explanation.isVisible()  # folded: the grid gets the room
    panel.more.click()
    assert panel.explanation.isVisible() and "rank correlation" in panel.explanation.text()
    panel.more.click()
    assert not panel.explanation.isVisible()
    panel.run_button.click()
    assert "Open an image first" in panel.caption.text() and not panel.busy

    session.model = ask(LoadModel("demo_shapes", "pretrained", "cpu"), ModelLoaded)
    session.inspection = _inspect(ask, 0)
    panel.choose_methods(["gradcam", "saliency"])
    panel.steps.setValue(2)
    panel.run_button.click()
    assert panel.busy and not panel.run_button.isEnabled()
    qtbot.waitUntil(lambda: panel.grid.array is not None, timeout=WAIT_MS)
    result = panel.result
    assert not panel.busy and panel.export.isEnabled()
    assert result.method_labels == ["Grad-CAM", "Saliency"] and len(result.columns) == 3
    assert result.columns[0] == "original" and result.columns[1].startswith("+ ")
    assert [row[0] for row in result.correlations] == [1.0, 1.0]
    assert result.label == session.inspection.predictions[0][0] and result.label in panel.caption.text()

    target = tmp_path / "sanity.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "PNG (*.png)"))
    panel.export.click()
    np.testing.assert_array_equal(np.asarray(Image.open(target).convert("RGB")), result.picture)

    session.inspection = _inspect(ask, 1)  # a new image: the grid described the old one
    assert panel.grid.array is None and panel.result is None and not panel.export.isEnabled()

    # cancel a long check once it has started: the engine stops it before its next map
    panel.choose_methods(["gradcam", "saliency", "guided_backprop"])
    panel.steps.setValue(8)
    with qtbot.waitSignal(engine.progress, timeout=WAIT_MS):
        panel.run_button.click()
    with qtbot.waitSignal(engine.failed, timeout=WAIT_MS,
                          check_params_cb=lambda _id, _request, message: "cancelled" in message):
        panel.cancel.click()
    assert not panel.busy and "cancelled" in panel.caption.text() and panel.grid.array is None
