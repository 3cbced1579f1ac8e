"""LeNet-5: the drawn digits, the bundled weights, and the grey input path end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnscope.cli import main
from cnnscope.core import digits, render
from cnnscope.core.attribution import attribute
from cnnscope.core.images import open_image
from cnnscope.core.inspect import inspect
from cnnscope.core.lenet_training import TEST_SEED, LeNetTrainingSetup, to_input, train_lenet
from cnnscope.core.models import get_spec
from cnnscope.core.weights import load_model

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "assets"
SAMPLES = REPO / "sample_images"
FRESH_SEED = 424_242  # neither training (0) nor the recorded held-out sets (TEST_SEED, +1) used it


@pytest.fixture(scope="module")
def lenet():
    return load_model("lenet5")


def test_generation_is_deterministic_per_seed_and_balanced():
    a = digits.make_digits(40, seed=3)
    b = digits.make_digits(40, seed=3)
    c = digits.make_digits(40, seed=4)
    assert all(np.array_equal(x.image, y.image) and x.label == y.label and x.font == y.font
               for x, y in zip(a, b))
    assert sum(np.array_equal(x.image, y.image) for x, y in zip(a, c)) == 0
    assert np.bincount([s.label for s in a]).tolist() == [4] * 10
    image = a[0].image
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    # light digits on a dark ground: the brightest pixels are ink, a minority of the picture
    grey = np.stack([s.image for s in a]).mean(axis=3)
    bright = grey >= (grey.min(axis=(1, 2)) + grey.max(axis=(1, 2)))[:, None, None] / 2
    assert 0.03 < bright.mean() < 0.4


def test_digits_vary_in_font_place_and_angle():
    samples = digits.make_digits(200, seed=9)
    assert len({s.font for s in samples}) >= min(5, len(digits.find_fonts()))
    sevens = np.stack([s.image.mean(axis=2) for s in samples if s.label == 7])
    centres = [np.argwhere(g > (g.min() + g.max()) / 2).mean(axis=0) for g in sevens]
    assert np.ptp(np.array(centres), axis=0).min() > 3  # shifted, by more than 3 px each way


def test_without_font_files_pillows_own_font_still_draws(monkeypatch):
    monkeypatch.setattr(digits, "_font_folders", lambda: [])
    monkeypatch.setattr(digits, "_fc_list", lambda: {})
    digits.find_fonts.cache_clear()
    try:
        assert digits.find_fonts() == (digits.PILLOW_DEFAULT,)
        image, font = digits.draw_digit(np.random.default_rng(0), 4)
        assert font == digits.PILLOW_DEFAULT and image.std() > 10
    finally:
        digits.find_fonts.cache_clear()


def test_bundled_lenet_reads_freshly_drawn_digits(lenet):
    samples = digits.make_digits(400, seed=FRESH_SEED)
    x, y = digits.as_arrays(samples)
    with torch.no_grad():
        predicted = lenet.module(to_input(x)).argmax(1).numpy()
    accuracy = float((predicted == y).mean())
    assert accuracy >= 0.97, accuracy
    # every digit, not only most of them
    assert all((predicted[y == d] == d).mean() >= 0.9 for d in range(10))


def test_bundled_lenet_reads_large_pictures_through_the_apps_resize(lenet):
    x, y = digits.as_arrays(digits.make_digits(60, seed=FRESH_SEED + 1, size=digits.SAMPLE_SIZE))
    predicted = [inspect(lenet, image).predictions[0].index for image in x]
    assert np.mean(np.array(predicted) == y) >= 0.95


def test_the_network_reads_the_grey_of_the_crop(lenet):
    photo = open_image(SAMPLES / "chelsea.png")  # a colour photo: the luma weights matter
    inspection = inspect(lenet, photo)
    assert tuple(inspection.input_tensor.shape) == (1, 1, 32, 32)
    assert inspection.input_rgb.shape == (32, 32, 3)  # the views keep the colour crop
    assert lenet.module.features.conv1.in_channels == 1
    pil = np.asarray(Image.fromarray(inspection.input_rgb).convert("L"), np.float32) / 255
    prep = get_spec("lenet5").preprocessing
    expected = (pil - prep.mean[0]) / prep.std[0]
    np.testing.assert_allclose(inspection.input_tensor[0, 0].numpy(), expected,
                               atol=1 / 255 / prep.std[0])
    colour = np.asarray(inspection.input_rgb, np.float32)
    assert np.abs(colour[..., 0] - colour[..., 2]).max() > 20  # not grey already: a real test


def test_first_layer_filters_render_as_grey_tiles(lenet):
    weight = lenet.module.features.conv1.weight.detach().numpy()
    assert weight.shape == (6, 1, 5, 5)
    picture = render.filter_tiles(weight)
    assert np.array_equal(picture[..., 0], picture[..., 1]) and np.array_equal(picture[..., 1], picture[..., 2])
    # six tiles of at least 28 px in a near-square grid (2 x 3), not a single column
    rows, cols = render.grid_shape(6)
    assert picture.shape[0] >= rows * 28 and picture.shape[1] >= cols * 28
    tile = picture[2:2 + 30, 2:2 + 30, 0]  # the first tile: 5x5 weights enlarged 6x
    k = weight[0, 0]
    assert abs(int(tile[0, 0]) - (127.5 + 127.5 * k[0, 0] / np.abs(k).max())) <= 1


def test_occlusion_and_dream_work_on_a_one_channel_network(lenet):
    from cnnscope.core.optimize import dream

    seven = open_image(SAMPLES / "digit_7.png")
    inspection = inspect(lenet, seven)
    found = attribute(lenet, inspection, "occlusion")
    assert found.heatmap.shape == (32, 32) and found.heatmap.max() == pytest.approx(1.0)
    dreamt = dream(lenet, seven, "features.relu2", octaves=2, steps=2)  # octaves below 32 px
    assert dreamt.images.shape == (1, 32, 32, 3) and dreamt.steps_done == 4


def test_render_cli_on_the_sample_digit(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["render", "--model", "lenet5", "--image", str(SAMPLES / "digit_7.png"),
                 "--out", str(out), "--cam", "gradcam"]) == 0
    record = json.loads((out / "predictions.json").read_text())
    assert record["model"] == "lenet5" and record["trained"]
    assert record["predictions"][0]["label"] == "7" and record["predictions"][0]["probability"] > 0.9
    assert record["attribution"]["layer"] == "features.relu2" and record["attribution"]["label"] == "7"
    assert record["first_conv"] == "features.conv1"
    for name in ["input.png", "filters.png", f"features_{record['layer']}.png",
                 *record["attribution"]["files"]]:
        assert (out / name).is_file(), name
    assert np.asarray(Image.open(out / "input.png")).shape == (32, 32, 3)
    filters = np.asarray(Image.open(out / "filters.png"))
    assert np.array_equal(filters[..., 0], filters[..., 2])  # grey tiles


def test_make_lenet_samples_only_redraws_the_shipped_digit(tmp_path):
    assert main(["make-lenet", "--samples-only", "--samples", str(tmp_path)]) == 0
    drawn = np.asarray(Image.open(tmp_path / "digit_7.png"), np.float32)
    shipped = np.asarray(Image.open(SAMPLES / "digit_7.png"), np.float32)
    assert drawn.shape == shipped.shape == (digits.SAMPLE_SIZE, digits.SAMPLE_SIZE, 3)
    # the same seed and font; a FreeType build of another Pillow may shade glyph edges otherwise
    assert np.abs(drawn - shipped).mean() < 0.5
    other = digits.sample_digit(7, seed=1).astype(np.float32)
    assert np.abs(other - shipped).mean() > 5


def test_bundled_checkpoint_is_small_and_its_record_meets_the_target():
    path = ASSETS / "lenet5.pt"
    assert path.stat().st_size <= 1024 * 1024
    record = json.loads((ASSETS / "lenet5_training.json").read_text())
    assert record["test_accuracy"] >= 0.98
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["arch"] == "lenet5" and ckpt["classes"] == [str(d) for d in range(10)]
    assert ckpt["meta"]["training"]["test_accuracy"] == record["test_accuracy"]
    assert record["setup"]["seed"] != TEST_SEED


def test_training_script_writes_a_loadable_checkpoint(tmp_path):
    setup = LeNetTrainingSetup(epochs=1, train_images=300, test_images=100, resized_test_images=10)
    record = train_lenet(tmp_path / "l.pt", setup, log=lambda msg: None)
    assert 0.0 <= record.test_accuracy <= 1.0 and len(record.history) == 1
    assert record.fonts == [digits.font_label(f) for f in digits.find_fonts()]
    loaded = load_model("lenet5", str(tmp_path / "l.pt"))
    assert loaded.meta["training"]["setup"]["train_images"] == 300


def test_lenets_cam_layer_is_the_one_found_for_any_model():
    """The registry's choice for LeNet is what cnnscope works out for an unknown model: the last
    map before the pooling (10 x 10), not the 5 x 5 pooled one."""
    from cnnscope.core.lenet import LeNet5
    from cnnscope.core.models import REGISTRY
    from cnnscope.core.user_models import from_module

    assert from_module(LeNet5(), "lenet").spec.cam_layer == REGISTRY["lenet5"].cam_layer == "features.relu2"


def test_a_channel_image_at_another_size_is_refused_in_a_sentence_for_a_fixed_size_network():
    """LeNet's maps flatten into layers made for 32 px: a 300 px channel image crashed inside torch."""
    from cnnscope.core.errors import OptionError
    from cnnscope.core.optimize import channel, visualise
    from cnnscope.core.weights import load_model

    lenet = load_model("lenet5", "pretrained")
    with pytest.raises(OptionError, match="takes only 32 px images"):
        visualise(lenet, channel("features.conv1", 0), steps=1, size=300)
    assert visualise(lenet, channel("features.conv1", 0), steps=1).images.shape[1:3] == (32, 32)


def test_the_early_features_case_cuts_lenet_after_a_convolution():
    """LeNet's fully connected layers are blocks too; the default cut landed on classifier.fc1
    ("does not output feature maps")."""
    from cnnscope.core.freeze import blocks
    from cnnscope.core.training import PRESET_DEFAULTS

    names = blocks(load_model("lenet5", "pretrained").module)
    assert names[-1].startswith("classifier.")
    planned = PRESET_DEFAULTS["early-features"].plan_arguments(names, ["features.conv1", "features.conv2"])
    assert planned["cut_after"] in ("features.conv1", "features.conv2")
    assert PRESET_DEFAULTS["early-features"].plan_arguments(names)["cut_after"] == "classifier.fc1"  # all blocks: the old choice
