"""The validation images as the network sees them, before and after fine-tuning: each image's
pooled features (the input of the head) drawn in 2-D, so a learner sees the classes pull apart
as the layers that were free to learn adapt (or stay mixed when only the head learned)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .datasets import FolderDataset, batch_transform
from .errors import ModelError, ScanError
from .freeze import head_name
from .inspect import capture_inputs
from .preprocess import Preprocessing

MAX_IMAGES = 2000  # a map of more validation images says no more, and costs more


def pooled_features(module: nn.Module, images: list[torch.Tensor], preprocessing: Preprocessing,
                    batch_size: int = 32) -> np.ndarray:
    """(N, D) float32: each image's input to ``module``'s head (maps averaged where the head
    reads maps), in eval mode, on the module's device; the model's mode is restored."""
    head = head_name(module)
    device = next(module.parameters()).device
    transform = batch_transform(preprocessing)
    was_training = module.training
    module.eval()
    rows: list[np.ndarray] = []
    try:
        for start in range(0, len(images), batch_size):
            x = torch.stack([transform(img) for img in images[start:start + batch_size]]).to(device)
            with torch.no_grad(), capture_inputs(module, {head}) as seen:
                module(x)
            features = seen[head]
            if features.dim() == 4:
                features = features.mean(dim=(2, 3))
            rows.append(features.flatten(1).float().cpu().numpy())
    finally:
        module.train(was_training)
    return np.concatenate(rows)


def validation_features(module: nn.Module, data: FolderDataset, preprocessing: Preprocessing) -> np.ndarray | None:
    """The validation images' pooled features (the first MAX_IMAGES), or None when there are too
    few for a map or the model has no head to read them at."""
    images = data.val_images[:MAX_IMAGES]
    if len(images) < 3:
        return None
    try:
        return pooled_features(module, images, preprocessing)
    except ModelError:
        return None


def before_and_after(before: np.ndarray | None, after: np.ndarray | None, data: FolderDataset) -> dict | None:
    """Both maps of the validation images (PCA, each fitted to its own features), as plain data:
    {"before", "after": (N, 2) arrays, "labels": class index per image, "classes": names}; None
    without features. ``before`` and ``after`` are the same network's (the new head's input),
    before and after its training."""
    from .scan.embedding import embed

    if before is None or after is None:
        return None
    try:
        maps = {"before": embed(before, "pca"), "after": embed(after, "pca")}
    except ScanError:
        return None
    return {**maps, "labels": list(data.val_labels[:len(before)]), "classes": list(data.classes)}
