"""Grad-CAM, CAM and the pixel methods: the maths, where the maps land, cancel and clean-up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cnnscope.core import attribution as attr
from cnnscope.core.attribution import AttributionCancelled, attribute, cam_refusal, resolve_target
from cnnscope.core.errors import ModelError
from cnnscope.core.images import open_image
from cnnscope.core.inspect import inspect
from cnnscope.core.models import REGISTRY
from cnnscope.core.shapes import make_samples
from cnnscope.core.weights import load_model

SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


@pytest.fixture(scope="module")
def resnet18():
    torch.manual_seed(0)
    return load_model("resnet18", "random")


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return open_image(SAMPLES / "chelsea.png")


def _unit(values: np.ndarray) -> np.ndarray:
    assert values.max() > 0, "an all-zero map proves nothing"
    return values / values.max()


def _captum_gradcam(loaded, inspection, layer: str, target: int) -> np.ndarray:
    from captum.attr import LayerGradCam

    x = inspection.input_tensor.detach().clone()
    cam = LayerGradCam(loaded.module, loaded.module.get_submodule(layer)).attribute(
        x, target=target, relu_attributions=True)
    return cam[0, 0].detach().numpy()


# --- the maths --------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["resnet18", "demo"])
def test_cam_equals_gradcam_up_to_a_positive_scale_on_a_gap_linear_head(model, resnet18,
                                                                        demo_model, photo):
    loaded = resnet18 if model == "resnet18" else demo_model
    inspection = inspect(loaded, photo)
    for target in (None, inspection.predictions[1].index):  # the top class and the runner-up
        cam = attribute(loaded, inspection, "cam", target=target)
        grad = attribute(loaded, inspection, "gradcam", target=target)
        assert cam.layer == grad.layer == loaded.spec.cam_layer
        np.testing.assert_allclose(_unit(cam.raw), _unit(grad.raw), atol=1e-4)


@pytest.mark.parametrize("layer", ["layer4", "layer3", "layer2.1.conv1", "layer1.0.bn2"])
def test_gradcam_from_the_reused_pass_matches_captums_layer_gradcam(resnet18, photo, layer):
    # layer3 and deeper inside blocks: the tail must bring in the shortcut computed before the layer
    inspection = inspect(resnet18, photo)
    ours = attribute(resnet18, inspection, "gradcam", target=3, layer=layer)
    np.testing.assert_allclose(ours.raw, _captum_gradcam(resnet18, inspection, layer, 3),
                               rtol=1e-3, atol=1e-5 * float(np.abs(ours.raw).max()))


def test_gradcam_without_a_traced_graph_uses_one_hooked_pass(resnet18, photo):
    inspection = inspect(resnet18, photo)
    traced = attribute(resnet18, inspection, "gradcam", target=5, layer="layer3").raw
    graph = resnet18.graph
    resnet18.graph = None  # as for a model torch.fx cannot trace (same structure key: no re-trace)
    try:
        hooked = attribute(resnet18, inspection, "gradcam", target=5, layer="layer3").raw
    finally:
        resnet18.graph = graph
    np.testing.assert_allclose(hooked, traced, rtol=1e-4, atol=1e-6)
    assert all(not m._forward_hooks for m in resnet18.module.modules())


def test_gradcam_needs_no_second_forward_pass(resnet18, photo):
    inspection = inspect(resnet18, photo)
    calls = []

    def count(*_args) -> None:
        calls.append(1)
    handles = [resnet18.module.conv1.register_forward_hook(count),
               resnet18.module.fc.register_forward_hook(count)]
    try:
        for target in (None, 1, 2):  # any class: the inspection kept the tail's history
            attribute(resnet18, inspection, "gradcam", target=target)
            attribute(resnet18, inspection, "gradcam++", target=target)
            attribute(resnet18, inspection, "cam", target=target)
        assert calls == []  # at the CAM layer nothing runs forward again, not even the head
        attribute(resnet18, inspection, "gradcam", layer="layer3")
    finally:
        for handle in handles:
            handle.remove()
    assert calls == [1]  # another layer re-runs the part after it only: the head, not the stem


def test_integrated_gradients_add_up_to_the_score_difference(demo_model):
    image = make_samples(1, seed=99)[0].image
    inspection = inspect(demo_model, image)
    result = attribute(demo_model, inspection, "integrated_gradients")
    x = inspection.input_tensor
    baseline = ((0 - torch.tensor(demo_model.spec.preprocessing.mean).view(1, 3, 1, 1))
                / torch.tensor(demo_model.spec.preprocessing.std).view(1, 3, 1, 1)).expand_as(x)
    with torch.no_grad():
        difference = float(demo_model.module(x)[0, result.target] - demo_model.module(baseline)[0, result.target])
    assert abs(difference) > 1.0  # the test means something only if the score really changes
    assert result.convergence_delta is not None
    assert abs(float(result.raw.sum()) - difference) <= abs(result.convergence_delta) + 1e-3
    assert abs(result.convergence_delta) < 0.02 * abs(difference)


# --- where the maps land ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def unseen_inspections(demo_model):
    """150 shapes the demo never saw in training, inspected once for every method below."""
    return [(sample, inspect(demo_model, sample.image)) for sample in make_samples(150, seed=2026)]


@pytest.mark.parametrize(("method", "count", "needed"),
                         [("cam", 150, 0.9), ("gradcam", 150, 0.9), ("gradcam++", 150, 0.9),
                          ("scorecam", 12, 0.9)])
def test_demo_maps_peak_inside_the_shape(demo_model, unseen_inspections, method, count, needed):
    hits = []
    for sample, inspection in unseen_inspections[:count]:
        heatmap = attribute(demo_model, inspection, method, target=sample.label).heatmap
        assert heatmap.shape == sample.mask.shape
        peak = np.unravel_index(np.argmax(heatmap), heatmap.shape)
        hits.append(bool(sample.mask[peak]))
    assert np.mean(hits) >= needed, f"pointing game {np.mean(hits):.2f}"


def test_mobilenet_gradcam_for_espresso_sits_on_the_cup(mobilenet_file):
    loaded = load_model("mobilenet_v2", str(mobilenet_file))
    inspection = inspect(loaded, open_image(SAMPLES / "coffee.jpg"))
    result = attribute(loaded, inspection, "gradcam", target="espresso")
    assert result.target_label == "espresso"
    # The cup, rim to base, in the 224 x 224 centre crop (read off the photo, not off any map).
    row, col = np.unravel_index(np.argmax(result.heatmap), result.heatmap.shape)
    assert 10 <= row <= 140 and 35 <= col <= 190, (row, col)
    # and most of the map's mass lies on the cup rather than on the table around it
    cup = np.zeros_like(result.heatmap, bool)
    cup[10:150, 30:195] = True
    assert result.heatmap[cup].sum() > 0.6 * result.heatmap.sum()


def test_squeezenet_cam_uses_the_rectified_class_map(squeezenet_file):
    loaded = load_model("squeezenet1_1", str(squeezenet_file))
    inspection = inspect(loaded, open_image(SAMPLES / "coffee.jpg"))
    cam = attribute(loaded, inspection, "cam")
    with torch.no_grad():
        class_maps = loaded.module.classifier[:3](inspection.activations.tensors()["features.12"])
    np.testing.assert_allclose(cam.raw, class_maps[0, cam.target].numpy(), rtol=1e-4, atol=1e-4)


# --- every method, the choices, refusals ------------------------------------------------------


@pytest.mark.parametrize("method", attr.method_keys())
def test_every_method_gives_a_map_over_the_crop(demo_model, method):
    inspection = inspect(demo_model, open_image(SAMPLES / "shape_star.png"))
    result = attribute(demo_model, inspection, method, target="star")
    assert result.heatmap.shape == inspection.input_rgb.shape[:2]
    assert result.heatmap.dtype == np.float32
    assert 0 <= result.heatmap.min() and result.heatmap.max() == pytest.approx(1.0)
    assert result.layer == (demo_model.spec.cam_layer if attr.METHODS[method].uses_layer else None)
    # nothing is left hooked, and parameters want gradients again as before
    assert all(not (m._forward_hooks or m._backward_hooks or m._forward_pre_hooks)
               for m in demo_model.module.modules())
    assert all(p.requires_grad for p in demo_model.module.parameters())


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_cam_head_fits_the_cam_layer_or_cam_is_refused_with_a_reason(name):
    spec = REGISTRY[name]
    reason = cam_refusal(spec)
    if spec.family in ("VGG", "AlexNet"):
        assert reason and "Grad-CAM" in reason and "fully connected" in reason
    if reason:
        return
    with torch.device("meta"):
        model = spec.build().eval()
        seen = {}

        def record(_module, _inputs, output) -> None:
            seen["channels"] = output.shape[1]
        handle = model.get_submodule(spec.cam_layer).register_forward_hook(record)
        model(torch.empty(1, 3, spec.input_size, spec.input_size))
        handle.remove()
    head = model.get_submodule(spec.cam_head)
    assert head.weight.shape[0] == spec.num_classes
    assert head.weight.reshape(spec.num_classes, -1).shape[1] == seen["channels"]


def test_cam_on_alexnet_is_refused_and_gradcam_still_works(photo):
    torch.manual_seed(0)
    loaded = load_model("alexnet", "random")
    inspection = inspect(loaded, photo)
    with pytest.raises(ModelError, match="fully connected"):
        attribute(loaded, inspection, "cam")
    assert attribute(loaded, inspection, "gradcam").heatmap.shape == (224, 224)


def test_cam_at_another_layer_says_where_it_was_computed(demo_model, photo):
    inspection = inspect(demo_model, photo)
    result = attribute(demo_model, inspection, "cam", layer="features.block2")
    assert result.layer == "features.block4" and "features.block4" in result.notes[0]


def test_gradcam_at_any_conv_layer(demo_model, photo):
    inspection = inspect(demo_model, photo)
    result = attribute(demo_model, inspection, "gradcam", layer="features.block2")
    assert result.layer == "features.block2"
    assert result.raw.shape == inspection.activations.shape("features.block2")[1:]
    with pytest.raises(ModelError, match="no feature maps"):
        attribute(demo_model, inspection, "gradcam", layer="fc")


def test_targets_by_index_label_or_default(demo_model, photo):
    inspection = inspect(demo_model, photo)
    assert resolve_target(demo_model, inspection, None) == inspection.predictions[0].index
    assert resolve_target(demo_model, inspection, "Triangle") == demo_model.labels.index("triangle")
    assert resolve_target(demo_model, inspection, "2") == 2
    with pytest.raises(ModelError, match="Did you mean: star"):
        resolve_target(demo_model, inspection, "sta")
    with pytest.raises(ModelError, match="out of range"):
        resolve_target(demo_model, inspection, 6)
    with pytest.raises(ModelError, match="Unknown attribution method"):
        attribute(demo_model, inspection, "magic")


def test_class_choice_changes_the_map(demo_model):
    sample = make_samples(1, seed=5)[0]
    inspection = inspect(demo_model, sample.image)
    own = attribute(demo_model, inspection, "gradcam", target=sample.label).raw
    other = attribute(demo_model, inspection, "gradcam", target=(sample.label + 1) % 6).raw
    assert not np.allclose(own, other)


def test_slow_methods_report_progress_and_stop_when_cancelled(demo_model, photo, monkeypatch):
    from cnnscope.core import batching

    monkeypatch.setattr(batching, "CPU_BATCH", 2)  # many small batches: many chances to stop
    inspection = inspect(demo_model, photo)
    seen = []
    attribute(demo_model, inspection, "occlusion", progress=lambda d, t: seen.append((d, t)))
    assert len(seen) > 3 and seen[-1][0] == seen[-1][1]
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    ticks = []

    def cancel_after_two() -> bool:
        ticks.append(1)
        return len(ticks) > 2

    for method in ("scorecam", "scorecam_fast", "ablationcam", "smoothgradcam++", "integrated_gradients",
                   "smoothgrad", "occlusion"):
        ticks.clear()
        with pytest.raises(AttributionCancelled):
            attribute(demo_model, inspection, method, should_cancel=cancel_after_two)
        assert len(ticks) == 3  # stopped at the first check that said so
    assert all(p.requires_grad for p in demo_model.module.parameters())


def test_attribution_needs_the_inspection_of_the_same_model(demo_model, resnet18, photo):
    inspection = inspect(resnet18, photo)
    with pytest.raises(ModelError, match="inspect the image again"):
        attribute(demo_model, inspection, "gradcam")


@pytest.mark.parametrize(("name", "layer"), [("googlenet", "inception4c"), ("inception_v3", "Mixed_6b"),
                                             ("mobilenet_v2", "features.10"), ("vgg11", "features.10")])
def test_reused_pass_matches_captum_in_every_family(photo, name, layer):
    # Inception modules concatenate parallel branches; MobileNet blocks add shortcuts: the tail
    # after a mid-network layer must rebuild all of that from the stored outputs.
    torch.manual_seed(0)
    loaded = load_model(name, "random")
    inspection = inspect(loaded, photo)
    ours = attribute(loaded, inspection, "gradcam", target=1, layer=layer).raw
    np.testing.assert_allclose(ours, _captum_gradcam(loaded, inspection, layer, 1),
                               rtol=1e-3, atol=1e-5 * float(np.abs(ours).max()))


def test_guided_backprop_guides_every_activation_and_equals_captum_on_relu():
    """captum's rule changes nn.ReLU only: on ReLU6 (MobileNet) or SiLU (EfficientNet) its guided
    map was exactly the plain gradient. Ours guides those too; on ReLU it is captum's exactly."""
    import warnings

    from captum.attr import GuidedBackprop, Saliency
    from torch import nn

    from cnnscope.core.attribution import guided_backprop

    def net(activation: type) -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), activation(), nn.Conv2d(8, 8, 3, padding=1),
                             activation(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).eval()

    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(1), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        relu = net(nn.ReLU)
        torch.testing.assert_close(guided_backprop(GuidedBackprop)(relu).attribute(x, target=2),
                                   GuidedBackprop(relu).attribute(x, target=2))
        for activation in (nn.ReLU6, nn.SiLU, nn.GELU, nn.Hardswish):
            model = net(activation)
            plain = Saliency(model).attribute(x, target=2, abs=False)
            assert torch.allclose(GuidedBackprop(model).attribute(x, target=2), plain)  # captum: unguided
            ours = guided_backprop(GuidedBackprop)(model).attribute(x, target=2)
            assert not torch.allclose(ours, plain, atol=1e-4), activation.__name__
