"""Image -> network input, with the constants read from torchvision's own weights transforms.

:class:`Preprocessing` does what torchvision's ``ImageClassification`` preset does, with the same
functional ops (resize the shorter side, centre-crop, scale to 0..1, normalise), and also hands back
the crop before normalisation, which the views overlay maps on. ``from_weights`` reads every number
from ``weights.transforms()``, so nothing is hand-copied; a test checks both give the same tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF  # the ops ImageClassification itself uses


@dataclass(frozen=True)
class Preprocessing:
    """How one model wants its input: resize, centre crop, normalise."""

    resize_size: int
    crop_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: InterpolationMode = InterpolationMode.BILINEAR

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
        """uint8 (3,h,w) or (N,3,h,w) -> normalised float tensor of the same layout."""
        x = TF.convert_image_dtype(cropped, torch.float32)
        return TF.normalize(x, list(self.mean), list(self.std))

    def __call__(self, rgb: np.ndarray,
                 device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The (1,3,crop,crop) float input batch and the uint8 (3,crop,crop) crop, on ``device``."""
        cropped = self.crop(rgb, device)
        return self.normalise(cropped).unsqueeze(0), cropped
