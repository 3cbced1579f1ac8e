"""Side by side: the same image through several models, with their stages matched.

Stage matching works on an inspection's layer table alone: the *stages* of a model are its
activation layers (ReLU and friends) and, where a model has none at a resolution, its blocks, in
execution order. A stage is matched either by relative depth (0 = first, 1 = last) or by output
stride (input side / map side: 2, 4, 8, 16, 32 are 112, 56, 28, 14, 7 px for a 224 px input; an
Inception v3 at 299 px has 35 px maps at stride ~8.5, which matches 8).
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field

import numpy as np

from .errors import ModelError, OptionError
from .inspect import ACTIVATION_TYPES, Inspection, LayerInfo
from .layers import weight_layers

STRIDES = (2, 4, 8, 16, 32)


def stages(layers: list[LayerInfo]) -> list[LayerInfo]:
    """The layers worth matching, input to output: activation layers with feature maps (blocks
    for networks whose activations are functions, like Inception v3), plus the last layer of any
    resolution they miss (the first at that size: VGG's last max-pool is its first 7x7 map). Pooled 1x1 vectors are no maps."""
    maps = [info for info in layers if info.has_feature_maps and info.output_shape[-1] > 1]
    chosen = [info for info in maps if info.type in ACTIVATION_TYPES]
    if not chosen:  # the outermost blocks (Inception's Mixed_5b...), not branches inside them
        blocks = [info for info in maps if info.has_children]
        top = min((info.depth for info in blocks), default=0)
        chosen = [info for info in blocks if info.depth == top] or maps
    covered = {info.output_shape[1:] for info in chosen}
    first_of_size: dict = {}
    for info in sorted(maps, key=lambda i: i.has_children):  # a layer before its container
        first_of_size.setdefault(info.output_shape[1:], info)
    extra = {id(info) for size, info in first_of_size.items() if size not in covered}
    keep = {id(info) for info in chosen} | extra
    return [info for info in maps if id(info) in keep]


def match_depth(layers: list[LayerInfo], depth: float) -> LayerInfo:
    """The stage at relative depth ``depth`` (0..1)."""
    if not 0.0 <= depth <= 1.0:  # also refuses NaN
        raise OptionError(f"The relative depth must be between 0 (input) and 1 (output), not {depth}.")
    found = stages(layers)
    if not found:
        raise ModelError("This model has no layer with feature maps.")
    index = round(min(1.0, max(0.0, depth)) * (len(found) - 1))
    return found[index]


def output_stride(info: LayerInfo, input_size: int) -> float:
    """How many input pixels one map pixel spans along a side."""
    return input_size / info.output_shape[-1]


def match_stride(layers: list[LayerInfo], input_size: int, stride: float) -> LayerInfo:
    """The last stage whose output stride is closest to ``stride`` (on a log scale)."""
    if not 1.0 <= stride <= 1024.0:  # also refuses NaN
        raise OptionError(f"The output stride must be between 1 and 1024 (8 means maps of "
                          f"1/8 of the input's side), not {stride}.")
    found = stages(layers)
    if not found:
        raise ModelError("This model has no layer with feature maps.")
    distance = [abs(math.log(output_stride(info, input_size) / stride)) for info in found]
    best = min(distance)
    return [info for info, d in zip(found, distance) if d <= best + 1e-9][-1]


@dataclass
class ModelFacts:
    """The facts row of one column."""

    name: str
    weights: str
    params: int
    layers: int  # weight layers (core.layers.weight_layers)
    input_size: int
    inspect_ms: float
    memory_mb: float  # the inspection's feature maps (and, on CUDA, the peak allocated)
    device: str
    notes: list[str] = field(default_factory=list)


def facts(inspection: Inspection, params: int, layer_count: int, input_size: int,
          peak_bytes: int | None = None) -> ModelFacts:
    """The facts row for one inspected model (memory: its maps, or the CUDA peak when given)."""
    # a block's output is its last layer's tensor: count each tensor once
    tensors = {t.data_ptr(): t.numel() * t.element_size() for t in inspection.activations.tensors().values()}
    maps = sum(tensors.values())
    memory = peak_bytes if peak_bytes is not None else maps
    return ModelFacts(inspection.model_name, inspection.weights_label, params, layer_count,
                      input_size, inspection.elapsed_ms, memory / 2**20, inspection.device,
                      list(inspection.notes))


@dataclass
class Column:
    """Everything one model's column shows."""

    facts: ModelFacts
    predictions: list[tuple[str, float]]
    layer: str
    layer_shape: tuple[int, ...]
    grid: np.ndarray  # uint8 RGB feature grid of the matched layer
    heat_label: str  # e.g. "Grad-CAM for 'tabby'"
    heat: np.ndarray  # uint8 RGB heatmap over the crop
    notes: list[str] = field(default_factory=list)


def explained_class(labels: tuple[str, ...], first: tuple[tuple[str, ...], str] | None,
                    target: str | None) -> str | None:
    """The class a column explains: ``target`` when one is asked for (make_column notes a model
    that lacks it); else the first column's top class for a model with the first model's label
    set (first = (its labels, its top class)); else None, the model's own top class. Decided
    column by column, so each can be painted as soon as it is ready."""
    if target:
        return target
    if first is not None and labels == first[0]:
        return first[1]
    return None


def comparison_figure(columns: list[Column], path, title: str = "") -> None:
    """One PNG: a column per model with its header, facts, top-5, heatmap and matched feature maps."""
    from matplotlib.figure import Figure

    n = len(columns)
    figure = Figure(figsize=(4.2 * n, 10.5), layout="constrained")
    if title:
        figure.suptitle(title, fontsize=12)
    grid = figure.add_gridspec(3, n, height_ratios=[0.9, 2.2, 2.2])
    for i, col in enumerate(columns):
        f = col.facts
        text = figure.add_subplot(grid[0, i])
        text.axis("off")
        lines = [f"{f.name}", f"{f.weights}",
                 f"{f.params / 1e6:.1f}M params, {f.layers} weight layers, {f.input_size} px",
                 f"inspect {f.inspect_ms:.0f} ms on {f.device}, maps {f.memory_mb:.0f} MB", ""]
        lines += [f"{p:6.1%}  {label}" for label, p in col.predictions]
        text.text(0, 1, "\n".join(lines), va="top", ha="left", fontsize=9, family="monospace")
        heat = figure.add_subplot(grid[1, i])
        heat.imshow(col.heat)
        heat.set_title(col.heat_label, fontsize=9)
        heat.axis("off")
        maps = figure.add_subplot(grid[2, i])
        maps.imshow(col.grid, interpolation="nearest")
        c, h, w = col.layer_shape
        maps.set_title(f"{col.layer}: {c} x {h} x {w}", fontsize=9)
        maps.axis("off")
    figure.savefig(path, dpi=110)


_SIZES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _sizes(module) -> tuple[int, int]:
    """(parameters, weight layers) of a model, counted once per model object."""
    if module not in _SIZES:
        _SIZES[module] = (sum(p.numel() for p in module.parameters()), weight_layers(module))
    return _SIZES[module]


def make_column(loaded, inspection: Inspection, method: str = "gradcam", explain: str | None = None,
                depth: float | None = None, stride: float | None = None,
                peak_bytes: int | None = None) -> Column:
    """One model's column from its inspection: the matched stage's maps, the heatmap for
    ``explain`` (a label; the model's top class when it does not know it), the facts."""
    from . import render
    from .attribution import METHODS, attribute

    notes = []
    if explain is not None and explain.lower() not in (label.lower() for label in loaded.labels):
        notes.append(f"{loaded.name} has no class '{explain}': its top class instead")
        explain = None
    layer = (match_stride(inspection.layers, loaded.spec.input_size, stride) if stride is not None
             else match_depth(inspection.layers, 0.5 if depth is None else depth))
    found = attribute(loaded, inspection, method, target=explain)
    f = facts(inspection, *_sizes(loaded.module), loaded.spec.input_size, peak_bytes)
    return Column(f, [(p.label, p.probability) for p in inspection.predictions], layer.name,
                  layer.output_shape, render.feature_grid(inspection.activation(layer.name)),
                  f"{METHODS[method].label} for '{found.target_label}' ({found.probability:.1%})",
                  render.heat_overlay(inspection.input_rgb, found.heatmap), notes + found.notes + f.notes)
