"""Which registry architecture does a bare state_dict belong to?

A state_dict names no architecture. When it does not fit the model the user chose, cnnscope looks
for the one it does fit, by parameter names and shapes, instead of only listing hundreds of keys
that do not match: weights saved from ``torchvision.models.mobilenet_v2`` are MobileNetV2's whatever
the model menu said, and a ResNet-18 fine-tuned elsewhere on 10 classes is ResNet-18's layers with a
10-output head.
"""

from __future__ import annotations

from functools import lru_cache
from collections.abc import Mapping

import torch

from .models import REGISTRY, ModelSpec


@lru_cache(maxsize=64)
def architecture_shapes(name: str, num_classes: int | None = None) -> dict[str, tuple[int, ...]]:
    """Every state_dict key of registry model ``name`` with its shape (built on the meta device:
    no memory, no initialisation; ~0.05 s)."""
    with torch.device("meta"):
        module = REGISTRY[name].build(num_classes=num_classes)
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


def _fits(state: Mapping[str, tuple[int, ...]], spec: ModelSpec) -> int | None:
    """The number of classes with which ``spec`` takes ``state`` exactly, or None."""
    own = architecture_shapes(spec.name)
    shapes = {k: s for k, s in state.items() if not k.startswith(spec.ignored_key_prefixes)}
    if shapes.keys() != own.keys():
        return None
    differing = [k for k in own if own[k] != shapes[k]]
    if not differing:
        return spec.num_classes
    # a retrained head changes only the last layer's output count: rebuild with that many outputs
    last_weight = next((k for k in reversed(list(own)) if k.endswith("weight")), None)
    if last_weight is None or last_weight not in differing or not shapes[last_weight]:
        return None
    classes = shapes[last_weight][0]
    return classes if architecture_shapes(spec.name, classes) == shapes else None


def identify(state: Mapping[str, torch.Tensor], chosen: ModelSpec) -> tuple[ModelSpec, int] | None:
    """The architecture (the chosen one first) and class count that take ``state`` exactly, or None."""
    shapes = {key: tuple(value.shape) for key, value in state.items()}
    for spec in [chosen, *(s for s in REGISTRY.values() if s is not chosen)]:
        classes = _fits(shapes, spec)
        if classes is not None:
            return spec, classes
    return None
