"""The kernel playground's engine: hand-made kernels slid over the photo, and a learned one.

A kernel is a small square of numbers. Sliding it over a picture and summing, at each place, the
pixels under it times its numbers makes a new picture (PyTorch's conv2d, which, like every CNN,
does not flip the kernel). Here a kernel is a preset (identity, blur, sharpen, Sobel, edge) or
numbers typed in ("1/9", "-2", "0.5"), applied to each colour channel of the photo on its own, with
a stride, zero padding and a dilation; the output size follows
``floor((n + 2p - d(k - 1) - 1) / s) + 1``. Next to it, one filter of the model's first
convolution applied to the same photo: the network's own, learned kernel.

numpy only at import time (the window reads the presets); torch is imported by the functions that
convolve, on the engine thread.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import ModelError, OptionError

MAX_SIDE = 7  # the largest typed kernel (7 x 7)
MAX_TEXT = 400  # characters of a typed kernel
MAX_CELL = 24  # characters of one number
MAX_WEIGHT = 1000.0  # the largest number a kernel may hold (either sign)
MAX_STRIDE, MAX_PADDING, MAX_DILATION = 64, 64, 16
EDGE_CMAP = "RdBu_r"  # signed values: blue negative, white 0, red positive
TYPED = "Typed in"


def _grid(text: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(row.split()) for row in text.strip().split(";"))


def _gauss5(scale: str, centre: str | None = None) -> tuple[tuple[str, ...], ...]:
    """The 5x5 binomial (Gaussian) weights [1 4 6 4 1] x [1 4 6 4 1], each written over 256."""
    side = (1, 4, 6, 4, 1)
    rows = [[f"{scale}{a * b}/256" for b in side] for a in side]
    if centre is not None:
        rows[2][2] = centre
    return tuple(tuple(row) for row in rows)


_SOBEL5 = _grid("-1 -2 0 2 1; -4 -8 0 8 4; -6 -12 0 12 6; -4 -8 0 8 4; -1 -2 0 2 1")

#: name -> {side: rows of numbers as a person writes them}. The first is the default.
PRESETS: dict[str, dict[int, tuple[tuple[str, ...], ...]]] = {
    "Identity": {3: _grid("0 0 0; 0 1 0; 0 0 0"),
                 5: _grid("0 0 0 0 0; 0 0 0 0 0; 0 0 1 0 0; 0 0 0 0 0; 0 0 0 0 0")},
    "Box blur": {3: _grid("; ".join([" ".join(["1/9"] * 3)] * 3)),
                 5: _grid("; ".join([" ".join(["1/25"] * 5)] * 5))},
    "Gaussian blur": {3: _grid("1/16 2/16 1/16; 2/16 4/16 2/16; 1/16 2/16 1/16"),
                      5: _gauss5("")},
    "Sharpen": {3: _grid("0 -1 0; -1 5 -1; 0 -1 0"),
                5: _gauss5("-", "476/256")},  # unsharp masking: 2 x identity - Gaussian blur
    "Sobel x": {3: _grid("-1 0 1; -2 0 2; -1 0 1"), 5: _SOBEL5},
    "Sobel y": {3: _grid("-1 -2 -1; 0 0 0; 1 2 1"), 5: tuple(zip(*_SOBEL5))},
    "Edge (outline)": {3: _grid("-1 -1 -1; -1 8 -1; -1 -1 -1"),
                       5: _grid("; ".join(" ".join("24" if (r, c) == (2, 2) else "-1"
                                                   for c in range(5)) for r in range(5)))},
}

#: what each preset does, in a learner's words (tooltips)
PRESET_NOTES = {
    "Identity": "A single 1 in the middle: every pixel is copied as it is.",
    "Box blur": "Every pixel becomes the plain average of its neighbourhood.",
    "Gaussian blur": "A weighted average: near neighbours count more, so the blur is smoother.",
    "Sharpen": "The pixel counts extra and its neighbours are taken away: differences grow.",
    "Sobel x": "Right side minus left side: bright where the picture gets brighter to the right.",
    "Sobel y": "Bottom minus top: bright where the picture gets brighter downwards.",
    "Edge (outline)": "The centre minus all its neighbours: zero on flat areas, large at edges.",
    TYPED: "Your own numbers: type them in the grid.",
}

_NUMBER = r"(?:[0-9]{1,12}(?:\.[0-9]{0,12})?|\.[0-9]{1,12})(?:[eE][+-]?[0-9]{1,3})?"
_CELL = re.compile(rf"([+-]?)({_NUMBER})(?:/({_NUMBER}))?")  # ASCII digits only


def preset_kernel(name: str, side: int = 3) -> np.ndarray:
    """The (side, side) float32 numbers of preset ``name``; OptionError for an unknown one."""
    sizes = PRESETS.get(name)
    if sizes is None:
        raise OptionError(f"'{name}' is not a preset kernel; the presets are {', '.join(PRESETS)}.")
    if side not in sizes:
        raise OptionError(f"The {name} preset comes in {' and '.join(f'{s}x{s}' for s in sizes)}.")
    return kernel_from_rows(sizes[side])


def parse_number(text: str) -> float:
    """One kernel number as typed: "2", "-0.5", "1/9", "1e-2" (a minus sign may be typographic)."""
    cell = text.strip().replace("\u2212", "-")
    if not cell:
        raise OptionError("A cell of the kernel is empty: type a number such as 0, -1 or 1/9.")
    found = _CELL.fullmatch(cell) if len(cell) <= MAX_CELL else None
    if found is None:
        raise OptionError(f"'{cell[:MAX_CELL]}' is not a number: type one such as 2, -0.5 or 1/9.")
    sign, top, bottom = found.groups()
    value = float(top)
    if bottom is not None:
        if float(bottom) == 0:
            raise OptionError(f"'{cell}' divides by zero.")
        value /= float(bottom)
    value = -value if sign == "-" else value
    if not abs(value) <= MAX_WEIGHT:
        raise OptionError(f"'{cell}' is too large: keep kernel numbers between "
                          f"-{MAX_WEIGHT:g} and {MAX_WEIGHT:g}.")
    return value


def kernel_from_rows(rows: Sequence[Sequence[str | float | int]]) -> np.ndarray:
    """A square kernel (1x1 to 7x7) from rows of numbers or typed cells, as float32."""
    if not 1 <= len(rows) <= MAX_SIDE:
        raise OptionError(f"A kernel has 1 to {MAX_SIDE} rows (3 or 5 usually); this one has "
                          f"{len(rows)}.")
    side = len(rows)
    values = np.zeros((side, side), dtype=np.float64)
    for i, row in enumerate(rows):
        if len(row) != side:
            rows_text = f"{side} row{'s' if side != 1 else ''}"
            raise OptionError(f"A kernel is square: with {rows_text}, each row needs {side} "
                              f"number{'s' if side != 1 else ''}, but row {i + 1} has {len(row)}.")
        for j, cell in enumerate(row):
            if isinstance(cell, str):
                values[i, j] = parse_number(cell)
            else:
                value = float(cell)
                if not abs(value) <= MAX_WEIGHT:  # NaN fails this too
                    raise OptionError(f"{value} is not a usable kernel number: keep them between "
                                      f"-{MAX_WEIGHT:g} and {MAX_WEIGHT:g}.")
                values[i, j] = value
    return values.astype(np.float32)


def parse_kernel(text: str) -> np.ndarray:
    """A kernel typed as text: rows on lines or separated by ';', numbers by spaces or commas.

    "1 2 1; 2 4 2; 1 2 1" and "-1,0,1\\n-2,0,2\\n-1,0,1" are 3x3 kernels; "1/9" is a number."""
    if len(text) > MAX_TEXT:
        raise OptionError(f"That kernel is {len(text)} characters long; type at most {MAX_TEXT} "
                          f"(a {MAX_SIDE}x{MAX_SIDE} kernel fits easily).")
    rows = [line.strip() for line in re.split(r"[\n;]", text) if line.strip()]
    if not rows:
        raise OptionError("The kernel is empty: type rows of numbers, e.g. 0 -1 0; -1 5 -1; 0 -1 0.")
    return kernel_from_rows([[c for c in re.split(r"[,\s]+", row) if c] for row in rows])


# --- sizes ------------------------------------------------------------------------------------

def check_settings(stride: int, padding: int, dilation: int) -> None:
    """OptionError with a sentence when a stride, padding or dilation is out of its range."""
    for name, value, low, high in (("stride", stride, 1, MAX_STRIDE),
                                   ("padding", padding, 0, MAX_PADDING),
                                   ("dilation", dilation, 1, MAX_DILATION)):
        if not isinstance(value, (int, np.integer)) or not low <= value <= high:
            raise OptionError(f"The {name} is a whole number from {low} to {high}, not {value}.")


def output_size(n: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """How many positions a k-wide kernel takes along an n-pixel side:
    floor((n + 2p - d(k - 1) - 1) / s) + 1. OptionError when that is less than 1."""
    check_settings(stride, padding, dilation)
    span = dilation * (k - 1) + 1
    out = (n + 2 * padding - span) // stride + 1
    if out < 1:
        raise OptionError(
            f"The {k}x{k} kernel with dilation {dilation} spans {span} pixels, more than the "
            f"{n + 2 * padding} of the padded input ({n} + 2 x {padding}): there would be no "
            "output; lower the dilation or raise the padding.")
    return out


def output_formula(n: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> str:
    """The output size formula with the numbers filled in, e.g.
    "⌊(224 + 2·1 − 1·(3−1) − 1) / 2⌋ + 1 = 112"."""
    out = output_size(n, k, stride, padding, dilation)
    return (f"\u230a({n} + 2\u00b7{padding} \u2212 {dilation}\u00b7({k}\u22121) \u2212 1) / "
            f"{stride}\u230b + 1 = {out}")


# --- a hand-made kernel on the photo ------------------------------------------------------------

@dataclass(frozen=True)
class KernelOutput:
    """A hand-made kernel applied to each colour channel of the photo (scaled to 0..1)."""

    values: np.ndarray  # (3, H', W') float32: R, G and B convolved with the kernel, each alone
    kernel_sum: float
    edge: bool  # the numbers sum to about 0: flat areas give 0, so the values are signed

    def picture(self) -> tuple[np.ndarray, float]:
        """(H', W', 3) uint8 and the value that saturates the colours: for an edge detector the
        mean of R, G and B in a diverging colour map (blue < 0 < red, white = 0) up to +-scale;
        else the RGB result clipped to 0..1 (scale 1)."""
        if self.edge:
            return signed_picture(self.values.mean(axis=0))
        rgb = np.clip(self.values, 0.0, 1.0).transpose(1, 2, 0) * 255.0 + 0.5
        return rgb.astype(np.uint8), 1.0


def sums_to_zero(kernel: np.ndarray) -> bool:
    """Whether ``kernel`` adds up to 0 (up to rounding): an edge detector."""
    return bool(abs(float(kernel.sum(dtype=np.float64))) <= 1e-6 * max(1.0, float(np.abs(kernel).sum())))


def apply_kernel(rgb: np.ndarray, kernel: np.ndarray, stride: int = 1, padding: int = 0,
                 dilation: int = 1) -> KernelOutput:
    """``kernel`` slid over each colour channel of the uint8 (H, W, 3) photo, scaled to 0..1, with
    zero padding (conv2d, groups=3: red only sees red, and so on)."""
    import torch
    import torch.nn.functional as F

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"Expected a uint8 (H, W, 3) photo, got {rgb.dtype} {rgb.shape}.")
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1]:
        raise OptionError(f"A kernel is a square of numbers, not {kernel.shape}.")
    k = kernel.shape[0]
    for n in rgb.shape[:2]:
        output_size(n, k, stride, padding, dilation)  # a sentence instead of torch's error
    photo = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255.0
    weight = torch.from_numpy(kernel.copy())[None, None].repeat(3, 1, 1, 1)  # (3, 1, k, k)
    with torch.no_grad():
        out = F.conv2d(photo, weight, stride=stride, padding=padding, dilation=dilation, groups=3)
    return KernelOutput(out[0].numpy(), float(kernel.sum(dtype=np.float64)), sums_to_zero(kernel))


def describe(output: KernelOutput, scale: float) -> str:
    """What the picture of ``output`` shows, in a sentence or two."""
    if output.edge:
        return ("The numbers add up to 0, so flat areas give 0 (white) and only changes show: red "
                "where the sum is positive, blue where it is negative (the mean of red, green and "
                f"blue; the colours are full at \u00b1{scale:.2g}).")
    total = output.kernel_sum
    if abs(total - 1.0) < 1e-3:
        return "The numbers add up to 1, so flat areas keep their brightness."
    return (f"The numbers add up to {total:.3g}, so flat areas come out {total:.3g} times as bright "
            "(values outside 0..1 are clipped to black or white).")


def signed_picture(values: np.ndarray, cmap: str = EDGE_CMAP) -> tuple[np.ndarray, float]:
    """A signed (H, W) map in a diverging colour map, 0 in the middle (white for RdBu), and the
    value where the colours are full: the 99.5th percentile of |values| (the largest when that is
    0), so a few extreme pixels do not wash the rest out."""
    from .render import apply_colormap

    values = np.asarray(values, dtype=np.float32)
    size = np.abs(values)
    top = float(size.max()) if size.size else 0.0
    scale = float(np.percentile(size, 99.5)) if size.size else 0.0
    if scale <= 1e-3 * top:
        scale = top
    if scale <= 0:
        scale = 1.0  # all zeros: all white
    return apply_colormap(np.clip(0.5 + 0.5 * values / scale, 0.0, 1.0), cmap), scale


# --- a learned kernel on the photo --------------------------------------------------------------

@dataclass(frozen=True)
class LearnedFilter:
    """One filter of a model's first convolution, and how that convolution slides."""

    layer: str
    channel: int
    channels: int  # how many filters the layer has
    weight: np.ndarray  # (C_in, kh, kw) float32
    bias: float | None
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]

    def picture(self, side: int = 112) -> np.ndarray:
        """The kernel as colours (each input channel as R, G, B; 0 is mid grey), enlarged to about
        ``side`` pixels, as the Filters tab draws it."""
        from .render import filter_tiles

        return filter_tiles(self.weight[None], min_tile=side)


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def first_layer_filter(module, channel: int) -> LearnedFilter:
    """Filter ``channel`` of ``module``'s first 2-D convolution; ModelError when there is none,
    when it does not read the photo's colours together, or pads other than with zeros."""
    from .layers import conv_kernels

    name, weights = conv_kernels(module)
    conv = module.get_submodule(name)
    if conv.groups != 1 or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise ModelError(f"The first convolution, '{name}', is grouped or pads other than with "
                         "zeros; the playground shows plain convolutions only.")
    if not 0 <= channel < weights.shape[0]:
        raise ModelError(f"'{name}' has {weights.shape[0]} filters (0 to {weights.shape[0] - 1}); "
                         f"there is no filter {channel}.")
    bias = None if conv.bias is None else float(conv.bias[channel].detach())
    return LearnedFilter(name, channel, weights.shape[0], weights[channel], bias, _pair(conv.stride),
                         _pair(conv.padding), _pair(conv.dilation))


def apply_learned_filter(input_tensor, weight: np.ndarray, stride=1, padding=0,
                         dilation=1) -> np.ndarray:
    """One learned (C_in, kh, kw) kernel over the (1, C_in, S, S) input the convolution reads (the
    normalised photo): its (H', W') float32 response before the bias, which is that channel of the
    convolution's output minus its bias."""
    import torch
    import torch.nn.functional as F

    if input_tensor.ndim != 4 or input_tensor.shape[:2] != (1, weight.shape[0]):
        raise ModelError(f"The filter reads {weight.shape[0]} channels; the input has shape "
                         f"{tuple(input_tensor.shape)}.")
    kernel = torch.as_tensor(np.ascontiguousarray(weight)[None], dtype=input_tensor.dtype,
                             device=input_tensor.device)
    with torch.no_grad():
        out = F.conv2d(input_tensor, kernel, stride=stride, padding=padding, dilation=dilation)
    return out[0, 0].float().cpu().numpy()
