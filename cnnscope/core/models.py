"""The model registry: everything cnnscope knows about each architecture lives here.

Views and commands ask a :class:`ModelSpec` for input size, preprocessing, labels, CAM layer and
description; nothing else in the code base tests a model's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torchvision.models as tvm
from torch import nn

from .demo_model import DEMO_INPUT_SIZE, DEMO_MEAN, DEMO_STD, ShapesNet
from .digits import DIGIT_CLASSES
from .errors import ModelError
from .lenet import LENET_PREPROCESSING, LeNet5
from .preprocess import Preprocessing
from .shapes import DEMO_CLASSES

DEFAULT_MODEL = "demo_shapes"
#: What the compare view starts with: one network of each family that shaped the field.
DEFAULT_COMPARISON = ("vgg16", "resnet50", "inception_v3")


@dataclass(frozen=True)
class ModelSpec:
    """One architecture: how to build it, where its weights come from, and what a learner should know."""

    name: str
    family: str
    description: str
    cam_layer: str  # a module name (``model.named_modules()``) whose output CAM / Grad-CAM use
    builder: Callable[..., nn.Module]
    preprocessing: Preprocessing
    labels: tuple[str, ...]
    weights: Any = None  # torchvision WeightsEnum member, for "pretrained"
    bundled_file: str | None = None  # file under assets/, for models cnnscope ships trained
    bundled_label: str = "bundled weights"  # what the window says those weights are
    bundled_command: str = ""  # the cnnscope command that trains them again
    build_kwargs: Mapping[str, Any] = field(default_factory=dict)
    # Keys of a downloaded state_dict that belong to training-only branches cnnscope leaves out.
    ignored_key_prefixes: tuple[str, ...] = ()
    # CAM (Zhou et al. 2016) needs the CAM layer's maps to reach the logits through global average
    # pooling and one linear layer: ``cam_head`` names that layer (Linear, or a 1x1 Conv2d), or is
    # None and ``head_note`` says, for a learner, why this head is not of that kind.
    cam_head: str | None = None
    head_note: str = ""
    # A model the registry does not know (core.user_models): how a checkpoint trained from it
    # names it to be opened again ("/abs/net.py:build", "timm:NAME", "/abs/net.pt2"), or "" for
    # an object handed to the Python API. None for the registry's own models.
    opened_as: str | None = None

    @property
    def user_model(self) -> bool:
        """Whether this spec was worked out from a user's model rather than the registry."""
        return self.opened_as is not None

    @property
    def input_size(self) -> int:
        """Side of the square crop the network takes (299 for Inception v3)."""
        return self.preprocessing.crop_size

    @property
    def num_classes(self) -> int:
        """Outputs of the standard head."""
        return len(self.labels)

    @property
    def has_pretrained(self) -> bool:
        """Whether trained weights exist for this model (download or bundled)."""
        return self.weights is not None or self.bundled_file is not None

    @property
    def num_params(self) -> int:
        """Parameter count of the standard architecture (from torchvision's metadata when known)."""
        if self.weights is not None:
            return int(self.weights.meta["num_params"])
        return sum(p.numel() for p in self.build().parameters())

    def build(self, num_classes: int | None = None) -> nn.Module:
        """A freshly initialised (untrained) model, with ``num_classes`` outputs if given."""
        kwargs = dict(self.build_kwargs)
        if num_classes is not None:
            kwargs["num_classes"] = num_classes
        return self.builder(weights=None, **kwargs) if self.weights is not None else self.builder(**kwargs)


def _tv(name: str, family: str, weights: Any, cam_layer: str, description: str,
        **extra: Any) -> ModelSpec:
    return ModelSpec(name=name, family=family, description=description, cam_layer=cam_layer,
                     builder=getattr(tvm, name), preprocessing=Preprocessing.from_weights(weights),
                     labels=tuple(weights.meta["categories"]), weights=weights, **extra)


def _vgg_cam_layer(convs: int, batch_norm: bool) -> str:
    """The last ReLU of VGG's ``features``: each conv brings conv(+bn)+relu, five max-pools follow."""
    return f"features.{convs * (3 if batch_norm else 2) + 5 - 2}"


_VGG = ("VGG stacks small 3x3 convolutions, many in a row, with max pooling between stages: depth "
        "alone builds large receptive fields. {n} weight layers{bn}.")
_RESNET = ("ResNet adds shortcut connections that skip over blocks of convolutions, so each block only "
           "learns a correction and very deep networks still train. {n} layers.")
_FC_HEAD = ("its classifier flattens the last feature maps into fully connected layers, so every "
            "position has its own weights.")


def _specs() -> list[ModelSpec]:
    specs = []
    for n, convs in ((11, 8), (16, 13), (19, 16)):
        for bn in (False, True):
            name = f"vgg{n}{'_bn' if bn else ''}"
            weights = getattr(tvm, f"VGG{n}{'_BN' if bn else ''}_Weights").IMAGENET1K_V1
            specs.append(_tv(name, "VGG", weights, _vgg_cam_layer(convs, bn), _VGG.format(
                n=n, bn=", with batch normalisation after every convolution" if bn else ""),
                head_note=_FC_HEAD))
    for n in (18, 34, 50, 101, 152):
        specs.append(_tv(f"resnet{n}", "ResNet", getattr(tvm, f"ResNet{n}_Weights").IMAGENET1K_V1,
                         "layer4", _RESNET.format(n=n), cam_head="fc"))
    specs += [
        _tv("resnext50_32x4d", "ResNet", tvm.ResNeXt50_32X4D_Weights.IMAGENET1K_V1, "layer4",
            "ResNeXt is a ResNet whose 3x3 convolutions are split into 32 parallel groups: more "
            "paths, same cost.", cam_head="fc"),
        _tv("googlenet", "Inception", tvm.GoogLeNet_Weights.IMAGENET1K_V1, "inception5b",
            "GoogLeNet (Inception v1) runs 1x1, 3x3 and 5x5 convolutions and pooling side by side in "
            "each module and concatenates them, with 1x1 'bottleneck' convolutions keeping it cheap.",
            build_kwargs={"aux_logits": False, "transform_input": True, "init_weights": True},
            ignored_key_prefixes=("aux1.", "aux2."), cam_head="fc"),
        _tv("inception_v3", "Inception", tvm.Inception_V3_Weights.IMAGENET1K_V1, "Mixed_7c",
            "Inception v3 refines the parallel-branch modules: large filters are factorised into "
            "stacked or asymmetric ones (a 5x5 becomes two 3x3, a 7x7 becomes 1x7 then 7x1). It "
            "takes 299 px images.",
            build_kwargs={"aux_logits": False, "transform_input": True, "init_weights": True},
            ignored_key_prefixes=("AuxLogits.",), cam_head="fc"),
        _tv("alexnet", "AlexNet", tvm.AlexNet_Weights.IMAGENET1K_V1, "features.11",
            "AlexNet (2012) is the network that started the deep-learning era: five convolutions "
            "with large early filters (11x11), ReLU and dropout, then three big fully connected layers.",
            head_note=_FC_HEAD),
        _tv("squeezenet1_1", "SqueezeNet", tvm.SqueezeNet1_1_Weights.IMAGENET1K_V1, "features.12",
            "SqueezeNet reaches AlexNet's accuracy with 50x fewer parameters: 'fire' modules squeeze "
            "channels with 1x1 convolutions, then expand with 1x1 and 3x3 ones.",
            cam_head="classifier.1"),
        _tv("mobilenet_v2", "MobileNet", tvm.MobileNet_V2_Weights.IMAGENET1K_V1, "features.18",
            "MobileNetV2 is built for phones: depthwise convolutions filter each channel on its own, "
            "inside inverted residual blocks that expand, filter, then project back down.",
            cam_head="classifier.1"),
        _tv("mobilenet_v3_large", "MobileNet", tvm.MobileNet_V3_Large_Weights.IMAGENET1K_V1,
            "features.16",
            "MobileNetV3 was found by architecture search: MobileNetV2's blocks plus squeeze-and-"
            "excitation (channels reweight themselves) and the cheap hard-swish activation.",
            head_note="after the pooling come two linear layers with a hard-swish between them."),
        _tv("efficientnet_b0", "EfficientNet", tvm.EfficientNet_B0_Weights.IMAGENET1K_V1,
            "features.8",
            "EfficientNet scales depth, width and input resolution together; B0 is the smallest, "
            "made of MobileNet-style blocks with squeeze-and-excitation.",
            cam_head="classifier.1"),
        _tv("densenet121", "DenseNet", tvm.DenseNet121_Weights.IMAGENET1K_V1, "features.norm5",
            "DenseNet connects every layer in a block to all the layers after it by concatenation, "
            "so features are reused instead of relearned.",
            head_note="a ReLU written inside its forward() comes between the last layer cnnscope "
                      "can read (features.norm5) and the pooling."),
        _tv("convnext_tiny", "ConvNeXt", tvm.ConvNeXt_Tiny_Weights.IMAGENET1K_V1, "features.7",
            "ConvNeXt (2022) modernises ResNet with ideas from vision transformers: large 7x7 "
            "depthwise convolutions, layer normalisation and fewer activations.",
            head_note="a layer normalisation comes between the pooling and the linear layer."),
        ModelSpec(
            name=DEFAULT_MODEL, family="Demo",
            description="cnnscope's own small CNN, trained on drawn shapes (circle, square, "
                        "triangle, star, cross, hexagon): four conv blocks, global average pooling "
                        "and one linear layer. It works offline and is small enough to see whole.",
            cam_layer="features.block4", builder=ShapesNet,
            preprocessing=Preprocessing(DEMO_INPUT_SIZE, DEMO_INPUT_SIZE, DEMO_MEAN, DEMO_STD),
            labels=DEMO_CLASSES, bundled_file="demo_shapes.pt", cam_head="fc",
            bundled_label="bundled demo weights", bundled_command="make-demo"),
        ModelSpec(
            name="lenet5", family="LeNet",
            description="LeNet-5 (LeCun et al. 1998), the network CNNs grew from, made to read "
                        "handwritten digits and cheques: a 32x32 grey picture, two stages of 5x5 "
                        "convolution and 2x2 pooling (6, then 16 feature maps), then fully "
                        "connected layers of 120, 84 and 10 units; 61,706 parameters in all. "
                        "cnnscope's own weights, trained on printed digits it draws itself, in many "
                        "fonts, shifted, rotated and noisy; light digits on a dark ground, as in MNIST.",
            cam_layer="features.relu2", builder=LeNet5, preprocessing=LENET_PREPROCESSING,
            labels=DIGIT_CLASSES, bundled_file="lenet5.pt", head_note=_FC_HEAD,
            bundled_label="bundled LeNet-5 weights (drawn digits)", bundled_command="make-lenet"),
    ]
    return specs


REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in _specs()}


def get_spec(name: str) -> ModelSpec:
    """The spec named ``name``, or ModelError listing the known names."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ModelError(f"Unknown model '{name}'. Known models: {', '.join(REGISTRY)} "
                         "(run 'cnnscope models' for details).") from None


def model_names() -> list[str]:
    """Registry names, the default model first."""
    return [DEFAULT_MODEL] + [n for n in REGISTRY if n != DEFAULT_MODEL]
