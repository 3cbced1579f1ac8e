"""Small image-folder datasets for transfer learning: one subfolder per class.

Images are decoded once, resized to the model's resize size (so memory stays bounded), and kept as
uint8 tensors. A file that cannot be read is skipped and listed, never fatal. The split is
``train/`` and ``val/`` subfolders when both exist, otherwise a seeded per-class split.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torchvision.transforms import v2

from .errors import CnnscopeError, DatasetError
from .images import open_image
from .preprocess import Preprocessing

#: A training set is decoded into memory (about 200 KB an image): this many at most.
MAX_IMAGES = 10_000
#: progress(files done, files in all)
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class Augmentation:
    """Random changes applied to training images each epoch (torchvision transforms v2)."""

    flip: bool = False
    crop: bool = False
    color: bool = False

    @property
    def any(self) -> bool:
        """Whether any augmentation is on (then features cannot be cached)."""
        return self.flip or self.crop or self.color

    def as_dict(self) -> dict:
        """Plain data for a checkpoint."""
        return {"flip": self.flip, "crop": self.crop, "color": self.color}


@dataclass
class FolderDataset:
    """Decoded images and labels, split into train and validation."""

    root: Path
    classes: list[str]
    train_images: list[torch.Tensor]  # uint8 (3, h, w), shorter side = the model's resize size
    train_labels: list[int]
    val_images: list[torch.Tensor]
    val_labels: list[int]
    split: str  # how train and validation were chosen, for the user
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)

    def summary(self) -> str:
        """One line for the user: classes, images, split, skipped files."""
        text = (f"{len(self.classes)} classes, {len(self.train_labels)} training and "
                f"{len(self.val_labels)} validation images ({self.split})")
        if self.skipped:
            text += f"; {len(self.skipped)} unreadable file(s) skipped"
        return text


def _class_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def load_folder(root: str | Path, preprocessing: Preprocessing, val_fraction: float = 0.2,
                seed: int = 0, progress: ProgressCallback | None = None,
                should_cancel: Callable[[], bool] | None = None) -> FolderDataset:
    """Read ``root`` (class subfolders, or ``train/`` and ``val/`` holding them).

    Raises DatasetError, before any training, for a missing folder, fewer than two classes, or a
    class with no readable image.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"'{root}' is not a folder. Give a folder with one subfolder of images "
                           "per class.")
    separate = (root / "train").is_dir() and (root / "val").is_dir()
    train_root = root / "train" if separate else root
    class_dirs = _class_folders(train_root)
    classes = [p.name for p in class_dirs]
    if len(classes) < 2:
        raise DatasetError(f"'{train_root}' has {len(classes)} class folder(s); training needs at "
                           "least 2 (one subfolder of images per class).")
    sources = [(label, f) for label, d in enumerate(class_dirs) for f in _files(d)]
    if separate:
        for label, name in enumerate(classes):
            if (root / "val" / name).is_dir():
                sources += [(label + len(classes), f) for f in _files(root / "val" / name)]
    if len(sources) > MAX_IMAGES:
        raise DatasetError(f"'{root}' holds {len(sources):,} files; cnnscope keeps a training set in "
                           f"memory and takes at most {MAX_IMAGES:,} images. Train on a subset.")
    images: dict[int, list[torch.Tensor]] = {}
    skipped: list[tuple[str, str]] = []
    for done, (label, path) in enumerate(sources, 1):
        if should_cancel is not None and should_cancel():
            raise DatasetError("Loading the images was cancelled.")
        try:
            rgb = open_image(path)
        except CnnscopeError as exc:
            skipped.append((str(path.relative_to(root)), str(exc)))
            continue
        x = torch.from_numpy(rgb).permute(2, 0, 1)
        x = v2.functional.resize(x, [preprocessing.resize_size], antialias=True)
        images.setdefault(label, []).append(x.contiguous())
        if progress is not None:
            progress(done, len(sources))
    empty = [name for label, name in enumerate(classes) if not images.get(label)]
    if empty:
        raise DatasetError(f"No readable image in class folder(s): {', '.join(empty)}. Every class "
                           "needs images.")
    train_images, train_labels, val_images, val_labels = [], [], [], []
    rng = random.Random(seed)
    for label in range(len(classes)):
        own = images[label]
        if separate:
            held = images.get(label + len(classes), [])
        else:
            own = own[:]
            rng.shuffle(own)
            n_val = round(len(own) * val_fraction) if len(own) > 1 else 0
            held, own = own[:n_val], own[n_val:]
        train_images += own
        train_labels += [label] * len(own)
        val_images += held
        val_labels += [label] * len(held)
    split = ("train/ and val/ folders" if separate else
             f"{round((1 - val_fraction) * 100)}/{round(val_fraction * 100)} split, seed {seed}")
    return FolderDataset(root, classes, train_images, train_labels, val_images, val_labels, split,
                         skipped)


def batch_transform(preprocessing: Preprocessing, augmentation: Augmentation | None = None):
    """uint8 (3, h, w) image -> normalised (C, S, S) float tensor: centre crop, or the chosen
    random augmentations for training (grey for a 1-channel model)."""
    size = preprocessing.crop_size
    steps: list = []
    if augmentation is not None and augmentation.crop:
        steps.append(v2.RandomResizedCrop(size, scale=(0.5, 1.0), antialias=True))
    else:
        steps.append(v2.CenterCrop(size))
    if augmentation is not None and augmentation.flip:
        steps.append(v2.RandomHorizontalFlip())
    if augmentation is not None and augmentation.color:
        steps.append(v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.03))
    steps += [v2.ToDtype(torch.float32, scale=True), preprocessing.from_unit]
    return v2.Compose(steps)
