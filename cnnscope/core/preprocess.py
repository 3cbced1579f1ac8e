"""Image -> network input, with the constants read from torchvision's own weights transforms.

:class:`Preprocessing` does what torchvision's ``ImageClassification`` preset does, with the same
functional ops (resize the shorter side, centre-crop, scale to 0..1, normalise), and also hands back
the crop before normalisation, which the views overlay maps on. ``from_weights`` reads every number
from ``weights.transforms()``, so nothing is hand-copied; a test checks both give the same tensor.

Two framings of a photo (:data:`FRAMINGS`): "crop" is the above (what the model was trained on);
"whole" shrinks the photo until its longer side fits the input and pads the rest of the square
with the normalisation's mean colour, which is 0 in the normalised input: nothing there. A
:class:`Framing` says where the input sits in the photo, for either.

A network that reads one channel (LeNet on digits) gets the photo's luma, weighted as PIL's "L"
mode weighs it; the crop the views show stays in colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF  # the ops ImageClassification itself uses

from .errors import OptionError


LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, as PIL converts RGB to "L"
FRAMINGS = ("crop", "whole")


def check_framing(framing: str) -> str:
    """``framing`` if it is one of :data:`FRAMINGS`, else OptionError."""
    if framing not in FRAMINGS:
        raise OptionError(f"The framing must be 'crop' (the model's centre crop) or 'whole' (the "
                          f"whole photo, padded to a square), not '{framing}'.")
    return framing


@dataclass(frozen=True)
class Framing:
    """Where the network's input sits in the photo.

    ``box``: the part of the photo the input shows, (x, y, width, height) in photo pixels (the
    centre crop's rectangle, or the whole photo). ``content``: where those pixels lie in the input,
    (x, y, width, height) in input pixels; the rest of the input is padding.
    """

    mode: str  # one of FRAMINGS
    photo_size: tuple[int, int]  # (width, height)
    box: tuple[float, float, float, float]
    content: tuple[int, int, int, int]

    @property
    def seen_share(self) -> float:
        """The share of the photo's area the network sees (1.0: all of it)."""
        width, height = self.photo_size
        return self.box[2] * self.box[3] / (width * height)

    @property
    def content_slices(self) -> tuple[slice, slice]:
        """(rows, columns) of the input that show the photo; the rest is padding."""
        x, y, width, height = self.content
        return slice(y, y + height), slice(x, x + width)

    def to_photo(self, rect: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """A rectangle (x, y, width, height) in input pixels -> the same in photo pixels."""
        bx, by, bw, bh = self.box
        cx, cy, cw, ch = self.content
        sx, sy = bw / cw, bh / ch
        x, y, w, h = rect
        return bx + (x - cx) * sx, by + (y - cy) * sy, w * sx, h * sy


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

    def place(self, width: int, height: int, framing: str = "crop") -> Framing:
        """Where the input of a ``width`` x ``height`` photo sits in it, without the pixels."""
        size = self.crop_size
        if check_framing(framing) == "whole":
            scale = size / max(width, height)
            new_w, new_h = (max(1, min(size, round(n * scale))) for n in (width, height))
            return Framing(framing, (width, height), (0.0, 0.0, float(width), float(height)),
                           ((size - new_w) // 2, (size - new_h) // 2, new_w, new_h))
        # torchvision's arithmetic: the shorter side resized (the longer one truncated), then a
        # centre cut, or zero padding on a side shorter than the crop
        short, long = sorted((width, height))
        resized_long = int(self.resize_size * long / short)
        resized = (self.resize_size, resized_long) if width <= height else (resized_long, self.resize_size)
        box, content = [], []
        for photo_side, side in zip((width, height), resized):
            if side >= size:
                cut = int(round((side - size) / 2.0))
                box.append((cut * photo_side / side, size * photo_side / side))
                content.append((0, size))
            else:
                box.append((0.0, float(photo_side)))
                content.append(((size - side) // 2, side))
        (bx, bw), (by, bh) = box
        (cx, cw), (cy, ch) = content
        return Framing(framing, (width, height), (bx, by, bw, bh), (cx, cy, cw, ch))

    def whole(self, rgb: np.ndarray, device: torch.device | None = None) -> tuple[torch.Tensor, Framing]:
        """uint8 (H,W,3) -> the whole photo resized to fit the input, uint8 (3,h,w) on ``device``
        (not padded yet), and its :class:`Framing`."""
        framing = self.place(rgb.shape[1], rgb.shape[0], "whole")
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)
        if device is not None:
            x = x.to(device)
        _, _, width, height = framing.content
        return TF.resize(x, [height, width], interpolation=self.interpolation, antialias=True), framing

    def padding_colour(self) -> tuple[int, int, int]:
        """The RGB colour that normalises to 0 in every channel the network reads (the mean),
        as the nearest 8-bit levels: how padding is shown."""
        mean = self.mean * 3 if self.channels == 1 else self.mean
        return tuple(int(min(255, max(0, round(m * 255)))) for m in mean[:3])

    def picture(self, rgb: np.ndarray, device: torch.device | None = None,
                framing: str = "crop") -> torch.Tensor:
        """uint8 (H,W,3) -> uint8 (3,S,S): the input as a picture, for either framing (the
        whole photo's padding in the mean colour's nearest 8-bit levels). What Deep Dream and
        adversarial photos start from."""
        if check_framing(framing) == "crop":
            return self.crop(rgb, device)
        return self._padded(*self.whole(rgb, device))

    def photo_mask(self, rgb: np.ndarray, framing: str = "crop",
                   device: torch.device | None = None) -> torch.Tensor:
        """(1,1,S,S) float: 1 where :meth:`picture` shows the photo, 0 on its padding (the whole
        photo's bands, or the sides of a photo smaller than the crop): what an attack or a dream
        may change."""
        rows, cols = self.place(rgb.shape[1], rgb.shape[0], framing).content_slices
        mask = torch.zeros((1, 1, self.crop_size, self.crop_size), device=device)
        mask[..., rows, cols] = 1
        return mask

    def _padded(self, resized: torch.Tensor, placed: Framing) -> torch.Tensor:
        left, top, width, height = placed.content
        size = self.crop_size
        shown = torch.tensor(self.padding_colour(), dtype=torch.uint8, device=resized.device)
        shown = shown.view(3, 1, 1).repeat(1, size, size)
        shown[:, top:top + height, left:left + width] = resized
        return shown

    def framed(self, rgb: np.ndarray, device: torch.device | None = None,
               framing: str = "crop") -> tuple[torch.Tensor, torch.Tensor, Framing]:
        """The (1,C,S,S) float input batch, the uint8 (3,S,S) picture the views show (padding in
        the mean colour), and the :class:`Framing`, for either framing."""
        if check_framing(framing) == "crop":
            x, cropped = self(rgb, device)
            return x, cropped, self.place(rgb.shape[1], rgb.shape[0])
        resized, placed = self.whole(rgb, device)
        left, top, width, height = placed.content
        size = self.crop_size
        shown = self._padded(resized, placed)
        inner = self.normalise(resized)
        # padded after normalising, so that the padding is exactly 0 (the mean's 8-bit level is not)
        x = inner.new_zeros((inner.shape[0], size, size))
        x[:, top:top + height, left:left + width] = inner
        return x.unsqueeze(0), shown, placed

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
