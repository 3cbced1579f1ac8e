"""The same image through 2 to 4 models side by side, each column sent as soon as it is made.

The compared models are this service's own (the model shown is not touched); a model no longer
compared is unloaded, and inspections are cached per (model, image)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .base import ImageSource, Job, Request, Service


@dataclass(frozen=True)
class Compare(Request):
    """Compare ``models`` ((name, weights) pairs) on ``source``, layers matched at a relative
    ``depth`` or at a ``stride``, with heatmap ``method`` for ``target`` (None: the first
    column's top class)."""

    models: tuple[tuple[str, str], ...]
    source: ImageSource
    depth: float | None = 0.5
    stride: float | None = None
    method: str = "gradcam"
    target: str | None = None
    device: str = "auto"
    framing: str = "crop"  # or "whole": the photo shrunk and padded (View > Whole image)


Compare.superseded_by = (Compare,)


@dataclass(frozen=True)
class ExportCompare(Request):
    """The last comparison as one PNG."""

    path: str
    title: str


@dataclass
class CompareColumn:
    """One model's column in the comparison, drawn."""

    index: int
    model: str
    weights: str
    layer: str
    layer_shape: tuple
    predictions: list  # [(label, probability)]
    heat_label: str
    heat: np.ndarray | None
    grid: np.ndarray | None
    facts: str
    notes: list[str] = field(default_factory=list)
    error: str | None = None  # this column could not be made (offline weights...): why
    weights_missing: bool = False  # the error is that its weights could not be had


@dataclass
class CompareDone:
    """The comparison ended (or was cancelled): notes on what happened."""

    notes: list[str]


@dataclass
class CompareExported:
    """Where the comparison was written."""

    path: str


class CompareService(Service):
    """Owns the compared models, their inspections and the last columns (for the export)."""

    handles = (Compare, ExportCompare)

    def __init__(self, state) -> None:
        super().__init__(state)
        self._models: dict = {}  # (name, weights) -> LoadedModel
        self._inspections: dict = {}  # (model key, image key, framing) -> Inspection
        self._image: tuple | None = None  # (image key, decoded image)
        self._columns: dict = {}  # index -> core.compare.Column

    def run(self, request: Request, job: Job) -> Any:
        """Make the comparison's columns, or export the last one."""
        if isinstance(request, ExportCompare):
            return self._export(request)
        return self._compare(request, job)

    def _compare(self, request: Compare, job: Job) -> CompareDone | None:
        from cnnscope.core.devices import pick_device
        from cnnscope.core.errors import CnnscopeError, WeightsError

        notes = []
        wanted = [tuple(m) for m in request.models]
        for key in [k for k in self._models if k not in wanted]:
            del self._models[key]  # not shown: free its memory
            notes.append(f"unloaded {key[0]} (no longer compared)")
        self._inspections = {k: v for k, v in self._inspections.items() if k[0] in wanted}
        image_key = request.source.key
        if self._image is None or self._image[0] != image_key:
            self._image = (image_key, request.source.decode())
            self._inspections.clear()
        device = pick_device(request.device)
        self._columns = {}
        first: list = []  # (labels, top class) of the first column made: what the others explain
        for index, key in enumerate(wanted):
            if job.cancelled():
                return CompareDone(["cancelled"])
            try:
                column, labels, top = self._column(request, job, index, key, device, first)
            except CnnscopeError as exc:  # this column only: the others still come
                job.send(CompareColumn(index, key[0], key[1], "", (0, 0, 0), [], "", None, None, "",
                                       [], str(exc), isinstance(exc, WeightsError)))
                continue
            if not first:
                first.append((labels, top))
            job.send(column)
        return CompareDone(notes)

    def _column(self, request: Compare, job: Job, index: int, key: tuple, device, first: list):
        """One column: (CompareColumn, the model's labels, its top class)."""
        import torch

        from cnnscope.core.compare import explained_class, make_column
        from cnnscope.core.inspect import inspect, prepare
        from cnnscope.core.weights import load_model

        loaded = self._models.get(key)
        if loaded is None:
            loaded = load_model(*key, progress=job.progress, should_cancel=job.cancelled)
            loaded.module.to(device)
            prepare(loaded)
            self._models[key] = loaded
        image_key, image = self._image
        inspection = self._inspections.get((key, image_key, request.framing))
        peak = None
        if inspection is None:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            inspection = inspect(loaded, image, device, framing=request.framing)
            if device.type == "cuda":
                peak = torch.cuda.max_memory_allocated(device)
            self._inspections[(key, image_key, request.framing)] = inspection
        explain = explained_class(loaded.labels, first[0] if first else None, request.target)
        column = make_column(loaded, inspection, request.method, explain, request.depth,
                             request.stride, peak)
        self._columns[index] = column
        f = column.facts
        facts = (f"{f.params / 1e6:.1f}M params, {f.layers} weight layers, {f.input_size} px, "
                 f"inspect {f.inspect_ms:.0f} ms on {f.device}, "
                 f"{'peak' if peak is not None else 'maps'} {f.memory_mb:.0f} MB")
        return (CompareColumn(index, loaded.name, loaded.weights_label, column.layer,
                              column.layer_shape, column.predictions, column.heat_label,
                              column.heat, column.grid, facts, column.notes),
                loaded.labels, inspection.predictions[0].label)

    def _export(self, request: ExportCompare) -> CompareExported:
        from cnnscope.core.compare import comparison_figure
        from cnnscope.core.errors import ModelError

        if not self._columns:
            raise ModelError("Nothing has been compared yet.")
        comparison_figure([self._columns[i] for i in sorted(self._columns)], request.path,
                          request.title)
        return CompareExported(request.path)
