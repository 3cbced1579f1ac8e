"""The sanity check for heatmaps: which blocks, a copy randomised (never the user's model), the
rank correlation, and the lesson with real weights (Guided Backprop barely changes, Grad-CAM does)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from cnnscope.core.attribution import AttributionCancelled
from cnnscope.core.errors import ModelError
from cnnscope.core.images import open_image
from cnnscope.core.sanity import (cascading_randomisation, execution_order, randomisation_blocks,
                                  randomise, rank_correlation)

SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


class WithAux(nn.Module):
    """Head registered before the body, and an auxiliary head that never runs."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 3)
        self.aux = nn.Linear(8, 3)
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 8, 3))

    def forward(self, x):
        return self.fc(self.body(x).mean(dim=(2, 3)))


def _covered(module: nn.Module, blocks) -> list[int]:
    return [id(p) for b in blocks for n in b.modules for p in module.get_submodule(n).parameters()]


@pytest.mark.parametrize("build, head, steps", [("mobilenet_v2", "classifier", 8), ("resnet18", "fc", 7)])
def test_blocks_are_head_first_and_cover_every_parameter_once(build, head, steps):
    import torchvision

    module = getattr(torchvision.models, build)()
    blocks = randomisation_blocks(module)
    assert blocks[0].label == head and blocks[0].modules == (head,)
    assert len(blocks) == steps  # MobileNet's 19 stages merged to 7 groups + its head; ResNet as it is
    covered = _covered(module, blocks)
    assert sorted(covered) == sorted(id(p) for p in module.parameters())
    # head first, then from the output towards the input: the last block holds the first conv
    first_conv = next(m for m in module.modules() if isinstance(m, nn.Conv2d))
    assert any(m is first_conv for n in blocks[-1].modules for m in module.get_submodule(n).modules())
    assert [b.label for b in randomisation_blocks(module, steps=2)][0] == head
    assert len(randomisation_blocks(module, steps=1)) == 1


def test_blocks_follow_the_order_modules_run_and_skip_what_never_runs():
    model = WithAux()
    order = execution_order(model, torch.zeros(1, 3, 8, 8))
    blocks = randomisation_blocks(model, order=order)
    assert [b.label for b in blocks] == ["fc", "body.3", "body.1", "body.0"]
    assert "aux" not in {n for b in blocks for n in b.modules}
    assert [b.label for b in randomisation_blocks(model, steps=2, order=order)] == ["fc", "body.0-3"]


def test_randomise_resets_batchnorm_and_is_seeded():
    one, two = WithAux(), WithAux()
    two.load_state_dict(one.state_dict())
    bn = one.body[1]
    bn.running_mean.fill_(3.0)
    bn.weight.data.fill_(5.0)
    before = one.body[0].weight.detach().clone()
    state = torch.random.get_rng_state()
    randomise(one, ["body"], 7)
    randomise(two, ["body"], 7)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random state is kept
    assert torch.equal(one.body[0].weight, two.body[0].weight)  # same seed, same weights
    assert not torch.equal(one.body[0].weight, before)
    assert torch.equal(bn.running_mean, torch.zeros(4)) and torch.equal(bn.weight, torch.ones(4))
    assert torch.equal(one.fc.weight, two.fc.weight)  # not named: untouched


def test_rank_correlation_of_absolute_maps():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(16, 16))
    assert rank_correlation(a, -a) == pytest.approx(1.0)  # absolute values, as Adebayo et al.
    assert rank_correlation(np.abs(a), np.abs(a).max() - np.abs(a)) == pytest.approx(-1.0)
    # ties share their average rank: y's ranks are 1, 2, 3.5, 5, 3.5, so r = 8 / sqrt(10 * 9.5)
    x, y = np.array([1.0, 2, 3, 4, 5]), np.array([5.0, 6, 7, 8, 7])
    assert rank_correlation(x, y) == pytest.approx(8 / np.sqrt(95))
    assert np.isnan(rank_correlation(a, np.zeros_like(a)))  # an empty map has no ranking


def test_the_users_model_is_untouched_and_gradcam_changes(demo_model):
    state = {k: v.clone() for k, v in demo_model.module.state_dict().items()}
    modules = list(demo_model.module.modules())
    seen = []
    result = cascading_randomisation(demo_model, open_image(SAMPLES / "shape_star.png"),
                                     ["gradcam", "guided_backprop"], steps=2,
                                     progress=lambda done, total: seen.append((done, total)))
    after = demo_model.module.state_dict()
    assert all(torch.equal(state[k], after[k]) for k in state)
    assert list(demo_model.module.modules()) == modules and not demo_model.module.training
    assert seen[-1] == (6, 6) and len(seen) == 6
    assert result.column_titles == ["original", "+ fc", "+ features.block1..block4"]
    assert result.target_label == "star" and result.maps.shape == (2, 3, 96, 96)
    assert result.maps.dtype == np.float32 and 0 <= result.maps.min() and result.maps.max() <= 1
    np.testing.assert_allclose(result.correlations[:, 0], 1.0)
    gradcam, guided = result.correlations
    assert gradcam[1] < 0.5  # a new head alone moves Grad-CAM's map...
    assert guided[1] > 0.8 and guided[1] > gradcam[1] + 0.5  # ...but hardly Guided Backprop's


def test_cancel_stops_between_maps_and_bad_input_is_one_sentence(demo_model):
    image = open_image(SAMPLES / "shape_star.png")
    asked = []

    def cancel_after_two() -> bool:
        asked.append(1)
        return len(asked) > 2
    with pytest.raises(AttributionCancelled):
        cascading_randomisation(demo_model, image, ["gradcam"], steps=3, should_cancel=cancel_after_two)
    with pytest.raises(ModelError, match="Unknown attribution method 'nope'"):
        cascading_randomisation(demo_model, image, ["gradcam", "nope"])
    with pytest.raises(ModelError, match="1 to 24"):
        cascading_randomisation(demo_model, image, ["gradcam"], steps=0)
    with pytest.raises(ModelError, match="not a class"):
        cascading_randomisation(demo_model, image, ["gradcam"], target="tabby", steps=1)


def test_real_mobilenet_guided_backprop_fails_the_check_and_gradcam_passes(mobilenet_file):
    from cnnscope.core.weights import load_model

    loaded = load_model("mobilenet_v2", str(mobilenet_file))
    result = cascading_randomisation(loaded, open_image(SAMPLES / "coffee.jpg"),
                                     ["gradcam", "guided_backprop"], target="espresso", steps=2)
    assert result.column_titles[1] == "+ classifier"
    gradcam, guided = np.nan_to_num(result.correlations, nan=0.0)  # an empty map kept nothing
    assert guided[1] > 0.95 and gradcam[1] < 0.7  # a new classifier: Guided Backprop barely moves
    assert gradcam[2] < 0.2  # the whole network randomised: Grad-CAM's map is gone
    assert guided[2] > gradcam[2] + 0.15  # Guided Backprop still shows the photo's edges
