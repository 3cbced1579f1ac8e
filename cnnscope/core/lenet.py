"""LeNet-5 (LeCun, Bottou, Bengio and Haffner, 1998): the network the story of CNNs starts with.

Layer for layer as in the paper, on a 32x32 grey input:

====== =========================================== ==================
paper  here                                        output
====== =========================================== ==================
C1     ``features.conv1``: 6 filters 5x5           6 x 28 x 28
S2     ``features.pool1``: 2x2 subsampling         6 x 14 x 14
C3     ``features.conv2``: 16 filters 5x5          16 x 10 x 10
S4     ``features.pool2``: 2x2 subsampling         16 x 5 x 5
C5     ``classifier.fc1``: 120 units               120
F6     ``classifier.fc2``: 84 units                84
output ``classifier.fc3``: 10 units                10
====== =========================================== ==================

61,706 parameters. Where it departs from the paper, it does as most of today's LeNets do, and says so:

- ReLU instead of the scaled tanh, and max pooling instead of the trainable average subsampling.
  Both train faster and more surely from scratch, and they let every view of cnnscope apply as it
  does to modern networks: guided backpropagation is defined for ReLUs, and the arithmetic tab
  shows ReLUs and pooling windows value by value.
- C3 reads all six S2 maps (the paper wires each of its 16 maps to a chosen subset, to break
  symmetry and save computation on 1998's hardware).
- C5 is a fully connected layer over the flattened 16 x 5 x 5 maps. The paper calls it a
  convolution with 5x5 kernels, which on a 5x5 input is the same computation; as a Linear it shows
  as the start of the classifier.
- The output is a linear layer read through softmax, not the paper's Euclidean RBF units.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from .preprocess import Preprocessing

LENET_INPUT_SIZE = 32
#: Mean and standard deviation of the grey (luma) values of the generated training digits
#: (``cnnscope/core/digits.py``; measured on 10,000 of them: 0.261 and 0.223).
LENET_MEAN = (0.26,)
LENET_STD = (0.22,)
#: What LeNet reads: the picture resized and centre-cropped to 32 px, its luma, normalised.
LENET_PREPROCESSING = Preprocessing(LENET_INPUT_SIZE, LENET_INPUT_SIZE, LENET_MEAN, LENET_STD,
                                    channels=1)


class LeNet5(nn.Module):
    """LeNet-5: two convolution + pooling stages (6 then 16 maps), then 120, 84 and 10 units."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(1, 6, 5)),      # C1: 32 -> 28
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),         # S2: 28 -> 14
            ("conv2", nn.Conv2d(6, 16, 5)),     # C3: 14 -> 10
            ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(2)),         # S4: 10 -> 5
        ]))
        self.classifier = nn.Sequential(OrderedDict([
            ("fc1", nn.Linear(16 * 5 * 5, 120)),  # C5
            ("relu3", nn.ReLU()),
            ("fc2", nn.Linear(120, 84)),          # F6
            ("relu4", nn.ReLU()),
            ("fc3", nn.Linear(84, num_classes)),  # output
        ]))

    def forward(self, x):
        """Logits for a normalised (N, 1, 32, 32) batch."""
        return self.classifier(self.features(x).flatten(1))
