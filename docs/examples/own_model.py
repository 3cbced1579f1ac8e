"""cnnscope on your own CNN, from a script or a notebook.

    python docs/examples/own_model.py            # predictions, feature maps and a heatmap, as files
    python docs/examples/own_model.py --show     # the same model in the window

The model here is defined in this file; yours can come from anywhere (your training code, timm,
torchvision): cnnscope only needs the nn.Module.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

import cnnscope

HERE = Path(__file__).resolve().parent
PHOTO = HERE.parent.parent / "sample_images" / "chelsea.png"


class SmallCNN(nn.Module):
    """Three convolution blocks, global average pooling and one linear layer."""

    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def main(out: Path) -> None:
    """Inspect and explain the photo with the model; write what it saw into ``out``."""
    torch.manual_seed(0)
    model = SmallCNN()  # train it, or load your weights: model.load_state_dict(torch.load(...))
    classes = ["cat", "dog", "fox"]

    result = cnnscope.inspect(model, PHOTO, classes=classes)  # one pass, everything as numpy
    for p in result.predictions:
        print(f"{p.label:>5}: {p.probability:.1%}")
    maps = result.activation("features.7")  # (64, 56, 56): one map per channel
    print(f"features.7 has {maps.shape[0]} maps of {maps.shape[1]} x {maps.shape[2]}")

    heat = cnnscope.explain(model, PHOTO, method="gradcam", target="cat", classes=classes)
    row, col = (int(i) for i in np.unravel_index(heat.heatmap.argmax(), heat.heatmap.shape))
    print(f"Grad-CAM at {heat.layer} for '{heat.target_label}'; strongest at row {row}, column "
          f"{col} of the 224 px crop")

    out.mkdir(parents=True, exist_ok=True)
    Image.fromarray((heat.heatmap * 255).astype(np.uint8)).save(out / "gradcam.png")
    Image.fromarray(result.input_rgb).save(out / "crop.png")
    print(f"wrote {out / 'gradcam.png'} and {out / 'crop.png'}")

    if "--show" in sys.argv:
        cnnscope.show(model, PHOTO, classes=classes)  # returns when the window closes


if __name__ == "__main__":
    main(Path("own_model_out"))
