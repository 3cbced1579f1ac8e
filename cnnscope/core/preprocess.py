"""Image -> network input, with the constants read from torchvision's own weights transforms.

:class:`Preprocessing` does what torchvision's ``ImageClassification`` preset does, with the same
functional ops (resize the shorter side, centre-crop, scale to 0..1, normalise), and also hands back
the crop before normalisation, which the views overlay maps on. ``from_weights`` reads every number
from ``weights.transforms()``, so nothing is hand-copied; a test checks both give the same tensor.

A network that reads one channel (LeNet on digits) gets the photo's luma, weighted as PIL's "L"
mode weighs it; the crop the views show stays in colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF  # the ops ImageClassification itself uses


LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, as PIL converts RGB to "L"


@dataclass(frozen=True)
class Preprocessing:
    """How one model wants its input: resize, centre crop, normalise."""

    resize_size: int
    crop_size: int
    mean: tuple[float, ...]  # one per channel the network reads
    std: tuple[float, ...]
    interpolation: InterpolationMode = InterpolationMode.BILINEAR
    channels: int = 3  # what the network reads: 3 (RGB) or 1 (grey)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, crop, crop): one input without the batch dimension."""
        return self.channels, self.crop_size, self.crop_size

    @classmethod
    def from_weights(cls, weights) -> "Preprocessing":
        """Read the preprocessing of a torchvision ``WeightsEnum`` member from its ``transforms()``."""
        t = weights.transforms()
        return cls(int(t.resize_size[0]), int(t.crop_size[0]), tuple(t.mean), tuple(t.std),
                   t.interpolation)

    def crop(self, rgb: np.ndarray, device: torch.device | None = None) -> torch.Tensor:
        """uint8 (H,W,3) -> uint8 (3,crop,crop) tensor on ``device``: the pixels the network sees."""
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)
        if device is not None:
            x = x.to(device)  # resizing on an accelerator beats resizing a photo on the CPU
        x = TF.resize(x, [self.resize_size], interpolation=self.interpolation, antialias=True)
        return TF.center_crop(x, [self.crop_size])

    def normalise(self, cropped: torch.Tensor) -> torch.Tensor:
        """uint8 (3,h,w) or (N,3,h,w) -> the normalised float input, (C,h,w) or (N,C,h,w)."""
        return self.from_unit(TF.convert_image_dtype(cropped, torch.float32))

    def from_unit(self, rgb: torch.Tensor) -> torch.Tensor:
        """Float RGB in 0..1, (3,h,w) or (N,3,h,w) -> the normalised input (differentiable: an
        optimised image goes through it)."""
        if self.channels == 1:
            luma = torch.tensor(LUMA, dtype=rgb.dtype, device=rgb.device).view(3, 1, 1)
            rgb = (rgb * luma).sum(dim=-3, keepdim=True)
        return TF.normalize(rgb, list(self.mean), list(self.std))

    def __call__(self, rgb: np.ndarray,
                 device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The (1,3,crop,crop) float input batch and the uint8 (3,crop,crop) crop, on ``device``."""
        cropped = self.crop(rgb, device)
        return self.normalise(cropped).unsqueeze(0), cropped
