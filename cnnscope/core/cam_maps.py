"""The CAM family's formulas: one layer's feature maps (and their gradient) -> a class map.

Every function takes the layer's output ``activation`` (1, C, h, w) and, where the method uses it,
the gradient of the class score with respect to it, ``gradient`` (1, C, h, w), and returns the
(h, w) map before upsampling. They differ only in how the channels are weighted:

- Grad-CAM: one weight per channel, the mean gradient (Selvaraju et al. 2017).
- Grad-CAM++: per-position weights from higher-order terms (Chattopadhyay et al. 2018).
- HiResCAM: no averaging at all, gradient x activation summed over channels (Draelos & Carin 2020).
- XGrad-CAM: the gradient weighted by the activation's own share (Fu et al. 2020).
- LayerCAM: positive gradients weight each position (Jiang et al. 2021).
- Eigen-CAM: no class and no gradient, the maps' first principal component (Muhammad & Yeasin 2020).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gradcam(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """relu(sum_k mean(dY/dA_k) A_k)."""
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    return F.relu((weights * activation).sum(dim=1))[0]


def gradcam_pp(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """Chattopadhyay et al. 2018, eq. 19, with the exponential-score simplification every
    implementation uses: second and third derivatives become powers of the first."""
    return weighted_by_alphas(activation, gradient, gradient.pow(2), gradient.pow(3))


def weighted_by_alphas(activation: torch.Tensor, first: torch.Tensor, second: torch.Tensor,
                       third: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++'s map from the first, second and third derivatives (Smooth Grad-CAM++ passes
    their averages over noisy copies): alpha = D2 / (2 D2 + sum_ab A_k(a,b) D3), w_k = sum alpha relu(D1)."""
    total = activation.sum(dim=(2, 3), keepdim=True)
    denominator = 2 * second + total * third
    alpha = torch.where(second != 0, second / torch.where(denominator != 0, denominator,
                                                          torch.ones_like(denominator)), 0.0)
    weights = (alpha * F.relu(first)).sum(dim=(2, 3), keepdim=True)
    return F.relu((weights * activation).sum(dim=1))[0]


def hirescam(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """relu(sum_k dY/dA_k * A_k), position by position: Grad-CAM without the averaging, so the
    map shows exactly where the score's first-order change came from."""
    return F.relu((gradient * activation).sum(dim=1))[0]


def xgradcam(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """Channel weights sum_ij dY/dA_k(i,j) * A_k(i,j) / sum_ij A_k(i,j) (Fu et al.'s axioms of
    sensitivity and conservation)."""
    share = activation / (activation.sum(dim=(2, 3), keepdim=True) + 1e-7)
    weights = (gradient * share).sum(dim=(2, 3), keepdim=True)
    return F.relu((weights * activation).sum(dim=1))[0]


def layercam(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """relu(sum_k relu(dY/dA_k) * A_k): each position weighted by its own positive gradient, which
    keeps fine detail at early layers where Grad-CAM's averages wash out."""
    return F.relu((F.relu(gradient) * activation).sum(dim=1))[0]


def eigencam(activation: torch.Tensor) -> torch.Tensor:
    """The feature maps projected on their first principal component (positions as samples,
    channels as features, centred), signed so that the map rises with the layer's total activity.

    Sign: a principal component's sign is arbitrary (v and -v are both eigenvectors); without a
    rule the map can come out inverted, lighting the background. Eigen-CAM's figures show the
    object, where the activity is, so the projection is turned to correlate positively with it.
    Like every CAM here (and pytorch-grad-cam's Eigen-CAM) the map keeps the positive side: the
    projection is centred, so the positions below the layer's average pattern show as zero.
    """
    maps = activation[0].float()  # (C, h, w)
    channels, rows, cols = maps.shape
    samples = maps.reshape(channels, -1).T  # (h*w, C)
    centred = samples - samples.mean(dim=0, keepdim=True)
    if rows * cols < 2 or not bool(centred.abs().max() > 0):
        return torch.zeros(rows, cols, dtype=maps.dtype, device=maps.device)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    projection = centred @ vh[0]
    activity = samples.sum(dim=1)
    if float(((activity - activity.mean()) * projection).sum()) < 0:
        projection = -projection
    return F.relu(projection).reshape(rows, cols)
