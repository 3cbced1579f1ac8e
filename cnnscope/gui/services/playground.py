"""The kernel playground: a hand-made kernel slid over the photo, and one of the model's own
first-layer filters over the same photo.

Both read the latest inspection (the crop the network saw, and the normalised input its first
convolution read); the pictures are coloured here, by core.kernels, so the window only paints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import Job, Request, Service


@dataclass(frozen=True)
class ApplyKernel(Request):
    """A hand-made kernel over the photo: its rows as typed (text) or as numbers."""

    about_shown_model = True
    rows: tuple[tuple[str | float, ...], ...]
    stride: int = 1
    padding: int = 0
    dilation: int = 1


@dataclass
class KernelApplied:
    """What the playground shows for a hand-made kernel."""

    kernel: np.ndarray  # (k, k) float32: the numbers as read
    photo: np.ndarray  # (H, W, 3) uint8: the crop the network saw
    picture: np.ndarray  # (H', W', 3) uint8: the result, ready to show
    signed: bool  # the kernel sums to 0: the picture is a diverging map of signed values
    scale: float  # the value at which the colours are full (1 for an RGB result)
    kernel_sum: float
    output_size: tuple[int, int]  # (H', W')
    formulas: tuple[str, str]  # the output size formula filled in for the height and the width
    note: str  # what the picture shows, in a sentence or two


@dataclass(frozen=True)
class ApplyLearnedFilter(Request):
    """Filter ``channel`` of the model's first convolution over the photo."""

    about_shown_model = True
    channel: int


@dataclass
class LearnedFilterApplied:
    """One learned first-layer filter and its response to the photo."""

    layer: str
    channel: int
    channels: int  # how many filters that layer has
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    bias: float | None
    kernel_picture: np.ndarray  # (h, w, 3) uint8: the (3, kh, kw) weights as colours
    picture: np.ndarray  # (H', W', 3) uint8: the response before the bias, diverging colours
    scale: float  # the value at which the response's colours are full
    output_size: tuple[int, int]
    formulas: tuple[str, str]


class PlaygroundService(Service):
    """Applies kernels to the latest inspection's photo (a conv2d each: cheap, no cache)."""

    handles = (ApplyKernel, ApplyLearnedFilter)

    def run(self, request: Request, job: Job) -> Any:
        """Apply the hand-made kernel or the learned filter asked for."""
        if isinstance(request, ApplyKernel):
            return self._kernel(request)
        return self._learned(request)

    def _kernel(self, request: ApplyKernel) -> KernelApplied:
        from cnnscope.core import kernels

        kernel = kernels.kernel_from_rows(request.rows)
        photo = self.state.current().input_rgb
        s, p, d, k = request.stride, request.padding, request.dilation, kernel.shape[0]
        formulas = tuple(kernels.output_formula(n, k, s, p, d) for n in photo.shape[:2])
        output = kernels.apply_kernel(photo, kernel, s, p, d)
        picture, scale = output.picture()
        return KernelApplied(kernel, photo, picture, output.edge, scale, output.kernel_sum,
                             tuple(output.values.shape[1:]), formulas, kernels.describe(output, scale))

    def _learned(self, request: ApplyLearnedFilter) -> LearnedFilterApplied:
        from cnnscope.core import kernels
        from cnnscope.core.arithmetic import layer_input

        loaded, inspection = self.state.model(), self.state.current()
        found = kernels.first_layer_filter(loaded.module, request.channel)
        # what the first convolution read: the normalised photo (after any input transform the
        # model makes of its own, as Inception v3's)
        x = layer_input(loaded, inspection, found.layer)
        response = kernels.apply_learned_filter(x, found.weight, found.stride, found.padding,
                                                found.dilation)
        picture, scale = kernels.signed_picture(response)
        kh, kw = found.weight.shape[1:]
        formulas = tuple(kernels.output_formula(int(n), k, s, p, d) for n, k, s, p, d in zip(
            x.shape[2:], (kh, kw), found.stride, found.padding, found.dilation))
        return LearnedFilterApplied(found.layer, found.channel, found.channels, (kh, kw),
                                    found.stride, found.padding, found.dilation, found.bias,
                                    found.picture(), picture, scale, tuple(response.shape),
                                    formulas)
