"""The bundled demo network: a small CNN trained on procedurally drawn shapes.

Built to make every view meaningful: a 7x7 first convolution with stride 2 (filters big enough to
see, as AlexNet's first layer), four conv blocks with readable names, global average pooling and one
linear layer, so CAM applies. Feature maps: 96 px in, 24x24 after block1, 12x12 from block2 on.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

DEMO_INPUT_SIZE = 96
#: The demo's own normalisation (it was trained from scratch with it; not ImageNet's).
DEMO_MEAN = (0.5, 0.5, 0.5)
DEMO_STD = (0.25, 0.25, 0.25)


FIRST_KERNEL = 7


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> list[tuple[str, nn.Module]]:
    return [("conv", nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)),
            ("bn", nn.BatchNorm2d(cout)), ("relu", nn.ReLU())]


def _block(*convs: tuple[int, ...], pool: bool) -> nn.Sequential:
    layers: list[tuple[str, nn.Module]] = []
    for i, conv in enumerate(convs, start=1):
        suffix = str(i) if len(convs) > 1 else ""
        layers += [(name + suffix, mod) for name, mod in _conv(*conv)]
    if pool:
        layers.append(("pool", nn.MaxPool2d(2)))
    return nn.Sequential(OrderedDict(layers))


class ShapesNet(nn.Module):
    """Four conv blocks (16-32-64-128 channels), global average pooling, a linear head.

    The stride-2 first layer and its pooling bring 96 px to 24x24 at once (a quarter of the work of
    a stride-1 start, so the model trains in minutes on a laptop CPU); block3 keeps its 12x12 maps
    so CAM and Grad-CAM are not coarser than a 12-cell grid.
    """

    def __init__(self, num_classes: int = 6) -> None:
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("block1", _block((3, 16, FIRST_KERNEL, 2), pool=True)),
            ("block2", _block((16, 32, 3), pool=True)),
            ("block3", _block((32, 64, 3), (64, 64, 3), pool=False)),
            ("block4", _block((64, 128, 3), (128, 128, 3), pool=False)),
        ]))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x):
        """Logits for a normalised (N,3,H,W) batch."""
        return self.fc(self.avgpool(self.features(x)).flatten(1))
