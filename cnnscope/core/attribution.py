"""Where did the network look? Class activation maps and pixel attributions for one inspection.

:func:`attribute` turns an :class:`~cnnscope.core.inspect.Inspection` into a heatmap over the crop
the network saw, for any class and (for the CAM family) any layer with feature maps. Eighteen
methods, each with its learner's sentence and its paper (:data:`METHODS`):

- The gradient CAMs (Grad-CAM, Grad-CAM++, HiResCAM, XGrad-CAM, LayerCAM) reuse the inspection's
  forward pass: they need only the gradient of one logit with respect to one layer's output, so the
  layer's stored output is fed back into the part of the graph *after* it (core/tracing.py) and the
  gradient flows through that part alone. For ResNet-50's ``layer4`` that is a pooling and a matrix
  product, not a second forward and a full backward. Their formulas are in core/cam_maps.py.
  Captum's ``LayerGradCam`` computes the same Grad-CAM (a test checks they agree) but runs a fresh
  forward and backward, so it is the reference here, not the path the window uses.
- CAM reads the linear head's weights and Eigen-CAM the feature maps alone: no gradient at all.
- Score-CAM, Ablation-CAM and Smooth Grad-CAM++ send many variants through the network, in
  batches sized to the device (core/cam_passes.py); Ablation-CAM only through the tail.
- The pixel methods are captum's: guided backpropagation, Guided Grad-CAM, saliency, input x
  gradient, SmoothGrad (a noise tunnel over saliency), Integrated Gradients, DeepLift and
  occlusion (core/pixel_methods.py); the guided rule is extended from nn.ReLU (captum's) to every
  activation of GUIDED_ACTIVATIONS, and DeepLift's rescale rule to every elementwise activation.

Slow methods report progress in samples through the network and stop between batches when
``should_cancel`` says so (core/passes.py).
"""

from __future__ import annotations

import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import cam_maps, cam_passes
from .errors import ModelError
from .inspect import Inspection, traced_graph
from .models import ModelSpec
from .passes import (AttributionCancelled, CancelCheck, ProgressCallback, Runner,
                     gradients_for_inputs_only, logits_of, upsample)
from .pixel_methods import GUIDED_ACTIVATIONS, guided_backprop, pixel_attribution
from .weights import LoadedModel

__all__ = ["AttributionCancelled", "CancelCheck", "ProgressCallback", "GUIDED_ACTIVATIONS",
           "guided_backprop", "METHODS", "Attribution", "attribute", "resolve_target", "cam_refusal"]


@dataclass(frozen=True)
class Method:
    """One attribution method, as the window and the CLI offer it."""

    key: str
    label: str
    uses_layer: bool  # computed at a conv layer (the CAM family) rather than at the pixels
    slow: bool  # many passes through the network: shows progress, can be cancelled
    summary: str  # the learner's sentence
    paper: str = ""  # who proposed it, where
    class_specific: bool = True  # False: the same map for every class (Eigen-CAM)


METHODS: dict[str, Method] = {m.key: m for m in (
    Method("gradcam", "Grad-CAM", True, False,
           "Weights each channel of a layer by how much the class score rises with it (the mean "
           "gradient), then sums the channels: coarse, class-specific, works for any network.",
           "Selvaraju et al., ICCV 2017"),
    Method("gradcam++", "Grad-CAM++", True, False,
           "Grad-CAM with per-position weights, so several objects of the same class all light up.",
           "Chattopadhyay et al., WACV 2018"),
    Method("hirescam", "HiResCAM", True, False,
           "Multiplies each position's gradient by its activation without averaging first: the "
           "map shows exactly the positions that raised the score, where Grad-CAM can blur them.",
           "Draelos & Carin, arXiv 2011.08891 (2020)"),
    Method("xgradcam", "XGrad-CAM", True, False,
           "Grad-CAM with each channel's gradient weighted by where the channel is active, so the "
           "map better predicts how much the score would drop without each part.",
           "Fu et al., BMVC 2020"),
    Method("layercam", "LayerCAM", True, False,
           "Weights every position by its own positive gradient: keeps fine detail at early "
           "layers, where Grad-CAM's averaging washes the map out.",
           "Jiang et al., IEEE TIP 2021"),
    Method("eigencam", "Eigen-CAM", True, False,
           "The layer's strongest common pattern (the first principal component of its feature "
           "maps): no gradient and no class, so it shows what the layer sees, for every class alike.",
           "Muhammad & Yeasin, IJCNN 2020", class_specific=False),
    Method("cam", "CAM", True, False,
           "The original class activation map: the last feature maps weighted by the linear "
           "head's weights for the class. Only for global-average-pooling + linear heads.",
           "Zhou et al., CVPR 2016"),
    Method("scorecam", "Score-CAM", True, True,
           "Shows the photo through each channel's map as a mask and weights the channel by the "
           "class score it keeps: no gradients at all (one pass per channel, so slow).",
           "Wang et al., CVPR Workshops 2020"),
    Method("scorecam_fast", "Score-CAM (fast)", True, True,
           f"Score-CAM on the {cam_passes.FAST_SCORECAM_CHANNELS} channels with the strongest "
           "peaks (the rest could add little): nearly the same map in a fraction of the passes.",
           "Wang et al., CVPR Workshops 2020 (channel selection: cnnscope)"),
    Method("ablationcam", "Ablation-CAM", True, True,
           "Switches each channel off in turn and weights it by how much of the class score is "
           "lost: no gradients; only the part of the network after the layer runs again.",
           "Desai & Ramaswamy, WACV 2020"),
    Method("smoothgradcam++", "Smooth Grad-CAM++", True, True,
           "Grad-CAM++ with its gradients averaged over noisy copies of the photo: steadier maps "
           "that pick out more of each object.",
           "Omeiza et al., arXiv 1908.01224 (2019)"),
    Method("guided_backprop", "Guided Backprop", False, False,
           "The gradient of the class score with respect to the pixels, with negative gradients "
           "stopped at every activation (ReLU, ReLU6, SiLU, GELU...): sharp edges, but hardly "
           "class-specific.",
           "Springenberg et al., ICLR Workshops 2015"),
    Method("guided_gradcam", "Guided Grad-CAM", True, False,
           "Guided backpropagation multiplied by Grad-CAM: sharp and class-specific.",
           "Selvaraju et al., ICCV 2017"),
    Method("saliency", "Saliency", False, False,
           "The plain gradient of the class score with respect to each pixel: which pixels would "
           "change the score most. Noisy.",
           "Simonyan et al., ICLR Workshops 2014"),
    Method("input_x_gradient", "Input x Gradient", False, False,
           "Each pixel's gradient times the pixel itself: how much each pixel's value, not just "
           "its sensitivity, adds to the score.",
           "Shrikumar et al., arXiv 1605.01713 (2016)"),
    Method("smoothgrad", "SmoothGrad", False, True,
           "Saliency averaged over copies of the image with noise added: the noise cancels out.",
           "Smilkov et al., arXiv 1706.03825 (2017)"),
    Method("integrated_gradients", "Integrated Gradients", False, True,
           "Adds up gradients along a path from a black image to the photo; the attributions sum "
           "to the score difference between the two.",
           "Sundararajan et al., ICML 2017"),
    Method("deeplift", "DeepLIFT", False, False,
           "Compares every neuron with its value for a black image and shares the score difference "
           "out along the way: like Integrated Gradients, in one backward pass.",
           "Shrikumar et al., ICML 2017"),
    Method("occlusion", "Occlusion", False, True,
           "Covers the image patch by patch with grey and measures how much the class score drops.",
           "Zeiler & Fergus, ECCV 2014"),
)}
DEFAULT_METHOD = "gradcam"
GRADIENT_CAMS = {"gradcam": cam_maps.gradcam, "gradcam++": cam_maps.gradcam_pp,
                 "hirescam": cam_maps.hirescam, "xgradcam": cam_maps.xgradcam,
                 "layercam": cam_maps.layercam}
# methods whose (h, w) map at a layer is upsampled to the crop (the others are (S, S) already)
LAYER_MAPS = {*GRADIENT_CAMS, "cam", "eigencam", "scorecam", "scorecam_fast", "ablationcam",
              "smoothgradcam++"}


@dataclass
class Attribution:
    """A heatmap over the crop the network saw, and how it was made."""

    method: str
    target: int
    target_label: str
    probability: float
    layer: str | None  # None for pixel methods
    heatmap: np.ndarray  # (S, S) float32 in 0..1, over Inspection.input_rgb
    raw: np.ndarray  # the map before resizing and scaling: (h, w) at the layer, or (S, S)
    elapsed_ms: float
    notes: list[str] = field(default_factory=list)
    convergence_delta: float | None = None  # Integrated Gradients, DeepLIFT: completeness error


def method_keys() -> list[str]:
    """Method keys in the order they are offered."""
    return list(METHODS)


def resolve_target(loaded: LoadedModel, inspection: Inspection, target: int | str | None) -> int:
    """A class index from an index, a label (case-insensitive) or None (the top prediction)."""
    labels = loaded.labels
    if target is None:
        return inspection.predictions[0].index
    if isinstance(target, str) and not target.strip().isdigit():
        lowered = target.strip().lower()
        for index, label in enumerate(labels):
            if label.lower() == lowered:
                return index
        close = [label for label in labels if lowered in label.lower()][:6]
        hint = (f" Did you mean: {', '.join(close)}?" if close else
                f" Its classes are: {', '.join(labels)}." if len(labels) <= 20 else
                " Give a class index (0 to {}) or an exact label.".format(len(labels) - 1))
        raise ModelError(f"'{target}' is not a class of {loaded.name}.{hint}")
    index = int(target)
    if not 0 <= index < len(labels):
        raise ModelError(f"Class index {index} is out of range: {loaded.name} has {len(labels)} "
                         f"classes (0 to {len(labels) - 1}).")
    return index


def attribute(loaded: LoadedModel, inspection: Inspection, method: str = DEFAULT_METHOD,
              target: int | str | None = None, layer: str | None = None,
              progress: ProgressCallback | None = None,
              should_cancel: CancelCheck | None = None) -> Attribution:
    """Explain ``inspection``'s score for ``target`` (default: its top class) with ``method``.

    ``layer`` (default: the registry's CAM layer) applies to the CAM family; CAM itself is defined
    only at the layer the pooling reads, and says so in a note if another was asked for.
    """
    if method not in METHODS:
        raise ModelError(f"Unknown attribution method '{method}'. Choose one of: {', '.join(METHODS)}.")
    if inspection.input_tensor is None or inspection.model_name != loaded.name:
        raise ModelError("This inspection does not belong to the loaded model; inspect the image again.")
    info = METHODS[method]
    index = resolve_target(loaded, inspection, target)
    notes: list[str] = []
    chosen = None
    if info.uses_layer:
        chosen = layer or loaded.spec.cam_layer
        if chosen not in inspection.activations:
            raise ModelError(f"'{chosen}' has no feature maps in {loaded.name}; pick a convolutional "
                             "layer (the Layers panel lists them).")
    found: dict = {}  # what a method reports besides its map (a completeness delta)
    start = time.perf_counter()
    runner = Runner(loaded, inspection, progress, should_cancel)
    # Only methods that run the network again need its parameters out of autograd's way; the
    # CAM family at the recorded layer is a backward through the stored tail alone.
    reruns = not (method in ("cam", "eigencam") or (method in GRADIENT_CAMS and _recorded(loaded, inspection, chosen)))
    with gradients_for_inputs_only(loaded.module) if reruns else nullcontext(), warnings.catch_warnings():
        # captum says it hooks every ReLU (guided backprop, DeepLIFT) and unhooks them: expected here
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
        warnings.filterwarnings("ignore", message="Setting forward, backward hooks and attributes")
        if method == "cam":
            chosen, raw = _cam(loaded, inspection, index, chosen, notes)
        elif method in GRADIENT_CAMS:
            activation, gradient = layer_gradient(loaded, inspection, chosen, index)
            raw = GRADIENT_CAMS[method](activation.float(), gradient.float())
        elif method == "eigencam":
            raw = cam_maps.eigencam(inspection.activations.tensors()[chosen].detach())
            notes.append("Eigen-CAM does not depend on the class: every class gets this map.")
        elif method in ("scorecam", "scorecam_fast"):
            channels = cam_passes.FAST_SCORECAM_CHANNELS if method == "scorecam_fast" else None
            raw = cam_passes.scorecam(runner, chosen, index, channels)
        elif method == "ablationcam":
            raw = cam_passes.ablationcam(runner, chosen, index)
        elif method == "smoothgradcam++":
            raw = cam_passes.smooth_gradcam_pp(runner, chosen, index)
        else:
            raw, shown = pixel_attribution(runner, method, index, chosen, found)
            notes.extend(found.pop("notes", []))
    raw_np = raw.detach().float().cpu().numpy()
    if method in LAYER_MAPS:
        heatmap = upsample(raw.detach().float(), inspection.input_tensor.shape[-2:])
        heatmap = _scale_to_unit(heatmap.cpu().numpy())
    else:
        heatmap = _scale_to_unit(shown.detach().float().cpu().numpy(), clip_percentile=99.5)
    if "delta" in found:
        notes.append(f"Completeness: the attributions add up to the score difference from a black "
                     f"image within {abs(found['delta']):.3g}.")
    if not heatmap.any():
        notes.append(f"No positive evidence for '{loaded.labels[index]}' here: the map is empty.")
    return Attribution(method=method, target=index, target_label=loaded.labels[index],
                       probability=float(inspection.probabilities[index]), layer=chosen,
                       heatmap=heatmap, raw=raw_np, elapsed_ms=(time.perf_counter() - start) * 1000,
                       notes=notes, convergence_delta=found.get("delta"))


# ---------------------------------------------------------------------------------------------
# the CAM family


def _recorded(loaded: LoadedModel, inspection: Inspection, layer: str) -> bool:
    """Whether the inspection kept the autograd history after ``layer`` (the CAM layer)."""
    graph = traced_graph(loaded)
    logits = inspection.logits
    return (graph is not None and layer == graph.grad_layer and logits is not None
            and logits.requires_grad)


def layer_gradient(loaded: LoadedModel, inspection: Inspection, layer: str,
                   target: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(the layer's output, d logit[target] / d output), both (1, C, h, w), reusing the inspection.

    With a traced graph only the part after ``layer`` runs again; a model that cannot be traced
    runs one hooked forward instead.
    """
    graph = traced_graph(loaded)
    stored = inspection.activations.tensors()
    if _recorded(loaded, inspection, layer):
        # the inspection recorded the tail after this layer: one backward, no forward at all
        (gradient,) = torch.autograd.grad(inspection.logits[0, target], stored[layer], retain_graph=True)
        return stored[layer].detach(), gradient
    if graph is not None:
        activation = stored[layer].detach().requires_grad_(True)
        with torch.enable_grad():
            logits = graph.logits_from(layer, activation, stored, inspection.input_tensor)
            (gradient,) = torch.autograd.grad(logits[0, target], activation)
        return activation.detach(), gradient
    module = loaded.module.get_submodule(layer)
    kept: dict[str, torch.Tensor] = {}

    def keep(_m, _i, output):
        kept["out"] = output
    handle = module.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            inputs = inspection.input_tensor.detach().requires_grad_(True)  # makes the graph reach the layer
            logits = logits_of(loaded.module(inputs))
            (gradient,) = torch.autograd.grad(logits[0, target], kept["out"])
    finally:
        handle.remove()
    return kept["out"].detach(), gradient


def cam_refusal(spec: ModelSpec) -> str | None:
    """None when CAM applies to this architecture, else the reason it does not (for a learner)."""
    if spec.cam_head is None:
        return (f"CAM needs the last feature maps to go through global average pooling straight "
                f"into one linear layer (Zhou et al. 2016), but in {spec.name} {spec.head_note} "
                "Grad-CAM works with any head: use it instead.")
    return None


def _cam(loaded: LoadedModel, inspection: Inspection, target: int, layer: str,
         notes: list[str]) -> tuple[str, torch.Tensor]:
    reason = cam_refusal(loaded.spec)
    if reason:
        raise ModelError(reason)
    cam_layer = loaded.spec.cam_layer
    if layer != cam_layer:
        notes.append(f"CAM is defined only at the layer the pooling reads: {cam_layer}.")
    head = loaded.module.get_submodule(loaded.spec.cam_head)
    activation = inspection.activations.tensors()[cam_layer][0].detach().float()  # (C, h, w)
    weight = head.weight.detach().float().reshape(head.weight.shape[0], -1)
    if weight.shape[1] != activation.shape[0]:
        raise ModelError(f"CAM cannot pair {cam_layer} ({activation.shape[0]} channels) with the "
                         f"head {loaded.spec.cam_head} ({weight.shape[1]} inputs).")
    class_map = torch.einsum("c,chw->hw", weight[target], activation)
    bias = float(head.bias[target].detach()) if head.bias is not None else 0.0
    if isinstance(head, nn.Conv2d):
        # A 1x1 convolution head (SqueezeNet) makes the class maps itself, bias included; a
        # ReLU may follow before the pooling.
        class_map = class_map + bias
        candidates = (class_map, F.relu(class_map))
    else:  # Zhou et al.'s M_c = sum_k w_k^c f_k(x, y): the bias is one number, added after pooling
        candidates = (class_map + bias,)
    # Averaged over positions, the map must give back the logit: this catches any head the
    # formula above does not describe.
    logit = float(inspection.logits[0, target].detach())
    if any(abs(float(c.mean()) - logit) <= 1e-3 * max(1.0, abs(logit)) for c in candidates):
        return cam_layer, F.relu(class_map)
    raise ModelError(f"CAM does not describe {loaded.name}'s head: averaging its class map does not "
                     "give the class score. Use Grad-CAM.")


# ---------------------------------------------------------------------------------------------
# plumbing


def _scale_to_unit(values: np.ndarray, clip_percentile: float | None = None) -> np.ndarray:
    """Non-negative map -> 0..1 by its maximum (or a high percentile, so a few extreme pixels
    of a gradient map do not leave the rest black). An all-zero map stays zero."""
    values = np.maximum(values.astype(np.float32), 0)
    top = float(np.percentile(values, clip_percentile)) if clip_percentile else float(values.max())
    if top <= 0:
        top = float(values.max())
    if top <= 0:
        return np.zeros_like(values)
    return np.clip(values / top, 0, 1)
