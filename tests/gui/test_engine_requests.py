"""The engine's queue: typed requests, the newest of a type wins, and requests made for a model
that is replaced before they run are dropped."""

from __future__ import annotations

import time

import pytest

WAIT_MS = 60_000


def _is(kind):
    return lambda _id, result: isinstance(result, kind)


def _load_and_inspect(qtbot, engine):
    from cnnscope.core.resources import sample_images
    from cnnscope.gui.services.base import ImageSource
    from cnnscope.gui.services.model import Inspect, InspectionResult, LoadModel

    with qtbot.waitSignal(engine.finished, check_params_cb=_is(InspectionResult), timeout=WAIT_MS):
        engine.submit(LoadModel("demo_shapes", "pretrained", "cpu"))
        engine.submit(Inspect(ImageSource(path=str(sample_images()[0]))))


def test_requests_for_the_old_model_are_dropped_when_a_new_one_loads(qtbot, monkeypatch, engine):
    from cnnscope.gui.services.architecture import ArchitectureService, Summarize
    from cnnscope.gui.services.maps import Grid, GridResult
    from cnnscope.gui.services.model import LoadModel, ModelLoaded

    failures, grids = [], []
    engine.failed.connect(lambda rid, request, message: failures.append((request, message)))
    engine.finished.connect(lambda rid, result: isinstance(result, GridResult) and grids.append(result))
    _load_and_inspect(qtbot, engine)
    real_run = ArchitectureService.run

    def slow_run(self, request, job):  # holds the engine while the window asks for more
        time.sleep(0.5)
        return real_run(self, request, job)
    monkeypatch.setattr(ArchitectureService, "run", slow_run)
    engine.submit(Summarize())
    time.sleep(0.1)
    engine.submit(Grid("features.block1"))  # about the old model
    with qtbot.waitSignal(engine.finished, check_params_cb=_is(ModelLoaded), timeout=WAIT_MS):
        engine.submit(LoadModel("demo_shapes", "random", "cpu"))  # served before the grid
    qtbot.wait(300)
    assert failures == [] and grids == []  # not "Nothing has been inspected yet."


def test_the_newest_request_of_a_type_wins_per_asker(qtbot, monkeypatch, engine):
    from cnnscope.gui.services.architecture import ArchitectureService, Summarize
    from cnnscope.gui.services.maps import Grid, GridResult

    _load_and_inspect(qtbot, engine)
    real_run = ArchitectureService.run
    monkeypatch.setattr(ArchitectureService, "run",
                        lambda self, r, j: (time.sleep(0.4), real_run(self, r, j))[1])
    grids: list = []
    engine.finished.connect(lambda rid, result: isinstance(result, GridResult) and grids.append(result))
    engine.submit(Summarize())  # keeps the engine busy while the grids queue up
    time.sleep(0.1)
    for layer in ("features.block1", "features.block2", "features.block3"):
        engine.submit(Grid(layer), lane=1)  # one asker: only its last counts
    engine.submit(Grid("features.block1"), lane=2)  # another asker's request is its own
    qtbot.waitUntil(lambda: len(grids) == 2, timeout=WAIT_MS)
    qtbot.wait(200)
    assert sorted(g.layer for g in grids) == ["features.block1", "features.block3"]


def test_a_request_no_service_handles_is_refused_at_once(engine):
    from dataclasses import dataclass

    from cnnscope.gui.services.base import Request

    @dataclass(frozen=True)
    class Unknown(Request):
        pass

    with pytest.raises(TypeError, match="no service handles Unknown"):
        engine.submit(Unknown())


def test_cancel_stops_a_running_request_and_the_next_one_runs(qtbot):
    """With a service of the test's own: it works until its job says it is cancelled."""
    from dataclasses import dataclass

    from cnnscope.gui.engine import Engine
    from cnnscope.gui.services.base import Request, Service

    @dataclass(frozen=True)
    class Count(Request):
        to: int

    class Counting(Service):
        handles = (Count,)

        def run(self, request, job):
            for i in range(request.to):
                if job.cancelled():
                    return f"stopped at {i}"
                time.sleep(0.01)
            return f"counted to {request.to}"

    engine = Engine(services=[Counting(None)])
    results: list[str] = []
    engine.finished.connect(lambda rid, result: results.append(result))
    with qtbot.waitSignal(engine.ready, timeout=WAIT_MS):
        engine.start()
    try:
        engine.submit(Count(10_000))  # 100 s unless cancelled
        qtbot.wait(100)
        engine.cancel(Count)
        qtbot.waitUntil(lambda: bool(results), timeout=5_000)
        assert results[0].startswith("stopped at")
        engine.submit(Count(3))  # the cancel was for the one before
        qtbot.waitUntil(lambda: len(results) == 2, timeout=5_000)
        assert results[1] == "counted to 3"
    finally:
        engine.stop()


def test_a_load_replaced_by_a_newer_one_never_becomes_the_model(qtbot, engine, monkeypatch):
    """A slow load, then a choice that fails: the engine keeps the model the window shows
    (before, the slow one finished and silently became the engine's model)."""
    import cnnscope.core.weights as weights
    from cnnscope.gui.services.model import LoadModel

    _load_and_inspect(qtbot, engine)
    real_load = weights.load_model

    def slow_load(name, choice, progress=None, should_cancel=None):
        if name == "squeezenet1_1":
            time.sleep(0.6)  # as a large file or a download would take
        return real_load(name, choice, progress=progress, should_cancel=should_cancel)
    monkeypatch.setattr(weights, "load_model", slow_load)
    failed: list[str] = []
    engine.failed.connect(lambda rid, request, message: failed.append(getattr(request, "weights", None)))
    engine.submit(LoadModel("squeezenet1_1", "random", "cpu"))
    qtbot.wait(300)
    engine.submit(LoadModel("demo_shapes", "/no/such/weights.pt", "cpu"))  # fails at once
    qtbot.waitUntil(lambda: "/no/such/weights.pt" in failed, timeout=WAIT_MS)
    qtbot.wait(900)  # past the end of the slow load
    assert engine.state.loaded.name == "demo_shapes" and engine.state.inspection is not None


def test_an_export_asked_before_a_model_load_still_answers(qtbot, monkeypatch, engine, tmp_path):
    from cnnscope.gui.services.architecture import ArchitectureService, ExportSummary, SummaryExported
    from cnnscope.gui.services.model import Inspect, LoadModel

    _load_and_inspect(qtbot, engine)
    real_run = ArchitectureService.run
    monkeypatch.setattr(ArchitectureService, "run",
                        lambda self, r, j: (time.sleep(0.4), real_run(self, r, j))[1])
    from cnnscope.gui.services.architecture import Summarize

    engine.submit(Summarize())  # holds the engine
    time.sleep(0.1)
    engine.submit(ExportSummary(str(tmp_path / "table.csv")))
    engine.submit(LoadModel("demo_shapes", "random", "cpu"))  # served first: drops grids and such
    from cnnscope.core.resources import sample_images
    from cnnscope.gui.services.base import ImageSource

    engine.submit(Inspect(ImageSource(path=str(sample_images()[0]))))
    with qtbot.waitSignal(engine.finished, timeout=WAIT_MS,
                          check_params_cb=lambda _id, r: isinstance(r, SummaryExported)) as done:
        pass
    assert done.args[1].model == "demo_shapes" and (tmp_path / "table.csv").read_text().startswith("layer")
