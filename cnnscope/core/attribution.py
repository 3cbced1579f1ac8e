"""Where did the network look? Class activation maps and pixel attributions for one inspection.

:func:`attribute` turns an :class:`~cnnscope.core.inspect.Inspection` into a heatmap over the crop
the network saw, for any class and (for the CAM family) any layer with feature maps.

- The CAM family reuses the inspection's forward pass. Grad-CAM and Grad-CAM++ need only the
  gradient of one logit with respect to one layer's output: the layer's stored output is fed back
  into the part of the graph *after* it (core/tracing.py), and the gradient flows through that part
  alone. For ResNet-50's ``layer4`` that is a pooling and a matrix product, not a second forward
  and a full backward. CAM reads the linear head's weights and needs no gradient at all.
  Captum's ``LayerGradCam`` computes the same Grad-CAM (a test checks they agree) but runs a fresh
  forward and backward, so it is the reference here, not the path the window uses.
- Score-CAM is written here in the same shape (captum has none).
- The pixel methods are captum's: guided backpropagation, Guided Grad-CAM, saliency, SmoothGrad
  (a noise tunnel over saliency), Integrated Gradients and occlusion; the guided rule is extended
  from nn.ReLU (captum's) to every activation of GUIDED_ACTIVATIONS.

Slow methods (Score-CAM, SmoothGrad, Integrated Gradients, occlusion) report progress in samples
through the network and stop between batches when ``should_cancel`` says so.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import CnnscopeError, ModelError
from .inspect import ACTIVATION_TYPES, Inspection, traced_graph
from .models import ModelSpec
from .weights import LoadedModel

#: progress(samples done, samples in all)
ProgressCallback = Callable[[int, int], None]
CancelCheck = Callable[[], bool]


class AttributionCancelled(CnnscopeError):
    """The user (or a newer request) stopped an attribution before it finished."""


@dataclass(frozen=True)
class Method:
    """One attribution method, as the window and the CLI offer it."""

    key: str
    label: str
    uses_layer: bool  # computed at a conv layer (the CAM family) rather than at the pixels
    slow: bool  # many passes through the network: shows progress, can be cancelled
    summary: str


METHODS: dict[str, Method] = {m.key: m for m in (
    Method("gradcam", "Grad-CAM", True, False,
           "Weights each channel of a layer by how much the class score rises with it (the mean "
           "gradient), then sums the channels: coarse, class-specific, works for any network."),
    Method("gradcam++", "Grad-CAM++", True, False,
           "Grad-CAM with per-position weights, so several objects of the same class all light up."),
    Method("cam", "CAM", True, False,
           "The original class activation map: the last feature maps weighted by the linear "
           "head's weights for the class. Only for global-average-pooling + linear heads."),
    Method("scorecam", "Score-CAM", True, True,
           "Shows the photo through each channel's map as a mask and weights the channel by the "
           "class score it keeps: no gradients at all (one pass per channel, so slow)."),
    Method("guided_backprop", "Guided Backprop", False, False,
           "The gradient of the class score with respect to the pixels, with negative gradients "
           "stopped at every activation (ReLU, ReLU6, SiLU, GELU...): sharp edges, but hardly "
           "class-specific."),
    Method("guided_gradcam", "Guided Grad-CAM", True, False,
           "Guided backpropagation multiplied by Grad-CAM: sharp and class-specific."),
    Method("saliency", "Saliency", False, False,
           "The plain gradient of the class score with respect to each pixel: which pixels would "
           "change the score most. Noisy."),
    Method("smoothgrad", "SmoothGrad", False, True,
           "Saliency averaged over copies of the image with noise added: the noise cancels out."),
    Method("integrated_gradients", "Integrated Gradients", False, True,
           "Adds up gradients along a path from a black image to the photo; the attributions sum "
           "to the score difference between the two."),
    Method("occlusion", "Occlusion", False, True,
           "Covers the image patch by patch with grey and measures how much the class score drops."),
)}
DEFAULT_METHOD = "gradcam"
SCORECAM_BATCH = 32
SMOOTHGRAD_SAMPLES = 24
IG_STEPS = 50
PASS_BATCH = 8  # images per pass for the captum methods that take a batch size


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
    convergence_delta: float | None = None  # Integrated Gradients: completeness error (captum's)


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
    found: dict = {}  # what a method reports besides its map (Integrated Gradients' delta)
    start = time.perf_counter()
    runner = _Runner(loaded, inspection, progress, should_cancel)
    # Only methods that run the network again need its parameters out of autograd's way; the
    # CAM family at the recorded layer is a backward through the stored tail alone.
    reruns = not (method == "cam" or (method in ("gradcam", "gradcam++") and _recorded(loaded, inspection, chosen)))
    with _gradients_for_inputs_only(loaded.module) if reruns else nullcontext(), warnings.catch_warnings():
        # captum says it hooks every ReLU for guided backprop (and unhooks them): expected here
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
        if method == "cam":
            chosen, raw = _cam(loaded, inspection, index, chosen, notes)
        elif method in ("gradcam", "gradcam++"):
            activation, gradient = layer_gradient(loaded, inspection, chosen, index)
            raw = _gradcam(activation, gradient) if method == "gradcam" else _gradcam_pp(activation, gradient)
        elif method == "scorecam":
            raw = _scorecam(runner, inspection, chosen, index)
        else:
            raw, shown = _pixel_method(runner, method, index, chosen, found)
            if method in ("guided_backprop", "guided_gradcam"):
                notes.extend(filter(None, [_guided_relu_note(loaded.module)]))
    raw_np = raw.detach().float().cpu().numpy()
    if method in ("gradcam", "gradcam++", "cam", "scorecam"):
        heatmap = _upsample(raw.detach().float(), inspection.input_tensor.shape[-2:])
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
            logits = _logits(loaded.module(inputs))
            (gradient,) = torch.autograd.grad(logits[0, target], kept["out"])
    finally:
        handle.remove()
    return kept["out"].detach(), gradient


def _gradcam(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    return F.relu((weights * activation).sum(dim=1))[0]


def _gradcam_pp(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    # Chattopadhyay et al. 2018, eq. 19, with the exponential-score simplification every
    # implementation uses: second and third derivatives become powers of the first.
    g2, g3 = gradient.pow(2), gradient.pow(3)
    total = activation.sum(dim=(2, 3), keepdim=True)
    denominator = 2 * g2 + total * g3
    alpha = torch.where(gradient != 0, g2 / torch.where(denominator != 0, denominator,
                                                        torch.ones_like(denominator)), 0.0)
    weights = (alpha * F.relu(gradient)).sum(dim=(2, 3), keepdim=True)
    return F.relu((weights * activation).sum(dim=1))[0]


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


def _scorecam(runner: _Runner, inspection: Inspection, layer: str, target: int) -> torch.Tensor:
    activation = inspection.activations.tensors()[layer][0].detach().float()  # (C, h, w)
    x = inspection.input_tensor
    masks = _upsample(activation, x.shape[-2:])  # (C, S, S)
    lo = masks.amin(dim=(1, 2), keepdim=True)
    span = masks.amax(dim=(1, 2), keepdim=True) - lo
    live = (span.flatten() > 0).nonzero().flatten()  # a flat map masks nothing: weight 0
    masks = (masks[live] - lo[live]) / span[live]
    weights = torch.zeros(activation.shape[0], device=activation.device)
    runner.expect(len(live))
    with torch.no_grad():
        for begin in range(0, len(live), SCORECAM_BATCH):
            batch = masks[begin:begin + SCORECAM_BATCH, None] * x.to(masks.dtype)
            scores = torch.softmax(runner.forward(batch.to(x.dtype)).float(), dim=1)[:, target]
            weights[live[begin:begin + SCORECAM_BATCH]] = scores
    return F.relu(torch.einsum("c,chw->hw", weights, activation))


# ---------------------------------------------------------------------------------------------
# pixel methods (captum)


def _pixel_method(runner: _Runner, method: str, target: int, layer: str | None,
                  found: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(raw (S, S) attribution, the non-negative map to show) from one of captum's methods."""
    from captum.attr import (
        GuidedBackprop,
        GuidedGradCam,
        IntegratedGradients,
        NoiseTunnel,
        Occlusion,
        Saliency,
    )

    x = runner.inspection.input_tensor.detach().float().requires_grad_(method != "occlusion")
    model = runner.counted
    if method == "integrated_gradients":
        runner.expect(IG_STEPS)
        attributions, delta = IntegratedGradients(model).attribute(
            x, baselines=runner.black_image(x), target=target, n_steps=IG_STEPS,
            internal_batch_size=PASS_BATCH, return_convergence_delta=True)
        found["delta"] = float(delta)
        raw = attributions[0].sum(dim=0)  # signed: the attributions add up to the score change
        return raw, raw.abs()
    if method == "occlusion":
        side = x.shape[-1]
        window, stride = max(8, side // 8), max(4, side // 16)
        steps = (side - window) // stride + 1
        runner.expect(steps * steps + 1)
        channels = x.shape[1]  # every channel covered at once: 3 for colour, 1 for grey
        attributions = Occlusion(model).attribute(
            x, sliding_window_shapes=(channels, window, window), strides=(channels, stride, stride),
            baselines=0.0, target=target, perturbations_per_eval=PASS_BATCH)
        raw = attributions[0].sum(dim=0)
        return raw, F.relu(raw)  # where covering the image lowered the score
    if method == "guided_backprop":
        runner.expect(1)
        attributions = guided_backprop(GuidedBackprop)(model).attribute(x, target=target)
    elif method == "guided_gradcam":
        runner.expect(1)
        layer_module = model.get_submodule(f"model.{layer}")
        combined = GuidedGradCam(model, layer_module)
        combined.guided_backprop = guided_backprop(GuidedBackprop)(model)
        attributions = combined.attribute(x, target=target, interpolate_mode="bilinear")
    elif method == "saliency":
        runner.expect(1)
        attributions = Saliency(model).attribute(x, target=target)
    elif method == "smoothgrad":
        runner.expect(SMOOTHGRAD_SAMPLES)
        spread = float(x.detach().max() - x.detach().min())
        attributions = NoiseTunnel(Saliency(model)).attribute(
            x, nt_type="smoothgrad", nt_samples=SMOOTHGRAD_SAMPLES, nt_samples_batch_size=PASS_BATCH,
            stdevs=0.15 * spread, target=target)
    else:  # pragma: no cover - METHODS and this dispatch are kept in step by a test
        raise ModelError(f"No implementation for '{method}'.")
    raw = attributions[0].abs().amax(dim=0)  # the strongest colour channel at each pixel
    return raw, raw


# Activations the guided rule is applied to. captum's changes nn.ReLU only, so on MobileNet (ReLU6)
# or EfficientNet (SiLU) its "guided" map was exactly the plain gradient.
GUIDED_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SiLU, nn.GELU, nn.Hardswish, nn.Mish)


def guided_backprop(base: type) -> type:
    """captum's GuidedBackprop (``base``), with the guided rule on every activation of
    GUIDED_ACTIVATIONS: only positive gradients pass back through it, where the activation's own
    slope is positive too (for ReLU that is captum's rule exactly: relu of its input gradient)."""

    class EveryActivation(base):
        def _register_hooks(self, module: nn.Module) -> None:
            from captum._utils.common import _register_backward_hook

            if isinstance(module, nn.ReLU):
                super()._register_hooks(module)
            elif isinstance(module, GUIDED_ACTIVATIONS):
                self.backward_hooks.extend(_register_backward_hook(module, _guided_rule, self))

    return EveryActivation


def _guided_rule(_module: nn.Module, grad_input, grad_output):
    """relu(f'(x)) * relu(gradient from above): the input gradient f'(x) * g kept where g > 0 and
    f'(x) > 0 (SiLU and GELU dip below zero: their negative slopes do not pass either)."""
    g_in = grad_input[0] if isinstance(grad_input, tuple) else grad_input
    g_out = grad_output[0] if isinstance(grad_output, tuple) else grad_output
    guided = torch.where(g_out > 0, g_in, torch.zeros_like(g_in)).clamp(min=0)
    return (guided,) if isinstance(grad_input, tuple) else guided


def _guided_relu_note(module: nn.Module) -> str | None:
    """Activations the guided rule does not know (it passes their gradient as it is)."""
    others = {type(m).__name__ for m in module.modules()
              if type(m).__name__ in ACTIVATION_TYPES and not isinstance(m, GUIDED_ACTIVATIONS)}
    if not others:
        return None
    return (f"This network's activations include {', '.join(sorted(others))}, which guided "
            "backpropagation does not know: gradients pass through them unguided.")


# ---------------------------------------------------------------------------------------------
# plumbing


class _Counted(nn.Module):
    """The model as captum sees it: logits only, counting samples and checking for cancel."""

    def __init__(self, model: nn.Module, runner: _Runner) -> None:
        super().__init__()
        self.model = model
        self._runner = runner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch, after reporting progress and honouring cancel."""
        self._runner.tick(x.shape[0])
        return _logits(self.model(x))


class _Runner:
    """Progress and cancel for the methods that send many images through the network."""

    def __init__(self, loaded: LoadedModel, inspection: Inspection,
                 progress: ProgressCallback | None, should_cancel: CancelCheck | None) -> None:
        self.loaded, self.inspection = loaded, inspection
        self.counted = _Counted(loaded.module, self)
        self._progress, self._should_cancel = progress, should_cancel
        self.done, self.total = 0, 1

    def expect(self, total: int) -> None:
        """Announce how many samples the method will run."""
        self.done, self.total = 0, max(1, total)

    def tick(self, samples: int) -> None:
        """Called before each pass: stop if cancelled, else report the samples so far."""
        if self._should_cancel is not None and self._should_cancel():
            raise AttributionCancelled("Attribution cancelled.")
        self.done = min(self.total, self.done + samples)
        if self._progress is not None:
            self._progress(self.done, self.total)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Logits of a batch, with progress and cancel."""
        return self.counted(batch)

    def black_image(self, x: torch.Tensor) -> torch.Tensor:
        """A black image in the network's input space (the usual Integrated Gradients baseline)."""
        prep = self.loaded.spec.preprocessing
        mean = torch.tensor(prep.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(prep.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return ((0 - mean) / std).expand_as(x).contiguous()


@contextmanager
def _gradients_for_inputs_only(module: nn.Module) -> Iterator[None]:
    """Stop parameters from requiring grad for the call: attributions need gradients with respect
    to inputs or activations only, and autograd then keeps nothing for weight gradients."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def _logits(output) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


def _upsample(maps: torch.Tensor, size) -> torch.Tensor:
    """(h, w) or (C, h, w) -> the same at ``size``, bilinear."""
    batched = maps[None, None] if maps.dim() == 2 else maps[None]
    out = F.interpolate(batched, size=tuple(size), mode="bilinear", align_corners=False)[0]
    return out[0] if maps.dim() == 2 else out


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
