"""Removed pixels filled from their neighbours (ROAD), against pytorch-grad-cam's copy of ROAD's
own imputer, which solves the same equations exactly with a sparse LU factorisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnscope.core.imputation import fill_from_neighbours

pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam.metrics.road import NoisyLinearImputer  # noqa: E402

# the reference calls np.argwhere on a torch tensor, which numpy 2 warns about
pytestmark = pytest.mark.filterwarnings("ignore:__array_wrap__:DeprecationWarning")

H, W = 40, 56


def _photo_like() -> torch.Tensor:
    """(1, 3, H, W): smooth colour gradients, an edge and some texture, in normalised units."""
    rows, cols = np.mgrid[0:H, 0:W] / np.array([H, W])[:, None, None]
    texture = np.random.default_rng(3).normal(0, 0.2, (3, H, W))
    image = np.stack([2 * rows - 1, np.sin(4 * cols), (cols > 0.6) * 1.5 - 0.5]) + texture
    return torch.from_numpy(image.astype(np.float32))[None]


def _masks() -> dict[str, np.ndarray]:
    """1 = kept. A hole in the middle, a hole across the top-left corner, scattered pixels, and
    90 % removed in blobs: the shapes deletion curves make."""
    rows, cols = np.mgrid[0:H, 0:W]
    blobs = np.random.default_rng(4).random((5, 7)).repeat(8, 0).repeat(8, 1)
    return {
        "middle": ~((abs(rows - 20) < 10) & (abs(cols - 28) < 14)),
        "corner": ~((rows < 15) & (cols < 20)),
        "scattered": np.random.default_rng(5).random((H, W)) > 0.3,
        "mostly gone": blobs > 0.9,
    }


# The pyramid's relaxation stops short of the exact solution: the mean error over the removed
# pixels, as a share of the image's spread, measured 0.0001 (scattered), 0.019 (middle), 0.033
# (corner) and 0.056 (mostly gone): a grey level or three. A fill that skipped the full-resolution
# steps, or weighed all eight neighbours alike, is off by 0.02-0.07.
TOLERANCE = {"scattered": 0.001, "middle": 0.03, "corner": 0.045, "mostly gone": 0.07}


def _exact_and_ours(shape: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    x, kept = _photo_like(), _masks()[shape]
    exact = NoisyLinearImputer(noise=0)(x[0], torch.from_numpy(kept.astype(np.float32)))
    ours = fill_from_neighbours(x, torch.from_numpy(kept.astype(np.float32))[None, None], [0], noise=0)[0]
    return x, torch.from_numpy(~kept), exact, ours


@pytest.mark.parametrize("shape", list(_masks()))
def test_the_fill_solves_roads_equations(shape):
    x, removed, exact, ours = _exact_and_ours(shape)
    assert torch.equal(ours[:, ~removed], x[0][:, ~removed])  # kept pixels untouched
    error = (ours - exact)[:, removed].abs()
    assert float(error.mean()) < TOLERANCE[shape] * float(x.std()), shape
    flat = (exact[:, removed]).abs().mean()  # the error a fill with 0 (the mean colour) would make
    assert float(error.mean()) < 0.2 * float(flat), shape


def test_relaxed_long_enough_the_fill_is_roads_exact_solution(monkeypatch):
    """The pyramid only starts the relaxation; its fixed point must be ROAD's system itself, with
    its weights (1/6 beside, 1/12 diagonal) and its edge rule (missing neighbours left out)."""
    from cnnscope.core import imputation

    monkeypatch.setattr(imputation, "FINE_STEPS", 3000)
    for shape in ("corner", "mostly gone"):  # a hole on the edges, and holes everywhere
        x, removed, exact, ours = _exact_and_ours(shape)
        assert float((ours - exact)[:, removed].abs().max()) < 1e-3, shape


def test_a_constant_image_stays_constant_and_nothing_left_gives_zeros():
    flat = torch.full((2, 3, 20, 24), 0.7)
    kept = torch.ones(2, 1, 20, 24)
    kept[0, :, 5:15, 5:20] = 0
    kept[1] = 0  # everything removed: nothing to fill from
    out = fill_from_neighbours(flat, kept, [0, 0], noise=0)
    torch.testing.assert_close(out[0], flat[0], atol=1e-5, rtol=0)
    assert torch.equal(out[1], torch.zeros_like(out[1]))
    for dtype in (torch.float32, torch.float16):  # one pixel, no neighbours: 0, not NaN
        lone = fill_from_neighbours(torch.ones(1, 3, 1, 1, dtype=dtype), torch.zeros(1, 1, 1, 1, dtype=dtype),
                                    [0], noise=0)
        assert torch.equal(lone, torch.zeros_like(lone)), dtype


def test_noise_is_seeded_per_image_and_only_on_filled_pixels():
    x, kept = _photo_like(), torch.from_numpy(_masks()["middle"].astype(np.float32))[None, None]
    quiet = fill_from_neighbours(x, kept, [0], noise=0)
    one = fill_from_neighbours(x, kept, [1])
    again = fill_from_neighbours(torch.cat([x, x]), torch.cat([kept, kept]), [2, 1])[1]
    assert torch.equal(one, again[None])  # an image's fill does not depend on its batch
    jitter = (one - quiet)[:, :, kept[0, 0] == 0]
    assert torch.equal(one[:, :, kept[0, 0] > 0], x[:, :, kept[0, 0] > 0])
    assert 0.008 < float(jitter.std()) < 0.012  # ROAD's 0.01
    assert not torch.equal(fill_from_neighbours(x, kept, [2]), one)
    assert torch.isfinite(fill_from_neighbours(x, kept, [2 ** 64 + 5])).all()  # any Python int seeds


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError):
        fill_from_neighbours(torch.zeros(1, 3, 8, 8), torch.ones(1, 1, 8, 9), [0])
    with pytest.raises(ValueError):
        fill_from_neighbours(torch.zeros(2, 3, 8, 8), torch.ones(2, 1, 8, 8), [0])
