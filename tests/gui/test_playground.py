"""The kernel playground panel, built from (session, engine) alone with a real engine thread: a
preset fills the grid and shows its result, typed numbers become "Typed in", stride changes the
formula and the output, the learned filter appears, and a bad number is refused with a sentence
while the previous result stays."""

from __future__ import annotations

import dataclasses

import numpy as np

from cnnscope.core import kernels

WAIT_MS = 60_000


def _answer(qtbot, engine, request, kind):
    with qtbot.waitSignal(engine.finished, timeout=WAIT_MS,
                          check_params_cb=lambda _id, result: isinstance(result, kind)) as answer:
        engine.submit(request)
    return answer.args[1]


def _shown_panel(qtbot, engine):
    """A playground on a session whose demo model has inspected chelsea.png (a 96 px crop)."""
    from cnnscope.core.resources import sample_images
    from cnnscope.gui.panels.playground import KernelPlaygroundPanel
    from cnnscope.gui.services.base import ImageSource
    from cnnscope.gui.services.model import Inspect, InspectionResult, LoadModel, ModelLoaded
    from cnnscope.gui.session import Session

    session = Session()
    panel = KernelPlaygroundPanel(session, engine)
    qtbot.addWidget(panel)
    panel.resize(1100, 720)
    panel.show()
    session.model = _answer(qtbot, engine, LoadModel("demo_shapes", "pretrained", "cpu"), ModelLoaded)
    photo = next(p for p in sample_images() if p.name == "chelsea.png")
    session.inspection = _answer(qtbot, engine, Inspect(ImageSource(path=str(photo))), InspectionResult)
    qtbot.waitUntil(lambda: panel.shown is not None and panel.shown_learned is not None,
                    timeout=WAIT_MS)
    return session, panel


def _after(qtbot, panel, change, until):
    """Make ``change`` and wait for a newer kernel result that satisfies ``until``."""
    before = panel.shown
    change()
    qtbot.waitUntil(lambda: panel.shown is not before and until(panel.shown), timeout=WAIT_MS)


def test_presets_typed_numbers_and_stride_in_the_playground(qtbot, engine):
    session, panel = _shown_panel(qtbot, engine)
    photo = session.inspection.input_rgb
    assert panel.preset.currentText() == "Identity" and panel.padding.value() == 1
    assert np.array_equal(panel.result.array, photo)  # identity with padding 1: the photo itself
    assert np.array_equal(panel.photo.array, photo)

    _after(qtbot, panel, lambda: panel.preset.setCurrentText("Sobel x"), lambda r: r.signed)
    assert panel.kernel_rows() == (("-1", "0", "1"), ("-2", "0", "2"), ("-1", "0", "1"))
    expected, _scale = kernels.apply_kernel(photo, kernels.preset_kernel("Sobel x"), 1, 1, 1).picture()
    assert np.array_equal(panel.result.array, expected) and not np.array_equal(expected, photo)
    assert "signed" in panel.result_title.text() and "add up to 0" in panel.note.text()
    sobel = panel.result.array.copy()

    # typing a number: the preset becomes "Typed in" and the result changes
    _after(qtbot, panel, lambda: panel.grid.item(1, 1).setText("3"), lambda r: r.kernel[1, 1] == 3)
    assert panel.preset.currentText() == kernels.TYPED
    assert not panel.shown.signed and "add up to 3" in panel.note.text()
    assert not np.array_equal(panel.result.array, sobel)

    # stride 2: the formula and the output size follow (96 px photo, 3x3, padding 1)
    assert "= 96" in panel.formula.text()
    _after(qtbot, panel, lambda: panel.stride.setValue(2), lambda r: r.output_size == (48, 48))
    assert panel.formula.text().count("\u230a(96 + 2\u00b71 \u2212 1\u00b7(3\u22121) \u2212 1) / 2"
                                      "\u230b + 1 = 48") == 2  # height and width
    assert panel.result.array.shape == (48, 48, 3) and "48 x 48" in panel.result_title.text()
    _after(qtbot, panel, lambda: panel.dilation.setValue(2), lambda r: r.output_size == (47, 47))
    assert "1) / 2\u230b + 1 = 47" in panel.formula.text()

    # 5 x 5: a preset refills the grid at its new size
    _after(qtbot, panel, lambda: panel.preset.setCurrentText("Box blur"), lambda r: r.kernel.shape == (3, 3))
    _after(qtbot, panel, lambda: panel.side.setCurrentIndex(1), lambda r: r.kernel.shape == (5, 5))
    assert panel.grid.rowCount() == 5 and panel.kernel_rows()[0][0] == "1/25"


def test_the_learned_filter_and_a_bad_typed_number(qtbot, engine):
    session, panel = _shown_panel(qtbot, engine)
    learned = panel.shown_learned
    assert learned.layer == "features.block1.conv" and learned.channels == 16
    assert panel.learned_kernel.array is not None and panel.learned.array.shape == (48, 48, 3)
    assert panel.channel.maximum() == 15 and "features.block1.conv" in panel.learned_text.text()
    assert "/ 2\u230b + 1 = 48" in panel.learned_text.text()
    first_kernel, first_response = panel.learned_kernel.array.copy(), panel.learned.array.copy()
    panel.channel.setValue(5)
    qtbot.waitUntil(lambda: panel.shown_learned.channel == 5, timeout=WAIT_MS)
    assert not np.array_equal(panel.learned_kernel.array, first_kernel)
    assert not np.array_equal(panel.learned.array, first_response)

    # a number that is not one: a sentence, and the previous result stays
    kept, shown = panel.result.array.copy(), panel.shown
    panel.grid.item(0, 2).setText("abc")
    qtbot.waitUntil(lambda: not panel.error.isHidden(), timeout=WAIT_MS)
    assert panel.error.text() == "'abc' is not a number: type one such as 2, -0.5 or 1/9."
    assert panel.shown is shown and np.array_equal(panel.result.array, kept)
    assert panel.preset.currentText() == kernels.TYPED
    _after(qtbot, panel, lambda: panel.grid.item(0, 2).setText("1/2"), lambda r: r.kernel[0, 2] == 0.5)
    assert panel.error.isHidden()

    # another model: what showed the old one goes at once
    session.model = dataclasses.replace(session.model, name="another")
    assert panel.shown is None and panel.result.array is None and panel.learned.array is None


def test_a_new_photo_shows_at_once_even_while_the_typed_kernel_is_wrong(qtbot, engine):
    from cnnscope.core.resources import sample_images
    from cnnscope.gui.services.base import ImageSource
    from cnnscope.gui.services.model import Inspect, InspectionResult

    session, panel = _shown_panel(qtbot, engine)
    panel.grid.item(0, 0).setText("abc")
    qtbot.waitUntil(lambda: not panel.error.isHidden(), timeout=WAIT_MS)
    assert panel.result.array is not None  # the result of this photo stays beside the sentence
    star = next(p for p in sample_images() if p.name == "shape_star.png")
    session.inspection = _answer(qtbot, engine, Inspect(ImageSource(path=str(star))), InspectionResult)
    assert np.array_equal(panel.photo.array, session.inspection.input_rgb)  # before any answer
    qtbot.waitUntil(lambda: panel.shown_learned is not None and panel.result.array is None, timeout=WAIT_MS)
    assert not panel.error.isHidden()  # still wrong: no result of the old photo beside the new one
