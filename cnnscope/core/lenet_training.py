"""Train the bundled LeNet-5 from scratch on drawn digits (``cnnscope make-lenet``).

Reproducible on one machine: the digits come from seeded generators (over the fonts that machine
has, see ``digits.find_fonts``), the network from a seeded initialisation, and the held-out test
set from a seed that training never uses. The pictures go through the model's own preprocessing
(``LENET_PREPROCESSING``: RGB -> luma -> normalised), the very code that feeds it in the app.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from .checkpoint import make_checkpoint, save_atomic
from .digits import DIGIT_CLASSES, SAMPLE_SIZE, as_arrays, find_fonts, font_label, make_digits
from .lenet import LENET_PREPROCESSING, LeNet5

LENET_ARCH = "lenet5"
TEST_SEED = 20_000  # never used for training data


@dataclass
class LeNetTrainingSetup:
    """Everything that decides the trained weights."""

    seed: int = 0
    epochs: int = 10
    train_images: int = 60000  # as many as MNIST has; drawn once, each already shifted / rotated
    test_images: int = 10000
    #: Held-out pictures drawn at 128 px and taken through the app's resize to 32 px, as a
    #: user's picture is.
    resized_test_images: int = 1000
    batch_size: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    optimiser: str = "AdamW, one-cycle learning-rate schedule"


@dataclass
class LeNetTrainingRecord:
    """What came out: held-out accuracy overall, per digit and per font, and how long it took."""

    setup: LeNetTrainingSetup
    test_accuracy: float
    per_class_accuracy: dict[str, float]
    per_font_accuracy: dict[str, float]
    resized_test_accuracy: float | None  # None when no resized pictures were drawn
    fonts: list[str]
    draw_seconds: float
    train_seconds: float
    device: str
    torch_version: str
    history: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


def to_input(images: np.ndarray) -> torch.Tensor:
    """(N, 32, 32, 3) uint8 pictures -> LeNet's (N, 1, 32, 32) normalised grey input."""
    return LENET_PREPROCESSING.normalise(torch.from_numpy(images).permute(0, 3, 1, 2))


@torch.no_grad()
def evaluate(model: nn.Module, inputs: torch.Tensor, device: torch.device,
             batch_size: int = 1000) -> np.ndarray:
    """Predicted digit per normalised input."""
    model.eval()
    preds = [model(inputs[i:i + batch_size].to(device)).argmax(1).cpu().numpy()
             for i in range(0, len(inputs), batch_size)]
    return np.concatenate(preds)


def _resized(images: np.ndarray) -> torch.Tensor:
    """Large pictures through the app's road: resize, centre crop, luma, normalise."""
    crops = torch.stack([LENET_PREPROCESSING.crop(image) for image in images])
    return LENET_PREPROCESSING.normalise(crops)


def train_lenet(out: str | Path, setup: LeNetTrainingSetup | None = None,
                device: torch.device | None = None,
                log: Callable[[str], None] = print) -> LeNetTrainingRecord:
    """Train LeNet-5, write the checkpoint to ``out`` and return the training record."""
    setup = setup or LeNetTrainingSetup()
    device = device or torch.device("cpu")
    fonts = find_fonts()
    workers = max(1, min(16, os.cpu_count() or 1))
    log(f"drawing {setup.train_images} training and {setup.test_images} held-out digits in "
        f"{len(fonts)} fonts...")
    start = time.perf_counter()
    train_x, train_y = as_arrays(make_digits(setup.train_images, setup.seed, workers=workers))
    test_samples = make_digits(setup.test_images, TEST_SEED, workers=workers)
    test_x, test_y = as_arrays(test_samples)
    big = make_digits(setup.resized_test_images, TEST_SEED + 1, size=SAMPLE_SIZE, workers=workers)
    big_x, big_y = as_arrays(big) if big else (np.zeros((0, SAMPLE_SIZE, SAMPLE_SIZE, 3), np.uint8),
                                                np.zeros(0, np.int64))
    draw_seconds = time.perf_counter() - start
    inputs, labels = to_input(train_x), torch.from_numpy(train_y)
    test_inputs = to_input(test_x)
    big_inputs = _resized(big_x) if len(big_x) else torch.zeros(0, *LENET_PREPROCESSING.input_shape)
    torch.manual_seed(setup.seed)
    model = LeNet5(len(DIGIT_CLASSES)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=setup.learning_rate,
                            weight_decay=setup.weight_decay)
    steps_per_epoch = -(-setup.train_images // setup.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=setup.learning_rate,
                                                total_steps=setup.epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(setup.seed)
    history = []
    start = time.perf_counter()
    for epoch in range(setup.epochs):
        order = torch.randperm(len(inputs), generator=gen)
        model.train()
        total_loss = 0.0
        for i in range(0, len(order), setup.batch_size):
            idx = order[i:i + setup.batch_size]
            x, y = inputs[idx].to(device, non_blocking=True), labels[idx].to(device, non_blocking=True)
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += loss.item() * len(idx)
        acc = float((evaluate(model, test_inputs, device) == test_y).mean())
        history.append({"epoch": epoch + 1, "train_loss": total_loss / len(order),
                        "test_accuracy": acc})
        log(f"epoch {epoch + 1}/{setup.epochs}: loss {total_loss / len(order):.4f}, "
            f"held-out accuracy {acc:.4f}")
    train_seconds = time.perf_counter() - start
    preds = evaluate(model, test_inputs, device)
    per_class = {name: float((preds[test_y == k] == k).mean()) for k, name in enumerate(DIGIT_CLASSES)}
    by_font: dict[str, list[bool]] = defaultdict(list)
    for sample, pred in zip(test_samples, preds):
        by_font[sample.font].append(bool(pred == sample.label))
    per_font = {font_label(f): float(np.mean(by_font[font_label(f)])) for f in fonts
                if by_font[font_label(f)]}
    resized = (float((evaluate(model, big_inputs, device) == big_y).mean()) if len(big_y)
               else None)
    record = LeNetTrainingRecord(setup, float((preds == test_y).mean()), per_class, per_font,
                                 resized, [font_label(f) for f in fonts], draw_seconds, train_seconds,
                                 str(device), str(torch.__version__), history)
    ckpt = make_checkpoint(LENET_ARCH, model.state_dict(), list(DIGIT_CLASSES),
                           {"training": record.as_dict()})
    save_atomic(ckpt, out)
    return record
