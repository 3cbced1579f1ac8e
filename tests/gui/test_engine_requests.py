"""The engine's queue: requests made for a model that is replaced before they run are dropped."""

from __future__ import annotations

import time

WAIT_MS = 60_000


def test_requests_for_the_old_model_are_dropped_when_a_new_one_loads(qtbot, monkeypatch):
    from cnnscope.gui.engine import Engine

    engine = Engine()
    failures, grids = [], []
    engine.failed.connect(lambda rid, kind, message: failures.append((kind, message)))
    engine.grid_ready.connect(lambda rid, result: grids.append(result))
    with qtbot.waitSignal(engine.ready, timeout=WAIT_MS):
        engine.start()
    try:
        with qtbot.waitSignal(engine.inspected, timeout=WAIT_MS):
            engine.submit("load", name="demo_shapes", weights="pretrained", device="cpu")
            from cnnscope.core.resources import sample_images

            engine.submit("inspect", path=str(sample_images()[0]))
        real_summary = engine._do_summary

        def slow_summary(request_id):  # holds the engine while the window asks for more
            time.sleep(0.5)
            real_summary(request_id)
        monkeypatch.setattr(engine, "_do_summary", slow_summary)
        engine.submit("summary")
        time.sleep(0.1)
        engine.submit("grid", layer="features.block1", cmap="viridis", sort="none")  # old model
        with qtbot.waitSignal(engine.model_loaded, timeout=WAIT_MS):  # served before the grid
            engine.submit("load", name="demo_shapes", weights="random", device="cpu")
        qtbot.wait(300)
        assert failures == [] and grids == []  # not "Nothing has been inspected yet."
    finally:
        engine.stop()
