"""Progress, cancel and batch sizes for the methods that send many inputs through the network.

Score-CAM, Ablation-CAM, Smooth Grad-CAM++, occlusion, Integrated Gradients, SmoothGrad, the
faithfulness curves and the sanity check all run one photo's variants in batches. A :class:`Runner`
counts the samples, reports progress, stops between batches when asked to, and sizes the batches to
the device (core/batching.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from .batching import batch_size, per_sample_bytes
from .errors import CnnscopeError

#: progress(samples done, samples in all)
ProgressCallback = Callable[[int, int], None]
CancelCheck = Callable[[], bool]


class AttributionCancelled(CnnscopeError):
    """The user (or a newer request) stopped an attribution before it finished."""


class Counted(nn.Module):
    """The model as captum sees it: logits only, counting samples and checking for cancel."""

    def __init__(self, model: nn.Module, runner: Runner) -> None:
        super().__init__()
        self.model = model
        self._runner = runner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch, after reporting progress and honouring cancel."""
        self._runner.tick(x.shape[0])
        return logits_of(self.model(x))


class Runner:
    """Progress, cancel and batch sizes for one attribution of one inspection."""

    def __init__(self, loaded, inspection, progress: ProgressCallback | None,
                 should_cancel: CancelCheck | None) -> None:
        self.loaded, self.inspection = loaded, inspection
        self.counted = Counted(loaded.module, self)
        self._progress, self._should_cancel = progress, should_cancel
        self.done, self.total = 0, 1

    def expect(self, total: int) -> None:
        """Announce how many samples the method will run."""
        self.done, self.total = 0, max(1, total)

    def tick(self, samples: int) -> None:
        """Called before each pass: stop if cancelled, else report the samples so far."""
        self.check()
        self.done = min(self.total, self.done + samples)
        if self._progress is not None:
            self._progress(self.done, self.total)

    def check(self) -> None:
        """Stop here if cancelled."""
        if self._should_cancel is not None and self._should_cancel():
            raise AttributionCancelled("Attribution cancelled.")

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Logits of a batch, with progress and cancel."""
        return self.counted(batch)

    def batch(self, wanted: int, backward: bool = False) -> int:
        """Inputs per pass for this model on its device: what fits (core/batching.py), at most
        ``wanted``."""
        x = self.inspection.input_tensor
        tensors = list(self.inspection.activations.tensors().values()) + [x]
        return batch_size(x.device, per_sample_bytes(tensors, backward), wanted)

    def black_image(self, x: torch.Tensor) -> torch.Tensor:
        """A black image in the network's input space (the usual Integrated Gradients and DeepLIFT
        baseline). Where the input is padding (the whole photo shrunk into a square) it equals the
        input, 0, so nothing there differs from the baseline and no attribution lands on it."""
        prep = self.loaded.spec.preprocessing
        mean = torch.tensor(prep.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(prep.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        black = ((0 - mean) / std).expand_as(x).contiguous()
        framing = getattr(self.inspection, "framing", None)
        if framing is not None and framing.mode == "whole":
            left, top, width, height = framing.content
            padded = torch.zeros_like(black)
            padded[..., top:top + height, left:left + width] = black[..., top:top + height, left:left + width]
            black = padded
        return black


@contextmanager
def gradients_for_inputs_only(module: nn.Module) -> Iterator[None]:
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


def logits_of(output) -> torch.Tensor:
    """The class scores of a model's output ((logits, aux) from Inception: the first)."""
    return output[0] if isinstance(output, tuple) else output


def upsample(maps: torch.Tensor, size) -> torch.Tensor:
    """(h, w) or (C, h, w) -> the same at ``size``, bilinear."""
    batched = maps[None, None] if maps.dim() == 2 else maps[None]
    out = F.interpolate(batched, size=tuple(size), mode="bilinear", align_corners=False)[0]
    return out[0] if maps.dim() == 2 else out
