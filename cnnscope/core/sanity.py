"""The sanity check for saliency maps (Adebayo et al. 2018): cascading randomisation.

A heatmap is meant to explain the *model*. Adebayo et al. destroy what the model learned, layer
by layer from the head down, and recompute each map for the same image and class after every
step. A map that hardly changes while the weights become noise was explaining the image (its
edges) rather than the model; the paper's lesson is that Guided Backprop fails this check and
Grad-CAM passes it.

:func:`cascading_randomisation` works on a deep copy of the model (the user's stays as it was):
the first column is the trained copy, then one :class:`Block` more is re-initialised at each
step, cumulatively. Each map is compared with the trained one by the Spearman rank correlation
of the absolute maps, as in the paper (the sign of a gradient map is not what a viewer reads).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Collection, Sequence

import numpy as np
import torch
from torch import nn

from .attribution import (METHODS, AttributionCancelled, CancelCheck, ProgressCallback, attribute,
                          resolve_target)
from .errors import ModelError
from .inspect import Inspection, inspect
from .weights import LoadedModel

#: Randomisation steps at most (columns after the original): the head alone, then the rest of the
#: network in at most DEFAULT_STEPS - 1 groups of neighbouring blocks.
DEFAULT_STEPS = 8
MAX_STEPS = 24
#: A network with fewer top-level blocks than this below its head is looked into one level deeper
#: (MobileNet's single ``features`` Sequential becomes its 19 stages).
MIN_BODY_BLOCKS = 4
#: The fast gradient methods, in the order the grid shows them (those METHODS has).
PREFERRED_METHODS = ("gradcam", "guided_backprop", "saliency", "guided_gradcam", "input_x_gradient")


def default_methods() -> list[str]:
    """The fast gradient methods the check runs unless told otherwise (those METHODS offers)."""
    return [key for key in PREFERRED_METHODS if key in METHODS]


@dataclass(frozen=True)
class Block:
    """Modules re-initialised together at one step: ``label`` titles its column."""

    label: str
    modules: tuple[str, ...]  # names as in model.named_modules(); "" is the model itself


@dataclass
class SanityResult:
    """Every map of the cascade and how far each moved from the trained model's map."""

    model_name: str
    weights_label: str
    methods: list[str]  # keys of METHODS: one row each
    method_labels: list[str]
    blocks: list[Block]  # head first: column k + 1 has blocks[:k + 1] randomised
    photo: np.ndarray  # (S, S, 3) uint8: the crop the network saw
    maps: np.ndarray  # (methods, 1 + blocks, S, S) float32 in 0..1, as the heatmap tab shows them
    correlations: np.ndarray  # (methods, 1 + blocks): Spearman of |map| with the original |map|
    target: int
    target_label: str
    probability: float  # the trained model's probability for the target
    layer: str | None  # where the CAM-family methods were computed
    seed: int
    elapsed_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def column_titles(self) -> list[str]:
        """"original", then "+ <block>" for each step."""
        return ["original"] + [f"+ {b.label}" for b in self.blocks]


# ---------------------------------------------------------------------------------------------
# which blocks, in which order


def _has_parameters(module: nn.Module) -> bool:
    return next(module.parameters(), None) is not None


def _children(module: nn.Module, prefix: str, order: dict[str, int] | None) -> list[tuple[str, nn.Module]]:
    """The children of ``module`` that hold parameters (and ran, when ``order`` is known), in the
    order they ran, else in the order they were registered."""
    found = [(f"{prefix}.{n}" if prefix else n, child) for n, child in module.named_children()
             if _has_parameters(child)]
    if order is not None:
        found = sorted((item for item in found if item[0] in order), key=lambda item: order[item[0]])
    return found


def _expandable(module: nn.Module, name: str, order: dict[str, int] | None) -> bool:
    own = next(module.parameters(recurse=False), None) is not None
    return not own and len(_children(module, name, order)) >= 2


def _label(names: Sequence[str]) -> str:
    """"features.14-16" for numbered neighbours, "conv1+bn1" for two, "conv1..layer2" else (a
    shared parent written once: "features.conv0+norm0")."""
    if len(names) == 1:
        return names[0] or "the model's own parameters"
    parents = {n.rpartition(".")[0] for n in names}
    parent = parents.pop() if len(parents) == 1 else ""
    tails = [n.rpartition(".")[2] for n in names] if parent else [n or "own parameters" for n in names]
    prefix = f"{parent}." if parent else ""
    if all(t.isdigit() for t in tails):
        return f"{prefix}{tails[0]}-{tails[-1]}"
    return prefix + ("+".join(tails) if len(tails) == 2 else f"{tails[0]}..{tails[-1]}")


def randomisation_blocks(module: nn.Module, steps: int = DEFAULT_STEPS,
                         order: Sequence[str] | None = None) -> list[Block]:
    """The blocks to randomise, head first, at most ``steps`` of them.

    Blocks are the model's top-level children that hold parameters; a network with few of them
    below its head (one ``features`` Sequential) is looked into one level deeper. The last one to
    run is the head and stays alone as the first step (with ``steps`` = 1 everything goes at
    once); the rest are merged into neighbouring groups. ``order``: module names in the order
    they first ran (a forward pass tells); modules that never ran (an auxiliary head in eval
    mode) are then left out, since randomising them changes nothing. Without it, registration
    order stands for running order.
    """
    if steps < 1:
        raise ModelError(f"The sanity check needs at least 1 randomisation step, not {steps}.")
    ranks = {name: i for i, name in enumerate(order)} if order is not None else None
    items = _children(module, "", ranks)
    if len(items) == 1 and _expandable(items[0][1], items[0][0], ranks):
        items = _children(items[0][1], items[0][0], ranks)  # the whole model in one Sequential
    if not items:
        raise ModelError("This model has no parameters to randomise.")
    head, body = items[-1], items[:-1]
    while len(body) < MIN_BODY_BLOCKS:
        candidates = [i for i, (n, m) in enumerate(body) if _expandable(m, n, ranks)]
        if not candidates:
            break
        at = max(candidates, key=lambda i: sum(p.numel() for p in body[i][1].parameters()))
        body[at:at + 1] = _children(body[at][1], body[at][0], ranks)
    names = [name for name, _ in body]
    if next(module.parameters(recurse=False), None) is not None:
        names.insert(0, "")  # parameters of the model itself (a class token, say): input side
    if steps == 1:
        return [Block("all layers", tuple(names) + (head[0],))]
    groups = [list(g) for g in np.array_split(np.array(names, dtype=object), min(len(names), steps - 1))
              if len(g)] if names else []
    blocks = [Block(head[0], (head[0],))]
    blocks += [Block(_label(g), tuple(g)) for g in reversed(groups)]
    return blocks


def execution_order(module: nn.Module, x: torch.Tensor) -> list[str]:
    """Names of the submodules in the order they first run on ``x`` (one hooked forward pass;
    the hooks are removed afterwards)."""
    seen: dict[str, None] = {}

    def note(name: str):
        def hook(_module, _inputs) -> None:
            seen.setdefault(name, None)
        return hook

    handles = [m.register_forward_pre_hook(note(n)) for n, m in module.named_modules() if n]
    try:
        with torch.no_grad():
            module(x)
    finally:
        for handle in handles:
            handle.remove()
    return list(seen)


# ---------------------------------------------------------------------------------------------
# re-initialising


def randomise(module: nn.Module, names: Collection[str], generator_seed: int) -> None:
    """Re-initialise the parameters of the named submodules, in place, from ``generator_seed``.

    What is reset, and why: every submodule with ``reset_parameters()`` (convolutions, linear
    layers, normalisation layers) is put back to its untrained state by torch's own
    initialisation, so a randomised layer looks like one before training, not like noise of an
    arbitrary scale. BatchNorm's ``reset_parameters`` also resets its running mean and variance:
    otherwise the trained statistics would still carry what the network learned. A parameter that
    no ``reset_parameters`` covers (a user's own ``nn.Parameter``, a layer scale) is redrawn from
    a normal distribution with its own mean and spread: its scale is kept, its pattern is gone.
    Other buffers are left as they are. The global random state is restored afterwards.
    """
    modules = [module.get_submodule(n) if n else module for n in names]
    device = next(module.parameters()).device
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(generator_seed)
        for top in modules:
            # the model itself stands for its own parameters only: its reset_parameters, if it
            # has one, could reach every layer
            parts = [top] if top is module else list(top.modules())
            reset = {id(m) for m in parts
                     if m is not module and callable(getattr(m, "reset_parameters", None))}
            for m in parts:
                if id(m) in reset:
                    m.reset_parameters()
            with torch.no_grad():
                for m in parts:
                    if id(m) in reset:
                        continue
                    for p in m.parameters(recurse=False):
                        mean = float(p.float().mean())
                        spread = float(p.float().std()) if p.numel() > 1 else 0.0
                        p.copy_(torch.randn_like(p, dtype=torch.float32).mul_(spread).add_(mean).to(p.dtype))


def _copy(loaded: LoadedModel) -> LoadedModel:
    """A LoadedModel over a deep copy of the module, with nothing worked out yet (tracing is
    redone for the copy: a traced graph holds the modules it was traced from)."""
    try:
        module = copy.deepcopy(loaded.module)
    except Exception as exc:  # noqa: BLE001 - a user's module that refuses to be copied
        raise ModelError(f"{loaded.name} cannot be copied ({type(exc).__name__}), and the sanity "
                         "check randomises a copy so that your model stays as it is.") from None
    return dataclasses.replace(loaded, module=module.eval(), graph=None, graph_key=None,
                               capture_clones=set(loaded.capture_clones), layer_tables={},
                               notes=[])


# ---------------------------------------------------------------------------------------------
# the cascade


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of a flat array, ties given their average rank (as scipy's rankdata)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # where each run of ties begins
    ends = np.r_[starts[1:], values.size]
    ranks = np.empty(values.size)
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return ranks


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps' absolute values (ties get their average rank);
    NaN when either map is flat (an empty map has no ranking to compare)."""
    ra = _ranks(np.abs(np.asarray(a, np.float64)).ravel())
    rb = _ranks(np.abs(np.asarray(b, np.float64)).ravel())
    ra -= ra.mean()
    rb -= rb.mean()
    denominator = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denominator) if denominator > 0 else float("nan")


def _compared(found) -> np.ndarray:
    """The map the correlation reads: a pixel method's own values before the display's clipping,
    a CAM-family map at the photo's size (as shown)."""
    return found.raw if found.raw.shape == found.heatmap.shape else found.heatmap


def checked_methods(methods: Sequence[str] | None) -> list[str]:
    """``methods`` as a list (default: :func:`default_methods`), or ModelError naming the first
    unknown one."""
    chosen = list(methods) if methods else default_methods()
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise ModelError(f"Unknown attribution method '{unknown[0]}'. Choose from: {', '.join(METHODS)}.")
    if len(set(chosen)) != len(chosen):
        raise ModelError("Name each method once.")
    return chosen


def cascading_randomisation(loaded: LoadedModel, image_or_inspection: np.ndarray | Inspection,
                            methods: Sequence[str] | None = None, target: int | str | None = None,
                            steps: int = DEFAULT_STEPS, layer: str | None = None,
                            progress: ProgressCallback | None = None,
                            should_cancel: CancelCheck | None = None, seed: int = 0) -> SanityResult:
    """Randomise a copy of ``loaded`` from the head down and recompute each method's map after
    every step, for one image (uint8 RGB, or an inspection by this model) and one class
    (``target``: index, label or None for the top class of the trained model).

    ``progress(maps done, maps in all)``; ``should_cancel`` is asked before each map (and inside
    slow methods) and stops with AttributionCancelled. ``seed`` fixes the new weights.
    """
    methods = checked_methods(methods)
    if not 1 <= steps <= MAX_STEPS:
        raise ModelError(f"The sanity check takes 1 to {MAX_STEPS} randomisation steps, not {steps}.")
    start = time.perf_counter()

    def stop_if_asked() -> None:
        if should_cancel is not None and should_cancel():
            raise AttributionCancelled("Sanity check cancelled.")

    if isinstance(image_or_inspection, Inspection):
        if image_or_inspection.model_name != loaded.name:
            raise ModelError("This inspection does not belong to the loaded model; inspect the image again.")
        image, cropped = image_or_inspection.input_rgb, True
    else:
        image, cropped = image_or_inspection, False
    stop_if_asked()
    first = next(loaded.module.parameters(), None)
    if first is None:
        raise ModelError(f"{loaded.name} has no parameters: there is nothing to randomise.")
    device = first.device
    model = _copy(loaded)
    trained = inspect(model, image, device, cropped=cropped)
    index = resolve_target(model, trained, target)
    blocks = randomisation_blocks(model.module, steps, execution_order(model.module, trained.input_tensor))
    total = len(methods) * (len(blocks) + 1)
    maps = np.zeros((len(methods), len(blocks) + 1, *trained.input_rgb.shape[:2]), np.float32)
    compared: list[np.ndarray] = [None] * len(methods)  # type: ignore[list-item]
    correlations = np.full((len(methods), len(blocks) + 1), np.nan)
    notes: list[str] = []
    chosen_layer = None
    done = 0
    for column in range(len(blocks) + 1):
        if column:
            stop_if_asked()
            randomise(model.module, blocks[column - 1].modules, seed * 1000 + column)
        inspection = trained if column == 0 else inspect(model, image, device, cropped=cropped)
        for row, method in enumerate(methods):
            stop_if_asked()
            found = attribute(model, inspection, method, index, layer, should_cancel=should_cancel)
            chosen_layer = chosen_layer or found.layer
            maps[row, column] = found.heatmap
            values = _compared(found)
            if column == 0:
                compared[row] = values
                notes.extend(n for n in found.notes if n not in notes and "empty" not in n)
            correlations[row, column] = rank_correlation(compared[row], values)
            done += 1
            if progress is not None:
                progress(done, total)
    if np.isnan(correlations).any():
        notes.append("A correlation shown as 'n/a' compares with an empty map (no evidence for the "
                     "class at all): it has no ranking to compare.")
    return SanityResult(
        model_name=loaded.name, weights_label=loaded.weights_label, methods=methods,
        method_labels=[METHODS[m].label for m in methods], blocks=blocks, photo=trained.input_rgb,
        maps=maps, correlations=correlations, target=index, target_label=loaded.labels[index],
        probability=float(trained.probabilities[index]), layer=chosen_layer, seed=seed,
        elapsed_s=time.perf_counter() - start, notes=notes)
