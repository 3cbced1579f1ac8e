"""The architecture graph in the window: clicking a node selects its layer everywhere, blocks open
and close, the session's layer is framed, and the drawing exports."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from test_panels import WAIT_MS, _inspect, _load, _shown


def _click_node(qtbot, canvas, node_id: str, double: bool = False) -> None:
    """A real mouse click on the node's box, wherever the view has scrolled it."""
    item = canvas.items_by_id[node_id]
    canvas.ensureVisible(item)
    point = canvas.mapFromScene(item.sceneBoundingRect().center())
    if double:
        qtbot.mouseDClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=point)
    else:
        qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=point)


def _node_id(panel, layer: str) -> str:
    return next(p.node.id for p in panel.shown.drawing.nodes if p.node.layer == layer)


def test_graph_panel_selects_frames_collapses_and_exports(qtbot, engine, tmp_path, monkeypatch):
    from cnnscope.gui.panels.graph import GraphPanel
    from cnnscope.gui.session import Session

    session = Session()
    panel = _shown(qtbot, GraphPanel(session, engine))
    panel.resize(700, 600)
    session.model = _load(qtbot, engine)
    session.inspection = _inspect(qtbot, engine)
    qtbot.waitUntil(lambda: panel.shown is not None, timeout=WAIT_MS)
    kinds = [p.node.kind for p in panel.shown.drawing.nodes]
    assert len(kinds) == 24 and "block" not in kinds  # a small graph starts with every layer
    assert "demo_shapes" in panel.status.text()

    _click_node(qtbot, panel.canvas, _node_id(panel, "features.block2.conv"))
    assert session.layer == "features.block2.conv"  # selected everywhere: it is the session's layer
    assert panel.canvas.selected_ids() == {_node_id(panel, "features.block2.conv")}

    _click_node(qtbot, panel.canvas, _node_id(panel, "fc"))  # no maps: framed, nothing else moves
    assert session.layer == "features.block2.conv" and "no feature maps" in panel.status.text()
    assert panel.canvas.selected_ids() == {_node_id(panel, "fc")}

    session.layer = "features.block3.bn1"  # chosen elsewhere (the layer tree): framed here
    assert panel.canvas.selected_ids() == {_node_id(panel, "features.block3.bn1")}

    panel.collapse.click()
    qtbot.waitUntil(lambda: len(panel.shown.drawing.nodes) == 8, timeout=WAIT_MS)
    assert panel.canvas.selected_ids() == {"block:features.block3"}  # the closed block holding it
    _click_node(qtbot, panel.canvas, "block:features.block2", double=True)
    qtbot.waitUntil(lambda: len(panel.shown.drawing.nodes) == 8 - 1 + 4, timeout=WAIT_MS)
    assert panel.shown.collapsed == frozenset({"features.block1", "features.block3", "features.block4"})
    _click_node(qtbot, panel.canvas, _node_id(panel, "features.block2.relu"), double=True)  # close it again
    qtbot.waitUntil(lambda: len(panel.shown.drawing.nodes) == 8, timeout=WAIT_MS)

    target = tmp_path / "graph.svg"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "SVG"))
    panel.export.click()
    qtbot.waitUntil(lambda: "Saved" in panel.status.text(), timeout=WAIT_MS)
    assert 'id="block:features.block2"' in target.read_text()  # as drawn: blocks closed
    monkeypatch.setattr(QFileDialog, "getSaveFileName",  # a name typed without a suffix
                        lambda *a, **k: (str(tmp_path / "typed"), "PNG (*.png)"))
    panel.export.click()
    qtbot.waitUntil(lambda: "typed.png" in panel.status.text(), timeout=WAIT_MS)
    assert (tmp_path / "typed.png").read_bytes()[:4] == b"\x89PNG"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(tmp_path / "missing" / "g.svg"), "SVG"))
    panel.export.click()
    qtbot.waitUntil(lambda: "Could not write" in panel.status.text(), timeout=WAIT_MS)
    assert len(panel.shown.drawing.nodes) == 8  # the drawing on screen stays


def test_clicking_a_graph_node_selects_the_layer_in_the_whole_window(window, qtbot):
    window.tabs.setCurrentWidget(window.architecture)
    window.architecture.setCurrentWidget(window.graph)
    graph = window.graph
    qtbot.waitUntil(lambda: graph.shown is not None, timeout=WAIT_MS)
    _click_node(qtbot, graph.canvas, _node_id(graph, "features.block1.pool"))
    assert window.layers.current_layer() == "features.block1.pool"
    qtbot.waitUntil(lambda: window.session.grid is not None
                    and window.session.grid.layer == "features.block1.pool", timeout=WAIT_MS)
