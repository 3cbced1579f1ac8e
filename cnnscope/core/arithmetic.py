"""How one value of a feature map was computed: the numbers a convolution, a pooling window or a
ReLU worked on, taken from the model and the inspection itself.

For a convolution: the input patch under the kernel (zeros where the window hangs over the
padding), the kernel, their products summed per input channel, the bias, and the total, which is
the value in the map. For a pooling layer: the window and which value won (max) or their mean. For
a ReLU: the value before it and what it clipped. Everything is read from the inspection's one pass
(the layer's input is the recorded output that feeds it), so nothing is recomputed but the one
value being explained.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .errors import ModelError
from .inspect import Inspection, capture_inputs, traced_graph
from .weights import LoadedModel


@dataclass(frozen=True)
class Window:
    """Where a kernel or pooling window sits on its layer's input, for one output position."""

    top: int  # input row of the window's first row (negative when it starts in the padding)
    left: int
    rows: int  # the window's extent in input pixels (dilation included)
    cols: int
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]


@dataclass(frozen=True)
class ConvValue:
    """One output value of a convolution, and the numbers that made it."""

    layer: str
    channel: int
    y: int
    x: int
    in_channels: tuple[int, ...]  # the input channels this output reads (its group)
    patch: np.ndarray  # (C, kh, kw) float32: the input under the kernel, 0 over the padding
    outside: np.ndarray  # (kh, kw) bool: kernel taps that fall on the padding
    kernel: np.ndarray  # (C, kh, kw) float32
    per_channel: np.ndarray  # (C,) float64: sum of patch * kernel for each input channel
    channels_sum: float  # the sum of per_channel
    bias: float
    value: float  # sum(per_channel) + bias
    recorded: float  # what the map holds at (channel, y, x)
    window: Window


@dataclass(frozen=True)
class PoolValue:
    """One output value of a pooling layer: its window and the winner (max) or the mean."""

    layer: str
    kind: str  # "max" or "avg"
    channel: int
    y: int
    x: int
    values: np.ndarray  # (kh, kw) float32: the window (padding: -inf for max, 0 for avg)
    outside: np.ndarray  # (kh, kw) bool
    winner: tuple[int, int] | None  # (row, col) in the window of the max; None for avg
    value: float
    recorded: float
    window: Window


@dataclass(frozen=True)
class ActivationValue:
    """One output value of a ReLU: the value before it and after."""

    layer: str
    channel: int
    y: int
    x: int
    before: float
    value: float  # max(before, 0) (ReLU6: also at most 6)
    recorded: float
    clipped: bool


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def layer_input(loaded: LoadedModel, inspection: Inspection, layer: str) -> torch.Tensor:
    """The (1, C, H, W) tensor ``layer`` was called with in ``inspection``'s pass.

    Read from the recorded outputs through the traced graph; for a model that does not trace, or a
    module called more than once, one hooked forward of the same input recovers it."""
    if inspection.input_tensor is None or inspection.model_name != loaded.name:
        raise ModelError("This inspection does not belong to the loaded model; inspect the image again.")
    x = inspection.input_tensor
    graph = traced_graph(loaded)
    if graph is not None:
        outputs = {name: inspection.activations.batched(name) for name in inspection.activations}
        found = graph.module_input(layer, outputs, x)
        if found is not None:
            return found
    with torch.no_grad(), capture_inputs(loaded.module, {layer}) as inputs:
        loaded.module(x)
    if layer not in inputs:
        raise ModelError(f"'{layer}' does not run in {loaded.name}.")
    return inputs[layer]


def _module(loaded: LoadedModel, layer: str) -> nn.Module:
    try:
        return loaded.module.get_submodule(layer)
    except AttributeError:
        raise ModelError(f"{loaded.name} has no layer '{layer}'.") from None


def _window(module, y: int, x: int) -> Window:
    kh, kw = _pair(module.kernel_size)
    stride = _pair(module.stride if module.stride is not None else module.kernel_size)
    padding = _pair(module.padding)
    dilation = _pair(getattr(module, "dilation", 1))
    return Window(y * stride[0] - padding[0], x * stride[1] - padding[1],
                  dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1, stride, padding, dilation)


def _gather(features: np.ndarray, window: Window, kh: int, kw: int,
            fill: float) -> tuple[np.ndarray, np.ndarray]:
    """(C, kh, kw) values under the window's taps and a (kh, kw) mask of taps over the padding."""
    channels, height, width = features.shape
    rows = window.top + np.arange(kh) * window.dilation[0]
    cols = window.left + np.arange(kw) * window.dilation[1]
    outside = ~(((rows >= 0) & (rows < height))[:, None] & ((cols >= 0) & (cols < width))[None, :])
    values = np.full((channels, kh, kw), fill, dtype=np.float32)
    inside_rows, inside_cols = np.nonzero(~outside)
    values[:, inside_rows, inside_cols] = features[:, rows[inside_rows], cols[inside_cols]]
    return values, outside


def _checked_position(inspection: Inspection, layer: str, channel: int, y: int, x: int) -> float:
    output = inspection.activation(layer)
    c, h, w = output.shape
    if not (0 <= channel < c and 0 <= y < h and 0 <= x < w):
        raise ModelError(f"'{layer}' has {c} channels of {h}x{w}: there is no channel {channel} "
                         f"at row {y}, column {x}.")
    return float(output[channel, y, x])


def explain_value(loaded: LoadedModel, inspection: Inspection, layer: str, channel: int,
                  y: int, x: int) -> ConvValue | PoolValue | ActivationValue:
    """The arithmetic behind ``layer``'s value at (``channel``, ``y``, ``x``) in ``inspection``."""
    module = _module(loaded, layer)
    recorded = _checked_position(inspection, layer, channel, y, x)
    if isinstance(module, (nn.ReLU, nn.ReLU6)):
        before = float(layer_input(loaded, inspection, layer)[0, channel, y, x])
        value = min(max(before, 0.0), 6.0) if isinstance(module, nn.ReLU6) else max(before, 0.0)
        return ActivationValue(layer, channel, y, x, before, value, recorded, value != before)
    if isinstance(module, nn.Conv2d):
        if module.padding_mode != "zeros" or isinstance(module.padding, str):
            raise ModelError(f"'{layer}' pads with '{module.padding_mode}' or by name; only zero "
                             "padding of a given size is shown step by step.")
        return _conv_value(loaded, inspection, layer, module, channel, y, x, recorded)
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        return _pool_value(loaded, inspection, layer, module, channel, y, x, recorded)
    raise ModelError(f"'{layer}' is a {type(module).__name__}: the arithmetic is shown for "
                     "convolutions, pooling layers and ReLUs.")


def _conv_value(loaded, inspection, layer, module: nn.Conv2d, channel, y, x, recorded) -> ConvValue:
    features = layer_input(loaded, inspection, layer)[0].detach().float().cpu().numpy()
    group_size = module.in_channels // module.groups
    group = channel // (module.out_channels // module.groups)
    in_channels = tuple(range(group * group_size, (group + 1) * group_size))
    kernel = module.weight[channel].detach().float().cpu().numpy()
    kh, kw = kernel.shape[-2:]
    window = _window(module, y, x)
    patch, outside = _gather(features[list(in_channels)], window, kh, kw, 0.0)
    per_channel = (patch.astype(np.float64) * kernel.astype(np.float64)).sum(axis=(1, 2))
    bias = float(module.bias[channel].detach()) if module.bias is not None else 0.0
    total = float(per_channel.sum())
    return ConvValue(layer, channel, y, x, in_channels, patch, outside, kernel, per_channel, total,
                     bias, total + bias, recorded, window)


def _pool_value(loaded, inspection, layer, module, channel, y, x, recorded) -> PoolValue:
    features = layer_input(loaded, inspection, layer)[0, channel:channel + 1].detach().float().cpu().numpy()
    kh, kw = _pair(module.kernel_size)
    window = _window(module, y, x)
    is_max = isinstance(module, nn.MaxPool2d)
    values, outside = _gather(features, window, kh, kw, -np.inf if is_max else 0.0)
    values = values[0]
    if is_max:
        row, col = np.unravel_index(int(np.argmax(values)), values.shape)
        return PoolValue(layer, "max", channel, y, x, values, outside, (int(row), int(col)),
                         float(values[row, col]), recorded, window)
    # PyTorch's divisor: with count_include_pad, the taps within the padded input (a ceil_mode
    # window can reach past the padding too); without, the taps on the input itself.
    height, width = features.shape[-2:]
    rows = window.top + np.arange(kh)
    cols = window.left + np.arange(kw)
    pr, pc = window.padding
    in_padded = int(((rows >= -pr) & (rows < height + pr)).sum() * ((cols >= -pc) & (cols < width + pc)).sum())
    counted = in_padded if module.count_include_pad else int((~outside).sum())
    divisor = module.divisor_override or counted
    return PoolValue(layer, "avg", channel, y, x, values, outside, None,
                     float(values[~outside].astype(np.float64).sum() / divisor), recorded, window)
