"""Plain-words explanations of a layer, with its own numbers, for the classroom.

The text depends on the layer's *type* (a convolution, a pooling, a residual block...), never on
the model's name; the numbers (kernel, stride, padding, channels, output shape, receptive field,
parameters) are read from the module and the summary row.
"""

from __future__ import annotations

from torch import nn

from .summary import SummaryRow

ACTIVATIONS = {
    "ReLU": "ReLU keeps positive values and sets negative ones to zero",
    "ReLU6": "ReLU6 keeps values between 0 and 6 (zero below, capped above: friendly to phones' "
             "low-precision arithmetic)",
    "SiLU": "SiLU (swish) multiplies each value by its own sigmoid: a smooth ReLU",
    "Hardswish": "hard-swish is a cheap, piecewise-linear version of swish",
    "GELU": "GELU weighs each value by how likely it is to be positive: a smooth ReLU",
    "LeakyReLU": "leaky ReLU keeps positive values and shrinks negative ones",
}
NONLINEARITY = ("Without such a bend between them, any stack of convolutions would collapse into one "
                "linear map; the nonlinearity is what lets depth build ever more complex features.")
RESIDUAL_BLOCKS = {"BasicBlock", "Bottleneck"}
INCEPTION_BLOCKS = {"Inception", "InceptionA", "InceptionB", "InceptionC", "InceptionD",
                    "InceptionE"}


def _pair(value) -> str:
    a, b = value if isinstance(value, tuple) else (value, value)
    return f"{a}" if a == b else f"{a}x{b}"


def _kernel(value) -> str:
    a, b = value if isinstance(value, tuple) else (value, value)
    return f"{a}x{b}"


def explain(module: nn.Module, row: SummaryRow, input_size: int, is_head: bool = False) -> str:
    """A few sentences about ``module`` (named ``row.name``) and the numbers that make it up."""
    kind = type(module).__name__
    text = _story(module, kind, row, is_head)
    numbers = [f"output {' x '.join(map(str, row.output_shape))}"]
    if row.params:
        numbers.append(f"{row.params:,} parameters")
    if row.macs:
        numbers.append(f"{row.macs:,} multiply-adds per image")
    rf = row.receptive_field
    if rf is not None and rf < input_size:
        numbers.append(f"each output value sees a {rf} x {rf} px patch of the {input_size} px input "
                       "(its receptive field)")
    elif rf is not None:
        numbers.append(f"each output value can see the whole {input_size} px input (receptive field "
                       f"{rf} px)")
    return f"{row.name} ({kind}): {text}\n\nIn numbers: " + "; ".join(numbers) + "."


def _story(m: nn.Module, kind: str, row: SummaryRow, is_head: bool) -> str:
    if isinstance(m, nn.Conv2d):
        k, s, p = _kernel(m.kernel_size), _pair(m.stride), _pair(m.padding)
        if m.groups > 1 and m.groups == m.in_channels:
            return (f"a depthwise convolution: each of the {m.in_channels} channels is filtered on its "
                    f"own by a {k} kernel (stride {s}, padding {p}). It looks for spatial patterns but "
                    "does not mix channels; a 1x1 convolution after it does that, far cheaper than a "
                    "full convolution.")
        if m.kernel_size in ((1, 1), 1):
            role = ("squeezes them" if m.out_channels < m.in_channels else "expands them"
                    if m.out_channels > m.in_channels else "mixes them")
            return (f"a 1x1 convolution: at every pixel it mixes the {m.in_channels} input channels "
                    f"into {m.out_channels} ({role}). Used as a bottleneck it makes the bigger "
                    "convolutions after it cheap." + (" Here it is the classifier: one map per class."
                                                     if is_head else ""))
        return (f"a convolution: {m.out_channels} filters, each {k} over all {m.in_channels // m.groups} "
                f"input channels, slide over the image with stride {s} and padding {p}. Each output "
                "map shows where its filter's pattern appears; the filters were learned from data."
                + (f" Stride {s} also shrinks the maps." if m.stride not in ((1, 1), 1) else ""))
    if kind in ACTIVATIONS:
        return f"{ACTIVATIONS[kind]}, value by value. {NONLINEARITY}"
    if isinstance(m, nn.MaxPool2d):
        return (f"max pooling keeps the largest value in each {_kernel(m.kernel_size)} window "
                f"(stride {_pair(m.stride)}): the maps shrink, the strongest evidence stays, and small "
                "shifts of the object no longer matter.")
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) and row.output_shape[-1] == 1:
        return ("global average pooling: each channel's whole map becomes one number, its mean. The "
                "classifier after it then weighs channels, not positions, which is why CAM can show "
                "where each class was found: weigh the maps before pooling with the class's weights.")
    if isinstance(m, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
        return "average pooling replaces each window by its mean: the maps shrink smoothly."
    if isinstance(m, nn.BatchNorm2d):
        return (f"batch normalisation: each of the {m.num_features} channels is shifted and scaled by "
                "the mean and spread measured during training, then by two learned numbers. It keeps "
                "values in a steady range, which makes deep networks train faster and more reliably.")
    if isinstance(m, nn.Linear):
        return (f"a fully connected layer: each of its {m.out_features} outputs weighs all "
                f"{m.in_features} inputs." + (" It is the classifier: one score per class, turned into "
                                              "probabilities by a softmax." if is_head else ""))
    if isinstance(m, nn.Dropout):
        return ("dropout: during training it zeroes random values so the network cannot rely on any "
                "single one; when predicting it does nothing.")
    if kind in RESIDUAL_BLOCKS:
        return ("a residual block: its convolutions compute a correction F(x) that is added to the "
                "block's own input (the shortcut), so the output is x + F(x). If a block has nothing "
                "useful to add it can learn F = 0, which is why very deep ResNets still train.")
    if kind in INCEPTION_BLOCKS:
        return ("an Inception module: parallel branches (1x1, 3x3, 5x5 or factorised versions, and a "
                "pooling) look at the same input at several scales, and their maps are concatenated. "
                "1x1 convolutions before the larger ones shrink the channels first (bottlenecks), "
                "which keeps the module affordable.")
    if kind == "InvertedResidual":
        return ("an inverted residual block: a 1x1 convolution expands the channels, a depthwise "
                "convolution filters each one, and a 1x1 convolution projects them back down; with "
                "matching shapes a shortcut adds the input back.")
    if kind == "Fire":
        return ("a fire module: a 1x1 'squeeze' convolution reduces the channels, then 1x1 and 3x3 "
                "'expand' convolutions run side by side and are concatenated.")
    if isinstance(m, nn.Sequential):
        return (f"a stage of {len(m)} layers run one after another.")
    children = len(list(m.children()))
    if children:
        return f"a block of {children} parts; select one of them to see what it does."
    return "a layer without learned weights of its own."
