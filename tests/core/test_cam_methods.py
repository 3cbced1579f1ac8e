"""The CAM variants and the added pixel methods, checked against independent implementations.

References (test-only dependencies): pytorch-grad-cam (``grad-cam``) and TorchCAM. Each comparison
runs both on the same model, input, layer and class; where a reference defines the method
differently from its paper, the test says so and checks the paper's definition instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cnnscope.core import cam_passes
from cnnscope.core.attribution import METHODS, attribute
from cnnscope.core.images import open_image
from cnnscope.core.inspect import inspect
from cnnscope.core.passes import Runner
from cnnscope.core.weights import load_model

SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


@pytest.fixture(scope="module")
def resnet():
    """ResNet-18 with fixed random weights, its inspection of a photo and the top class."""
    torch.manual_seed(3)
    loaded = load_model("resnet18", "random")
    photo = open_image(SAMPLES / "chelsea.png")
    inspection = inspect(loaded, photo)
    return loaded, inspection, inspection.predictions[0].index


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    assert a.std() > 0 and b.std() > 0, "a flat map proves nothing"
    return float(np.corrcoef(a, b)[0, 1])


def _grad_cam_library(kind: str, loaded, inspection, layer: str, target: int) -> np.ndarray:
    import pytorch_grad_cam as pgc
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = loaded.module
    method = getattr(pgc, kind)(model=model, target_layers=[model.get_submodule(layer)])
    x = inspection.input_tensor.detach().clone()
    try:
        return method(input_tensor=x, targets=[ClassifierOutputTarget(target)])[0]
    finally:
        method.activations_and_grads.release()


@pytest.mark.parametrize("ours, theirs", [("gradcam++", "GradCAMPlusPlus"), ("hirescam", "HiResCAM"),
                                          ("xgradcam", "XGradCAM"), ("layercam", "LayerCAM")])
@pytest.mark.parametrize("layer", ["layer4", "layer3"])
def test_cam_variants_match_pytorch_grad_cam(resnet, ours, theirs, layer):
    loaded, inspection, target = resnet
    found = attribute(loaded, inspection, ours, target=target, layer=layer)
    reference = _grad_cam_library(theirs, loaded, inspection, layer, target)
    assert found.heatmap.shape == reference.shape
    assert _corr(found.heatmap, reference) >= 0.99


def test_ablationcam_matches_pytorch_grad_cam(demo_model):
    """On the small demo model (the reference runs a whole forward per ablated channel), at layers
    after a ReLU: there both set a channel to zero, as the paper does. Where a layer's outputs go
    negative pytorch-grad-cam sets the channel to (its minimum - 1e7) instead, which is no longer
    the paper's ablation."""
    inspection = inspect(demo_model, open_image(SAMPLES / "shape_star.png"))
    target = inspection.predictions[0].index
    for layer in ("features.block4", "features.block3.relu1"):
        found = attribute(demo_model, inspection, "ablationcam", target=target, layer=layer)
        reference = _grad_cam_library("AblationCAM", demo_model, inspection, layer, target)
        assert _corr(found.heatmap, reference) >= 0.99, layer


def test_variants_differ_from_grad_cam_where_their_weights_differ(resnet):
    """Guard against a dispatch that hands every key the same formula: the layer3 maps differ."""
    loaded, inspection, target = resnet
    maps = {m: attribute(loaded, inspection, m, target=target, layer="layer3").heatmap
            for m in ("gradcam", "hirescam", "layercam", "xgradcam")}
    for method in ("hirescam", "layercam", "xgradcam"):
        assert not np.allclose(maps[method], maps["gradcam"], atol=1e-3), method


def test_eigencam_is_the_first_principal_component_turned_towards_the_activity(resnet):
    """pytorch-grad-cam projects the centred maps on the first right singular vector but leaves
    its sign to the SVD (either sign is an eigenvector); ours is that projection, signed to rise
    with the layer's total activity."""
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection

    loaded, inspection, _ = resnet
    activation = inspection.activations.tensors()["layer4"].detach()
    theirs = get_2d_projection(activation.numpy())[0]
    activity = activation[0].sum(dim=0).numpy()
    if _corr(theirs, activity) < 0:
        theirs = -theirs
    found = attribute(loaded, inspection, "eigencam", layer="layer4")
    ours_raw = found.raw
    positive = theirs > 0
    assert positive.any() and np.allclose(ours_raw[~positive], 0)
    assert _corr(ours_raw[positive], theirs[positive]) >= 0.999
    # no class in it: another class gets the same map, and a note says so
    other = attribute(loaded, inspection, "eigencam", layer="layer4", target=inspection.predictions[3].index)
    np.testing.assert_array_equal(other.heatmap, found.heatmap)
    assert any("does not depend on the class" in note for note in found.notes)


def test_smooth_gradcam_pp_without_noise_is_torchcams_and_averages_the_derivatives(resnet):
    """TorchCAM's SmoothGradCAMpp weighs alpha by the *last* noisy sample's gradient (its docs call
    the numerator a 'personal correction'); Omeiza et al. average every derivative over the
    samples. With noise too small to matter the two are Grad-CAM++ and must agree; with real noise
    ours must equal the paper's averages, computed here from per-sample gradients."""
    from torchcam.methods import SmoothGradCAMpp

    loaded, inspection, target = resnet
    model, x = loaded.module, inspection.input_tensor.detach()
    runner = Runner(loaded, inspection, None, None)
    tiny = torch.randn((2, *x.shape[1:]), generator=torch.Generator().manual_seed(1)) * 1e-6
    ours = cam_passes.smooth_gradcam_pp(runner, "layer4", target, tiny).numpy()
    with SmoothGradCAMpp(model, "layer4", num_samples=2, std=1e-6, input_shape=tuple(x.shape[1:])) as extractor:
        scores = model(x.clone())
        theirs = extractor(target, scores)[0][0].detach().numpy()
    assert _corr(ours, theirs) >= 0.99

    noise = torch.randn((3, *x.shape[1:]), generator=torch.Generator().manual_seed(2)) * 0.5
    gradients = []
    kept = {}
    handle = model.layer4.register_forward_hook(lambda _m, _i, out: kept.update(out=out))
    try:
        for sample in noise:
            with torch.enable_grad():
                logits = model((x + sample).requires_grad_(True))
                gradients.append(torch.autograd.grad(logits[0, target], kept["out"])[0].detach())
    finally:
        handle.remove()
    g = torch.cat(gradients)
    d1, d2, d3 = g.mean(0, keepdim=True), g.pow(2).mean(0, keepdim=True), g.pow(3).mean(0, keepdim=True)
    a = inspection.activations.tensors()["layer4"].detach()
    alpha = d2 / (2 * d2 + a.sum(dim=(2, 3), keepdim=True) * d3)
    weights = (alpha * torch.relu(d1)).sum(dim=(2, 3), keepdim=True)
    paper = torch.relu((weights * a).sum(dim=1))[0].numpy()
    ours = cam_passes.smooth_gradcam_pp(runner, "layer4", target, noise).numpy()
    np.testing.assert_allclose(ours, paper, rtol=1e-3, atol=1e-6 * float(np.abs(paper).max()))


def test_scorecam_follows_the_papers_algorithm(demo_model):
    """Score-CAM as Wang et al.'s Algorithm 1 and their released code define it: each channel's
    map, upsampled and scaled to 0..1, masks the input; its weight is the class *probability*
    (softmax over classes) of the masked input. pytorch-grad-cam and TorchCAM weigh channels by a
    softmax over *channels* of the logits instead, so they are not the reference here; the loop
    below is written from the paper, one channel at a time."""
    photo = open_image(SAMPLES / "shape_star.png")
    inspection = inspect(demo_model, photo)
    target = inspection.predictions[0].index
    paper = _paper_scorecam(demo_model.module, inspection, demo_model.spec.cam_layer, target)
    found = attribute(demo_model, inspection, "scorecam", target=target)
    np.testing.assert_allclose(found.raw, paper, rtol=1e-4, atol=1e-5 * float(paper.max()))


def _paper_scorecam(model, inspection, layer: str, target: int, channels=None) -> np.ndarray:
    """Score-CAM written from Wang et al.'s Algorithm 1, one channel at a time."""
    a = inspection.activations.tensors()[layer][0].detach()
    x = inspection.input_tensor.detach()
    paper = torch.zeros(a.shape[1:])
    with torch.no_grad():
        for k in (range(len(a)) if channels is None else channels):
            up = torch.nn.functional.interpolate(a[k][None, None], size=x.shape[-2:], mode="bilinear",
                                                 align_corners=False)[0, 0]
            if up.max() == up.min():
                continue
            mask = (up - up.min()) / (up.max() - up.min())
            paper += torch.softmax(model(x * mask), dim=1)[0, target] * a[k]
    return torch.relu(paper).numpy()


def test_fast_scorecam_scores_only_the_channels_with_the_highest_peaks(demo_model, monkeypatch):
    inspection = inspect(demo_model, open_image(SAMPLES / "shape_star.png"))
    layer, target = demo_model.spec.cam_layer, inspection.predictions[0].index
    peaks = inspection.activations.tensors()[layer][0].detach().flatten(1).amax(dim=1)
    assert len(peaks) > 5
    monkeypatch.setattr(cam_passes, "FAST_SCORECAM_CHANNELS", 5)
    seen = []
    fast = attribute(demo_model, inspection, "scorecam_fast", progress=lambda done, total: seen.append(total))
    assert seen and set(seen) == {5}
    expected = _paper_scorecam(demo_model.module, inspection, layer, target,
                               torch.topk(peaks, 5).indices.tolist())
    np.testing.assert_allclose(fast.raw, expected, rtol=1e-4, atol=1e-5 * float(expected.max()))


def test_ablationcam_runs_only_the_tail_after_the_layer(resnet, monkeypatch):
    """Ablating channels of layer4 must not run the network's body again: conv1 never fires."""
    loaded, inspection, target = resnet
    calls = []
    handle = loaded.module.conv1.register_forward_hook(lambda *_: calls.append(1))
    try:
        found = attribute(loaded, inspection, "ablationcam", target=target, layer="layer4")
    finally:
        handle.remove()
    assert calls == [] and found.heatmap.max() == 1


def test_at_least_sixteen_methods_each_with_its_sentence_and_paper():
    assert len(METHODS) >= 16
    for method in METHODS.values():
        assert len(method.summary) > 40 and method.paper, method.key


def test_input_x_gradient_is_the_gradient_times_the_input(resnet):
    loaded, inspection, target = resnet
    x = inspection.input_tensor.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (gradient,) = torch.autograd.grad(loaded.module(x)[0, target], x)
    expected = (gradient * x.detach())[0].sum(dim=0).numpy()
    found = attribute(loaded, inspection, "input_x_gradient", target=target)
    np.testing.assert_allclose(found.raw, expected, rtol=1e-3, atol=1e-5 * np.abs(expected).max())


@pytest.mark.filterwarnings("ignore:Setting forward, backward hooks", "ignore:Input Tensor 0 did not")
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_deeplift_adds_up_on_networks_that_reuse_or_lack_captums_activations(name):
    """ResNet calls one nn.ReLU three times per block and MobileNet uses ReLU6, which captum's
    DeepLIFT does not know: on the model as it is, its attributions do not add up to the score
    difference from the reference (checked below, so the test shows the problem is real); on
    cnnscope's copy with one module per activation call and the rescale rule lent, they do."""
    from captum.attr import DeepLift

    torch.manual_seed(0)
    loaded = load_model(name, "random")
    inspection = inspect(loaded, open_image(SAMPLES / "chelsea.png"))
    target = inspection.predictions[0].index
    found = attribute(loaded, inspection, "deeplift", target=target)
    x = inspection.input_tensor.detach()
    baseline = Runner(loaded, inspection, None, None).black_image(x)
    with torch.no_grad():
        gap = float(loaded.module(x)[0, target] - loaded.module(baseline)[0, target])
    assert abs(float(found.raw.sum()) - gap) <= 0.02 * abs(gap) + 1e-3
    assert abs(found.convergence_delta) <= 0.02 * abs(gap) + 1e-3
    import copy
    plain = copy.deepcopy(loaded.module)
    for m in plain.modules():
        if hasattr(m, "inplace"):
            m.inplace = False
    try:
        as_is = float(DeepLift(plain).attribute(x.clone(), baselines=baseline, target=target).detach().sum())
    except RuntimeError as exc:  # captum notices a reused module
        assert "used more than once" in str(exc)
    else:
        assert abs(as_is - gap) > 0.05 * abs(gap)


def test_a_model_returning_logits_and_aux_gets_every_layer_method(tmp_path):
    """A traced model returning (logits, aux): the tail after a layer must end at the logits (it
    ended at the tuple: Ablation-CAM and the gradient CAMs away from the CAM layer raised
    AttributeError, and the All methods grid with them)."""
    from cnnscope.core.method_grid import every_method
    from cnnscope.api import open_model

    class TwoHeads(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU())
            self.b = torch.nn.Sequential(torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU())
            self.fc, self.aux = torch.nn.Linear(16, 4), torch.nn.Linear(8, 4)

        def forward(self, x):
            a = self.a(x)
            return self.fc(self.b(a).mean((2, 3))), self.aux(a.mean((2, 3)))

    torch.manual_seed(0)
    loaded = open_model(TwoHeads(), input_size=32)
    inspection = inspect(loaded, open_image(SAMPLES / "shape_star.png"))
    for method in ("ablationcam", "gradcam", "hirescam", "layercam"):
        for layer in ("a", "b"):
            assert attribute(loaded, inspection, method, layer=layer).heatmap.shape == (32, 32)
    grid = every_method(loaded, inspection, layer="a")
    assert not any("failed" in why for why in grid.refused.values()), grid.refused
