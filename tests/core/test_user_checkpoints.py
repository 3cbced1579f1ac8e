"""A model trained from a user's model opens again: from the same file (never by itself), from
timm, or into the same object; stated hints (size, normalisation, labels) are checked and kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import cnnscope
from cnnscope.core.checkpoint import make_checkpoint, save_atomic
from cnnscope.core.errors import ModelError, WeightsError
from cnnscope.core.user_models import ModelHints, from_module
from cnnscope.core.weights import load_model

SMALL = ModelHints.checked(input_size=32, mean=(0.4, 0.4, 0.4), std=(0.2, 0.2, 0.2))


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    from cnnscope.core.shapes import write_shape_folder

    folder = tmp_path_factory.mktemp("shapes")
    write_shape_folder(folder, per_class=4, seed=1, size=40)
    return folder


def _train_and_save(loaded, shapes, path, preset="fine-tune-all", cut_after=None):
    from cnnscope.core.datasets import load_folder
    from cnnscope.core.freeze import make_plan
    from cnnscope.core.training import TrainingConfig, build_for_training, save_trained, train

    data = load_folder(shapes, loaded.spec.preprocessing)
    plan = make_plan(loaded.module, preset, cut_after=cut_after)
    net = build_for_training(loaded.module, loaded.spec, plan, len(data.classes))
    result = train(net, plan, data, loaded.spec.preprocessing, TrainingConfig(epochs=1, batch_size=8),
                   torch.device("cpu"))
    save_trained(result, loaded.spec, path)
    return result


def _same_outputs(a: nn.Module, b: nn.Module, shape) -> None:
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(a.eval()(x), b.eval()(x))


@pytest.mark.parametrize("preset,cut_after", [("fine-tune-all", None), ("early-features", "body")])
def test_a_model_trained_from_a_users_file_opens_again_from_that_file(user_file, shapes, tmp_path,
                                                                      preset, cut_after):
    """Its new head (or its cut), class names and stated preprocessing come back; the checkpoint
    never runs the file by itself: a registry name gets a sentence naming the model to open."""
    loaded = load_model(f"{user_file}:build", "random", hints=SMALL)
    checkpoint = tmp_path / "mine.pt"
    result = _train_and_save(loaded, shapes, checkpoint, preset, cut_after)

    again = load_model(f"{user_file}:build", str(checkpoint))  # nothing stated this time
    assert again.labels == tuple(result.classes) and again.source == "file"
    prep = again.spec.preprocessing
    assert (prep.crop_size, prep.mean, prep.std) == (32, (0.4, 0.4, 0.4), (0.2, 0.2, 0.2))
    _same_outputs(result.model, again.module, (3, 32, 32))
    assert not any("names no classes" in note for note in again.notes)
    inspection = cnnscope.inspect(again, np.zeros((40, 40, 3), np.uint8))
    assert {p.label for p in inspection.predictions} <= set(result.classes)

    with pytest.raises(WeightsError, match=r"trained from your model .*my_net\.py:build: open that model"):
        load_model("demo_shapes", str(checkpoint))
    # class names stated for the retrained head (they were checked against the factory's 4 outputs)
    names = tuple(f"kind {k}" for k in range(len(result.classes)))
    renamed = load_model(f"{user_file}:build", str(checkpoint), hints=ModelHints.checked(labels=names))
    assert renamed.labels == names
    with pytest.raises(ModelError, match="give 3 outputs"):
        load_model(f"{user_file}:build", str(checkpoint), hints=ModelHints.checked(labels=("a", "b")))


def test_a_model_trained_from_an_object_loads_into_a_copy_of_that_object(user_file, shapes, tmp_path):
    from cnnscope.core.user_models import load_factory

    net = load_factory(user_file, "build")()
    checkpoint = tmp_path / "object.pt"
    result = _train_and_save(from_module(net, "TinyNet", SMALL), shapes, checkpoint)
    head_before = net.head.weight.detach().clone()

    with pytest.raises(WeightsError, match=r"model object \(TinyNet\) handed to cnnscope"):
        load_model("demo_shapes", str(checkpoint))
    opened = cnnscope.open_model(net, weights=checkpoint)
    assert opened.module is not net and opened.labels == tuple(result.classes)
    _same_outputs(result.model, opened.module, (3, 32, 32))
    assert torch.equal(net.head.weight, head_before) and net.head.out_features == 4  # untouched


def test_a_timm_checkpoint_builds_its_model_again_by_itself(tmp_path):
    """timm's code is a library, not a user's file: naming it in a checkpoint is enough."""
    pytest.importorskip("timm")
    from cnnscope.core.freeze import replace_head

    loaded = load_model("timm:resnet10t", "random")
    replace_head(loaded.module, 2)
    path = save_atomic(make_checkpoint("timm:resnet10t", loaded.module.state_dict(), ["cat", "dog"],
                                       {"user_model": "resnet10t"}), tmp_path / "timm.pt")
    again = load_model("demo_shapes", str(path))
    assert again.name == "resnet10t" and again.labels == ("cat", "dog")
    _same_outputs(loaded.module, again.module, (3, 64, 64))


def test_hints_are_checked_and_registry_models_take_only_class_names():
    with pytest.raises(ModelError, match="1 \\(grey\\) or 3 \\(colour\\)"):
        ModelHints.checked(mean=(0.1, 0.1), std=(0.2, 0.2))
    with pytest.raises(ModelError, match="as many std values"):
        ModelHints.checked(mean=(0.1, 0.1, 0.1), std=(0.2,))
    with pytest.raises(ModelError, match="finite"):
        ModelHints.checked(mean=(float("nan"),), std=(1.0,))
    with pytest.raises(ModelError, match="whole number from 8 to 2048"):
        ModelHints.checked(input_size=True)
    with pytest.raises(ModelError, match="can only be given for your own model"):
        load_model("demo_shapes", "pretrained", hints=ModelHints.checked(input_size=64))
    demo = load_model("demo_shapes", "pretrained")
    names = tuple(f"shape {i}" for i in range(len(demo.labels)))
    renamed = load_model("demo_shapes", "pretrained", hints=ModelHints.checked(labels=names))
    assert renamed.labels == names
    with pytest.raises(ModelError, match="list 2 classes"):
        load_model("demo_shapes", "pretrained", hints=ModelHints.checked(labels=("a", "b")))


def test_one_mean_and_std_stand_for_every_channel(user_file):
    loaded = load_model(f"{user_file}:build", "random", hints=ModelHints.checked(mean=(0.5,), std=(0.25,)))
    assert loaded.spec.preprocessing.mean == (0.5, 0.5, 0.5) and loaded.spec.preprocessing.std == (0.25,) * 3


def test_hints_reach_a_user_model_named_by_the_api(user_file):
    """open_model("net.py:build", input_size=...) passed nothing on before."""
    loaded = cnnscope.open_model(f"{user_file}:build", weights="random", input_size=48,
                                 classes=["a", "b", "c", "d"])
    assert loaded.spec.input_size == 48 and loaded.labels == ("a", "b", "c", "d")


def test_a_checkpoint_naming_far_more_classes_than_its_head_is_refused_before_building(user_file, tmp_path):
    """A head was built for every class name before any check (20 million names took 2.4 GB)."""
    import time

    net = load_model(f"{user_file}:build", "random").module
    from cnnscope.core.freeze import replace_head

    replace_head(net, 2)
    path = save_atomic(make_checkpoint("x", net.state_dict(), ["a"] * 200_000, {"user_model": "x"}),
                       tmp_path / "many.pt")
    started = time.monotonic()
    with pytest.raises(WeightsError, match="names 200,000 classes, but its last layer gives 2 outputs"):
        load_model(f"{user_file}:build", str(path))
    assert time.monotonic() - started < 10
