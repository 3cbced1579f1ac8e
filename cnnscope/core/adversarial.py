"""Adversarial examples: a photo changed by at most ``epsilon`` per pixel (invisible at 2/255) that
the network classifies differently. FGSM is one signed-gradient step; PGD repeats smaller steps,
projected back into the budget each time (Madry et al. 2018).

Everything happens on the pixels the network sees (the model's own resize and crop, 8-bit), and
the budget is kept in whole 8-bit levels, so the saved PNG is exactly within it; whether it still
fools the network after rounding is checked, not assumed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ModelError, OptionError
from .optimize import normaliser, weights_held
from .weights import LoadedModel

if TYPE_CHECKING:
    from .attribution import Attribution

METHODS = ("fgsm", "pgd")


@dataclass
class Attack:
    """A photo, its adversarial twin and what the network says of each (plain data)."""

    original: np.ndarray  # (H, W, 3) uint8: the crop the network sees
    adversarial: np.ndarray  # the same, changed by at most ``levels`` per pixel and channel
    levels: int  # the budget in 8-bit levels (epsilon * 255)
    before: list[tuple[str, float]]  # top-5 (label, probability)
    after: list[tuple[str, float]]
    target: str | None  # the class it was pushed towards, or None (away from the top class)
    fooled: bool  # after 8-bit rounding: the top class changed (untargeted) or is the target
    method: str
    steps: int

    @property
    def perturbation(self) -> np.ndarray:
        """adversarial - original, int16 (H, W, 3), within +-levels."""
        return self.adversarial.astype(np.int16) - self.original.astype(np.int16)

    @property
    def amplification(self) -> int:
        """How much :meth:`change_picture` enlarges the change: the budget fills the range."""
        return 127 // self.levels

    def change_picture(self) -> np.ndarray:
        """The change as a uint8 picture: grey is none, brighter or darker by its sign."""
        return np.clip(128 + self.perturbation * self.amplification, 0, 255).astype(np.uint8)


def _top5(loaded: LoadedModel, logits: torch.Tensor) -> list[tuple[str, float]]:
    probabilities = torch.softmax(logits.detach().float(), dim=1)[0]
    top = torch.topk(probabilities, min(5, probabilities.numel()))
    return [(loaded.labels[int(i)], float(p)) for p, i in zip(top.values, top.indices)]


def attack(loaded: LoadedModel, image: np.ndarray, epsilon: float = 2 / 255,
           target: str | int | None = None, method: str = "pgd", steps: int = 10,
           device: torch.device | None = None, framing: str = "crop") -> Attack:
    """Change ``image`` (uint8 RGB) by at most ``epsilon`` (0..1 per channel, rounded down to whole
    8-bit levels) so that ``loaded`` no longer gives its top class (``target`` None), or gives
    ``target`` (a label or an index). ``framing``: the network's centre crop ("crop") or the whole
    photo padded to a square ("whole"), as the inspection frames it."""
    if method not in METHODS:
        raise OptionError(f"The attack is fgsm or pgd, not '{method}'.")
    levels = int(np.floor(epsilon * 255 + 1e-6))
    if not 1 <= levels <= 64:
        raise OptionError(f"Epsilon must be 1/255 to 64/255 (whole 8-bit levels), not {epsilon:g}.")
    if not 1 <= steps <= 1000:
        raise OptionError(f"Steps must be between 1 and 1,000, not {steps}.")
    module = loaded.module
    device = device or next(module.parameters()).device
    normalise = normaliser(loaded, device)
    clean = loaded.spec.preprocessing.picture(image, device, framing).unsqueeze(0).float()  # 0..255, whole levels
    on_photo = loaded.spec.preprocessing.photo_mask(image, framing, device)  # padding is not the photo

    def logits_of(pixels: torch.Tensor) -> torch.Tensor:
        out = module(normalise(pixels / 255))
        return out[0] if isinstance(out, tuple) else out

    with weights_held(module):
        with torch.no_grad():
            before_logits = logits_of(clean)
        top = int(before_logits.argmax(1))
        goal = None if target is None else class_index(loaded, target)
        label = torch.tensor([goal if goal is not None else top], device=device)
        sign = -1.0 if goal is not None else 1.0  # towards the target, or away from the top class
        step = float(levels) if method == "fgsm" else max(levels / 4, 0.25)
        count = 1 if method == "fgsm" else steps
        pixels = clean.clone()
        for _ in range(count):
            pixels.requires_grad_(True)
            loss = F.cross_entropy(logits_of(pixels), label)
            (gradient,) = torch.autograd.grad(loss, pixels)
            with torch.no_grad():
                pixels = pixels + sign * step * gradient.sign() * on_photo
                pixels = torch.min(torch.max(pixels, clean - levels), clean + levels).clamp(0, 255)
        with torch.no_grad():  # whole levels, within the budget: exactly what a PNG keeps
            rounded = torch.min(torch.max(pixels.round(), clean - levels), clean + levels).clamp(0, 255)
            after_logits = logits_of(rounded)
    now = int(after_logits.argmax(1))
    fooled = now == goal if goal is not None else now != top
    as_image = lambda t: t[0].permute(1, 2, 0).to(torch.uint8).cpu().numpy()  # noqa: E731
    return Attack(as_image(clean), as_image(rounded), levels, _top5(loaded, before_logits),
                  _top5(loaded, after_logits), None if goal is None else loaded.labels[goal],
                  fooled, method, count)


def where_each_looked(loaded: LoadedModel, found: Attack, device: torch.device | None = None,
                      photo_inspection=None) -> tuple[Attribution, Attribution]:
    """Grad-CAM of the photo for its top class and of the adversarial photo for its own top class,
    both on the crops exactly as the network saw them (the adversarial one is not resized again,
    which would blur the change away). ``photo_inspection``: the photo's own inspection, reused
    (no second pass) when it shows the same crop."""
    from .attribution import attribute
    from .inspect import inspect

    maps = []
    for crop in (found.original, found.adversarial):
        reuse = (crop is found.original and photo_inspection is not None
                 and photo_inspection.model_name == loaded.name
                 and np.array_equal(photo_inspection.input_rgb, crop))
        seen = photo_inspection if reuse else inspect(loaded, crop, device, cropped=True)
        maps.append(attribute(loaded, seen, "gradcam"))
    return maps[0], maps[1]


def class_index(loaded: LoadedModel, target: str | int) -> int:
    """The index of class ``target`` (a label, any case, or an index) in the model's classes."""
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        index = int(target)
        if not 0 <= index < len(loaded.labels):
            raise ModelError(f"{loaded.name} has classes 0 to {len(loaded.labels) - 1}, not {index}.")
        return index
    matches = [i for i, name in enumerate(loaded.labels) if name.lower() == str(target).lower()]
    if not matches:
        raise ModelError(f"{loaded.name} knows no class '{target}'.")
    return matches[0]
