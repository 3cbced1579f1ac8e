"""The model shown as a table (shapes, parameters, multiply-adds, receptive fields), as a graph
(its real topology, laid out), and a layer of it explained in plain words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import Job, Request, Service


@dataclass(frozen=True)
class Summarize(Request):
    """The architecture table of the model shown."""

    about_shown_model = True


@dataclass(frozen=True)
class ExportSummary(Request):
    """The architecture table of the model shown when it runs, written as CSV (kept across a
    model load: the user asked for a file, and the result names the model it describes)."""

    path: str


@dataclass(frozen=True)
class Explain(Request):
    """One layer of the model shown, in plain words with its numbers."""

    about_shown_model = True
    layer: str


@dataclass(frozen=True)
class DrawGraph(Request):
    """The graph of the model shown, laid out, with ``collapsed`` blocks drawn as one node each
    (None: the default, every block collapsed when the whole graph is large)."""

    about_shown_model = True
    collapsed: frozenset[str] | None = None


@dataclass(frozen=True)
class ExportGraph(Request):
    """The graph as drawn (``collapsed`` as in DrawGraph) written to an .svg or .png file."""

    path: str
    collapsed: frozenset[str] | None = None


@dataclass
class GraphDrawn:
    """A laid-out graph: ``drawing`` is a core.graph_layout.Drawing; ``blocks`` every block that
    can collapse, ``collapsed`` those drawn as one node; ``traced`` False when the model could not
    be traced and is drawn as a chain."""

    model: str
    drawing: Any
    blocks: list[str]
    collapsed: frozenset[str]
    traced: bool


@dataclass
class GraphExported:
    """Where the graph of which model was written."""

    path: str
    model: str


@dataclass
class SummaryTable:
    """The architecture table as plain data."""

    model: str
    input_size: int
    rows: list  # (name, type, output shape, params, macs, receptive field, depth)
    total_params: int
    trainable_params: int
    total_macs: int
    stages: list
    weight_layers: int


@dataclass
class SummaryExported:
    """Where the table of which model was written."""

    path: str
    model: str


@dataclass
class Explanation:
    """A layer in plain words."""

    layer: str
    text: str


class ArchitectureService(Service):
    """Owns the table of the model shown, computed once per model."""

    handles = (Explain, Summarize, ExportSummary, DrawGraph, ExportGraph)
    COLLAPSE_ABOVE = 60  # nodes: a larger graph first shows its blocks collapsed

    def __init__(self, state) -> None:
        super().__init__(state)
        self._table = None  # (loaded model, core Summary)
        self._graph = None  # (loaded model, module structure key, core ArchitectureGraph)

    def run(self, request: Request, job: Job) -> Any:
        """Serve a table, a graph, their exports or a layer's explanation."""
        if isinstance(request, Explain):
            return self._explain(request.layer)
        if isinstance(request, (DrawGraph, ExportGraph)):
            return self._draw(request)
        table = self._summary()
        if isinstance(request, ExportSummary):
            return SummaryExported(str(table.write_csv(request.path)), table.model)
        return SummaryTable(table.model, table.input_size,
                            [(r.name, r.type, r.output_shape, r.params, r.macs, r.receptive_field,
                              r.depth) for r in table.rows],
                            table.total_params, table.trainable_params, table.total_macs,
                            table.stages(), table.weight_layers)

    def _draw(self, request: DrawGraph | ExportGraph) -> GraphDrawn | GraphExported:
        from cnnscope.core.graph import build_graph
        from cnnscope.core.graph_layout import lay_out
        from cnnscope.core.graph_svg import write_drawing

        loaded = self.state.model()
        key = tuple(map(id, loaded.module.modules()))  # a transfer run's new head changes it
        if self._graph is None or self._graph[0] is not loaded or self._graph[1] != key:
            self._graph = (loaded, key, build_graph(loaded))
        graph = self._graph[2]
        collapsed = request.collapsed
        if collapsed is None:
            collapsed = frozenset(graph.blocks) if len(graph.nodes) > self.COLLAPSE_ABOVE else frozenset()
        drawing = lay_out(graph.collapsed(set(collapsed)))
        if isinstance(request, ExportGraph):
            return GraphExported(str(write_drawing(drawing, request.path)), graph.model)
        return GraphDrawn(graph.model, drawing, list(graph.blocks), frozenset(collapsed), graph.traced)

    def _summary(self):
        from cnnscope.core.summary import summarize

        loaded = self.state.model()
        if self._table is None or self._table[0] is not loaded:
            self._table = (loaded, summarize(loaded, self.state.current()))
        return self._table[1]

    def _explain(self, layer: str) -> Explanation | None:
        from cnnscope.core.explain import explain
        from cnnscope.core.errors import ModelError
        from cnnscope.core.freeze import head_name

        row = next((r for r in self._summary().rows if r.name == layer), None)
        if row is None:
            return None
        loaded = self.state.loaded
        try:
            head = head_name(loaded.module)
        except ModelError:  # a model without a linear head: nothing is "the head"
            head = None
        return Explanation(layer, explain(loaded.module.get_submodule(layer), row,
                                          loaded.spec.input_size, layer == head))
