"""Panels are built from (session, engine) alone, and never import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

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


@pytest.fixture
def engine(qtbot):
    """A started engine with no window around it."""
    from cnnscope.gui.engine import Engine

    engine = Engine()
    with qtbot.waitSignal(engine.ready, timeout=WAIT_MS):
        engine.start()
    yield engine
    engine.stop()


def _load(qtbot, engine, weights: str = "pretrained") -> dict:
    with qtbot.waitSignal(engine.model_loaded, timeout=WAIT_MS) as loaded:
        engine.submit("load", name="demo_shapes", weights=weights, device="cpu")
    return loaded.args[1]


def _shown(qtbot, panel):
    qtbot.addWidget(panel)
    panel.show()
    return panel


def test_the_summary_panel_works_without_the_main_window(qtbot, tmp_path, monkeypatch, engine):
    from PySide6.QtWidgets import QFileDialog

    from cnnscope.core.resources import sample_images
    from cnnscope.gui.panels.summary import SummaryPanel
    from cnnscope.gui.session import Session

    session = Session()
    panel = _shown(qtbot, SummaryPanel(session, engine))
    model = _load(qtbot, engine)
    with qtbot.waitSignal(engine.inspected, timeout=WAIT_MS) as inspected:
        engine.submit("inspect", path=str(sample_images()[0]))
    session.model = model
    session.inspection = inspected.args[1]  # the panel asks for its table by itself
    qtbot.waitUntil(lambda: panel.table.rowCount() > 10, timeout=WAIT_MS)
    assert panel.shown_model == "demo_shapes" and "weight layers" in panel.totals.text()

    session.model = dict(model, name="another")  # a new model: the table is stale
    assert panel.shown_model is None
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
    from cnnscope.core.resources import sample_images
    from cnnscope.gui.panels.explanation import ExplanationPanel
    from cnnscope.gui.session import Session

    session = Session(layer="features.block2.conv")
    panel = _shown(qtbot, ExplanationPanel(session, engine))
    session.model = _load(qtbot, engine)
    assert panel.toPlainText() == ""  # nothing to say before an inspection gives the numbers
    with qtbot.waitSignal(engine.inspected, timeout=WAIT_MS) as inspected:
        engine.submit("inspect", path=str(sample_images()[0]))
    session.inspection = inspected.args[1]
    qtbot.waitUntil(lambda: panel.toPlainText().startswith("features.block2.conv (Conv2d)"),
                    timeout=WAIT_MS)
    session.layer = "features.block2.pool"
    qtbot.waitUntil(lambda: "max pooling" in panel.toPlainText(), timeout=WAIT_MS)
    session.model = _load(qtbot, engine, "random")  # another model: the old text goes at once
    assert panel.toPlainText() == ""
