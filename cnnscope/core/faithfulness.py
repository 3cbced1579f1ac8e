"""Can we trust this heatmap? Deletion and insertion curves, and how a map sits in a box.

Deletion and insertion (Petsiuk et al. 2018, RISE): the input's pixels are ordered by the map,
highest first. **Deletion** removes them step by step; **insertion** starts from a heavily blurred
copy and puts the original pixels back in the same order. At each step the class probability
(softmax) is recorded; the area under each curve over the fraction 0..1 is the score. A map that
found the pixels the network needs makes the deletion curve fall fast (small area) and the
insertion curve rise fast (large area).

A removed pixel is filled from its neighbours (ROAD's noisy linear imputation, Rong et al. 2022;
core/imputation.py), not painted one flat colour: scattered flat pixels fail a network whatever
they were, so with a flat fill a noisy pixel-level map (Saliency) "won" deletion on every photo
tried, and a hole's outline alone can carry the class. Only the last step, with nothing left to
fill from, is the dataset's mean colour (0 in the normalised input).

With View > Whole image the input is the photo padded to a square: the padding is not the photo,
so it is never deleted or inserted (it stays the mean colour) and the fractions count the photo's
pixels.

Areas alone say little, so the same curves are drawn for two baselines that know nothing about the
network: a random map (seeded) and a centred Gaussian blob (photos tend to have their subject in
the middle). A method worth its name beats both. The baselines depend only on the image and the
class, so :class:`Baselines` can be kept and handed back for the next map of the same image.

Every perturbed input goes through the network in batches sized to the device (core/batching.py),
with progress and cancel as for the slow heatmap methods (core/passes.py).

:func:`box_scores` says how a map sits in a box drawn around the object: the pointing game (is the
map's maximum inside?) and the share of the map's mass inside, beside the share of the image the
box covers (a map spread evenly would put exactly that much inside).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ModelError
from .imputation import fill_from_neighbours
from .inspect import Inspection
from .passes import CancelCheck, ProgressCallback, Runner
from .weights import LoadedModel

STEPS = 12  # steps per curve: ResNet-18's first check (68 passes) in 1.8 s on 2 CPU cores; 16 took 2.4 s
SEED = 0
RANDOM_CELL = 32  # the random map's cells, in input pixels (a CAM's cell for a 32x-downsampling net)
BLUR_SHARE = 1 / 20  # the insertion start's Gaussian sigma, as a share of the input side
BLOB_SHARE = 1 / 4  # the centre blob's sigma, as a share of the input side
RANDOM, BLOB = "random map", "centre blob"


@dataclass(frozen=True)
class Curve:
    """The class probability as a growing share of the pixels is deleted (or inserted)."""

    fractions: np.ndarray  # (steps + 1,) from 0 to 1
    scores: np.ndarray  # (steps + 1,) softmax probability of the class

    @property
    def area(self) -> float:
        """Area under the curve over the fraction 0..1 (trapezoids)."""
        return area_under(self.fractions, self.scores)


@dataclass(frozen=True)
class MapCurves:
    """One map's deletion and insertion curves."""

    name: str  # the method's label, RANDOM or BLOB
    deletion: Curve
    insertion: Curve


@dataclass
class Baselines:
    """The random map's and the centre blob's curves, and the two ends every map shares (the
    fully deleted and the fully blurred input). They depend only on the image, the class and the
    steps: keep them for the next map of the same inspection."""

    target: int
    steps: int
    size: tuple[int, int]
    seed: int
    empty_score: float  # every pixel deleted
    blurred_score: float  # nothing inserted yet
    maps: list[MapCurves] = field(default_factory=list)


@dataclass
class Faithfulness:
    """A map's deletion and insertion curves beside the baselines'."""

    target: int
    label: str
    probability: float  # the class's probability on the untouched input
    method: MapCurves
    baselines: Baselines
    passes: int  # inputs this call sent through the network (0 for the reused baselines)
    elapsed_ms: float
    notes: list[str] = field(default_factory=list)

    def every_map(self) -> list[MapCurves]:
        """The method's curves first, then the baselines'."""
        return [self.method, *self.baselines.maps]

    def verdict(self) -> str:
        """Whether the method's areas beat both baselines', in a sentence for a learner."""
        deletion, insertion = self.method.deletion.area, self.method.insertion.area
        others = self.baselines.maps
        beats_deletion = all(deletion < b.deletion.area for b in others)
        beats_insertion = all(insertion > b.insertion.area for b in others)
        if beats_deletion and beats_insertion:
            return ("Deleting the pixels this map ranks highest lowers the class faster, and "
                    "inserting them raises it faster, than for a random map or a centre blob: it "
                    "points at pixels the network needs.")
        if beats_deletion or beats_insertion:
            won, lost = ("deletion", "insertion") if beats_deletion else ("insertion", "deletion")
            return f"This map beats both baselines on {won} but not on {lost}: trust it with care."
        return ("This map does no better than a random map or a centre blob: it may not show what "
                "the network used.")


@dataclass(frozen=True)
class BoxScores:
    """How a map sits in a box: the pointing game and the share of its mass inside."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in map pixels (x1, y1 excluded)
    hit: bool | None  # the map's maximum inside the box; None for an all-zero map
    inside_share: float | None  # the map's mass inside / its whole mass; None for an all-zero map
    area_share: float  # the box's area / the map's: what an evenly spread map would score

    def sentence(self) -> str:
        """The two scores and what they mean, in one line for a learner."""
        if self.hit is None:
            return "The map is empty (all zero): it points nowhere and has no mass to share."
        hit = "a hit (the map's peak is inside)" if self.hit else "a miss (the map's peak is outside)"
        ratio = self.inside_share / self.area_share if self.area_share else 0.0
        return (f"Pointing game: {hit}. {self.inside_share:.0%} of the map's mass lies in the box, "
                f"which covers {self.area_share:.0%} of the image ({ratio:.1f}x an evenly spread map).")


def area_under(fractions: np.ndarray, scores: np.ndarray) -> float:
    """The trapezoid area under ``scores`` over ``fractions`` (0..1)."""
    x, y = np.asarray(fractions, np.float64), np.asarray(scores, np.float64)
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2)


def check(loaded: LoadedModel, inspection: Inspection, heatmap: np.ndarray, target: int,
          name: str = "map", steps: int | None = None, baselines: Baselines | None = None,
          seed: int = SEED, progress: ProgressCallback | None = None,
          should_cancel: CancelCheck | None = None) -> Faithfulness:
    """Deletion and insertion curves of ``heatmap`` (over the input) for class ``target``, beside
    the random map's and the centre blob's, over ``steps`` steps (default STEPS).

    ``baselines`` from an earlier call on the same inspection, class, steps and seed are reused
    (only the method's curves are computed); otherwise they are computed in the same batches.
    ``seed`` draws the random map and breaks ties in every map's order. Raises
    AttributionCancelled between batches when ``should_cancel`` says so.
    """
    start = time.perf_counter()
    steps = STEPS if steps is None else steps
    x = _input(loaded, inspection)
    size = tuple(x.shape[-2:])
    if not 0 <= target < len(inspection.probabilities):
        raise ModelError(f"Class index {target} is out of range: the model has "
                         f"{len(inspection.probabilities)} classes.")
    if steps < 2:
        raise ModelError("The curves need at least 2 steps.")
    values = _map_at(heatmap, size)
    reuse = baselines is not None and \
        (baselines.target, baselines.steps, baselines.size, baselines.seed) == (target, steps, size, seed)
    named = [(name, values)]
    if not reuse:
        named += [(RANDOM, random_map(size, seed)), (BLOB, centre_blob(size))]
    rows, cols = photo_box(inspection, size)
    photo = np.zeros(size, bool)
    photo[rows, cols] = True
    batches = _Batches(Runner(loaded, inspection, progress, should_cancel), x, target, seed, (rows, cols))
    counts = np.round(np.arange(steps + 1) * int(photo.sum()) / steps).astype(np.int64)
    # padding (View > Whole image) is not the photo: ranked last, it is never deleted or inserted
    runs = [_MapRun(map_name, ranking(np.where(photo, map_values, -np.inf), seed), counts)
            for map_name, map_values in named]
    halves, end_scores = batches.run(runs, None if reuse else batches.ends())
    original = float(inspection.probabilities[target])
    if not reuse:
        baselines = Baselines(target, steps, size, seed, *end_scores)
    fractions = counts / counts[-1]
    curves = [MapCurves(run.name,
                        Curve(fractions, np.array([original, *deleted, baselines.empty_score])),
                        Curve(fractions, np.array([baselines.blurred_score, *inserted, original])))
              for run, (deleted, inserted) in zip(runs, halves)]
    if not reuse:
        baselines.maps = curves[1:]
    notes = []
    if not values.any():
        notes.append("The map is empty (all zero): its pixel order is random, so its curves are "
                     "a random map's.")
    return Faithfulness(target=target, label=loaded.labels[target], probability=original,
                        method=curves[0], baselines=baselines, passes=batches.runner.done,
                        elapsed_ms=(time.perf_counter() - start) * 1000, notes=notes)


# ---------------------------------------------------------------------------------------------
# maps and orders


def ranking(values: np.ndarray, seed: int = SEED) -> np.ndarray:
    """Each pixel's place in the order (0 = highest: the first deleted or inserted). Ties (a
    blob's rings, a map's empty parts) are broken at random (seeded), not by raster order, which
    would delete the top rows first."""
    flat = values.ravel().astype(np.float64)
    tiebreak = np.random.default_rng(seed).random(flat.size)
    order = np.lexsort((tiebreak, -flat))
    ranks = np.empty(flat.size, np.int64)
    ranks[order] = np.arange(flat.size)
    return ranks.reshape(values.shape)


def random_map(size: tuple[int, int], seed: int = SEED) -> np.ndarray:
    """Random values on cells of RANDOM_CELL pixels (at least 4 x 4 cells), smoothly enlarged:
    chance with a CAM's grain. Random single pixels would be filled back almost exactly from their
    neighbours, a chance no map made of regions could match."""
    cells = [max(4, round(side / RANDOM_CELL)) for side in size]
    coarse = torch.from_numpy(np.random.default_rng(seed).random(cells).astype(np.float32))
    return F.interpolate(coarse[None, None], size=size, mode="bilinear", align_corners=False)[0, 0].numpy()


def centre_blob(size: tuple[int, int]) -> np.ndarray:
    """A Gaussian centred on the image (sigma a quarter of the side): 'the subject is in the middle'."""
    h, w = size
    rows = (np.arange(h) - (h - 1) / 2) / (BLOB_SHARE * h)
    cols = (np.arange(w) - (w - 1) / 2) / (BLOB_SHARE * w)
    return np.exp(-(rows[:, None] ** 2 + cols[None, :] ** 2) / 2).astype(np.float32)


def blurred(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``x`` (1, C, H, W) through a separable Gaussian of ``sigma`` pixels, edges reflected."""
    radius = max(1, min(math.ceil(3 * sigma), min(x.shape[-2:]) - 1))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32, device=x.device)
    kernel = torch.exp(-offsets ** 2 / (2 * sigma ** 2))
    kernel = (kernel / kernel.sum()).to(x.dtype)
    channels = x.shape[1]
    # reflect needs a side longer than the radius: a photo one pixel tall (whole image) has none
    edge = "reflect" if radius < min(x.shape[-2:]) else "replicate"
    out = F.pad(x, (radius, radius, radius, radius), mode=edge)
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1).contiguous(), groups=channels)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1).contiguous(), groups=channels)


def photo_box(inspection: Inspection, size: tuple[int, int]) -> tuple[slice, slice]:
    """(rows, columns) of the input that show the photo: all of it, or less where "whole image"
    framing padded the photo to the input's square."""
    if inspection.framing is None:
        return slice(0, size[0]), slice(0, size[1])
    return inspection.framing.content_slices


def _map_at(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    values = np.asarray(heatmap, dtype=np.float32)
    if values.ndim != 2 or values.size == 0:
        raise ModelError("A heatmap must be a 2-D array of values over the input.")
    if not np.isfinite(values).all():
        raise ModelError("The heatmap holds values that are not numbers (NaN or infinity).")
    if values.shape != size:  # a map at another resolution: stretched over the input
        values = F.interpolate(torch.from_numpy(values)[None, None], size=size, mode="bilinear",
                               align_corners=False)[0, 0].numpy()
    return values


def _input(loaded: LoadedModel, inspection: Inspection) -> torch.Tensor:
    if inspection.input_tensor is None or inspection.model_name != loaded.name:
        raise ModelError("This inspection does not belong to the loaded model; inspect the image again.")
    return inspection.input_tensor.detach()


# ---------------------------------------------------------------------------------------------
# the batched passes


@dataclass
class _MapRun:
    """One map's perturbed inputs: steps 1..N-1 of deletion and of insertion (the ends are shared)."""

    name: str
    ranks: np.ndarray
    counts: np.ndarray

    def inputs(self) -> list[tuple[str, int]]:
        """("deletion" | "insertion", step) for every input this map needs."""
        inner = range(1, len(self.counts) - 1)
        return [("deletion", k) for k in inner] + [("insertion", k) for k in inner]


class _Batches:
    """Builds the perturbed inputs batch by batch and runs them through ``runner`` (progress,
    cancel, batch size)."""

    def __init__(self, runner: Runner, x: torch.Tensor, target: int, seed: int,
                 photo: tuple[slice, slice]) -> None:
        self.runner, self.x, self.target, self.seed = runner, x, target, seed
        self.photo = (..., *photo)  # blur and fill only the photo, from the photo: not its padding
        self.blurred = x.clone()
        self.blurred[self.photo] = blurred(x[self.photo], BLUR_SHARE * min(x.shape[-2:]))

    def ends(self) -> list[torch.Tensor]:
        """The fully deleted input (all zero: the mean colour, as the padding is) and the fully
        blurred one."""
        return [torch.zeros_like(self.x[0]), self.blurred[0]]

    def run(self, runs: list[_MapRun], ends: list[torch.Tensor] | None) -> tuple[list, list]:
        """([(deletion scores, insertion scores) for steps 1..N-1 of each run], the ends' scores)."""
        jobs: list[tuple[int, object]] = [(-1, t) for t in ends or []]  # -1: the shared ends
        for index, run in enumerate(runs):
            device_ranks = torch.from_numpy(run.ranks).to(self.x.device)
            jobs += [(index, (kind, device_ranks, int(run.counts[k]))) for kind, k in run.inputs()]
        self.runner.expect(len(jobs))
        size = self.runner.batch(len(jobs))
        scores: list[float] = []
        for begin in range(0, len(jobs), size):
            self.runner.check()  # before building the batch: a cancel costs nothing more
            batch = self._build([job for _, job in jobs[begin:begin + size]])
            with torch.no_grad():
                logits = self.runner.forward(batch)
            scores += torch.softmax(logits.float(), dim=1)[:, self.target].cpu().tolist()
        by_run: dict[int, list[float]] = {}
        for (index, _), score in zip(jobs, scores):
            by_run.setdefault(index, []).append(score)
        halves = []
        for index in range(len(runs)):
            found = by_run[index]
            halves.append((found[:len(found) // 2], found[len(found) // 2:]))
        return halves, by_run.get(-1, [])

    def _build(self, jobs: list) -> torch.Tensor:
        """One batch of inputs: the shared ends as they are, deletion steps filled from their
        neighbours (all of the batch's at once), insertion steps as blur plus original pixels."""
        rows = [job if isinstance(job, torch.Tensor) else None for job in jobs]
        deleted, counts = [], []
        for index, job in enumerate(jobs):
            if rows[index] is not None:
                continue
            kind, ranks, count = job
            chosen = (ranks < count).to(self.x.dtype)[None]  # (1, H, W): 1 where the map has reached
            if kind == "deletion":
                deleted.append((index, 1 - chosen))
                counts.append(count)
            else:
                rows[index] = self.blurred[0] * (1 - chosen) + self.x[0] * chosen
        if deleted:
            kept = torch.stack([mask for _, mask in deleted])
            seeds = [self.seed * 1_000_003 + count for count in counts]  # one per step: batching changes nothing
            filled = self.x.repeat(len(deleted), 1, 1, 1)
            filled[self.photo] = fill_from_neighbours(filled[self.photo], kept[self.photo], seeds)
            for (index, _), row in zip(deleted, filled):
                rows[index] = row
        return torch.stack(rows)


# ---------------------------------------------------------------------------------------------
# boxes


def check_box(box: tuple[int, int, int, int], size: tuple[int, int],
              photo: tuple[slice, slice] | None = None) -> tuple[int, int, int, int]:
    """``box`` (x0, y0, x1, y1; x1 and y1 excluded, as Pillow's crop box) if it lies inside a
    ``size`` (height, width) image, and inside ``photo`` (rows, columns: where a whole-image input
    shows the photo, from :func:`photo_box`) when given, and is not empty; else a ModelError
    saying why."""
    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = size
    rows, cols = photo or (slice(0, h), slice(0, w))
    if (rows.start, rows.stop, cols.start, cols.stop) != (0, h, 0, w):
        if not (cols.start <= x0 < x1 <= cols.stop and rows.start <= y0 < y1 <= rows.stop):
            raise ModelError(f"The box {x0},{y0},{x1},{y1} must lie on the photo, which fills x "
                             f"{cols.start} to {cols.stop} and y {rows.start} to {rows.stop} of the "
                             f"{w} x {h} input (the rest is padding), with x0 < x1 and y0 < y1.")
    elif not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise ModelError(f"The box {x0},{y0},{x1},{y1} must lie inside the {w} x {h} crop the "
                         f"network saw, with x0 < x1 <= {w} and y0 < y1 <= {h}.")
    return x0, y0, x1, y1


def box_scores(heatmap: np.ndarray, box: tuple[int, int, int, int],
               photo: tuple[slice, slice] | None = None) -> BoxScores:
    """The pointing game and the share of the map's mass inside ``box`` (x0, y0, x1, y1 in the
    map's pixels, x1 and y1 excluded). With ``photo`` (a whole-image input's photo rows and
    columns) the padding around the photo counts for nothing: shares are of the photo. When
    several pixels share the maximum, any one inside is a hit."""
    values = np.maximum(np.asarray(heatmap, dtype=np.float64), 0)
    x0, y0, x1, y1 = check_box(box, values.shape, photo)
    if photo is not None:
        rows, cols = photo
        values = values[rows, cols]
        x0, x1, y0, y1 = x0 - cols.start, x1 - cols.start, y0 - rows.start, y1 - rows.start
    area = (x1 - x0) * (y1 - y0) / values.size
    total = float(values.sum())
    if total <= 0 or not np.isfinite(total):
        return BoxScores(tuple(int(v) for v in box), None, None, area)
    inside = values[y0:y1, x0:x1]
    return BoxScores(tuple(int(v) for v in box), bool(inside.max() >= values.max()),
                     float(inside.sum()) / total, area)
