"""The bundled demo model, its data generator and its reproducible training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from cnnscope.core import shapes
from cnnscope.core.demo_training import DemoTrainingSetup, train_demo
from cnnscope.core.models import get_spec
from cnnscope.core.weights import load_model

ASSETS = Path(__file__).resolve().parents[2] / "assets"


def test_generator_is_seeded_and_balanced():
    a = shapes.make_samples(30, seed=5)
    b = shapes.make_samples(30, seed=5)
    c = shapes.make_samples(30, seed=6)
    assert all(np.array_equal(x.image, y.image) and x.label == y.label for x, y in zip(a, b))
    assert not all(np.array_equal(x.image, y.image) for x, y in zip(a, c))
    assert np.bincount([s.label for s in a]).tolist() == [5] * 6


def test_masks_cover_the_drawn_shape():
    for sample in shapes.make_samples(24, seed=1):
        area = sample.mask.mean()
        assert 0.02 < area < 0.5
        inside = sample.image[sample.mask].astype(float).mean(axis=0)
        outside = sample.image[~sample.mask].astype(float).mean(axis=0)
        assert np.abs(inside - outside).max() > 20  # the shape stands out from its background


def test_every_shape_can_be_drawn():
    rng = np.random.default_rng(0)
    for name in shapes.SHAPES:
        image, mask = shapes.draw_shape(rng, name, 64)
        assert image.shape == (64, 64, 3) and mask.any()


def test_bundled_model_is_small_and_its_record_meets_the_target():
    path = ASSETS / "demo_shapes.pt"
    assert path.stat().st_size <= 5 * 1024 * 1024
    record = json.loads((ASSETS / "demo_shapes_training.json").read_text())
    assert record["test_accuracy"] >= 0.95
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["arch"] == "demo_shapes" and tuple(ckpt["classes"]) == shapes.DEMO_CLASSES
    assert ckpt["meta"]["training"]["test_accuracy"] == record["test_accuracy"]


def test_demo_head_is_global_average_pooling_then_linear():
    model = load_model("demo_shapes").module
    assert isinstance(model.avgpool, torch.nn.AdaptiveAvgPool2d)
    assert isinstance(model.fc, torch.nn.Linear)
    assert get_spec("demo_shapes").cam_layer == "features.block4"


def test_training_script_writes_a_loadable_checkpoint(tmp_path):
    setup = DemoTrainingSetup(epochs=1, train_images=256, test_images=60, batch_size=64)
    record = train_demo(tmp_path / "d.pt", setup, log=lambda msg: None)
    assert 0.0 <= record.test_accuracy <= 1.0 and len(record.history) == 1
    loaded = load_model("demo_shapes", str(tmp_path / "d.pt"))
    assert loaded.meta["training"]["setup"]["train_images"] == 256


def _low_frequency_share(kernels: np.ndarray) -> np.ndarray:
    """Per kernel: the share of its power (colour channels summed) at spatial frequencies of at
    most 1.5 cycles per kernel: the constant, the first harmonic in each direction and the first
    diagonals (9 of 49 bins for 7x7, so uniform noise gets about 0.18)."""
    k = kernels.shape[-1]
    power = (np.abs(np.fft.fft2(kernels)) ** 2).sum(axis=1)
    freq = np.fft.fftfreq(k) * k
    low = (freq[:, None] ** 2 + freq[None, :] ** 2) <= 1.5 ** 2
    return power[:, low].sum(axis=1) / power.reshape(len(power), -1).sum(axis=1)


def test_bundled_first_layer_filters_are_structured_not_noise():
    kernels = load_model("demo_shapes").module.features.block1.conv.weight.detach().numpy()
    assert kernels.shape[-2:] == (7, 7)
    share = _low_frequency_share(kernels)
    assert (share >= 0.6).mean() >= 0.75, np.round(share, 2)
    # the measure itself tells noise apart: freshly initialised kernels fail it
    fresh = torch.nn.Conv2d(3, 16, 7).weight.detach().numpy()
    assert (_low_frequency_share(fresh) >= 0.6).mean() < 0.25


def test_bundled_first_layer_has_edges_at_several_orientations():
    """Besides flat colour detectors, a good share of the kernels are edges: zero-mean, with one
    dominant gradient direction (structure tensor coherence), and not all the same direction."""
    kernels = load_model("demo_shapes").module.features.block1.conv.weight.detach().numpy()
    gy, gx = np.gradient(kernels, axis=(2, 3))
    jxx, jyy, jxy = ((a * b).sum(axis=(1, 2, 3)) for a, b in ((gx, gx), (gy, gy), (gx, gy)))
    coherence = np.hypot(jxx - jyy, 2 * jxy) / (jxx + jyy)
    power = (np.abs(np.fft.fft2(kernels)) ** 2).sum(axis=1)
    constant_share = power[:, 0, 0] / power.sum(axis=(1, 2))
    edges = (constant_share < 0.5) & (coherence >= 0.5)
    assert edges.sum() >= 6, np.round(coherence, 2)
    angles = np.degrees(0.5 * np.arctan2(2 * jxy, jxx - jyy))[edges] % 180
    assert len({round(a / 45) % 4 for a in angles}) >= 3, np.round(angles)  # of 0/45/90/135
