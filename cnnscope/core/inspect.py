"""One forward pass -> everything the views show about one image.

:func:`inspect` runs the model once and returns an :class:`Inspection`: top-k predictions, the
output of every layer that produces feature maps, and a layer table. The pass runs a graph traced
once per model that returns every module's output (core/tracing.py); a model that cannot be traced
uses forward hooks instead, registered only for the call (a context manager). Either way nothing
stays registered on the model afterwards.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Mapping

import numpy as np
import torch
from torch import nn

from .devices import (concrete, describe, is_out_of_memory, keep_freed_host_memory,
                      release_cached_memory)
from .errors import ModelError
from .preprocess import Framing, check_framing
from .tracing import trace_every_output
from .weights import LoadedModel

ACTIVATION_TYPES = ("ReLU", "ReLU6", "LeakyReLU", "Hardswish", "SiLU", "GELU", "ELU", "Mish")


@dataclass(frozen=True)
class Prediction:
    """One class the model predicts, with its softmax probability."""

    index: int
    label: str
    probability: float


@dataclass(frozen=True)
class LayerInfo:
    """A row of the layer table: a module that ran during the forward pass."""

    name: str  # as in model.named_modules()
    type: str
    output_shape: tuple[int, ...]  # without the batch dimension
    params: int  # including the module's children
    depth: int  # nesting level (0 for children of the model itself)
    has_children: bool

    @property
    def has_feature_maps(self) -> bool:
        """True when the output is (C, H, W): it can be shown as a grid of channels."""
        return len(self.output_shape) == 3


class FeatureMaps(Mapping[str, np.ndarray]):
    """Every layer's (C, H, W) float32 output, read like a dict of numpy arrays.

    Nothing is converted until a view reads a layer: maps computed on an accelerator stay there and
    are copied to the CPU one layer at a time (copying all of ResNet-50's ~200 MB took 20x its
    forward pass on an H100, and a view shows one layer at a time); on the CPU reading is free.
    """

    def __init__(self, batched: dict[str, torch.Tensor]) -> None:
        self._batched = batched  # layer -> (1, C, H, W) tensor, wherever it was computed
        self._read: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        array = self._read.get(name)
        if array is None:
            array = self._read[name] = self._batched[name][0].detach().float().cpu().numpy()
        return array

    def batched(self, name: str) -> torch.Tensor:
        """``name``'s (1, C, H, W) tensor as computed, on its device (no copy)."""
        return self._batched[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._batched)

    def __len__(self) -> int:
        return len(self._batched)

    def __contains__(self, name: object) -> bool:
        return name in self._batched

    def shape(self, name: str) -> tuple[int, ...]:
        """(C, H, W) of a layer's maps, without reading them."""
        return tuple(self._batched[name].shape[1:])

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every layer's (1, C, H, W) tensor, on the device that computed it (no copies)."""
        return dict(self._batched)


@dataclass
class Inspection:
    """What one forward pass of one image through one model revealed."""

    model_name: str
    weights_label: str
    trained: bool
    device: str
    input_rgb: np.ndarray  # (S, S, 3) uint8: the input the network saw (a crop, or the padded photo)
    predictions: list[Prediction]
    probabilities: np.ndarray  # (num_classes,)
    activations: FeatureMaps  # layer name -> (C, H, W) float32
    layers: list[LayerInfo]
    elapsed_ms: float
    notes: list[str] = field(default_factory=list)
    framing: Framing | None = None  # where input_rgb sits in the photo
    # What attribution methods reuse instead of running the model again: the preprocessed input
    # (1, 3, S, S) and the logits (1, classes), on the device the pass ran on.
    input_tensor: torch.Tensor | None = field(default=None, repr=False)
    logits: torch.Tensor | None = field(default=None, repr=False)

    def activation(self, layer: str) -> np.ndarray:
        """The (C, H, W) output of ``layer``, or ModelError naming some valid layers."""
        try:
            return self.activations[layer]
        except KeyError:
            names = list(self.activations)
            raise ModelError(f"'{layer}' is not a layer of {self.model_name} with feature maps. "
                             f"Valid names include: {', '.join(names[:8])}... "
                             f"({len(names)} in all; 'cnnscope render --list-layers' shows them).") from None


class _Capture:
    """Forward-hook target that keeps each module's latest output."""

    def __init__(self, clone: set[str]) -> None:
        self.clone = clone
        self.outputs: dict[str, torch.Tensor] = {}
        self.versions: dict[str, int] = {}

    def hook(self, name: str):
        def record(_module: nn.Module, _inputs, output) -> None:
            if not isinstance(output, torch.Tensor):
                return
            out = output.detach()
            if name in self.clone:
                out = out.clone()
            self.outputs[name] = out  # a module called twice (a shared ReLU) keeps its last call
            self.versions[name] = out._version
        return record

    def overwritten(self) -> set[str]:
        """Captured outputs that a later in-place op changed (``x += y``, ``relu_(x)``).

        The version counter is bumped by every in-place write; it is how autograd notices them too.
        """
        return {n for n, t in self.outputs.items() if t._version != self.versions[n]}


@contextmanager
def capture_inputs(module: nn.Module, names: set[str]) -> Iterator[dict[str, torch.Tensor]]:
    """For the ``with`` block, keep the first positional input of each named submodule (its last
    call); every hook is removed afterwards."""
    found: dict[str, torch.Tensor] = {}

    def keeper(name: str):
        def keep(_module: nn.Module, inputs) -> None:
            if inputs and isinstance(inputs[0], torch.Tensor):
                found[name] = inputs[0].detach().clone()
        return keep

    handles = [m.register_forward_pre_hook(keeper(name))
               for name, m in module.named_modules() if name in names]
    try:
        yield found
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def capture_outputs(module: nn.Module, clone: set[str] | None = None) -> Iterator[_Capture]:
    """Hook every submodule for the duration of the ``with`` block, then remove every hook."""
    capture = _Capture(clone or set())
    handles = [m.register_forward_hook(capture.hook(name))
               for name, m in module.named_modules() if name]
    try:
        yield capture
    finally:
        for handle in handles:
            handle.remove()


def _forward(loaded: LoadedModel, image: np.ndarray, device: torch.device, framing: str | None = "crop"):
    """(input batch, logits, every module's output, the uint8 input picture) for one image on
    ``device``, framed as ``framing`` says (None: ``image`` already is the input)."""
    module = loaded.module
    if next(module.parameters()).device != device:  # .to() walks every module even when a no-op
        module.to(device)
    if framing is None:
        crop = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).to(device)
        x = loaded.spec.preprocessing.normalise(crop).unsqueeze(0)
    else:
        x, crop, _framing = loaded.spec.preprocessing.framed(image, device, framing)
    graph = traced_graph(loaded)
    if graph is not None:
        with torch.no_grad():
            logits, outputs = graph(x)
        outputs = {n: t for n, t in outputs.items() if isinstance(t, torch.Tensor)}
        if not _overwritten(graph, outputs, x):
            return x, _first(logits), outputs, crop
        loaded.graph = None  # an in-place op escaped the rewrite: hooks from now on
    logits, outputs = _forward_with_hooks(module, x, loaded.capture_clones)
    return x, _first(logits), outputs, crop


def _first(logits):
    """The class scores of a model that returns more than them, (logits, aux) say: the first."""
    while isinstance(logits, (tuple, list)) and logits:
        logits = logits[0]
    return logits


def _overwritten(graph, outputs: dict[str, torch.Tensor], x: torch.Tensor) -> bool:
    """Whether a later op of the pass wrote over an output it returned (its version counter moved
    on after it was made)."""
    born = graph.versions_at_birth or {}
    bumped = [n for n, t in outputs.items() if t._version > born.get(n, 0)]
    if bumped and graph.versions_at_birth is None:  # perhaps born so: learn it, once per model
        born = graph.learn_versions_at_birth(x)
        bumped = [n for n in bumped if outputs[n]._version > born.get(n, 0)]
    return bool(bumped)


def traced_graph(loaded: LoadedModel):
    """The model traced into a hook-free graph, or None when it cannot be. Traced again if a
    submodule was replaced since (a new head, say): the graph holds the modules it was traced with."""
    key = tuple(map(id, loaded.module.modules()))
    if loaded.graph_key != key:
        loaded.graph, loaded.graph_key = trace_every_output(loaded.module), key
        if loaded.graph is not None:
            loaded.graph.record_gradients_after(loaded.spec.cam_layer)
    return loaded.graph


def prepare(loaded: LoadedModel) -> None:
    """Do a model's one-off work now (tracing it: pure Python, ~0.05-0.3 s) rather than inside its
    first inspection, e.g. on a worker thread before the model is announced as ready."""
    traced_graph(loaded)


def _forward_with_hooks(module: nn.Module, x: torch.Tensor, clone: set[str]):
    """The fallback for models that do not trace: one hooked forward (rarely two, see below)."""
    for _attempt in range(2):
        with torch.no_grad(), capture_outputs(module, clone) as capture:
            logits = module(x)
        overwritten = capture.overwritten() - clone
        if not overwritten:
            break
        clone |= overwritten  # learned once per model: the next inspections clone just these
    if isinstance(logits, tuple):  # Inception-style (logits, aux) outputs
        logits = logits[0]
    return logits, capture.outputs


def _layer_table(loaded: LoadedModel, outputs: dict[str, torch.Tensor]) -> list[LayerInfo]:
    key = (loaded.graph_key, tuple(outputs))
    table = loaded.layer_tables.get(key)
    if table is None:
        table = [LayerInfo(name, type(m).__name__, tuple(outputs[name].shape[1:]),
                           sum(p.numel() for p in m.parameters()), name.count("."),
                           next(m.children(), None) is not None)
                 for name, m in loaded.module.named_modules() if name in outputs]
        loaded.layer_tables = {key: table}  # one entry: a changed model makes the old one stale
    return table


def inspect(loaded: LoadedModel, image: np.ndarray, device: torch.device | None = None,
            top_k: int = 5, cropped: bool = False, framing: str = "crop") -> Inspection:
    """Run ``image`` (uint8 RGB) through ``loaded`` once; on CUDA out-of-memory, retry on the CPU.

    ``framing``: "crop" (the model's centre crop) or "whole" (the whole photo, shrunk to fit and
    padded to the input's square); ``Inspection.framing`` says where the input sits in the photo.
    ``cropped``: ``image`` already is the model's input (as an adversarial photo is), taken pixel
    for pixel instead of being resized and cropped again (its framing: all of it).
    """
    prep = loaded.spec.preprocessing
    size = prep.crop_size
    check_framing(framing)
    if cropped and image.shape[:2] != (size, size):
        raise ModelError(f"{loaded.name} takes {size}x{size} crops; this image is "
                         f"{image.shape[1]}x{image.shape[0]}.")
    height, width = image.shape[:2]
    how = None if cropped else framing
    placed = (Framing(framing, (width, height), (0.0, 0.0, float(width), float(height)),
                      (0, 0, size, size)) if cropped else prep.place(width, height, framing))
    keep_freed_host_memory()
    device = concrete(device or next(loaded.module.parameters()).device)
    notes = []
    start = time.perf_counter()
    try:
        x, logits, outputs, crop = _forward(loaded, image, device, how)
    except Exception as exc:
        if not is_out_of_memory(exc) or device.type == "cpu":
            raise
        release_cached_memory(device)
        notes.append(f"{describe(device)} ran out of memory; this model now runs on the CPU.")
        device = torch.device("cpu")
        x, logits, outputs, crop = _forward(loaded, image, device, how)
    probs = torch.softmax(logits.detach().float(), dim=1)[0]
    if not bool(torch.isfinite(probs).all()):
        raise ModelError(f"{loaded.name} ({loaded.weights_label}) gives scores that are not numbers "
                         "(NaN or infinity) for this image: its weights are broken, or too large "
                         "for the arithmetic. No prediction is shown.")
    maps = FeatureMaps({n: t for n, t in outputs.items() if t.dim() == 4})
    probs, crop = probs.cpu(), crop.permute(1, 2, 0).cpu().numpy()
    elapsed = (time.perf_counter() - start) * 1000
    top = torch.topk(probs, min(top_k, probs.numel()))
    predictions = [Prediction(int(i), loaded.labels[int(i)], float(p))
                   for p, i in zip(top.values, top.indices)]
    if not loaded.trained:
        notes.append("Untrained (random) weights: these predictions mean nothing.")
    return Inspection(
        model_name=loaded.name, weights_label=loaded.weights_label, trained=loaded.trained,
        device=describe(device), input_rgb=crop, predictions=predictions,
        probabilities=probs.numpy(), activations=maps,
        layers=list(_layer_table(loaded, outputs)), elapsed_ms=elapsed, notes=notes,
        framing=placed, input_tensor=x, logits=logits)


def default_feature_layer(inspection: Inspection, input_size: int) -> str:
    """A layer worth showing first: the last activation still at >= 1/8 of the input resolution
    (mid-level features: edges have become parts, but the maps are still big enough to read)."""
    min_side = max(1, input_size // 8)
    maps = [info for info in inspection.layers if info.has_feature_maps]
    big = [info for info in maps if info.output_shape[1] >= min_side]
    for pool in ([i for i in big if i.type in ACTIVATION_TYPES], [i for i in big if i.has_children],
                 big, maps):
        if pool:
            return pool[-1].name
    raise ModelError(f"{inspection.model_name} has no layer with feature maps.")
