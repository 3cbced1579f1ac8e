"""The input-optimisation machine (core/optimize.py): what it reaches, what the regularisers do,
batches, cancel, and that the model is left as it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnscope.core import optimize
from cnnscope.core.errors import ModelError, OptionError
from cnnscope.core.images import open_image
from cnnscope.core.resources import sample_images

LAYER, CHANNEL = "features.block3.relu2", 7


def _high_frequency_share(image: np.ndarray) -> float:
    """The share of the grey image's (mean-free) energy above a quarter of the sampling rate."""
    grey = image.astype(float).mean(-1)
    energy = np.abs(np.fft.fft2(grey - grey.mean())) ** 2
    f = np.fft.fftfreq(grey.shape[0])
    fx, fy = np.meshgrid(f, f)
    return float(energy[np.sqrt(fx ** 2 + fy ** 2) > 0.25].sum() / energy.sum())


def test_a_channel_image_beats_every_photo_five_times(demo_model):
    """The demo's trained channel, optimised from noise: at least 5x the best sample photo's mean
    activation, and far above its own start."""
    found = optimize.visualise(demo_model, optimize.channel(LAYER, CHANNEL), steps=160, seed=0)
    photos = [open_image(p) for p in sample_images()]
    best_photo = max(optimize.mean_activation(demo_model, photos, LAYER, CHANNEL))
    assert found.scores[0] >= 5 * best_photo > 0
    assert found.scores[0] > 10 * max(found.history[0], 1e-3)
    assert found.images.shape == (1, 96, 96, 3) and found.images.dtype == np.uint8


def test_the_regularisers_keep_the_image_smooth(demo_model):
    """Fourier parameterisation + transformation robustness against plain pixels: far less
    high-frequency energy. (Channel 2: for some channels the demo's smooth 7x7 first layer already
    filters most of the pixel-space noise out, and the gap is smaller.)"""
    regularised = optimize.visualise(demo_model, optimize.channel(LAYER, 2), steps=48)
    plain = optimize.visualise(demo_model, optimize.channel(LAYER, 2), steps=48,
                               parameterisation="pixel", transforms=False)
    assert _high_frequency_share(regularised.images[0]) * 2 < _high_frequency_share(plain.images[0])


def test_a_batch_of_channels_equals_the_channels_one_by_one(demo_model):
    """Up to float rounding: a batched convolution adds in another order, and Adam turns a
    rounding-sized gradient into a full step, so a few pixels differ by a few levels."""
    batch = optimize.visualise(demo_model, optimize.channel(LAYER, [3, 7]), batch=2, steps=6, seed=4)
    for index, channel_index in enumerate((3, 7)):
        alone = optimize.visualise(demo_model, optimize.channel(LAYER, channel_index), steps=6,
                                   seed=4, first=index)
        difference = np.abs(batch.images[index].astype(int) - alone.images[0])
        assert difference.mean() < 1.5 and difference.max() <= 24
        assert batch.scores[index] == pytest.approx(alone.scores[0], rel=0.01)
    other = optimize.visualise(demo_model, optimize.channel(LAYER, 7), steps=6, seed=5, first=1)
    assert np.abs(batch.images[1].astype(int) - other.images[0]).mean() > 5  # another seed differs


def test_deep_dream_and_class_objectives_rise(demo_model):
    dream = optimize.visualise(demo_model, optimize.layer_energy("features.block2.relu"), steps=64)
    assert dream.scores[0] > 2 * dream.history[0]
    star = demo_model.labels.index("star")
    drawn = optimize.visualise(demo_model, optimize.class_logit(star), steps=24)
    assert drawn.scores[0] > drawn.history[0] + 1
    combined = optimize.combine((1.0, optimize.channel(LAYER, [1, 2])), (0.5, optimize.diversity(LAYER)))
    pair = optimize.visualise(demo_model, combined, batch=2, steps=12)
    assert len(pair.scores) == 2 and np.all(np.isfinite(pair.scores))


def test_cancel_stops_before_the_next_step_and_the_model_is_untouched(demo_model):
    before = {k: v.clone() for k, v in demo_model.module.state_dict().items()}
    grads = [p.requires_grad for p in demo_model.module.parameters()]
    steps: list[int] = []
    found = optimize.visualise(demo_model, optimize.channel(LAYER, 0), steps=500,
                               on_step=lambda s: steps.append(s.step),
                               should_cancel=lambda: len(steps) >= 3)
    assert found.cancelled and found.steps_done == 3 and steps == [1, 2, 3]
    for key, value in demo_model.module.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert [p.requires_grad for p in demo_model.module.parameters()] == grads
    assert all(p.grad is None for p in demo_model.module.parameters())
    assert not demo_model.module.training


def test_bad_requests_say_what_is_wrong(demo_model):
    with pytest.raises(ModelError, match="no channel 500"):
        optimize.visualise(demo_model, optimize.channel(LAYER, 500), steps=1)
    with pytest.raises(ModelError, match="No layer named 'nope'"):
        optimize.visualise(demo_model, optimize.channel("nope", 0), steps=1)
    with pytest.raises(ModelError, match="outputs a vector"):
        optimize.visualise(demo_model, optimize.channel("fc", 0), steps=1)
    with pytest.raises(OptionError, match="fourier or pixel"):
        optimize.visualise(demo_model, optimize.channel(LAYER, 0), parameterisation="wavelet")
    with pytest.raises(OptionError, match="Steps must be"):
        optimize.visualise(demo_model, optimize.channel(LAYER, 0), steps=0)


def test_deep_dream_on_a_photo_raises_the_layer_and_keeps_the_photo_recognisable(demo_model):
    photo = open_image(next(p for p in sample_images() if p.name == "shape_star.png"))
    dreamt = optimize.dream(demo_model, photo, "features.block2.relu", octaves=2, steps=6)
    assert dreamt.scores[0] > 1.5 * dreamt.history[0]
    seen = demo_model.spec.preprocessing.crop(photo).permute(1, 2, 0).numpy().astype(int)
    change = np.abs(dreamt.images[0].astype(int) - seen).mean()
    assert 2 < change < 60  # changed, but still the photo
    with pytest.raises(OptionError, match="Octaves"):
        optimize.dream(demo_model, photo, "features.block2.relu", octaves=20)


def test_an_attack_keeps_its_budget_exactly_and_says_whether_it_fooled(demo_model):
    from cnnscope.core.adversarial import attack

    photo = open_image(next(p for p in sample_images() if p.name == "shape_star.png"))
    found = attack(demo_model, photo, epsilon=8 / 255, steps=20)
    assert found.levels == 8 and np.abs(found.perturbation).max() <= 8
    assert found.before[0][0] == "star"
    assert found.fooled == (found.after[0][0] != "star")
    one_step = attack(demo_model, photo, epsilon=3 / 255, method="fgsm")
    assert one_step.steps == 1 and np.abs(one_step.perturbation).max() <= 3
    with pytest.raises(OptionError, match="whole 8-bit levels"):
        attack(demo_model, photo, epsilon=0.1 / 255)
    with pytest.raises(ModelError, match="knows no class 'zebra'"):
        attack(demo_model, photo, target="zebra")


def test_dream_and_attack_start_from_the_whole_photo_when_asked(demo_model, wide_photo):
    """With the whole-image framing the red block at the photo's left edge, which the centre crop
    cuts off, is in what the attack and the dream start from; the padding is the mean colour."""
    from cnnscope.core.adversarial import attack

    def red(rgb: np.ndarray) -> np.ndarray:
        return (rgb[..., 0] > 200) & (rgb[..., 1] < 60) & (rgb[..., 2] < 60)

    padding = demo_model.spec.preprocessing.padding_colour()
    cropped = attack(demo_model, wide_photo, epsilon=4 / 255, steps=2)
    whole = attack(demo_model, wide_photo, epsilon=4 / 255, steps=2, framing="whole")
    assert not red(cropped.original).any() and red(whole.original).any()
    assert (whole.original[:24] == padding).all() and (whole.original[-24:] == padding).all()
    assert np.abs(whole.perturbation).max() <= 4
    assert not whole.perturbation[:24].any() and not whole.perturbation[-24:].any()  # the photo alone
    assert whole.perturbation[24:-24].any()
    dreamt = optimize.dream(demo_model, wide_photo, "features.block2.relu", octaves=2, steps=2,
                            framing="whole")
    assert dreamt.images[0].shape == (96, 96, 3) and red(dreamt.images[0]).any()
    assert (dreamt.images[0][:24] == padding).all() and (dreamt.images[0][-24:] == padding).all()


def test_pgd_at_two_levels_fools_mobilenet_on_the_sample_photos(mobilenet_file):
    """Real ImageNet weights (skipped without them): 2/255, invisible, flips every photo's top-1
    in 4 steps (10 by default), and a targeted attack reaches its class in 8; both still fool after
    8-bit rounding."""
    from cnnscope.core.adversarial import attack
    from cnnscope.core.weights import load_model

    mobilenet = load_model("mobilenet_v2", str(mobilenet_file))
    photos = [p for p in sample_images() if not p.name.startswith("shape_")]
    for path in photos:
        found = attack(mobilenet, open_image(path), epsilon=2 / 255, steps=4)
        assert found.fooled and found.after[0][0] != found.before[0][0], path.name
        assert np.abs(found.perturbation).max() <= 2
    towards = attack(mobilenet, open_image(photos[0]), epsilon=2 / 255, target="goldfish", steps=8)
    assert towards.fooled and towards.after[0][0] == "goldfish"


def test_inspecting_a_crop_takes_its_pixels_as_they_are():
    """An adversarial photo is already the model's crop: resizing it again (256 then 224 for
    ImageNet models) would blur the change away, so ``cropped=True`` takes it pixel for pixel."""
    from cnnscope.core.inspect import inspect
    from cnnscope.core.weights import load_model

    resnet = load_model("resnet18", "random")
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)  # speckle: any resize changes it
    as_is = inspect(resnet, crop, cropped=True)
    assert np.array_equal(as_is.input_rgb, crop)
    assert not np.array_equal(inspect(resnet, crop).input_rgb, crop)  # the usual path resizes
    with pytest.raises(ModelError, match="takes 224x224 crops"):
        inspect(resnet, crop[:100], cropped=True)


def test_where_each_looked_explains_each_photo_for_its_own_top_class(demo_model):
    from cnnscope.core.adversarial import attack, where_each_looked

    photo = open_image(next(p for p in sample_images() if p.name == "shape_star.png"))
    found = attack(demo_model, photo, epsilon=8 / 255, steps=20)
    before, after = where_each_looked(demo_model, found)
    assert before.method == after.method == "gradcam"
    assert before.target_label == found.before[0][0] and after.target_label == found.after[0][0]
    assert before.heatmap.shape == after.heatmap.shape == found.original.shape[:2]
    assert not np.array_equal(before.heatmap, after.heatmap)


@pytest.mark.parametrize("layer", ["features.block4.relu2", "features.block4"])
def test_a_channel_that_is_off_on_the_noise_still_gets_a_gradient(demo_model, layer):
    """Channel 3 of block 4 is zero everywhere on the starting noise: through its ReLU it got no
    gradient at all and stayed a grey square. The gradient is led past the ReLU where the unit is
    off (also when the layer is the block ending in it, where Grad-CAM's boundary sits)."""
    found = optimize.visualise(demo_model, optimize.channel(layer, 3), steps=32)
    assert found.history[0] == 0.0
    assert found.scores[0] > 1.0
    assert found.images[0].std() > 10


def test_a_resnet_block_output_is_redirected_through_its_sum():
    """A ResNet block ends in ReLU(bn2 + shortcut): the sum is not any module's output, so it is
    run again from the recorded values; the value it gives is the ReLU's input."""
    from cnnscope.core.inspect import traced_graph
    from cnnscope.core.weights import load_model

    resnet = load_model("resnet18", "random")
    graph = traced_graph(resnet)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        _logits, outputs = graph(x)
        before = graph.activation_input("layer2.1", outputs, x)
    assert torch.equal(before.clamp_min(0), outputs["layer2.1"])
    assert before.min() < 0  # the sum itself, not the ReLU's output
    assert graph.activation_input("layer2.1.conv1", outputs, x) is None  # not an activation


def test_squeezenet_last_fire_module_channels_all_form(squeezenet_file):
    """Real ImageNet weights (skipped without them): in SqueezeNet's last fire module most of
    the first channels are off on the starting noise; every one of them must still form."""
    from cnnscope.core.weights import load_model

    squeezenet = load_model("squeezenet1_1", str(squeezenet_file))
    found = optimize.visualise(squeezenet, optimize.channel("features.12.expand3x3_activation",
                                                            [0, 1, 2, 3]),
                               batch=4, steps=24, size=96)
    assert found.history[0] == 0.0  # all four started dark
    assert min(found.scores) > 0.5, found.scores
