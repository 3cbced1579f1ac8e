"""The zoomable picture: outlines stay visible however small the patch they mark."""

from __future__ import annotations

import numpy as np


def _red(image, x: int, y: int) -> bool:
    colour = image.pixelColor(x, y)
    return colour.red() > 200 and colour.green() < 100


def test_a_tiny_highlight_is_drawn_large_enough_to_see(qtbot):
    from cnnscope.gui.views.image_view import MIN_OUTLINE, ImageView

    view = ImageView()
    qtbot.addWidget(view)
    view.set_image(np.zeros((100, 100, 3), np.uint8))
    view.set_zoom(1.0)
    view.set_highlight((50, 50, 2, 2))  # a first-layer patch of a big photo: 2 px across
    image = view._label.pixmap().toImage()
    left = 50 - (MIN_OUTLINE - 2) // 2 + 1  # the outline grows around the patch's centre
    assert _red(image, left, 51) and _red(image, left + MIN_OUTLINE - 3, 51)
    assert not _red(image, 51, 51)  # the patch itself is not painted over
    view.set_highlight((10, 10, 40, 30))  # a large one is drawn as it is
    image = view._label.pixmap().toImage()
    assert _red(image, 11, 20) and _red(image, 48, 20) and not _red(image, 30, 25)
