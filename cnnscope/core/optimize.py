"""Optimise an input image by gradient against an objective: the one machine behind feature
visualisation, Deep Dream and adversarial examples.

The image is a parameterisation: plain pixels, or (what makes a visualisation readable rather than
high-frequency noise) a Fourier spectrum scaled down at high frequencies, in a decorrelated colour
space (Olah et al. 2017, "Feature Visualization"). Each step shows the network a randomly padded,
jittered, scaled and rotated copy (transformation robustness), so the image cannot lean on one
exact pixel grid. Objectives score every image of a batch on its own, so a batch renders several
channels at once.

The model runs through the inspection's traced graph (no second copy of the model, nothing left
registered on it), or, for a model that does not trace, with hooks removed after every step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ModelError, OptionError
from .inspect import capture_outputs, traced_graph
from .tracing import gradients_to_the_input
from .weights import LoadedModel

# The square root of ImageNet's colour covariance (its SVD): parameterising the image in this
# basis makes the optimiser's steps decorrelated in colour, as natural images are.
_COLOUR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
_COLOUR_SQRT = _COLOUR_SQRT / _COLOUR_SQRT.norm(dim=0).max()
PARAMETERISATIONS = ("fourier", "pixel")


# --- parameterisations -----------------------------------------------------------------------

class ImageParameter(torch.nn.Module):
    """A batch of images as trainable parameters; ``forward()`` gives RGB in 0..1, (B, 3, H, W)."""


class PixelImage(ImageParameter):
    """Every pixel is a parameter (through a sigmoid): free to become noise."""

    def __init__(self, batch: int, size: int, seeds: Sequence[int]) -> None:
        super().__init__()
        self.pixels = torch.nn.Parameter(torch.stack([
            torch.randn(3, size, size, generator=torch.Generator().manual_seed(s)) * 0.01
            for s in seeds]))

    def forward(self) -> torch.Tensor:
        """The images."""
        return torch.sigmoid(self.pixels)


class FourierImage(ImageParameter):
    """A spectrum per image, scaled by 1/frequency and read in a decorrelated colour basis."""

    def __init__(self, batch: int, size: int, seeds: Sequence[int], decay_power: float = 1.0) -> None:
        super().__init__()
        fy = torch.fft.fftfreq(size)[:, None]
        fx = torch.fft.rfftfreq(size)[None, :]
        frequency = torch.sqrt(fx * fx + fy * fy).clamp(min=1.0 / size)
        # each frequency's amplitude falls as 1/f (natural images' spectrum); the factor size keeps
        # the pixels' scale independent of the image size (the inverse FFT divides by size^2)
        self.register_buffer("scale", (1.0 / frequency ** decay_power)[None, None] * size)
        self.size = size
        self.spectrum = torch.nn.Parameter(torch.stack([
            torch.randn(3, size, size // 2 + 1, 2, generator=torch.Generator().manual_seed(s)) * 0.01
            for s in seeds]))

    def forward(self) -> torch.Tensor:
        """The images."""
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        image = torch.fft.irfft2(spectrum, s=(self.size, self.size)) / 4.0
        colour = _COLOUR_SQRT.to(image.device, image.dtype)
        image = torch.einsum("ij,bjhw->bihw", colour, image)
        return torch.sigmoid(image)



def make_parameter(kind: str, batch: int, size: int, seed: int, first: int = 0) -> ImageParameter:
    """``kind`` "fourier" or "pixel"; image ``i`` of the batch starts from seed ``seed + first + i``,
    so a batch starts exactly where the same images made one by one start."""
    seeds = [seed + first + i for i in range(batch)]
    if kind == "fourier":
        return FourierImage(batch, size, seeds)
    if kind == "pixel":
        return PixelImage(batch, size, seeds)
    raise OptionError(f"The image parameterisation is fourier or pixel, not '{kind}'.")


# --- transformation robustness -------------------------------------------------------------------

def robust_transform(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Pad, jitter, scale, rotate and jitter again (the same draw for the whole batch)."""
    size = images.shape[-1]

    def draw(low: int, high: int) -> int:
        return int(torch.randint(low, high + 1, (1,), generator=generator))

    x = F.pad(images, (12, 12, 12, 12), mode="constant", value=0.5)
    x = _jitter(x, 8, draw)
    scale = 1 + draw(-5, 5) / 50
    angle = math.radians(draw(-10, 10))
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    x = _jitter(x, 4, draw)
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def _jitter(x: torch.Tensor, amount: int, draw: Callable[[int, int], int]) -> torch.Tensor:
    dy, dx = draw(0, amount), draw(0, amount)
    h, w = x.shape[-2:]
    return x[..., dy:h - amount + dy, dx:w - amount + dx]


# --- objectives ---------------------------------------------------------------------------------

Objective = Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor]
"""(logits, {layer: output}) -> one score per image of the batch, to be maximised."""


def _output(outputs: dict[str, torch.Tensor], layer: str) -> torch.Tensor:
    if layer not in outputs:
        raise ModelError(f"No layer named '{layer}' runs in this model.")
    value = outputs[layer]
    if value.dim() != 4:
        raise ModelError(f"'{layer}' outputs a vector, not feature maps: pick a convolutional layer.")
    return value


def channel(layer: str, channels: int | Sequence[int]) -> Objective:
    """The mean of one channel of ``layer`` (image ``i`` of the batch: ``channels[i]``)."""
    wanted = [channels] if isinstance(channels, int) else list(channels)

    def score(_logits, outputs):
        value = _output(outputs, layer)
        index = torch.tensor([wanted[i % len(wanted)] for i in range(value.shape[0])], device=value.device)
        if int(index.max()) >= value.shape[1]:
            raise ModelError(f"'{layer}' has {value.shape[1]} channels: there is no channel "
                             f"{int(index.max())}.")
        return value[torch.arange(value.shape[0], device=value.device), index].mean(dim=(1, 2))
    score.layer = layer  # type: ignore[attr-defined]  (visualise redirects its ReLU's gradient)
    return score


def neuron(layer: str, channel_index: int, x: int | None = None, y: int | None = None) -> Objective:
    """One position of one channel (default: the centre)."""
    def score(_logits, outputs):
        value = _output(outputs, layer)
        h, w = value.shape[-2:]
        return value[:, channel_index, h // 2 if y is None else y, w // 2 if x is None else x]
    score.layer = layer  # type: ignore[attr-defined]
    return score


def class_logit(index: int | Sequence[int]) -> Objective:
    """The score (logit) of a class, before the softmax."""
    wanted = [index] if isinstance(index, int) else list(index)

    def score(logits, _outputs):
        rows = torch.arange(logits.shape[0], device=logits.device)
        return logits[rows, torch.tensor([wanted[i % len(wanted)] for i in range(logits.shape[0])],
                                         device=logits.device)]
    return score


def layer_energy(layer: str) -> Objective:
    """The mean square of a layer's whole output: Deep Dream's objective."""
    def score(_logits, outputs):
        return _output(outputs, layer).pow(2).mean(dim=(1, 2, 3))
    return score


def diversity(layer: str) -> Objective:
    """Minus how alike the batch's images are at ``layer`` (cosine similarity of their Gram
    matrices): added to a batch's objective, it makes its images differ."""
    def score(_logits, outputs):
        value = _output(outputs, layer)
        b, c = value.shape[:2]
        flat = value.reshape(b, c, -1)
        gram = F.normalize((flat @ flat.transpose(1, 2)).reshape(b, -1), dim=1)
        similarity = gram @ gram.T
        return -(similarity.sum(1) - similarity.diagonal()) / max(b - 1, 1)
    return score


def combine(*weighted: tuple[float, Objective]) -> Objective:
    """A weighted sum of objectives."""
    def score(logits, outputs):
        return sum(weight * part(logits, outputs) for weight, part in weighted)
    return score


# --- the optimisation ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """Sent after a step: its number, the batch's mean objective, and (every few steps) the images."""

    step: int
    steps: int
    objective: float
    images: np.ndarray | None  # (B, H, W, 3) uint8


@dataclass
class Visualisation:
    """The optimised images and what they reach (scored without the random transforms)."""

    images: np.ndarray  # (B, H, W, 3) uint8
    scores: list[float]  # the objective per image, on the final image as shown
    history: list[float] = field(default_factory=list)  # the batch's mean objective per step
    steps_done: int = 0
    cancelled: bool = False
    seconds: float = 0.0


class _Runner:
    """The model's forward with gradients from the input, returning (logits, every output)."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded, self.graph = loaded, traced_graph(loaded)

    def redirected(self, layer: str, outputs: dict[str, torch.Tensor],
                   x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``outputs`` with ``layer``'s value unchanged but, in each map that is zero everywhere,
        its gradient led past the ReLU (Lucid's "redirected ReLU"). Such a channel otherwise gets
        no gradient at all and stays a grey square; deep ReLU channels are often off on the
        starting noise (6 of SqueezeNet's first 8 in its last fire module). A map with any unit
        on keeps its own gradient: redirecting there too would dilute it."""
        before = self.graph.activation_input(layer, outputs, x) if self.graph is not None else None
        value = outputs.get(layer)
        if before is None or value is None or value.dim() != 4:
            return outputs
        dark = (value.detach().amax(dim=(2, 3), keepdim=True) <= 0) & (before <= 0)
        return {**outputs, layer: value + torch.where(dark, before - before.detach(), 0.0)}

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.graph is not None:
            with gradients_to_the_input():
                logits, outputs = self.graph(x)
        else:
            with capture_outputs(self.loaded.module) as capture:
                logits = self.loaded.module(x)
            outputs = capture.outputs
        if isinstance(logits, tuple):  # Inception-style (logits, aux) outputs
            logits = logits[0]
        return logits, {n: t for n, t in outputs.items() if isinstance(t, torch.Tensor)}


def normaliser(loaded: LoadedModel, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """Images in 0..1, (B, 3, H, W) -> the model's normalised input (grey for a 1-channel model)."""
    return loaded.spec.preprocessing.from_unit


@contextmanager
def weights_held(module: torch.nn.Module) -> Iterator[None]:
    """For the block, the model is in eval mode and its weights take no gradients (only the image
    changes); both are as they were afterwards."""
    was_training = module.training
    learning = [p for p in module.parameters() if p.requires_grad]
    module.eval()
    for p in learning:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in learning:
            p.requires_grad_(True)
        module.train(was_training)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in 0..1 -> (B, H, W, 3) uint8."""
    return (images.detach().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)


def visualise(loaded: LoadedModel, objective: Objective, batch: int = 1, steps: int = 256,
              parameterisation: str = "fourier", transforms: bool = True, size: int | None = None,
              learning_rate: float = 0.05, seed: int = 0, device: torch.device | None = None,
              on_step: Callable[[Step], None] | None = None, image_every: int = 16,
              should_cancel: Callable[[], bool] | None = None, first: int = 0) -> Visualisation:
    """Optimise ``batch`` images to maximise ``objective`` on ``loaded`` for ``steps`` steps.

    ``seed`` draws the starting images and the transforms; ``first`` is the index of the batch's
    first image in a larger set (image ``first + i`` always starts the same). Cancel is checked
    before every step; the images so far are returned. The model's weights are never changed, and
    nothing stays registered on it."""
    if not 1 <= steps <= 10_000:
        raise OptionError(f"Steps must be between 1 and 10,000, not {steps}.")
    if not 1 <= batch <= 256:
        raise OptionError(f"The batch must hold 1 to 256 images, not {batch}.")
    module = loaded.module
    device = device or next(module.parameters()).device
    size = size or loaded.spec.input_size
    normalise = normaliser(loaded, device)
    runner = _Runner(loaded)
    if size != loaded.spec.input_size and not _takes_side(runner, normalise, torch.zeros(
            1, 3, loaded.spec.input_size, loaded.spec.input_size, device=device), size):
        raise OptionError(f"{loaded.name} takes only {loaded.spec.input_size} px images (its maps "
                          f"flatten into fully connected layers made for that size): leave the size "
                          f"at {loaded.spec.input_size}.")
    parameter = make_parameter(parameterisation, batch, size, seed, first).to(device)
    optimiser = torch.optim.Adam(parameter.parameters(), lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)
    layer = getattr(objective, "layer", None)
    history: list[float] = []
    cancelled, start = False, time.perf_counter()
    with weights_held(module):
        for step in range(steps):
            if should_cancel is not None and should_cancel():
                cancelled = True
                break
            images = parameter()
            shown = robust_transform(images, generator) if transforms else images
            x = normalise(shown)
            logits, outputs = runner(x)
            if layer is not None:
                outputs = runner.redirected(layer, outputs, x)
            scores = objective(logits, outputs)
            optimiser.zero_grad(set_to_none=True)
            (-scores.sum()).backward()
            optimiser.step()
            history.append(float(scores.detach().mean()))
            if on_step is not None:
                last = step + 1 == steps
                picture = to_uint8(images) if last or (step + 1) % image_every == 0 else None
                on_step(Step(step + 1, steps, history[-1], picture))
        with torch.no_grad():
            final = parameter()
            logits, outputs = runner(normalise(final))
            scores = objective(logits, outputs)
    return Visualisation(to_uint8(final), [float(s) for s in scores], history, len(history),
                         cancelled, time.perf_counter() - start)


def mean_activation(loaded: LoadedModel, images: np.ndarray, layer: str, channel_index: int,
                    device: torch.device | None = None) -> list[float]:
    """The mean of one channel for each (H, W, 3) uint8 image, as the network sees it (the
    model's own resize and crop): what an optimised image is compared against."""
    module = loaded.module
    device = device or next(module.parameters()).device
    runner = _Runner(loaded)
    found = []
    with torch.no_grad():
        for image in images:
            x, _crop = loaded.spec.preprocessing(image, device)
            _logits, outputs = runner(x)
            found.append(float(_output(outputs, layer)[0, channel_index].mean()))
    return found


# --- Deep Dream ---------------------------------------------------------------------------------

def _takes_side(runner: _Runner, normalise, photo: torch.Tensor, side: int) -> bool:
    """Whether the network runs on ``side`` px pictures: not when a flatten feeds fully connected
    layers made for its own input size (LeNet), where smaller octaves cannot go through."""
    smaller = F.interpolate(photo, size=(side, side), mode="bilinear", align_corners=False)
    try:
        with torch.no_grad():
            runner(normalise(smaller))
    except RuntimeError:
        return False
    return True


def dream(loaded: LoadedModel, image: np.ndarray, layer: str, octaves: int = 3,
          steps: int = 10, strength: float = 0.02, octave_scale: float = 1.4,
          device: torch.device | None = None, on_step: Callable[[Step], None] | None = None,
          should_cancel: Callable[[], bool] | None = None, seed: int = 0,
          framing: str = "crop") -> Visualisation:
    """Deep Dream: amplify whatever ``layer`` already sees in the photo (``image``, uint8 RGB, as
    the network sees it: resized and cropped, or with ``framing`` "whole" the whole photo padded
    to a square), from a small scale up (``octaves``), by gradient ascent on the layer's energy
    with normalised steps of ``strength``."""
    if not 1 <= octaves <= 8 or not 1 <= steps <= 1000:
        raise OptionError(f"Octaves must be 1 to 8 and steps 1 to 1,000, not {octaves} and {steps}.")
    if not 0 < strength <= 1:
        raise OptionError(f"The strength must be above 0 and at most 1, not {strength}.")
    module = loaded.module
    device = device or next(module.parameters()).device
    normalise = normaliser(loaded, device)
    photo = loaded.spec.preprocessing.picture(image, device, framing).float().div(255).unsqueeze(0)
    on_photo = loaded.spec.preprocessing.photo_mask(image, framing, device)  # padding is not dreamt on
    size = photo.shape[-1]
    objective = layer_energy(layer)
    runner = _Runner(loaded)
    generator = torch.Generator().manual_seed(seed)
    history: list[float] = []
    total, cancelled, start = octaves * steps, False, time.perf_counter()
    sizes = [max(16, round(size / octave_scale ** k)) for k in reversed(range(octaves))]
    if sizes[0] < size and not _takes_side(runner, normalise, photo, sizes[0]):
        sizes = [size] * octaves  # a fixed input size (LeNet's maps flatten into fixed layers)
    detail = torch.zeros_like(photo)  # what the dream added, carried up from octave to octave
    with weights_held(module):
        for octave_size in sizes:
            base = F.interpolate(photo, size=(octave_size, octave_size), mode="bilinear",
                                 align_corners=False, antialias=True)
            added = F.interpolate(detail, size=(octave_size, octave_size), mode="bilinear",
                                  align_corners=False)
            current = (base + added).clamp(0, 1)
            mask = F.interpolate(on_photo, size=(octave_size, octave_size), mode="nearest")
            for _ in range(steps):
                if should_cancel is not None and should_cancel():
                    cancelled = True
                    break
                dy, dx = (int(v) for v in torch.randint(-8, 9, (2,), generator=generator))
                x = torch.roll(current, (dy, dx), dims=(2, 3)).requires_grad_(True)
                logits, outputs = runner(normalise(x))
                score = objective(logits, outputs).sum()
                (gradient,) = torch.autograd.grad(score, x)
                gradient = torch.roll(gradient, (-dy, -dx), dims=(2, 3)) * mask
                scale = gradient.abs().sum() / (mask.sum() * gradient.shape[1]) + 1e-8  # mean on the photo
                current = (current + strength * gradient / scale).clamp(0, 1)
                history.append(float(score.detach()))
                if on_step is not None:
                    done = len(history)
                    on_step(Step(done, total, history[-1], to_uint8(current) if done % 5 == 0 else None))
            detail = current - base
            if cancelled:
                break
        result = F.interpolate(current, size=(size, size), mode="bilinear", align_corners=False)
        result = torch.where(on_photo > 0, result, photo)  # the octaves' resizing bleeds at the edge
        with torch.no_grad():
            logits, outputs = runner(normalise(result))
            final = objective(logits, outputs)
    return Visualisation(to_uint8(result), [float(s) for s in final], history, len(history),
                         cancelled, time.perf_counter() - start)
