"""One forward pass -> predictions, every layer's feature maps, a layer table; nothing left behind."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnscope.core import inspect as inspect_mod
from cnnscope.core.images import open_image
from cnnscope.core.inspect import default_feature_layer, inspect
from cnnscope.core.shapes import DEMO_CLASSES, as_arrays, make_samples
from cnnscope.core.weights import load_model

SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


def _hooks(module: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())


@pytest.mark.parametrize("shape", DEMO_CLASSES)
def test_demo_model_recognises_its_sample_images(demo_model, shape):
    result = inspect(demo_model, open_image(SAMPLES / f"shape_{shape}.png"))
    assert result.predictions[0].label == shape and result.predictions[0].probability > 0.8
    assert len(result.predictions) == 5
    assert sum(p.probability for p in result.predictions) <= 1.0 + 1e-6


def test_demo_model_accuracy_on_fresh_shapes(demo_model):
    images, labels, _ = as_arrays(make_samples(240, seed=424242))  # never seen in training
    hits = [inspect(demo_model, img).predictions[0].index == y for img, y in zip(images, labels)]
    assert np.mean(hits) >= 0.95


def test_every_layer_with_feature_maps_is_captured(demo_model):
    result = inspect(demo_model, open_image(SAMPLES / "shape_star.png"))
    expected = {name for name, m in demo_model.module.named_modules()
                if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.ReLU,
                                  torch.nn.MaxPool2d, torch.nn.Sequential)) and name}
    assert expected <= set(result.activations)
    assert result.activation("features.block1.conv").shape == (16, 48, 48)
    assert result.activation("features.block2.pool").shape == (32, 12, 12)
    assert result.activation("features.block4").shape == (128, 12, 12)
    assert "fc" not in result.activations  # a vector, not feature maps
    assert all(a.dtype == np.float32 for a in result.activations.values())


def test_layer_table_has_types_shapes_and_parameter_counts(demo_model):
    result = inspect(demo_model, open_image(SAMPLES / "shape_star.png"))
    rows = {row.name: row for row in result.layers}
    conv = rows["features.block1.conv"]
    assert (conv.type, conv.output_shape, conv.params) == ("Conv2d", (16, 48, 48), 3 * 16 * 7 * 7)
    assert rows["fc"].output_shape == (6,) and rows["fc"].params == 128 * 6 + 6
    assert rows["features"].has_children and rows["features"].depth == 0
    assert rows["features.block3.conv2"].depth == 2
    block = demo_model.module.features.block3
    assert rows["features.block3"].params == sum(p.numel() for p in block.parameters())


def test_captured_maps_are_not_overwritten_by_later_in_place_ops():
    """ResNet blocks do ``out += identity`` on bn2's output; the capture must show bn2 itself."""
    loaded = load_model("resnet18", "random")
    image = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    result = inspect(loaded, image)
    block = loaded.module.layer1[0]
    with torch.no_grad():
        conv2 = torch.from_numpy(result.activation("layer1.0.conv2"))[None]
        expected_bn2 = block.bn2(conv2)[0].numpy()
    np.testing.assert_allclose(result.activation("layer1.0.bn2"), expected_bn2, rtol=1e-4, atol=1e-5)
    assert result.activation("layer1.0.bn2").min() < 0  # pre-ReLU values survive
    np.testing.assert_allclose(result.activation("layer1.0"), result.activation("layer1.0.relu"))


def test_an_output_born_with_a_bumped_version_keeps_the_traced_graph(demo_model):
    """Adaptive pooling of a channels-last map writes its own output while making it (ConvNeXt):
    no later op overwrote it, so the traced graph stays; a real overwrite still means hooks."""
    from cnnscope.core.weights import LoadedModel

    class ChannelsLast(torch.nn.Module):
        def __init__(self, overwrite: bool) -> None:
            super().__init__()
            self.conv, self.pool, self.fc = torch.nn.Conv2d(3, 8, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Linear(8, 6)
            self.overwrite = overwrite

        def forward(self, x):
            y = self.conv(x)
            pooled = self.pool(y.contiguous(memory_format=torch.channels_last))
            if self.overwrite:
                torch.relu_(y)  # a function call the in-place rewrite does not know
            return self.fc(pooled.flatten(1))

    image = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    for overwrite in (False, True):
        module = ChannelsLast(overwrite).eval()
        loaded = LoadedModel(**{**demo_model.__dict__, "module": module, "graph": None, "graph_key": None})
        result = inspect(loaded, image)
        assert (loaded.graph is None) == overwrite
        assert result.activation("conv").min() < 0  # the map as made, before relu_ wrote over it


def test_inception_branches_keep_pre_relu_batchnorm_outputs():
    loaded = load_model("googlenet", "random")
    image = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    result = inspect(loaded, image)
    assert result.activation("conv1.bn").min() < 0  # F.relu(inplace=True) ran after it
    assert result.activation("conv1").min() >= 0
    assert result.activation("inception3a").shape == (256, 28, 28)


def test_no_hooks_remain_after_inspection_even_on_error(demo_model):
    image = open_image(SAMPLES / "shape_star.png")
    inspect(demo_model, image)
    assert _hooks(demo_model.module) == 0


    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("broken layer")

    head = demo_model.module.fc
    demo_model.module.fc = Broken()
    try:
        with pytest.raises(RuntimeError, match="broken layer"):
            inspect(demo_model, image)
    finally:
        demo_model.module.fc = head
    assert _hooks(demo_model.module) == 0


def test_untrained_weights_are_flagged_in_the_result():
    result = inspect(load_model("squeezenet1_1", "random"), np.zeros((50, 80, 3), np.uint8))
    assert not result.trained and any("Untrained" in n for n in result.notes)


def test_out_of_memory_falls_back_to_the_cpu(demo_model, monkeypatch):
    real_forward = inspect_mod._forward

    def fake_forward(loaded, image, device, cropped=False):
        if device.type == "cuda":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return real_forward(loaded, image, device, cropped)

    monkeypatch.setattr(inspect_mod, "_forward", fake_forward)
    monkeypatch.setattr(inspect_mod, "release_cached_memory", lambda device: None)
    monkeypatch.setattr(inspect_mod, "describe", lambda d: d.type.upper())
    monkeypatch.setattr(inspect_mod, "concrete", lambda d: d)
    result = inspect(demo_model, open_image(SAMPLES / "shape_circle.png"), torch.device("cuda"))
    assert result.device == "CPU" and "ran out of memory" in result.notes[0]
    assert result.predictions[0].label == "circle"


def test_default_feature_layer_is_mid_level():
    loaded = load_model("resnet18", "random")
    result = inspect(loaded, np.zeros((224, 224, 3), np.uint8))
    layer = default_feature_layer(result, 224)
    assert result.activation(layer).shape[1] == 28 and "relu" in layer


def test_switching_models_releases_them(tmp_path):
    """Nothing (hooks, graphs, caches) keeps an old model or its activations alive."""
    image = open_image(SAMPLES / "chelsea.png")
    refs = []
    for name in ["resnet18", "squeezenet1_1", "demo_shapes", "mobilenet_v2", "alexnet"] * 2:
        loaded = load_model(name, "random")
        result = inspect(loaded, image)
        assert _hooks(loaded.module) == 0
        refs.append((weakref.ref(loaded.module), weakref.ref(result)))
        del loaded, result
    gc.collect()
    assert all(m() is None and r() is None for m, r in refs)


@pytest.mark.parametrize("name", ["resnet18", "googlenet", "mobilenet_v2", "demo_shapes"])
def test_traced_graph_gives_the_same_maps_as_hooks(name):
    loaded = load_model(name, "random")
    x = loaded.spec.preprocessing(np.random.default_rng(0).integers(0, 256, (200, 260, 3), np.uint8))[0]
    graph = inspect_mod.traced_graph(loaded)
    assert graph is not None
    with torch.no_grad():
        logits, traced = graph(x)
        reference = loaded.module(x)
    hooked_logits, hooked = inspect_mod._forward_with_hooks(loaded.module, x, set())
    torch.testing.assert_close(logits, reference)
    torch.testing.assert_close(hooked_logits, reference)
    assert set(hooked) <= set(traced)
    for layer, tensor in hooked.items():
        torch.testing.assert_close(traced[layer], tensor, msg=layer)
    # layers inside torchvision.ops blocks (Conv2dNormActivation) are there too
    if name == "mobilenet_v2":
        assert traced["features.0.0"].shape == (1, 32, 112, 112)


def test_graph_follows_a_replaced_head(demo_model):
    image = open_image(SAMPLES / "shape_star.png")
    loaded = load_model("demo_shapes")
    inspect(loaded, image)
    loaded.module.fc = torch.nn.Linear(128, 2)
    loaded.labels = ("a", "b")
    result = inspect(loaded, image)
    assert result.probabilities.shape == (2,)
    assert next(r for r in result.layers if r.name == "fc").params == 128 * 2 + 2


def test_untraceable_model_falls_back_to_hooks(demo_model):
    class Branchy(torch.nn.Module):
        """Data-dependent control flow: symbolic tracing cannot follow it."""

        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)
            self.head = torch.nn.Linear(4, 6)

        def forward(self, x):
            y = self.conv(x)
            if y.mean() > 0:
                y = y * 2
            return self.head(y.mean((2, 3)))

    loaded = load_model("demo_shapes", "random")
    loaded.module = Branchy().eval()
    result = inspect(loaded, open_image(SAMPLES / "shape_star.png"))
    assert loaded.graph is None
    assert result.activation("conv").shape == (4, 94, 94) and len(result.predictions) == 5
    assert _hooks(loaded.module) == 0


def test_tracing_leaves_a_model_running_on_another_thread_alone():
    """torch.fx patches nn.Module for the whole process while it traces: the trainer's model,
    running on its own thread while the engine traces a newly loaded one, must not be traced."""
    import threading

    import torchvision

    from cnnscope.core.tracing import trace_every_output, trace_until

    busy = torchvision.models.resnet18().eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = busy(x)
    errors: list[BaseException] = []
    runs = [0]
    stop = threading.Event()

    def keep_running() -> None:
        while not stop.is_set():
            try:
                with torch.no_grad():
                    assert torch.allclose(busy(x), expected, atol=1e-5)
                runs[0] += 1
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    worker = threading.Thread(target=keep_running)
    worker.start()
    try:
        traced = []
        for _ in range(3):  # each trace is a window in which the worker's forwards must pass through
            traced.append(trace_every_output(torchvision.models.resnet50()))
            traced.append(trace_until(torchvision.models.mobilenet_v2(), "features.8"))
    finally:
        stop.set()
        worker.join()
    assert not errors, errors[0]
    assert runs[0] > 0 and all(t is not None for t in traced)
    assert traced[0].names[:2] == ["conv1", "bn1"]  # the traces themselves are whole and right
