"""The model shown as a table (shapes, parameters, multiply-adds, receptive fields), and a layer of
it explained in plain words."""

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

    handles = (Explain, Summarize, ExportSummary)

    def __init__(self, state) -> None:
        super().__init__(state)
        self._table = None  # (loaded model, core Summary)

    def run(self, request: Request, job: Job) -> Any:
        """Serve a table, its export or a layer's explanation."""
        if isinstance(request, Explain):
            return self._explain(request.layer)
        table = self._summary()
        if isinstance(request, ExportSummary):
            return SummaryExported(str(table.write_csv(request.path)), table.model)
        return SummaryTable(table.model, table.input_size,
                            [(r.name, r.type, r.output_shape, r.params, r.macs, r.receptive_field,
                              r.depth) for r in table.rows],
                            table.total_params, table.trainable_params, table.total_macs,
                            table.stages(), table.weight_layers)

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
