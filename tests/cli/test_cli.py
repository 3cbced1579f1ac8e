"""The command line, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnscope.cli import main
from cnnscope.core.models import REGISTRY

SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


def test_render_demo_writes_all_files(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["render", "--image", str(SAMPLES / "shape_triangle.png"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    record = json.loads((out / "predictions.json").read_text())
    assert record["model"] == "demo_shapes" and record["trained"]
    assert record["predictions"][0]["label"] == "triangle" and len(record["predictions"]) == 5
    layer = record["layer"]
    assert f"layer '{layer}'" in printed  # says which layer it picked
    grid = np.asarray(Image.open(out / f"features_{layer}.png"))
    assert grid.ndim == 3 and grid.shape[2] == 3 and grid.std() > 5
    assert np.asarray(Image.open(out / "input.png")).shape == (96, 96, 3)
    filters = np.asarray(Image.open(out / "filters.png"))
    assert filters.shape[0] > 50  # 16 tiles of 7x7 kernels, enlarged


def test_render_chosen_layer_and_its_kernels(tmp_path):
    out = tmp_path / "o"
    assert main(["render", "--model", "resnet18", "--weights", "random", "--image",
                 str(SAMPLES / "chelsea.png"), "--layer", "layer2.0.conv1", "--out", str(out),
                 "--sort", "mean", "--cmap", "magma"]) == 0
    record = json.loads((out / "predictions.json").read_text())
    assert record["layer_shape"] == [128, 28, 28] and not record["trained"]
    assert (out / "features_layer2.0.conv1.png").is_file()
    assert (out / "filters_layer2.0.conv1.png").is_file()
    assert any("Untrained" in n for n in record["notes"])


def test_render_real_mobilenet(tmp_path, mobilenet_file):
    out = tmp_path / "m"
    assert main(["render", "--model", "mobilenet_v2", "--weights", str(mobilenet_file), "--image",
                 str(SAMPLES / "coffee.jpg"), "--out", str(out)]) == 0
    record = json.loads((out / "predictions.json").read_text())
    assert record["predictions"][0]["label"] == "espresso"


def test_list_layers(capsys):
    assert main(["render", "--image", str(SAMPLES / "shape_star.png"), "--list-layers"]) == 0
    text = capsys.readouterr().out
    assert "features.block1.conv" in text and "Conv2d" in text and "16x48x48" in text


@pytest.mark.parametrize("args,message", [
    (["--layer", "no.such.layer"], "'no.such.layer' is not a layer"),
    (["--model", "vgg17"], "Unknown model 'vgg17'"),
    (["--weights", "/nope.pth"], "does not exist"),
    (["--device", "cuda" if not __import__("torch").cuda.is_available() else "tpu"], "device"),
])
def test_bad_input_exits_1_with_one_line(tmp_path, capsys, args, message):
    base = ["render", "--image", str(SAMPLES / "shape_star.png"), "--out", str(tmp_path)]
    assert main(base + args) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_image_exits_1(tmp_path, capsys):
    (tmp_path / "x.jpg").write_text("nope")
    assert main(["render", "--image", str(tmp_path / "x.jpg"), "--out", str(tmp_path / "o")]) == 1
    assert "x.jpg" in capsys.readouterr().err


def test_offline_pretrained_exits_1_with_advice(tmp_path, capsys, isolated_torch_home, no_network):
    assert main(["render", "--model", "resnet18", "--image", str(SAMPLES / "chelsea.png"),
                 "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "could not be fetched" in err and "untrained" in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["render", "--out", "x"])
    assert exit_.value.code == 2
    with pytest.raises(SystemExit) as exit_:
        main(["render", "--image", "a.png", "--sort", "sideways", "--out", "x"])
    assert exit_.value.code == 2


def test_models_lists_everything_with_cache_status(capsys, isolated_torch_home):
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    for name in REGISTRY:
        assert name in text
    assert "bundled" in text and "not cached" in text and "11.69M" in text  # resnet18's params


def test_make_demo_samples_only(tmp_path):
    assert main(["make-demo", "--samples-only", "--samples", str(tmp_path)]) == 0
    drawn = sorted(p.name for p in tmp_path.glob("shape_*.png"))
    assert len(drawn) == 6
    # deterministic: the same pictures as the shipped samples
    assert np.array_equal(np.asarray(Image.open(tmp_path / "shape_star.png")),
                          np.asarray(Image.open(SAMPLES / "shape_star.png")))


def test_an_image_argument_opens_the_window_with_it(monkeypatch):
    import cnnscope.gui.app as app

    opened = []
    monkeypatch.setattr(app, "main", lambda image=None: opened.append(image) or 0)
    assert main([str(SAMPLES / "chelsea.png")]) == 0
    assert main([]) == 0
    assert opened == [str(SAMPLES / "chelsea.png"), None]


def test_render_channels_enlarged_and_over_the_input(tmp_path, capsys):
    out = tmp_path / "c"
    assert main(["render", "--image", str(SAMPLES / "shape_star.png"), "--layer", "features.block2.relu",
                 "--channel", "3", "--channel", "7", "--out", str(out)]) == 0
    big = np.asarray(Image.open(out / "channel_features.block2.relu_3.png"))
    over = np.asarray(Image.open(out / "overlay_features.block2.relu_7.png"))
    assert big.shape[0] >= 256 and big.shape[0] == big.shape[1]  # 24x24 map, enlarged
    assert over.shape == (96, 96, 3)
    assert main(["render", "--image", str(SAMPLES / "shape_star.png"), "--layer", "features.block2.relu",
                 "--channel", "32", "--out", str(out)]) == 1
    assert "channels 0 to 31" in capsys.readouterr().err


def test_render_cam_writes_the_overlay_and_the_panel(tmp_path, capsys):
    out = tmp_path / "cam"
    assert main(["render", "--image", str(SAMPLES / "shape_star.png"), "--out", str(out),
                 "--cam", "gradcam", "--target", "cross"]) == 0
    record = json.loads((out / "predictions.json").read_text())["attribution"]
    assert record["label"] == "cross" and record["layer"] == "features.block4"
    overlay = np.asarray(Image.open(out / "cam_gradcam_cross.png"))
    photo = np.asarray(Image.open(out / "input.png"))
    assert overlay.shape == photo.shape and not np.array_equal(overlay, photo)
    panel = np.asarray(Image.open(out / "cam_gradcam_cross_panel.png"))
    assert panel.shape[1] > 3 * photo.shape[1] and panel.shape[0] > photo.shape[0]
    assert "gradcam for 'cross'" in capsys.readouterr().out


def test_render_cam_all_writes_every_fast_method_in_one_grid(tmp_path, capsys):
    out = tmp_path / "all"
    assert main(["render", "--image", str(SAMPLES / "shape_star.png"), "--out", str(out),
                 "--cam", "all", "--target", "cross"]) == 0
    record = json.loads((out / "predictions.json").read_text())["attribution"]
    assert record["method"] == "all" and record["label"] == "cross"
    assert {"gradcam", "hirescam", "eigencam", "deeplift"} <= set(record["methods"])
    assert not {"scorecam", "occlusion"} & set(record["methods"])  # the slow ones stay out
    grid = np.asarray(Image.open(out / "cam_all_cross.png"))
    assert grid.shape[0] > 500 and grid.shape[1] > 500 and grid.std() > 10
    assert "methods for 'cross'" in capsys.readouterr().out


def test_render_cam_default_target_is_the_top_class(tmp_path):
    out = tmp_path / "top"
    assert main(["render", "--image", str(SAMPLES / "shape_hexagon.png"), "--out", str(out),
                 "--cam", "occlusion"]) == 0
    assert (out / "cam_occlusion_hexagon.png").is_file()


def test_render_cam_refusal_and_unknown_class_exit_1(tmp_path, capsys):
    image = str(SAMPLES / "chelsea.png")
    assert main(["render", "--model", "alexnet", "--weights", "random", "--image", image,
                 "--out", str(tmp_path / "a"), "--cam", "cam"]) == 1
    assert "Grad-CAM" in capsys.readouterr().err
    assert main(["render", "--image", image, "--out", str(tmp_path / "b"), "--cam", "gradcam",
                 "--target", "tabby"]) == 1
    err = capsys.readouterr().err
    assert "circle, square" in err and len(err.strip().splitlines()) == 1


def test_cli_offers_exactly_the_core_methods():
    from cnnscope.cli import ATTRIBUTION_METHODS
    from cnnscope.core.attribution import method_keys

    assert list(ATTRIBUTION_METHODS) == method_keys()


def test_make_dataset_then_train_then_render(tmp_path, capsys):
    data = tmp_path / "shapes"
    assert main(["make-dataset", str(data), "--per-class", "20", "--classes", "moon,arrow"]) == 0
    assert sorted(p.name for p in data.iterdir()) == ["arrow", "moon"]
    assert len(list((data / "moon").glob("*.png"))) == 20
    out = tmp_path / "moon_arrow.pt"
    assert main(["train", "--data", str(data), "--epochs", "3", "--lr", "0.01", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "epoch 3:" in printed and "(cached features)" in printed and "validation accuracy" in printed
    assert out.is_file()
    render_out = tmp_path / "r"
    assert main(["render", "--weights", str(out), "--image", str(next((data / "moon").iterdir())),
                 "--out", str(render_out)]) == 0
    record = json.loads((render_out / "predictions.json").read_text())
    assert {p["label"] for p in record["predictions"]} == {"moon", "arrow"}


def test_train_presets_from_the_command_line(tmp_path, capsys):
    data = tmp_path / "d"
    main(["make-dataset", str(data), "--per-class", "6"])
    for extra in (["--preset", "freeze-first", "--blocks", "2", "--augment", "flip,crop"],
                  ["--preset", "early-features", "--cut-after", "features.block2"]):
        assert main(["train", "--data", str(data), "--epochs", "1", "--out", str(tmp_path / "m.pt"),
                     *extra]) == 0
    printed = capsys.readouterr().out
    assert "first 2 blocks frozen" in printed and "cut after features.block2" in printed


def test_train_errors_are_one_line(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "x.pt")]) == 1
    assert "is not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["train", "--data", str(tmp_path), "--out", "x.pt", "--augment", "rotate"])
    assert usage.value.code == 2


def test_cli_presets_are_the_core_presets():
    from cnnscope.cli import PRESET_KEYS
    from cnnscope.core.freeze import PRESETS

    assert list(PRESET_KEYS) == list(PRESETS)


def test_compare_writes_one_png_with_a_column_per_model(tmp_path, capsys):
    out = tmp_path / "compare.png"
    assert main(["compare", "--models", "resnet18,vgg11,demo_shapes", "--weights", "random",
                 "--image", str(SAMPLES / "chelsea.png"), "--out", str(out), "--stride", "8"]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("note:")]
    assert printed[0].startswith("resnet18") and "layer layer2.1.relu 128x28x28" in printed[0]
    assert "layer features.14 512x28x28" in printed[1]
    picture = np.asarray(Image.open(out))
    assert picture.shape[1] > 3 * 400 and picture.shape[0] > 800  # three columns, three rows


def test_compare_takes_two_to_four_models(tmp_path):
    with pytest.raises(SystemExit) as usage:
        main(["compare", "--models", "resnet18", "--image", str(SAMPLES / "chelsea.png"),
              "--out", str(tmp_path / "x.png")])
    assert usage.value.code == 2


def test_summary_prints_the_table_and_writes_csv(tmp_path, capsys):
    out = tmp_path / "demo.csv"
    assert main(["summary", "--csv", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "features.block1.conv" in printed and "total: " in printed and "stages: 48 px" in printed
    assert out.read_text().startswith("layer,type,output shape")


def test_render_says_when_a_weights_file_is_another_architectures(tmp_path, capsys):
    import torch

    from cnnscope.core.weights import load_model

    file = tmp_path / "shapes.pth"
    torch.save(load_model("demo_shapes", "pretrained").module.state_dict(), file)
    out = tmp_path / "out"
    assert main(["render", "--model", "vgg11", "--weights", str(file),
                 "--image", str(SAMPLES / "shape_star.png"), "--out", str(out)]) == 0
    assert "holds demo_shapes weights, not vgg11's" in capsys.readouterr().err
    record = json.loads((out / "predictions.json").read_text())
    assert record["model"] == "demo_shapes" and record["predictions"][0]["label"] == "star"


def test_dream_and_attack_take_the_whole_photo(tmp_path, wide_photo_file):
    from cnnscope.core.weights import load_model

    padding = load_model("demo_shapes", "pretrained").spec.preprocessing.padding_colour()
    attacked = tmp_path / "a"
    assert main(["attack", "--image", wide_photo_file, "--steps", "1", "--whole-image",
                 "--out", str(attacked)]) == 0
    original = np.asarray(Image.open(attacked / "original.png"))
    assert original.shape == (96, 96, 3) and (original[:20] == padding).all()  # a 2:1 photo, padded
    adversarial = np.asarray(Image.open(attacked / "adversarial.png"))
    assert (adversarial[:20] == padding).all()  # the change is the photo's alone
    dreamt = tmp_path / "dream.png"
    assert main(["dream", "--image", wide_photo_file, "--octaves", "1", "--steps", "1", "--whole-image",
                 "--out", str(dreamt)]) == 0
    assert np.asarray(Image.open(dreamt)).shape == (96, 96, 3)


def test_visualize_dream_and_attack_write_their_pictures(tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "v"
    assert main(["visualize", "--layer", "features.block3.relu2", "--channels", "2,5-5", "--steps", "24",
                 "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"features.block3.relu2_ch2.png",
                                               "features.block3.relu2_ch5.png", "strip.png"}
    assert Image.open(out / "strip.png").size == (192, 96)
    assert main(["visualize", "--class", "star", "--steps", "8", "--out", str(out)]) == 0
    assert (out / "class_star.png").is_file()
    dreamt = tmp_path / "dream.png"
    assert main(["dream", "--image", str(SAMPLES / "shape_star.png"), "--octaves", "1", "--steps", "3",
                 "--out", str(dreamt)]) == 0
    assert Image.open(dreamt).size == (96, 96)
    attacked = tmp_path / "a"
    assert main(["attack", "--image", str(SAMPLES / "shape_star.png"), "--epsilon", "8/255",
                 "--steps", "20", "--out", str(attacked)]) == 0
    printed = capsys.readouterr().out
    assert "before: star" in printed and ("fools the network" in printed)
    assert "where each looked, for 'star'" in printed
    for name in ("gradcam_original.png", "gradcam_adversarial.png"):
        assert Image.open(attacked / name).size == (96, 96)
    original = np.asarray(Image.open(attacked / "original.png"), dtype=int)
    adversarial = np.asarray(Image.open(attacked / "adversarial.png"), dtype=int)
    assert 0 < np.abs(adversarial - original).max() <= 8  # the budget, exactly, in the saved PNG


def test_optimisation_commands_refuse_bad_values_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as bad:
        main(["attack", "--image", str(SAMPLES / "shape_star.png"), "--epsilon", "2/0",
              "--out", str(tmp_path)])
    assert bad.value.code == 1 and "not a number or a fraction like 2/255" in capsys.readouterr().err
    assert main(["visualize", "--layer", "features.block3.relu2", "--channels", "9999",
                 "--steps", "1", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "has 64 channels: there is no channel 9999" in err and err.count("\n") == 1
    assert main(["dream", "--image", str(tmp_path / "missing.png"), "--out", str(tmp_path / "d.png")]) == 1


def test_graph_writes_svg_of_blocks_and_refuses_other_suffixes(tmp_path, capsys):
    out = tmp_path / "demo.svg"
    assert main(["graph", "--out", str(out), "--collapse"]) == 0
    assert "4 blocks collapsed" in capsys.readouterr().out
    svg = out.read_text()
    assert 'id="block:features.block1"' in svg and 'data-layer="fc"' in svg
    assert main(["graph", "--model", "resnet18", "--out", str(tmp_path / "r.svg")]) == 0
    assert 'data-layer="layer1.0.conv1"' in (tmp_path / "r.svg").read_text()  # every layer by default
    with pytest.raises(SystemExit) as exit_info:
        main(["graph", "--out", str(tmp_path / "g.pdf")])
    assert exit_info.value.code == 2 and "name the file .svg or .png" in capsys.readouterr().err


def test_a_model_in_the_users_own_file_runs_through_the_commands(tmp_path, capsys):
    net = tmp_path / "net.py"
    net.write_text(
        "import torch\nfrom torch import nn\n\n\n"
        "def build():\n"
        "    torch.manual_seed(0)\n"
        "    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),\n"
        "                         nn.Flatten(), nn.Linear(8, 5))\n")
    model = f"{net}:build"
    photo = str(SAMPLES / "chelsea.png")
    assert main(["render", "--model", model, "--image", photo, "--out", str(tmp_path / "r"),
                 "--cam", "gradcam"]) == 0
    record = json.loads((tmp_path / "r" / "predictions.json").read_text())
    assert record["model"] == "net.build" and record["attribution"]["layer"] == "1"
    assert "CAM methods use '1'" in capsys.readouterr().err  # the choice, explained
    assert main(["summary", "--model", model]) == 0
    assert "Conv2d" in capsys.readouterr().out
    assert main(["compare", "--models", f"{model},demo_shapes", "--image", photo,
                 "--out", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").stat().st_size > 0
    assert main(["render", "--model", f"{tmp_path / 'nope.py'}:build", "--image", photo,
                 "--out", str(tmp_path / "x")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_what_cnnscope_cannot_work_out_about_a_users_model_is_stated_on_the_command_line(tmp_path, capsys):
    """A 3-channel model that only takes 28 px could not open from the command line; the input
    size, normalisation and class names are options now, checked in one sentence."""
    net = tmp_path / "small.py"
    net.write_text(
        "import torch\nfrom torch import nn\n\n\n"
        "def build():\n"
        "    torch.manual_seed(0)\n"
        "    return nn.Sequential(nn.Conv2d(3, 4, 5), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 24 * 24, 3))\n")
    labels = tmp_path / "labels.txt"
    labels.write_text("ant\nbee\ncat\n")
    model, photo = f"{net}:build", str(SAMPLES / "chelsea.png")
    assert main(["summary", "--model", model]) == 1
    assert "give its input size (--input-size" in capsys.readouterr().err
    assert main(["render", "--model", model, "--input-size", "28", "--mean", "0.5,0.5,0.5", "--std",
                 "0.25,0.25,0.25", "--labels", str(labels), "--image", photo, "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert "Normalisation assumed" not in err and "names no classes" not in err
    record = json.loads((tmp_path / "r" / "predictions.json").read_text())
    assert {p["label"] for p in record["predictions"]} <= {"ant", "bee", "cat"}
    assert main(["graph", "--model", model, "--input-size", "28", "--out", str(tmp_path / "g.svg")]) == 0
    capsys.readouterr()
    assert main(["summary", "--model", model, "--input-size", "28", "--mean", "0.5"]) == 1
    assert "mean and std together" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # a bad value: exit 1, one line
        main(["summary", "--model", model, "--mean", "0.5,0.5", "--std", "1,1"])
    assert exit_info.value.code == 1
    assert "give 1 value (grey) or 3 (colour), not 2" in capsys.readouterr().err
    assert main(["summary", "--model", "demo_shapes", "--input-size", "64"]) == 1
    assert "can only be given for your own model" in capsys.readouterr().err


def test_scan_writes_a_scan_continues_it_and_draws_a_units_top_crops(tmp_path, capsys):
    from cnnscope.core.shapes import write_shape_folder

    data = tmp_path / "shapes"
    write_shape_folder(data, per_class=3, seed=2, size=64)
    (data / "arrow" / "bad.jpg").write_text("not a photo")
    args = ["scan", "--data", str(data), "--layers", "features.block3.relu2", "--top-k", "4",
            "--workers", "0", "--batch-size", "4"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "9 images scanned, 1 skipped" in captured.out and "skipped arrow/bad.jpg" in captured.err
    scan = tmp_path / "shapes.scan" / "demo_shapes-pretrained"  # beside the data by default
    assert (scan / "state.npz").is_file() and (scan / "predictions.csv").is_file()
    assert main(args) == 0  # nothing left to do: the same scan, not a new one
    assert "continued a scan that had 10 of 10 images done" in capsys.readouterr().out
    sheet = tmp_path / "unit.png"
    assert main(["scan", "--show", str(scan), "--layer", "features.block3.relu2", "--channel", "5",
                 "--out", str(sheet)]) == 0
    out = capsys.readouterr().out
    assert "the top 4 images of features.block3.relu2 channel 5" in out and out.count(".png  ") == 4
    assert sheet.stat().st_size > 0
    assert main(["scan", "--show", str(scan), "--layer", "features.block1.conv", "--channel", "0",
                 "--out", str(sheet)]) == 1
    assert "kept no top images for 'features.block1.conv'" in capsys.readouterr().err
    assert main(args + ["--weights", "random", "--out", str(scan)]) == 1
    assert "holds a scan of another weights" in capsys.readouterr().err
    assert main(["scan", "--data", str(tmp_path / "none")]) == 1
    assert "is not a folder of images" in capsys.readouterr().err


def test_a_model_trained_from_your_own_file_reopens_with_the_command_train_prints(tmp_path, capsys):
    """'cnnscope train' printed 'render --weights X', which refused a checkpoint of your model."""
    import shlex

    from cnnscope.core.shapes import write_shape_folder

    net = tmp_path / "net.py"
    net.write_text("import torch\nfrom torch import nn\n\n\ndef build():\n    torch.manual_seed(0)\n"
                   "    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),\n"
                   "                         nn.Flatten(), nn.Linear(4, 5))\n")
    write_shape_folder(tmp_path / "shapes", per_class=4, seed=1, size=48)
    out = tmp_path / "tuned.pt"
    assert main(["train", "--model", f"{net}:build", "--data", str(tmp_path / "shapes"), "--epochs", "1",
                 "--input-size", "32", "--preset", "fine-tune-all", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    command = printed.split("open it with '", 1)[1].split(" ...'", 1)[0]
    args = shlex.split(command)[1:] + ["--image", str(SAMPLES / "chelsea.png"), "--out", str(tmp_path / "r")]
    assert main(args) == 0
    record = json.loads((tmp_path / "r" / "predictions.json").read_text())
    assert {p["label"] for p in record["predictions"]} <= {"arrow", "diamond", "moon"}
