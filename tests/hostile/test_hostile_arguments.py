"""Careless arguments: every value is checked before any work, in one line, exit 1."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch

from cnnscope.cli import main
from cnnscope.core.checkpoint import save_atomic
from cnnscope.core.errors import TrainingError
from cnnscope.core.freeze import make_plan
from cnnscope.core.training import TrainingConfig, build_for_training, train

from .conftest import one_line_error

IMAGE = str(Path(__file__).resolve().parents[2] / "sample_images" / "shape_star.png")

BAD = [
    (["render", "--image", IMAGE, "--out", "o", "--cmap", "nope"], "'nope' is not a matplotlib colormap"),
    (["render", "--image", IMAGE, "--out", "o", "--heat-cmap", "Viridis"], "did you mean viridis"),
    (["render", "--image", IMAGE, "--out", "o", "--alpha", "5"], "--alpha: must be from 0 to 1, not 5"),
    (["render", "--image", IMAGE, "--out", "o", "--channel", "-1"], "--channel: must be from 0"),
    (["compare", "--models", "a,b", "--image", IMAGE, "--out", "o.png", "--stride", "-8"],
     "--stride: must be from 1 to 1024, not -8"),
    (["compare", "--models", "a,b", "--image", IMAGE, "--out", "o.png", "--stride", "0"], "--stride"),
    (["compare", "--models", "a,b", "--image", IMAGE, "--out", "o.png", "--depth", "nan"],
     "--depth: must be a finite number, not nan"),
    (["train", "--data", "d", "--out", "m.pt", "--batch-size", "0"], "--batch-size: must be from 1"),
    (["train", "--data", "d", "--out", "m.pt", "--batch-size", "-4"], "--batch-size"),
    (["train", "--data", "d", "--out", "m.pt", "--lr", "nan"], "--lr: must be a finite number"),
    (["train", "--data", "d", "--out", "m.pt", "--lr", "1e30"], "--lr: must be above 0 and at most 10"),
    (["train", "--data", "d", "--out", "m.pt", "--epochs", "0"], "--epochs: must be from 1"),
    (["train", "--data", "d", "--out", "m.pt", "--val-fraction", "-0.5"], "--val-fraction"),
    (["make-dataset", "d", "--per-class", "4000000"], "--per-class: must be from 1 to 5,000"),
    (["summary", "--depth", "x"], "--depth: 'x' is not a whole number"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[" ".join(a[-2:]) for a, _ in BAD])
def test_bad_values_exit_1_with_one_line_before_any_work(tmp_path, capsys, argv, message):
    os.chdir(tmp_path)
    started = time.monotonic()
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 1 and time.monotonic() - started < 5
    assert message in one_line_error(capsys.readouterr().err)
    assert not any(tmp_path.iterdir())  # nothing was written


@pytest.mark.parametrize("command", [
    ["render", "--image", IMAGE], ["attack", "--image", IMAGE, "--steps", "1"],
    ["visualize", "--layer", "features.block1.relu", "--steps", "1"],
])
@pytest.mark.parametrize("out_kind", ["file", "named pipe", "empty"])
def test_an_out_folder_that_cannot_be_one_is_one_sentence(tmp_path, capsys, command, out_kind):
    """mkdir's own 'File exists: NAME' told nothing; an empty --out wrote into the current folder."""
    os.chdir(tmp_path)
    out = {"file": tmp_path / "afile", "named pipe": tmp_path / "pipe", "empty": ""}[out_kind]
    if out_kind == "file":
        out.write_text("x")
    elif out_kind == "named pipe":
        os.mkfifo(out)
    try:
        returned = main([*command, "--out", str(out)])
    except SystemExit as exc:  # argparse's own refusal
        returned = exc.code
    said = one_line_error(capsys.readouterr().err)
    expected = {"file": "it is a file, not a folder", "named pipe": "it is a named pipe (FIFO), not a folder",
                "empty": "an empty name is not a folder"}[out_kind]
    if out_kind == "empty" and command[0] == "render":  # render reads an empty --out as none given
        expected, code = "render needs --out DIR", 2
    else:
        code = 1
    assert returned == code
    assert expected in said
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if out_kind == "empty" else [out.name])


def test_dream_refuses_an_empty_out_before_dreaming(tmp_path, capsys):
    os.chdir(tmp_path)
    assert main(["dream", "--image", IMAGE, "--out", ""]) == 1
    said = capsys.readouterr()
    assert "an empty name is not a file name" in one_line_error(said.err) and "dreaming" not in said.out
    with pytest.raises(SystemExit) as stopped:  # it writes PNG data, whatever the name says
        main(["dream", "--image", IMAGE, "--out", "d.jpg"])
    assert stopped.value.code == 2 and "name the file .png" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    from cnnscope.core.shapes import write_shape_folder

    folder = tmp_path_factory.mktemp("data")
    write_shape_folder(folder, ("arrow", "moon"), per_class=6, seed=3)
    return folder


@pytest.mark.parametrize("out_kind", ["folder", "read-only folder"])
def test_train_checks_out_before_training(tmp_path, capsys, small_data, out_kind):
    if out_kind == "folder":
        out, expected = tmp_path, "is a folder; give a file name"
    else:
        if os.geteuid() == 0:
            pytest.skip("root may write into any folder")
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        out, expected = locked / "model.pt", "Cannot write the checkpoint into"
    assert main(["train", "--data", str(small_data), "--epochs", "1", "--out", str(out)]) == 1
    said = capsys.readouterr()
    assert expected in one_line_error(said.err) and "epoch 1" not in said.out


def test_train_out_under_a_file_is_refused_before_training(tmp_path, capsys, small_data):
    (tmp_path / "file").write_text("x")
    assert main(["train", "--data", str(small_data), "--out", str(tmp_path / "file" / "m.pt")]) == 1
    said = capsys.readouterr()
    assert "Cannot write the checkpoint into" in one_line_error(said.err) and "epoch" not in said.out


def test_a_killed_save_leaves_no_temporary_file_for_good(tmp_path):
    target = tmp_path / "model.pt"
    dead = tmp_path / ".model.pt.999999999.abc.tmp"  # no process has that id
    dead.write_bytes(b"half a checkpoint")
    mine = tmp_path / f".model.pt.{os.getpid()}.xyz.tmp"  # a live process's: left alone
    mine.write_bytes(b"being written")
    save_atomic({"w": torch.zeros(2)}, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model.pt", mine.name])


def test_a_failed_save_removes_its_temporary_file(tmp_path):
    with pytest.raises(Exception):
        save_atomic({"w": lambda: 0}, tmp_path / "model.pt")  # a lambda cannot be pickled
    assert list(tmp_path.iterdir()) == []


def _nan_after(net, calls: int):
    """Make ``net`` answer NaN from its ``calls``-th training forward on."""
    real, seen = net.forward, [0]

    def forward(x):
        out = real(x)
        if net.training or any(m.training for m in net.modules()):
            seen[0] += 1
            if seen[0] >= calls:
                return out * float("nan")
        return out
    net.forward = forward
    return net


def test_a_loss_that_turns_nan_stops_the_run_and_keeps_the_last_good_epoch(demo_model, small_data):
    from cnnscope.core.datasets import load_folder

    data = load_folder(small_data, demo_model.spec.preprocessing)
    plan = make_plan(demo_model.module, "fine-tune-all")
    config = TrainingConfig(epochs=5, batch_size=4, cache_features=False)
    batches = (len(data.train_labels) + 3) // 4
    net = _nan_after(build_for_training(demo_model.module, demo_model.spec, plan, 2), batches + 2)
    result = train(net, plan, data, demo_model.spec.preprocessing, config, torch.device("cpu"))
    assert len(result.history) == 1 and result.best_epoch == 1, result.notes
    assert any("at epoch 2, batch 2: the loss became NaN" in n and "keeps epoch 1" in n for n in result.notes), result.notes
    assert all(torch.isfinite(p).all() for p in result.model.parameters())

    early = _nan_after(build_for_training(demo_model.module, demo_model.spec, plan, 2), 1)
    with pytest.raises(TrainingError, match="epoch 1, batch 1: the loss became NaN.*Nothing was saved"):
        train(early, plan, data, demo_model.spec.preprocessing, config, torch.device("cpu"))


def test_validation_runs_in_eval_mode_and_leaves_batch_norm_statistics_alone(demo_model, small_data):
    """Validation in training mode would update BatchNorm's running statistics with the validation
    images (a leak into the saved model) and measure the network with dropout on."""
    from cnnscope.core.datasets import load_folder

    data = load_folder(small_data, demo_model.spec.preprocessing)
    plan = make_plan(demo_model.module, "fine-tune-all")
    net = build_for_training(demo_model.module, demo_model.spec, plan, 2)
    real, modes = net.forward, []

    def forward(x):
        if not torch.is_grad_enabled():  # an evaluation pass
            modes.append([m.training for m in net.modules()])
        return real(x)
    net.forward = forward
    train(net, plan, data, demo_model.spec.preprocessing,
          TrainingConfig(epochs=1, batch_size=4, cache_features=False), torch.device("cpu"))
    assert modes and not any(any(flags) for flags in modes)
