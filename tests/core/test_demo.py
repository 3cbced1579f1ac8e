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
