"""Procedurally drawn shapes on textured backgrounds: the demo model's world.

Each sample comes with the shape's pixel mask, so attribution maps can be checked against where the
object really is. Everything is seeded: the same seed always draws the same images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

SUPERSAMPLE = 4  # masks are drawn larger then reduced, so edges are anti-aliased


def _regular(n: int, inner: float | None = None) -> Callable[[], np.ndarray]:
    """Vertices (unit radius) of a regular polygon, or of a star when ``inner`` is given."""

    def vertices() -> np.ndarray:
        if inner is None:
            angles = np.arange(n) * 2 * np.pi / n
            return np.stack([np.cos(angles), np.sin(angles)], axis=1)
        angles = np.arange(2 * n) * np.pi / n
        radii = np.where(np.arange(2 * n) % 2 == 0, 1.0, inner)
        return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)

    return vertices


def _cross() -> np.ndarray:
    w = 0.34
    return np.array(
        [(w, 1), (w, w), (1, w), (1, -w), (w, -w), (w, -1),
         (-w, -1), (-w, -w), (-1, -w), (-1, w), (-w, w), (-w, 1)], dtype=float)


def _square() -> np.ndarray:
    return _regular(4)() * math.sqrt(0.5) * 1.25  # same visual area as the others


def _arrow() -> np.ndarray:
    return np.array([(1, 0), (0.1, 0.75), (0.1, 0.3), (-1, 0.3), (-1, -0.3), (0.1, -0.3),
                     (0.1, -0.75)], dtype=float)


def _moon() -> np.ndarray:
    outer = np.linspace(-np.pi / 2, np.pi / 2, 24)
    inner = outer[::-1]
    return np.concatenate([
        np.stack([np.cos(outer), np.sin(outer)], axis=1),
        np.stack([0.35 * np.cos(inner), np.sin(inner)], axis=1),
    ])


#: Every shape the generator can draw, as unit-radius polygons (None: a true circle).
SHAPES: dict[str, Callable[[], np.ndarray] | None] = {
    "circle": None,
    "square": _square,
    "triangle": _regular(3),
    "star": _regular(5, inner=0.42),
    "cross": _cross,
    "hexagon": _regular(6),
    # Not used by the demo model: new classes for transfer-learning exercises.
    "arrow": _arrow,
    "moon": _moon,
    "diamond": lambda: _regular(4)() * np.array([0.6, 1.0]),
}

#: The classes the bundled demo model was trained on, in output order.
DEMO_CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "hexagon")
# Shapes the demo model never saw: the sample dataset for transfer learning.
NEW_CLASSES: tuple[str, ...] = ("arrow", "moon", "diamond")


@dataclass(frozen=True)
class ShapeSample:
    """One drawn image, the index of its class in the class list, and the shape's mask."""

    image: np.ndarray  # (H, W, 3) uint8
    label: int
    mask: np.ndarray  # (H, W) bool, True inside the shape


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random texture: gradient, stripes, checkerboard, blotchy noise or plain, as float RGB 0..1."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    c1, c2 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    kind = rng.integers(5)
    if kind == 0:  # linear gradient
        a = rng.uniform(0, 2 * np.pi)
        t = (np.cos(a) * xx + np.sin(a) * yy)
        t = (t - t.min()) / (np.ptp(t) + 1e-6)
    elif kind == 1:  # stripes
        a, f = rng.uniform(0, np.pi), rng.uniform(3, 12)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * f * (np.cos(a) * xx + np.sin(a) * yy))
    elif kind == 2:  # checkerboard
        n = rng.integers(3, 10)
        t = ((np.floor(xx * n) + np.floor(yy * n)) % 2).astype(float)
    elif kind == 3:  # low-frequency noise, upsampled
        coarse = rng.uniform(0, 1, (6, 6)).astype(np.float32)
        t = np.asarray(Image.fromarray(coarse, mode="F").resize((size, size), Image.BICUBIC))
        t = np.clip(t, 0, 1)
    else:  # plain
        t = np.zeros((size, size))
    bg = c1 * (1 - t[..., None]) + c2 * t[..., None]
    return bg * rng.uniform(0.5, 1.0)  # keep backgrounds a little muted


def _mask(rng: np.random.Generator, shape: str, size: int) -> np.ndarray:
    """Anti-aliased coverage (float 0..1) of one randomly placed, scaled and rotated shape."""
    big = size * SUPERSAMPLE
    radius = rng.uniform(0.2, 0.36) * big
    margin = radius * 1.05
    cx, cy = rng.uniform(margin, big - margin, 2)
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    make = SHAPES[shape]
    if make is None:
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=255)
    else:
        angle = rng.uniform(0, 2 * np.pi)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        pts = make() @ rot.T * radius + (cx, cy)
        draw.polygon([tuple(p) for p in pts], fill=255)
    small = canvas.resize((size, size), Image.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def draw_shape(rng: np.random.Generator, shape: str, size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``shape`` on a random background; return (uint8 RGB image, bool mask)."""
    bg = _background(rng, size)
    alpha = _mask(rng, shape, size)[..., None]
    colour = rng.uniform(0, 1, 3)
    if abs(colour.mean() - bg.mean()) < 0.25:  # keep the shape visible against its background
        colour = 1.0 - colour
    shade = 1.0 + rng.normal(0, 0.04, (size, size, 1))  # a slightly uneven fill
    img = bg * (1 - alpha) + np.clip(colour * shade, 0, 1) * alpha
    img = img + rng.normal(0, rng.uniform(0.0, 0.05), img.shape)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8), alpha[..., 0] >= 0.5


CHUNK = 500  # samples per independently seeded chunk: results do not depend on the worker count


def _chunk(seed: int, index: int, n: int, classes: tuple[str, ...], size: int) -> list[ShapeSample]:
    rng = np.random.default_rng([seed, index])
    labels = np.arange(n) % len(classes)
    rng.shuffle(labels)
    return [_sample(rng, classes, int(k), size) for k in labels]


def _sample(rng: np.random.Generator, classes: tuple[str, ...], label: int, size: int) -> ShapeSample:
    image, mask = draw_shape(rng, classes[label], size)
    return ShapeSample(image, label, mask)


def make_samples(n: int, seed: int, classes: tuple[str, ...] = DEMO_CLASSES, size: int = 96,
                 workers: int = 1) -> list[ShapeSample]:
    """``n`` seeded samples, classes balanced; ``workers`` > 1 draws chunks in parallel processes."""
    sizes = [min(CHUNK, n - start) for start in range(0, n, CHUNK)]
    args = [(seed, i, k, tuple(classes), size) for i, k in enumerate(sizes)]
    if workers > 1 and len(args) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")  # no fork of a process that holds torch threads
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            chunks = list(pool.map(_chunk, *zip(*args)))
    else:
        chunks = [_chunk(*a) for a in args]
    return [sample for chunk in chunks for sample in chunk]


def as_arrays(samples: list[ShapeSample]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stack samples into (N,H,W,3) uint8 images, (N,) int64 labels, (N,H,W) bool masks."""
    return (np.stack([s.image for s in samples]), np.array([s.label for s in samples], np.int64),
            np.stack([s.mask for s in samples]))


def write_shape_folder(folder: str | Path, classes: tuple[str, ...] = NEW_CLASSES, per_class: int = 60,
                       seed: int = 0, size: int = 96) -> list[Path]:
    """An image-folder dataset of drawn shapes, ``folder/<class>/<class>_NNN.png``, for trying
    transfer learning offline; returns the files written."""
    unknown = [c for c in classes if c not in SHAPES]
    if unknown:
        raise ValueError(f"Unknown shape(s): {', '.join(unknown)}. Known: {', '.join(SHAPES)}.")
    folder = Path(folder)
    written = []
    for sample in make_samples(per_class * len(classes), seed, tuple(classes), size):
        name = classes[sample.label]
        target = folder / name
        target.mkdir(parents=True, exist_ok=True)
        path = target / f"{name}_{sum(1 for _ in target.iterdir()):03d}.png"
        Image.fromarray(sample.image).save(path)
        written.append(path)
    return written
