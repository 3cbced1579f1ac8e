"""The architecture summary: a Keras-style table with multiply-adds and receptive fields.

Each row is a module that ran: its type, output shape, parameters (its own and its children's),
multiply-adds (convolutions and linear layers; a container sums its children) and the receptive
field of its output: how many input pixels along a side can influence one output value. Receptive
fields are propagated through the traced graph, so ResNet shortcuts and Inception branches are
followed (a merge takes the largest field of its inputs).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch.nn.functional as F
from torch import nn

from .inspect import Inspection, traced_graph
from .layers import weight_layers
from .weights import LoadedModel

_POOL_FUNCTIONS = {F.max_pool2d: "max", F.avg_pool2d: "avg"}
_GLOBAL_FUNCTIONS = (F.adaptive_avg_pool2d, F.adaptive_max_pool2d)


@dataclass(frozen=True)
class SummaryRow:
    """One layer of the summary."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int
    macs: int  # multiply-adds for one image
    receptive_field: int | None  # input pixels along a side; None where not a feature map
    depth: int
    has_children: bool


@dataclass
class Summary:
    """The whole table and its totals."""

    model: str
    input_size: int
    rows: list[SummaryRow]
    total_params: int
    trainable_params: int
    total_macs: int
    weight_layers: int  # convolutions and fully connected layers (core.layers.weight_layers)

    def stages(self) -> list[tuple[int, int, str]]:
        """(side in pixels, channels, layer) for each resolution, input to output: the small
        diagram of the network's stages. The layer is the outermost one ending at that side
        (ResNet's ``layer1``, not ``layer1.1.bn2``)."""
        best: dict[int, SummaryRow] = {}
        for row in self.rows:
            if len(row.output_shape) == 3 and row.output_shape[-1] > 1:
                side = row.output_shape[-1]
                if side not in best or row.depth <= best[side].depth:
                    best[side] = row
        return [(side, r.output_shape[0], r.name) for side, r in sorted(best.items(), key=lambda s: -s[0])]

    def write_csv(self, path: str | Path) -> Path:
        """The table as CSV (one row per layer, then a totals row)."""
        path = Path(path)
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["layer", "type", "output shape", "parameters", "multiply-adds",
                             "receptive field"])
            for r in self.rows:
                writer.writerow([r.name, r.type, "x".join(map(str, r.output_shape)), r.params, r.macs,
                                 r.receptive_field if r.receptive_field is not None else ""])
            writer.writerow(["total", "", "", self.total_params, self.total_macs, ""])
        return path


def _own_macs(module: nn.Module, output_shape: tuple[int, ...]) -> int:
    """Multiply-adds of one leaf layer for one image."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return int(np.prod(output_shape)) * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return module.in_features * module.out_features
    return 0


def _per_axis(value) -> tuple[int, int]:
    return (int(value[0]), int(value[1])) if isinstance(value, (tuple, list)) else (int(value), int(value))


Step = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]  # (kernel, stride, padding) per axis


def _is_global(module_or_fn) -> bool:
    """A global pooling: one value per channel, whatever the input's size."""
    return isinstance(module_or_fn, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) or \
        module_or_fn in _GLOBAL_FUNCTIONS


def _field_step(module_or_fn, node, spatial_in: int | None) -> Step | None:
    """(effective kernel, stride, padding), each (rows, cols), of a layer that widens the
    receptive field, else None. A 1x7 convolution widens only the columns."""
    m = module_or_fn
    if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        k, d = _per_axis(m.kernel_size), _per_axis(getattr(m, "dilation", 1))
        s = _per_axis(m.stride or m.kernel_size)
        span = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d))
        if m.padding == "same":
            p = tuple((x - 1) // 2 for x in span)
        else:
            p = (0, 0) if m.padding == "valid" else _per_axis(m.padding)
        return span, s, p
    if _is_global(m):
        side = spatial_in or 1
        return (side, side), (1, 1), (0, 0)  # a global pool sees its whole input
    if m in _POOL_FUNCTIONS:
        k = node.kwargs.get("kernel_size", node.args[1] if len(node.args) > 1 else 1)
        s = node.kwargs.get("stride", node.args[2] if len(node.args) > 2 else None)
        p = node.kwargs.get("padding", node.args[3] if len(node.args) > 3 else 0)
        return _per_axis(k), _per_axis(s or k), _per_axis(p)
    return None


@dataclass(frozen=True)
class Axis:
    """Along one axis: the field's ``size`` in input pixels, the ``jump`` between neighbouring
    outputs, and the input coordinate of output 0's centre (``start``)."""

    size: int
    jump: int
    start: float

    def through(self, kernel: int, stride: int, padding: int) -> "Axis":
        """The same after a layer with this kernel, stride and padding (the standard recurrence)."""
        return Axis(self.size + (kernel - 1) * self.jump, self.jump * stride,
                    self.start + ((kernel - 1) / 2 - padding) * self.jump)

    def span(self, index: int, side: int) -> tuple[int, int]:
        """First and last input pixel (inclusive, clipped to ``side``) seen by output ``index``."""
        half, centre = (self.size - 1) / 2, self.start + self.jump * index
        return (int(min(max(math.ceil(centre - half), 0), side - 1)),
                int(min(max(math.floor(centre + half), 0), side - 1)))


@dataclass(frozen=True)
class FieldGeometry:
    """Where a layer's outputs look in the input, along rows and along columns."""

    rows: Axis
    cols: Axis
    # Every output sees the whole image: a global summary of it was multiplied or added back in
    # (a squeeze-and-excitation block), so position no longer limits what an output sees.
    whole: bool = False

    @property
    def size(self) -> int:
        """The field's larger side in input pixels."""
        return max(self.rows.size, self.cols.size)

    @property
    def jump(self) -> int:
        """Input pixels between neighbouring outputs (the larger of the two axes)."""
        return max(self.rows.jump, self.cols.jump)

    def box(self, y: int, x: int, side: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right), inclusive, of output (``y``, ``x``)'s receptive field on a
        ``side``-pixel input, clipped to the image."""
        if self.whole:
            return 0, 0, side - 1, side - 1
        (top, bottom), (left, right) = self.rows.span(y, side), self.cols.span(x, side)
        return top, left, bottom, right


def field_geometry(loaded: LoadedModel, inspection: Inspection) -> dict[str, FieldGeometry]:
    """Receptive field size, step and offset of every module output with feature maps, per axis
    (where branches meet, the widest input decides)."""
    graph = traced_graph(loaded)
    if graph is None:
        return {}
    module = graph.graph_module
    state: dict = {}  # node -> FieldGeometry
    shapes = {row.name: row.output_shape for row in inspection.layers}
    spatial: dict = {}
    for node in module.graph.nodes:
        if node.op == "placeholder":
            state[node] = FieldGeometry(Axis(1, 1, 0.0), Axis(1, 1, 0.0))
            spatial[node] = loaded.spec.input_size
            continue
        inputs = [state[n] for n in node.all_input_nodes if n in state]
        if not inputs:
            continue
        side_in = max((spatial.get(n) or 0) for n in node.all_input_nodes) or None
        # a 1x1 summary broadcast over a map (an SE block's scale) places nothing: the map's own
        # inputs set where each output looks, and the summary makes every output see everything
        broadcast = {n for n in node.all_input_nodes if n in state and spatial.get(n) == 1
                     and (side_in or 1) > 1}
        placed = [state[n] for n in node.all_input_nodes if n in state and n not in broadcast] or inputs
        whole = bool(broadcast) or any(g.whole for g in inputs)
        rows = max((g.rows for g in placed), key=lambda a: (a.size, a.jump))
        cols = max((g.cols for g in placed), key=lambda a: (a.size, a.jump))
        target = module.get_submodule(node.target) if node.op == "call_module" else (
            node.target if node.op == "call_function" else None)
        step = _field_step(target, node, side_in) if target is not None else None
        if step is not None:
            (kr, kc), (sr, sc), (pr, pc) = step
            rows, cols = rows.through(kr, sr, pr), cols.through(kc, sc, pc)
        state[node] = FieldGeometry(rows, cols, whole)
        if step is None:
            spatial[node] = side_in
        elif _is_global(target):
            spatial[node] = 1
        else:
            spatial[node] = max(1, math.ceil((side_in or 1) / max(step[1])))
    out = {}
    for name, node in graph._node_of.items():
        shape = shapes.get(name)
        if shape is not None and len(shape) == 3 and node in state:
            out[name] = state[node]  # the size may exceed the input: it then covers the whole image
    return out


def receptive_fields(loaded: LoadedModel, inspection: Inspection) -> dict[str, int]:
    """Receptive field (input pixels along a side) of every module output with feature maps."""
    side = loaded.spec.input_size
    return {name: max(g.size, side) if g.whole else g.size
            for name, g in field_geometry(loaded, inspection).items()}


def summarize(loaded: LoadedModel, inspection: Inspection) -> Summary:
    """The summary of ``loaded``, with output shapes from ``inspection`` (any image will do)."""
    modules = dict(loaded.module.named_modules())
    fields = receptive_fields(loaded, inspection)
    own = {row.name: _own_macs(modules[row.name], row.output_shape) for row in inspection.layers
           if not row.has_children}
    rows = []
    for row in inspection.layers:
        macs = own.get(row.name)
        if macs is None:  # a container: the sum of the leaves inside it
            prefix = row.name + "."
            macs = sum(v for n, v in own.items() if n.startswith(prefix))
        rows.append(SummaryRow(row.name, row.type, row.output_shape, row.params, macs,
                               fields.get(row.name), row.depth, row.has_children))
    params = list(loaded.module.parameters())
    return Summary(loaded.name, loaded.spec.input_size, rows, sum(p.numel() for p in params),
                   sum(p.numel() for p in params if p.requires_grad), sum(own.values()),
                   weight_layers(loaded.module))
