"""Finding convolution layers and their kernels in a model."""

from __future__ import annotations

import numpy as np
from torch import nn

from .errors import ModelError


def weight_layers(module: nn.Module) -> int:
    """How many layers the network has, counted as its name counts them: convolutions and fully
    connected layers (VGG-16 has 16). The one definition every view and command uses; ResNet-18
    has 21 by it, as its name leaves out the three 1x1 shortcut convolutions."""
    return sum(1 for m in module.modules() if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)))


def conv_layers(module: nn.Module) -> list[str]:
    """Names of every 2-D convolution, in model order."""
    return [name for name, m in module.named_modules() if isinstance(m, nn.Conv2d)]


def conv_kernels(module: nn.Module, name: str | None = None) -> tuple[str, np.ndarray]:
    """(name, (out, in, kh, kw) weights) of conv layer ``name``, or of the first conv if None."""
    names = conv_layers(module)
    if not names:
        raise ModelError("This model has no convolution layers.")
    name = names[0] if name is None else name
    if name not in names:
        raise ModelError(f"'{name}' is not a convolution layer; the first ones are "
                         f"{', '.join(names[:5])}.")
    conv = module.get_submodule(name)
    return name, conv.weight.detach().float().cpu().numpy()
