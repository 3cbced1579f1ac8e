"""Weights files are data: malformed, non-finite or bomb-shaped files are refused in plain words."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from cnnscope.cli import main
from cnnscope.core.checkpoint import make_checkpoint
from cnnscope.core.errors import WeightsError
from cnnscope.core.weights import load_model, read_weights_file

from . import builders
from .conftest import one_line_error


@pytest.fixture(scope="module")
def demo_state(demo_model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in demo_model.module.state_dict().items()}


def _checkpoint(demo_model, state, **changes) -> dict:
    content = make_checkpoint("demo_shapes", state, list(demo_model.labels))
    for key, value in changes.items():
        if value is KeyError:
            del content[key]
        else:
            content[key] = value
    return content


MALFORMED = {
    "state_dict a list": ({"state_dict": [1, 2, 3]}, "damaged cnnscope checkpoint: it holds no weights"),
    "state_dict missing": ({"state_dict": KeyError}, "damaged cnnscope checkpoint: it holds no weights"),
    "classes an int": ({"classes": 7}, "class names are not a list of names"),
    "meta a list": ({"meta": [1, 2]}, "training record ('meta') is not a mapping"),
    "arch a number": ({"arch": 3}, "architecture name is not text"),
    "head pooling unknown": ({"meta": {"cut_after": "features.block3", "head_pool": {"x": 1}}},
                             "its head pools with something cnnscope does not know"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_checkpoints_say_what_is_wrong(tmp_path, demo_model, demo_state, case, capsys):
    changes, message = MALFORMED[case]
    path = tmp_path / "bad.pt"
    torch.save(_checkpoint(demo_model, demo_state, **changes), path)
    with pytest.raises(WeightsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_model("demo_shapes", str(path))
    assert main(["summary", "--weights", str(path)]) == 1
    assert message in one_line_error(capsys.readouterr().err)


@pytest.mark.parametrize("kind, message", [("sparse", "is sparse"), ("meta", "has no data"),
                                           ("complex", "is of type torch.complex64")])
def test_tensors_that_are_not_dense_real_data_are_refused(tmp_path, demo_model, demo_state, kind, message):
    state = dict(demo_state)
    weight = state["fc.weight"]
    state["fc.weight"] = {"sparse": weight.to_sparse(), "meta": weight.to("meta"),
                          "complex": weight.to(torch.complex64)}[kind]
    path = tmp_path / f"{kind}.pt"
    content = _checkpoint(demo_model, demo_state)
    content["state_dict"] = state  # as a hostile writer would: not through make_checkpoint
    torch.save(content, path)
    with pytest.raises(WeightsError, match=f"'fc.weight' {message}"):
        load_model("demo_shapes", str(path))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_weights_that_are_not_numbers_are_an_error_not_nan_percent(tmp_path, demo_model, demo_state,
                                                                   bad, capsys):
    state = dict(demo_state)
    state["fc.bias"] = state["fc.bias"].clone()
    state["fc.bias"][1] = bad
    path = tmp_path / "diverged.pt"
    torch.save(state, path)  # a bare state_dict too
    with pytest.raises(WeightsError, match="not numbers \\(NaN or infinity\\) in fc.bias"):
        load_model("demo_shapes", str(path))
    image = Path(__file__).resolve().parents[2] / "sample_images" / "shape_star.png"
    assert main(["render", "--weights", str(path), "--image", str(image), "--out", str(tmp_path)]) == 1
    said = capsys.readouterr()
    assert "NaN or infinity" in one_line_error(said.err) and "nan%" not in said.out


def test_a_text_file_is_not_called_code(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("these are not weights\n" * 10)
    with pytest.raises(WeightsError, match="'notes.pth' is not a PyTorch weights file") as refused:
        load_model("demo_shapes", str(path))
    assert "code" not in str(refused.value)


def test_a_fifo_as_weights_is_refused(tmp_path):
    pipe = builders.fifo(tmp_path / "pipe.pt")
    with pytest.raises(WeightsError, match="named pipe"):
        load_model("demo_shapes", str(pipe))


def test_a_deflate_bomb_checkpoint_is_refused_before_inflating(tmp_path):
    bomb = builders.deflated_checkpoint(tmp_path / "bomb.pt", megabytes=64)
    assert bomb.stat().st_size < 1_000_000
    started = time.monotonic()
    with pytest.raises(WeightsError, match="claims to unpack to 67.1 MB from a .* 'zip bomb'"):
        load_model("demo_shapes", str(bomb))
    assert time.monotonic() - started < 2


def test_a_big_deflate_bomb_adds_little_memory(tmp_path):
    """The check reads the archive's records, not its contents. Measured in this process with
    tracemalloc: inflating through Python's zipfile or zlib (the way a check could go wrong)
    allocates Python bytes, which it counts; torch's own reader never runs, or the error would
    not say 'zip bomb'."""
    import tracemalloc

    bomb = builders.deflated_checkpoint(tmp_path / "bomb.pt", megabytes=96)  # inflated, it would add 96 MB
    tracemalloc.start()
    try:
        with pytest.raises(WeightsError, match="zip bomb"):
            read_weights_file(bomb)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert peak < 10, f"{peak:.1f} MB"


def test_pickled_code_is_still_called_code(tmp_path):
    import os

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    path = tmp_path / "evil.pt"
    torch.save({"w": Evil()}, path)
    with pytest.raises(WeightsError, match="names Python code .*could run code"):
        load_model("demo_shapes", str(path))


HEAD = {"fc.weight": torch.zeros(1000, 4), "fc.bias": torch.zeros(1000)}


@pytest.mark.parametrize("state, classes, cut_after, message", [
    ({"w": torch.zeros(1)}, ["x"] * 500_000, "layer4", "names 500,000 classes, but cnnscope takes at most 100,000"),
    (HEAD, ["x"] * 500_000, "layer4", "names 500,000 classes, but its last layer gives 1,000 outputs"),
    (HEAD, ["a", "b", "c"], None, "names 3 classes, but its last layer gives 1,000 outputs"),
])
def test_class_names_must_fit_the_head_before_anything_is_built(tmp_path, state, classes, cut_after,
                                                               message):
    """Half a million invented class names (stored once, a 1 MB file) would make a 4 GB head."""
    from cnnscope.core.models import get_spec

    meta = {"cut_after": cut_after} if cut_after else {}
    path = tmp_path / "classes.pt"
    torch.save({"format": "cnnscope-checkpoint", "version": 1, "arch": "resnet50", "state_dict": state,
                "classes": classes, "meta": meta}, path)
    assert get_spec("resnet50")  # the architecture exists: only the classes are wrong
    started = time.monotonic()
    with pytest.raises(WeightsError, match=message):
        load_model("demo_shapes", str(path))
    assert time.monotonic() - started < 3
