"""Pixel attributions, from captum: one value per input pixel rather than per layer position.

Two of captum's rules are extended here, because on today's networks they silently did nothing:

- Guided backpropagation changes ``nn.ReLU`` only, so on MobileNet (ReLU6) or EfficientNet (SiLU)
  its "guided" map was exactly the plain gradient. :func:`guided_backprop` applies the guided rule
  to every activation of GUIDED_ACTIVATIONS.
- DeepLIFT's rescale rule needs each activation to be a module called once, and knows ReLU, ELU,
  LeakyReLU, Sigmoid, Tanh and Softplus. ResNet calls one ``nn.ReLU`` three times per block,
  Inception calls ``F.relu``, MobileNet uses ReLU6: its maps were wrong without a word. DeepLIFT runs
  on a traced copy with one module per activation call (core/tracing.py), and the rescale rule
  (captum's own ``nonlinear``) is lent to ReLU6, SiLU, GELU, Hardswish, Hardsigmoid and Mish for
  the call. Its completeness delta is reported, as for Integrated Gradients.
"""

from __future__ import annotations

import weakref
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ModelError
from .inspect import ACTIVATION_TYPES
from .passes import Runner

SMOOTHGRAD_SAMPLES = 24
IG_STEPS = 50

# Activations the guided rule is applied to. captum's changes nn.ReLU only, so on MobileNet (ReLU6)
# or EfficientNet (SiLU) its "guided" map was exactly the plain gradient.
GUIDED_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SiLU, nn.GELU, nn.Hardswish, nn.Mish)
# Elementwise activations DeepLIFT's rescale rule is lent to (captum knows the others).
RESCALED_ACTIVATIONS = (nn.ReLU6, nn.SiLU, nn.GELU, nn.Hardswish, nn.Hardsigmoid, nn.Mish)


def pixel_attribution(runner: Runner, method: str, target: int, layer: str | None,
                      found: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(raw (S, S) attribution, the non-negative map to show) from one of captum's methods;
    ``found`` receives a completeness ``delta`` and ``notes`` where the method has them."""
    from captum.attr import GuidedBackprop, GuidedGradCam, InputXGradient, Saliency

    x = runner.inspection.input_tensor.detach().float().requires_grad_(method != "occlusion")
    model = runner.counted
    if method == "integrated_gradients":
        return _integrated_gradients(runner, x, target, found)
    if method == "deeplift":
        return _deeplift(runner, x, target, found)
    if method == "occlusion":
        return _occlusion(runner, x, target)
    if method == "input_x_gradient":
        runner.expect(1)
        raw = InputXGradient(model).attribute(x, target=target)[0].sum(dim=0)
        return raw, raw.abs()
    if method == "guided_backprop":
        runner.expect(1)
        attributions = guided_backprop(GuidedBackprop)(model).attribute(x, target=target)
        found["notes"] = list(filter(None, [_guided_note(runner.loaded.module)]))
    elif method == "guided_gradcam":
        runner.expect(1)
        layer_module = model.get_submodule(f"model.{layer}")
        combined = GuidedGradCam(model, layer_module)
        combined.guided_backprop = guided_backprop(GuidedBackprop)(model)
        attributions = combined.attribute(x, target=target, interpolate_mode="bilinear")
        found["notes"] = list(filter(None, [_guided_note(runner.loaded.module)]))
    elif method == "saliency":
        runner.expect(1)
        attributions = Saliency(model).attribute(x, target=target)
    elif method == "smoothgrad":
        attributions = _smoothgrad(runner, x, target)
    else:  # pragma: no cover - METHODS and this dispatch are kept in step by a test
        raise ModelError(f"No implementation for '{method}'.")
    raw = attributions[0].abs().amax(dim=0)  # the strongest colour channel at each pixel
    return raw, raw


def _integrated_gradients(runner: Runner, x: torch.Tensor, target: int,
                          found: dict) -> tuple[torch.Tensor, torch.Tensor]:
    from captum.attr import IntegratedGradients

    runner.expect(IG_STEPS)
    attributions, delta = IntegratedGradients(runner.counted).attribute(
        x, baselines=runner.black_image(x), target=target, n_steps=IG_STEPS,
        internal_batch_size=runner.batch(IG_STEPS, backward=True), return_convergence_delta=True)
    found["delta"] = float(delta)
    raw = attributions[0].sum(dim=0)  # signed: the attributions add up to the score change
    return raw, raw.abs()


def _occlusion(runner: Runner, x: torch.Tensor, target: int) -> tuple[torch.Tensor, torch.Tensor]:
    from captum.attr import Occlusion

    side = x.shape[-1]
    window, stride = max(8, side // 8), max(4, side // 16)
    steps = (side - window) // stride + 1
    runner.expect(steps * steps + 1)
    channels = x.shape[1]  # every channel covered at once: 3 for colour, 1 for grey
    attributions = Occlusion(runner.counted).attribute(
        x, sliding_window_shapes=(channels, window, window), strides=(channels, stride, stride),
        baselines=0.0, target=target, perturbations_per_eval=runner.batch(steps * steps))
    raw = attributions[0].sum(dim=0)
    return raw, F.relu(raw)  # where covering the image lowered the score


def _smoothgrad(runner: Runner, x: torch.Tensor, target: int) -> torch.Tensor:
    from captum.attr import NoiseTunnel, Saliency

    runner.expect(SMOOTHGRAD_SAMPLES)
    spread = float(x.detach().max() - x.detach().min())
    return NoiseTunnel(Saliency(runner.counted)).attribute(
        x, nt_type="smoothgrad", nt_samples=SMOOTHGRAD_SAMPLES,
        nt_samples_batch_size=runner.batch(SMOOTHGRAD_SAMPLES, backward=True),
        stdevs=0.15 * spread, target=target)


# ---------------------------------------------------------------------------------------------
# guided backpropagation


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


def _guided_note(module: nn.Module) -> str | None:
    """Activations the guided rule does not know (it passes their gradient as it is)."""
    others = {type(m).__name__ for m in module.modules()
              if type(m).__name__ in ACTIVATION_TYPES and not isinstance(m, GUIDED_ACTIVATIONS)}
    if not others:
        return None
    return (f"This network's activations include {', '.join(sorted(others))}, which guided "
            "backpropagation does not know: gradients pass through them unguided.")


# ---------------------------------------------------------------------------------------------
# DeepLIFT

_deeplift_copies: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _deeplift(runner: Runner, x: torch.Tensor, target: int,
              found: dict) -> tuple[torch.Tensor, torch.Tensor]:
    from captum.attr import DeepLift

    runner.expect(2)  # the photo and its black reference, in one batch
    model = _one_module_per_activation(runner)
    if model is runner.counted:
        found["notes"] = ["This model could not be traced, so DeepLIFT ran on it as it is: an "
                          "activation module used twice, or a functional one, gets no rescale rule."]
    with _rescale_rule_lent():
        attributions, delta = DeepLift(model).attribute(
            x, baselines=runner.black_image(x), target=target, return_convergence_delta=True)
    found["delta"] = float(delta.abs().max())
    raw = attributions[0].sum(dim=0)
    return raw, raw.abs()


def _one_module_per_activation(runner: Runner) -> nn.Module:
    """The counted model over a traced copy with one module per activation call (cached per model
    and its submodules); the model itself when it cannot be traced (a note says so)."""
    from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR

    from .tracing import one_module_per_activation

    module = runner.loaded.module
    key = tuple(map(id, module.modules()))
    cached = _deeplift_copies.get(module)
    if cached is None or cached[0] != key:
        kinds = tuple(SUPPORTED_NON_LINEAR) + RESCALED_ACTIVATIONS
        try:
            copy = one_module_per_activation(module, kinds)
        except Exception:  # untraceable: captum's DeepLIFT on the model as it is
            copy = None
        cached = (key, copy)
        _deeplift_copies[module] = cached
    if cached[1] is None:
        return runner.counted
    return type(runner.counted)(cached[1], runner)


@contextmanager
def _rescale_rule_lent():
    """captum's rescale rule ((f(x) - f(x0)) / (x - x0) as the multiplier) for the elementwise
    activations its table lacks, for the duration of one attribution (removed after, so captum
    behaves as shipped for anyone else in the process)."""
    from captum.attr._core import deep_lift

    table = deep_lift.SUPPORTED_NON_LINEAR
    added = [kind for kind in RESCALED_ACTIVATIONS if kind not in table]
    for kind in added:
        table[kind] = deep_lift.nonlinear
    try:
        yield
    finally:
        for kind in added:
            table.pop(kind, None)
