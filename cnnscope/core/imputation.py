"""Fill removed pixels from their neighbours: ROAD's noisy linear imputation.

Rong et al. 2022 ("A Consistent and Efficient Evaluation Strategy for Attribution Methods", ROAD)
showed that deletion curves which paint removed pixels one flat colour measure the holes as much
as the map: scattered flat pixels, or a hole with the map's outline, fail a network whatever the
pixels were. Their fix fills every removed pixel with the weighted mean of its eight neighbours
(1/6 for the four beside it, 1/12 for the diagonals), known or filled themselves, plus a little
noise. The filled values are the solution of one sparse linear system per image.

Solving that system exactly (a sparse LU factorisation) costs 0.02-0.65 s per image at 224 px on
a 2-core CPU, the more the more pixels are removed, and a faithfulness check needs 33 of them
(several seconds). Here the same equations are relaxed on a pyramid instead: the removed pixels
are first filled at half, quarter, ... resolution, where relaxation reaches across a hole in a few
steps, and each level starts the next finer one. A whole batch of images costs about as much as
one exact solve, and the network's probabilities on the result stay within 0.03 of those on the
exact solution (tests/core/test_faithfulness.py and tests/core/test_imputation.py check both
against pytorch-grad-cam's copy of ROAD's own imputer).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

NOISE = 0.01  # ROAD's default: the noise's standard deviation, in the network's input units
COARSEST = 8  # the pyramid stops once both sides are this small (a long thin photo too)
FINE_STEPS = 8  # relaxation steps at full resolution
COARSE_STEPS = 32  # at every coarser level (a quarter of the pixels or fewer: cheap)


def fill_from_neighbours(x: torch.Tensor, known: torch.Tensor, seeds: Sequence[int],
                         noise: float = NOISE) -> torch.Tensor:
    """``x`` (N, C, H, W) with every pixel where ``known`` (N, 1, H, W; 1 = keep, 0 = removed) is
    0 replaced by ROAD's linear imputation from its neighbours, plus Gaussian ``noise`` drawn from
    one seed per image (so an image's fill does not depend on the batch it came in). Kept pixels
    are returned unchanged; an image with no kept pixel at all comes back as zeros (plus noise):
    with nothing to fill from, the input's neutral value."""
    if x.dim() != 4 or known.shape != (x.shape[0], 1, *x.shape[-2:]) or len(seeds) != len(x):
        raise ValueError("fill_from_neighbours needs x (N, C, H, W), known (N, 1, H, W) and N seeds.")
    known = (known > 0.5).to(x.dtype)
    filled = _fill(x * known, known, FINE_STEPS)
    if noise:
        jitter = torch.stack([torch.randn(x.shape[1:], generator=torch.Generator().manual_seed(seed % (1 << 63)))
                              for seed in seeds]).to(device=x.device, dtype=x.dtype)
        filled = filled + noise * jitter
    return torch.where(known > 0, x, filled)


def _fill(x: torch.Tensor, known: torch.Tensor, steps: int) -> torch.Tensor:
    """``x`` with its unknown pixels relaxed toward ROAD's equations, started from the coarser
    level's answer (``x`` is 0 where unknown)."""
    if max(x.shape[-2:]) <= COARSEST:
        counts = known.sum((-2, -1), keepdim=True)
        mean = x.sum((-2, -1), keepdim=True) / counts.clamp_min(1)  # 0 where nothing is known
        return _relax(torch.where(known > 0, x, mean.expand_as(x)), known, 4 * COARSE_STEPS)
    # A coarse pixel is known when any of its 2 x 2 children is, with their mean as its value:
    # the coarse holes then sit inside the fine ones, and the fine steps settle their edges.
    share = F.avg_pool2d(known, 2, ceil_mode=True)
    coarse_x = F.avg_pool2d(x, 2, ceil_mode=True) / share.clamp_min(1e-6)
    coarse_known = (share > 0).to(x.dtype)
    coarse = _fill(coarse_x * coarse_known, coarse_known, COARSE_STEPS)
    start = F.interpolate(coarse, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return _relax(torch.where(known > 0, x, start), known, steps)


def _relax(x: torch.Tensor, known: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` Jacobi steps: each unknown pixel becomes the weighted mean of its neighbours
    inside the image (at an edge the weights of the missing neighbours are left out, as in ROAD)."""
    sums = _neighbour_sum(torch.ones_like(known))
    inverse_weights = torch.where(sums > 0, 1 / sums, 0.0)  # a 1 x 1 image has no neighbours
    keep = known > 0
    for _ in range(steps):
        x = torch.where(keep, x, _neighbour_sum(x).mul_(inverse_weights))
    return x


def _neighbour_sum(x: torch.Tensor) -> torch.Tensor:
    """The ROAD-weighted sum of each pixel's eight neighbours (1/6 beside, 1/12 diagonal; 0
    outside the image). The stencil is ([1, 2, 1] x [1, 2, 1] - 4 x centre) / 12, computed with
    shifted slices: several times faster on a CPU than a depthwise convolution."""
    padded = F.pad(x, (1, 1, 1, 1))
    rows = padded[..., :-2, :] + padded[..., 2:, :]
    rows.add_(padded[..., 1:-1, :], alpha=2)
    out = rows[..., :-2] + rows[..., 2:]
    out.add_(rows[..., 1:-1], alpha=2).sub_(x, alpha=4)
    return out.div_(12)
