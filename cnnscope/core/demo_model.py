"""The bundled demo network: a small CNN trained on procedurally drawn shapes.

Built to make every view meaningful: a 5x5 first convolution (filters big enough to see), four
conv blocks with readable names, global average pooling and one linear layer, so CAM applies.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

DEMO_INPUT_SIZE = 96
#: The demo's own normalisation (it was trained from scratch with it; not ImageNet's).
DEMO_MEAN = (0.5, 0.5, 0.5)
DEMO_STD = (0.25, 0.25, 0.25)


def _conv(cin: int, cout: int, k: int = 3) -> list[tuple[str, nn.Module]]:
    return [("conv", nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)),
            ("bn", nn.BatchNorm2d(cout)), ("relu", nn.ReLU())]


def _block(*convs: tuple[int, int, int], pool: bool) -> nn.Sequential:
    layers: list[tuple[str, nn.Module]] = []
    for i, (cin, cout, k) in enumerate(convs, start=1):
        suffix = str(i) if len(convs) > 1 else ""
        layers += [(name + suffix, mod) for name, mod in _conv(cin, cout, k)]
    if pool:
        layers.append(("pool", nn.MaxPool2d(2)))
    return nn.Sequential(OrderedDict(layers))


class ShapesNet(nn.Module):
    """Four conv blocks (16-32-64-128 channels), global average pooling, a linear head."""

    def __init__(self, num_classes: int = 6) -> None:
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("block1", _block((3, 16, 5), pool=True)),
            ("block2", _block((16, 32, 3), pool=True)),
            ("block3", _block((32, 64, 3), (64, 64, 3), pool=True)),
            ("block4", _block((64, 128, 3), (128, 128, 3), pool=False)),
        ]))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x):
        """Logits for a normalised (N,3,H,W) batch."""
        return self.fc(self.avgpool(self.features(x)).flatten(1))
