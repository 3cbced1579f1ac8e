"""One live frame: inspect it and draw the one picture the live view shows (a layer's maps, or
Grad-CAM over the frame). The engine and benchmarks/live.py run exactly this per frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .attribution import attribute
from .inspect import default_feature_layer, inspect
from .render import feature_grid, heat_overlay
from .weights import LoadedModel


@dataclass
class LiveFrame:
    """What one frame produced (plain data)."""

    input_rgb: np.ndarray
    picture: np.ndarray  # the layer's feature grid, or the heatmap over the frame
    caption: str
    predictions: list[tuple[str, float]]
    elapsed_ms: float


def process_frame(loaded: LoadedModel, frame: np.ndarray, mode: str = "maps",
                  layer: str | None = None, device: torch.device | None = None,
                  cmap: str = "viridis") -> LiveFrame:
    """Inspect ``frame`` (uint8 RGB) and draw ``layer``'s maps (mode "maps") or Grad-CAM for the
    top class (mode "cam")."""
    result = inspect(loaded, frame, device)
    if mode == "cam":
        found = attribute(loaded, result, "gradcam")
        picture = heat_overlay(result.input_rgb, found.heatmap)
        caption = f"Grad-CAM for '{found.target_label}' at {found.layer}"
    else:
        name = layer if layer in result.activations else default_feature_layer(result, loaded.spec.input_size)
        picture = feature_grid(result.activations[name], cmap)
        caption = f"{name}: {result.activations.shape(name)[0]} channels"
    return LiveFrame(result.input_rgb, picture, caption,
                     [(p.label, p.probability) for p in result.predictions], result.elapsed_ms)
