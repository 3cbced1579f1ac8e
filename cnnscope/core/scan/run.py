"""Stream a folder through a model once, on this machine: images decoded by DataLoader workers,
batches on the device (mixed precision on a GPU), and from each forward pass every result asked
for: the running top-k of each chosen layer's channels, each image's pooled features and top-5
predictions, and (with a CAM method) a heatmap overlay per image. The scan is saved after every
batch (store.py); running it again continues where it stopped."""

from __future__ import annotations

import csv
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..errors import CnnscopeError, ModelError, ScanError
from ..weights import LoadedModel
from .folder import ImageEntry, list_images, listing_digest
from .store import PENDING, SCANNED, SKIPPED, TOP, ScanState, ScanStore, write_atomic
from .topk import TopK, peaks

MAX_TOP_K = 100


@dataclass(frozen=True)
class ScanOptions:
    """What a scan keeps, and how it runs."""

    layers: tuple[str, ...] = ()  # layers whose channels get a top-k (default: the CAM layer)
    top_k: int = 9
    batch_size: int = 32
    workers: int | None = None  # decoders (None: default_workers(), by the device)
    # "processes": DataLoader worker processes (forked where the platform can: never a re-run of
    # the caller's script, and they end with it); "threads": a pool of threads in this process,
    # for a process that must not fork (the window: Qt's threads), as PIL and torch's resize
    # release the GIL while they work
    decoders: str = "processes"
    cam: str | None = None  # a heatmap overlay per image by this method
    model_ref: str = ""  # how the model was named (registry name, net.py:build...), for resuming
    weights_ref: str = ""  # how its weights were named ("pretrained", a file...)


@dataclass
class ScanProgress:
    """Where a scan stands: images done (scanned or skipped) of all, and the time it took so far."""

    done: int
    total: int
    skipped: int
    seconds: float
    started_with: int = 0  # images already done when this run began (a resumed scan)

    @property
    def eta(self) -> float | None:
        """Seconds left at this run's pace (None until it has one)."""
        ran = self.done - self.started_with
        return None if ran <= 0 or self.seconds <= 0 else (self.total - self.done) * self.seconds / ran


@dataclass
class ScanSummary:
    """What a run of scan_folder did."""

    folder: Path
    total: int
    scanned: int
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    complete: bool = True
    resumed_from: int = 0
    seconds: float = 0.0
    layers: tuple[str, ...] = ()


class _Images(torch.utils.data.Dataset):
    """The pending images, decoded by core's safe loader and cropped as the model takes them
    (in the DataLoader's workers): (index, uint8 crop (3, S, S) or None, reason)."""

    def __init__(self, root: Path, entries: list[ImageEntry], indices: list[int], preprocessing) -> None:
        self.root, self.entries, self.indices, self.preprocessing = root, entries, indices, preprocessing

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int):
        index = self.indices[item]
        return (index, *decode_image(self.root / self.entries[index].path, self.preprocessing))


def decode_image(path: Path, preprocessing) -> tuple[torch.Tensor | None, str]:
    """One image through core's safe loader, cropped as the model takes it: (uint8 crop
    (3, S, S), "") or (None, why it cannot be scanned)."""
    from ..images import open_image

    try:
        return preprocessing.crop(open_image(path)).contiguous(), ""
    except CnnscopeError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad file never stops a scan
        return None, f"{type(exc).__name__}: {exc}"


def _collate(items):
    good = [(i, crop) for i, crop, _ in items if crop is not None]
    bad = [(i, reason) for i, crop, reason in items if crop is None]
    crops = torch.stack([c for _, c in good]) if good else None
    return [i for i, _ in good], crops, bad


class _Recorder:
    """Forward hooks that reduce what a batch needs as the layers run (nothing else is kept):
    each chosen layer's per-channel peaks, and the head's input pooled to one vector."""

    def __init__(self, module: nn.Module, layers: tuple[str, ...], head: str | None) -> None:
        self.peaks: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.features: np.ndarray | None = None
        modules = dict(module.named_modules())
        self.handles = [modules[name].register_forward_hook(self._peaks(name)) for name in layers]
        if head is not None:
            self.handles.append(modules[head].register_forward_pre_hook(self._features))

    def _peaks(self, name: str):
        def record(_module, _inputs, output) -> None:
            if isinstance(output, torch.Tensor) and output.dim() == 4:
                self.peaks[name] = peaks(output)
        return record

    def _features(self, _module, inputs) -> None:
        x = inputs[0] if inputs else None
        if isinstance(x, torch.Tensor):
            if x.dim() == 4:  # a 1x1-convolution head (SqueezeNet) reads maps: their average
                x = x.mean(dim=(2, 3))
            self.features = x.detach().flatten(1).float().cpu().numpy()

    def remove(self) -> None:
        """Take every hook off the model."""
        for handle in self.handles:
            handle.remove()


def default_workers(device: torch.device | None = None) -> int:
    """Decoding processes: beside a GPU, one per core the forward pass leaves, at most 4. On the
    CPU the forward pass's threads need the cores themselves (one thread stalled by a worker on its
    core stalls them all: on 2 cores a worker made MobileNetV2 scans 3x slower, benchmarks/scan.py),
    so one per 4 cores, at most 4: none on 2 or 3 cores, where decoding in turn is faster."""
    cores = os.cpu_count() or 1
    if device is not None and device.type == "cpu":
        return min(4, cores // 4)
    return max(0, min(4, cores - 1))


def forward_threads(device: torch.device, workers: int) -> int:
    """Threads for the forward pass beside ``workers`` decoding processes: on the CPU, the cores
    the workers leave (never more than torch uses now); elsewhere torch's own setting."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or not workers:
        return threads
    return max(1, min(threads, (os.cpu_count() or 1) - workers))


def scan_folder(loaded: LoadedModel, data: str | os.PathLike, out: str | os.PathLike,
                options: ScanOptions, device: torch.device | None = None,
                progress: Callable[[ScanProgress], None] | None = None,
                should_cancel: Callable[[], bool] | None = None) -> ScanSummary:
    """Scan ``data`` with ``loaded`` into the folder ``out`` (see the module docstring); a scan
    of the same model, weights, layers and folder already there is continued."""
    started = time.monotonic()
    root = Path(data).expanduser()
    entries = list_images(root, exclude=Path(out))
    device = device or next(loaded.module.parameters()).device
    loaded.module.to(device).eval()
    plan = plan_scan(loaded, options, device)
    store, state = begin_scan(loaded, root, entries, out, options, plan)
    resumed_from = state.done
    pending = pending_images(state)
    if pending:
        _run(loaded, root, entries, pending, store, state, plan, options, device, started, resumed_from,
             progress, should_cancel)
    return finish_scan(loaded, store, entries, state, plan, started, resumed_from)


def begin_scan(loaded: LoadedModel, root: Path, entries: list[ImageEntry], out: str | os.PathLike,
               options: ScanOptions, plan: "_Plan") -> tuple[ScanStore, ScanState]:
    """The scan folder ``out``, begun or (the same scan) opened to go on, and its state."""
    store = ScanStore(Path(out))
    info = {"model": loaded.name, "model_ref": options.model_ref or loaded.name,
            "weights": options.weights_ref or loaded.weights_label, "weights_label": loaded.weights_label,
            "data": str(root.resolve()), "images": len(entries), "listing": listing_digest(entries),
            "top_k": options.top_k, "layers": plan.layer_info, "feature_layer": plan.head,
            "cam": options.cam, "labels": list(loaded.labels),
            "preprocessing": {"resize": loaded.spec.preprocessing.resize_size,
                              "crop": loaded.spec.preprocessing.crop_size,
                              "mean": list(loaded.spec.preprocessing.mean),
                              "std": list(loaded.spec.preprocessing.std),
                              "channels": loaded.spec.preprocessing.channels}}
    return store, _resume_or_begin(store, info, entries, plan)


def pending_images(state: ScanState) -> list[int]:
    """The indices of the images not scanned (nor skipped) yet."""
    return [int(i) for i in np.flatnonzero(state.status == PENDING)]


def finish_scan(loaded: LoadedModel, store: ScanStore, entries: list[ImageEntry], state: ScanState,
                plan: "_Plan", started: float, resumed_from: int) -> ScanSummary:
    """What the run did; predictions.csv once every image is done."""
    summary = ScanSummary(store.folder, len(entries), int((state.status == SCANNED).sum()),
                          skipped=[(entries[i].path, reason) for i, reason in sorted(state.skipped.items())],
                          complete=not bool((state.status == PENDING).any()), resumed_from=resumed_from,
                          seconds=time.monotonic() - started, layers=tuple(plan.layers))
    if summary.complete:
        write_predictions_csv(store, entries, state, list(loaded.labels))
    return summary


@dataclass
class _Plan:
    layers: list[str]
    head: str | None  # the layer whose input is the pooled features (None: no such layer)
    layer_info: dict  # per layer: channels, map size, receptive field (for crops without the model)


def plan_scan(loaded: LoadedModel, options: ScanOptions, device: torch.device) -> _Plan:
    """Check the options against the model with one pass of a blank image: each layer outputs
    maps, their sizes and receptive fields, the head whose input is the pooled features."""
    from ..freeze import head_name
    from ..inspect import inspect
    from ..summary import field_geometry

    if not 1 <= options.top_k <= MAX_TOP_K:
        raise ScanError(f"Keep 1 to {MAX_TOP_K} images per channel, not {options.top_k}.")
    if not 1 <= options.batch_size <= 4096:
        raise ScanError(f"A batch holds 1 to 4,096 images, not {options.batch_size}.")
    layers = list(dict.fromkeys(options.layers or (loaded.spec.cam_layer,)))
    side = loaded.spec.preprocessing.crop_size
    blank = inspect(loaded, np.zeros((side, side, 3), np.uint8), device, cropped=True)
    geometry = field_geometry(loaded, blank)
    info = {}
    for layer in layers:
        maps = blank.activations.get(layer) if layer in blank.activations else None
        if maps is None or maps.ndim != 3:
            found = [n for n, a in blank.activations.items() if a.ndim == 3]
            raise ScanError(f"'{layer}' is not a layer of {loaded.name} with feature maps; for "
                            f"example {', '.join(found[-4:])}.")
        field_of = geometry.get(layer)
        info[layer] = {"channels": int(maps.shape[0]), "height": int(maps.shape[1]), "width": int(maps.shape[2]),
                       "field": None if field_of is None else {
                           "rows": [field_of.rows.size, field_of.rows.jump, field_of.rows.start],
                           "cols": [field_of.cols.size, field_of.cols.jump, field_of.cols.start],
                           "whole": field_of.whole}}
    try:
        head = head_name(loaded.module)
    except ModelError:
        head = None
    if options.cam is not None:
        from ..attribution import METHODS

        if options.cam not in METHODS:
            raise ScanError(f"Unknown heatmap method '{options.cam}'. Choose one of: {', '.join(METHODS)}.")
    return _Plan(layers, head, info)


def _resume_or_begin(store: ScanStore, info: dict, entries: list[ImageEntry], plan: _Plan) -> ScanState:
    count = len(entries)
    if store.exists():
        old = store.read_info()
        different = [key for key in ("model_ref", "weights", "data", "listing", "top_k", "layers", "cam",
                                     "preprocessing")
                     if old.get(key) != json_round_trip(info[key])]
        if different:
            words = {"model_ref": "model", "data": "folder", "listing": "list of images", "top_k": "top-k",
                     "cam": "heatmap method", "preprocessing": "input size or normalisation"}
            raise ScanError(f"'{store.folder}' holds a scan of another "
                            f"{' / '.join(words.get(key, key) for key in different)}: give a new --out, "
                            "or remove that folder to scan again.")
        state = store.read_state(count, plan.layers)
        store.open_rows(count, "r+")
        if state is not None and store.top5 is not None:
            return state
    else:
        store.begin(info, entries)
    store.create_rows(count)
    topk = {layer: TopK.empty(info["top_k"], shape["channels"], shape["height"], shape["width"])
            for layer, shape in info["layers"].items()}
    return ScanState(np.zeros(count, np.int8), topk)


def json_round_trip(value):
    """``value`` as it reads back from scan.json (tuples become lists)."""
    import json

    return json.loads(json.dumps(value))


def _run(loaded, root, entries, pending, store, state, plan, options, device, started, resumed_from,
         progress, should_cancel) -> None:
    workers = default_workers(device) if options.workers is None else options.workers
    images = _Images(root, entries, pending, loaded.spec.preprocessing)
    if workers and options.decoders == "threads":
        loader = threaded_batches(images, options.batch_size, workers)
    else:
        loader = torch.utils.data.DataLoader(images, batch_size=options.batch_size, shuffle=False,
                                             num_workers=workers, collate_fn=_collate)
    recorder = _Recorder(loaded.module, tuple(plan.layers), plan.head)
    threads = torch.get_num_threads()
    torch.set_num_threads(forward_threads(device, workers))  # as it was again after the scan
    try:
        for indices, crops, bad in loader:
            if should_cancel is not None and should_cancel():
                break
            for index, reason in bad:
                state.status[index], state.skipped[index] = SKIPPED, reason
            if indices:
                result = forward_batch(loaded, recorder, plan, np.array(indices), crops, device)
                keep_batch(store, state, result)
                if options.cam is not None:
                    _write_heatmaps(loaded, store, entries, indices, crops, options.cam, device)
            store.save_state(state)
            if progress is not None:
                progress(ScanProgress(state.done, len(entries), len(state.skipped),
                                      time.monotonic() - started, resumed_from))
    finally:
        recorder.remove()
        torch.set_num_threads(threads)


def threaded_batches(images: torch.utils.data.Dataset, batch_size: int, threads: int, ahead: int = 2):
    """The dataset's items collated in batches, in order, decoded by a pool of ``threads`` that
    works up to ``ahead`` batches in advance; leaving the loop early drops the batches ahead."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    starts = iter(range(0, len(images), batch_size))
    pool = ThreadPoolExecutor(threads, thread_name_prefix="cnnscope-decode")
    waiting: deque = deque()

    def submit() -> None:
        start = next(starts, None)
        if start is not None:
            waiting.append([pool.submit(images.__getitem__, i)
                            for i in range(start, min(start + batch_size, len(images)))])

    try:
        for _ in range(ahead):
            submit()
        while waiting:
            batch = [future.result() for future in waiting.popleft()]
            submit()
            yield _collate(batch)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _first(logits):
    while isinstance(logits, (tuple, list)) and logits:
        logits = logits[0]
    return logits


@dataclass
class BatchResult:
    """What the scan keeps of one forward pass over the images ``indices``."""

    indices: np.ndarray  # (B,) the images' indices in the scan
    # per layer: top-k candidates, values (n, C), their images (n,) or (n, C), positions (n, C)
    candidates: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    features: np.ndarray | None  # (B, D) float32: the pooled features (None: no head)
    top5: np.ndarray  # (B, TOP) int32 (-1 past the model's classes)
    top5_probabilities: np.ndarray  # (B, TOP) float32


def forward_batch(loaded: LoadedModel, recorder: _Recorder, plan: _Plan, indices: np.ndarray,
                  crops: torch.Tensor, device: torch.device) -> BatchResult:
    """One forward pass of a batch of uint8 crops (mixed precision on a GPU), reduced by the
    recorder's hooks to what the scan keeps: every image a candidate of every channel."""
    x = loaded.spec.preprocessing.normalise(crops.to(device, non_blocking=True))
    recorder.peaks, recorder.features = {}, None
    amp = torch.autocast("cuda", dtype=torch.float16) if device.type == "cuda" else nullcontext()
    with torch.no_grad(), amp:
        logits = _first(loaded.module(x))
    probabilities = torch.softmax(logits.float(), dim=1)
    top = probabilities.topk(min(TOP, probabilities.shape[1]), dim=1)
    rows = np.full((len(indices), TOP), -1, np.int32)
    chances = np.zeros((len(indices), TOP), np.float32)
    rows[:, :top.indices.shape[1]] = top.indices.cpu().numpy()
    chances[:, :top.values.shape[1]] = top.values.cpu().numpy()
    candidates = {layer: (recorder.peaks[layer][0], indices, recorder.peaks[layer][1]) for layer in plan.layers}
    return BatchResult(indices, candidates, recorder.features, rows, chances)


def keep_batch(store: ScanStore, state: ScanState, result: BatchResult) -> None:
    """Merge a batch into the scan (its top-k, its images' rows) and mark its images scanned;
    nothing is on disk for sure until ``store.save_state``."""
    indices = result.indices
    for layer, (values, images, positions) in result.candidates.items():
        state.topk[layer].add(values, images, positions)
    if result.features is not None:
        store.write_features(indices, result.features)
    store.top5[indices] = result.top5
    store.top5_probabilities[indices] = result.top5_probabilities
    state.status[indices] = SCANNED


def heatmap_overlay(loaded: LoadedModel, crop: torch.Tensor, method: str, device: torch.device) -> np.ndarray:
    """The heatmap of ``method`` over one uint8 crop (3, S, S), as an RGB picture."""
    from ..attribution import attribute
    from ..inspect import inspect
    from ..render import heat_overlay

    inspection = inspect(loaded, crop.permute(1, 2, 0).numpy(), device, cropped=True)
    return heat_overlay(inspection.input_rgb, attribute(loaded, inspection, method).heatmap)


def heatmap_path(folder: Path, index: int, entry: ImageEntry) -> Path:
    """Where the heatmap of image ``index`` goes in the scan folder ``folder``."""
    return folder / "heatmaps" / f"{index:06d}_{Path(entry.path).stem[:60]}.png"


def _write_heatmaps(loaded, store, entries, indices, crops, method, device) -> None:
    from ..render import save_png

    (store.folder / "heatmaps").mkdir(exist_ok=True)
    for index, crop in zip(indices, crops):
        save_png(heatmap_overlay(loaded, crop, method, device), heatmap_path(store.folder, index, entries[index]))


def write_predictions_csv(store: ScanStore, entries: list[ImageEntry], state: ScanState,
                          labels: list[str]) -> Path:
    """predictions.csv: each image's top-5 (label and probability), or why it was skipped."""
    path = store.folder / "predictions.csv"

    def write(fh) -> None:
        writer = csv.writer(fh)
        writer.writerow(["index", "path", "class"] + [f"{what}{n}" for n in range(1, TOP + 1)
                                                        for what in ("label", "probability")] + ["skipped"])
        for index, entry in enumerate(entries):
            row = [index, entry.path, entry.label]
            if state.status[index] == SCANNED:
                for cls, p in zip(store.top5[index], store.top5_probabilities[index]):
                    row += [labels[cls] if 0 <= cls < len(labels) else "", f"{p:.6f}" if cls >= 0 else ""]
                row.append("")
            else:
                row += [""] * (2 * TOP) + [state.skipped.get(index, "not scanned")]
            writer.writerow(row)

    write_atomic(path, write, "w", encoding="utf-8", errors="surrogateescape")  # names kept as they are
    return path
