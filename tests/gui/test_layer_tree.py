"""The Layers dock's table: numbers are never cut, whatever the width."""

from __future__ import annotations

import pytest

from cnnscope.gui.views.layer_tree import LayerTree

ROWS = [
    ("features", "Sequential", (128, 12, 12), 283_152, True),
    ("features.block1_with_a_rather_long_name", "Sequential", (16, 48, 48), 1_232, True),
    ("features.block1_with_a_rather_long_name.conv1", "Conv2d", (16, 48, 48), 5_136, False),
    ("classifier", "Linear", (1000,), 102_764_544, False),
]


@pytest.mark.parametrize("width", [470, 360])
def test_params_are_never_clipped(qtbot, width):
    tree = LayerTree()
    qtbot.addWidget(tree)
    tree.resize(width, 300)
    tree.show()
    tree.show_layers(ROWS, "features")
    tree.expandAll()
    qtbot.wait(50)
    header, metrics = tree.header(), tree.fontMetrics()
    right_edge = header.sectionViewportPosition(3) + header.sectionSize(3)
    assert right_edge <= tree.viewport().width()  # the column is in view, not scrolled off
    for _name, _kind, _shape, params, _children in ROWS:
        assert metrics.horizontalAdvance(f"{params:,}") < header.sectionSize(3)
