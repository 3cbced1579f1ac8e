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
    workers: int | None = None  # decoding processes (None: one per spare core, at most 4)
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
        from ..images import open_image

        index = self.indices[item]
        try:
            rgb = open_image(self.root / self.entries[index].path)
            return index, self.preprocessing.crop(rgb).contiguous(), ""
        except CnnscopeError as exc:
            return index, None, str(exc)
        except Exception as exc:  # noqa: BLE001 - one bad file never stops a scan
            return index, None, f"{type(exc).__name__}: {exc}"


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


def default_workers() -> int:
    """Decoding processes: one per core the forward pass leaves, at most 4."""
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def scan_folder(loaded: LoadedModel, data: str | os.PathLike, out: str | os.PathLike,
                options: ScanOptions, device: torch.device | None = None,
                progress: Callable[[ScanProgress], None] | None = None,
                should_cancel: Callable[[], bool] | None = None) -> ScanSummary:
    """Scan ``data`` with ``loaded`` into the folder ``out`` (see the module docstring); a scan
    of the same model, weights, layers and folder already there is continued."""
    started = time.monotonic()
    root = Path(data).expanduser()
    entries = list_images(root)
    device = device or next(loaded.module.parameters()).device
    loaded.module.to(device).eval()
    plan = plan_scan(loaded, options, device)
    store = ScanStore(Path(out))
    info = {"model": loaded.name, "model_ref": options.model_ref or loaded.name,
            "weights": options.weights_ref or loaded.weights_label, "weights_label": loaded.weights_label,
            "data": str(root.resolve()), "images": len(entries), "listing": listing_digest(entries),
            "top_k": options.top_k, "layers": plan.layer_info, "feature_layer": plan.head,
            "cam": options.cam, "labels": list(loaded.labels),
            "preprocessing": {"resize": loaded.spec.preprocessing.resize_size,
                              "crop": loaded.spec.preprocessing.crop_size}}
    state = _resume_or_begin(store, info, entries, plan)
    resumed_from = state.done
    pending = [int(i) for i in np.flatnonzero(state.status == PENDING)]
    summary = ScanSummary(store.folder, len(entries), int((state.status == SCANNED).sum()),
                          resumed_from=resumed_from, layers=tuple(plan.layers))
    if pending:
        _run(loaded, root, entries, pending, store, state, plan, options, device, started, resumed_from,
             progress, should_cancel)
    summary.scanned = int((state.status == SCANNED).sum())
    summary.skipped = [(entries[i].path, reason) for i, reason in sorted(state.skipped.items())]
    summary.complete = not bool((state.status == PENDING).any())
    summary.seconds = time.monotonic() - started
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
        different = [key for key in ("model_ref", "weights", "data", "listing", "top_k", "layers", "cam")
                     if old.get(key) != json_round_trip(info[key])]
        if different:
            raise ScanError(f"'{store.folder}' holds a scan of another {' / '.join(different)}: give a "
                            "new --out, or remove that folder to scan again.")
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
    workers = default_workers() if options.workers is None else options.workers
    loader = torch.utils.data.DataLoader(
        _Images(root, entries, pending, loaded.spec.preprocessing), batch_size=options.batch_size,
        shuffle=False, num_workers=workers, collate_fn=_collate,
        multiprocessing_context=("forkserver" if os.name == "posix" else "spawn") if workers else None)
    recorder = _Recorder(loaded.module, tuple(plan.layers), plan.head)
    amp = torch.autocast("cuda", dtype=torch.float16) if device.type == "cuda" else nullcontext()
    try:
        for indices, crops, bad in loader:
            if should_cancel is not None and should_cancel():
                break
            for index, reason in bad:
                state.status[index], state.skipped[index] = SKIPPED, reason
            if indices:
                x = loaded.spec.preprocessing.normalise(crops.to(device, non_blocking=True))
                recorder.peaks, recorder.features = {}, None
                with torch.no_grad(), amp:
                    logits = _first(loaded.module(x))
                _keep_batch(store, state, recorder, plan, np.array(indices), logits, len(entries))
                if options.cam is not None:
                    _write_heatmaps(loaded, store, entries, indices, crops, options.cam, device)
                for index in indices:
                    state.status[index] = SCANNED
            store.save_state(state)
            if progress is not None:
                progress(ScanProgress(state.done, len(entries), len(state.skipped),
                                      time.monotonic() - started, resumed_from))
    finally:
        recorder.remove()


def _first(logits):
    while isinstance(logits, (tuple, list)) and logits:
        logits = logits[0]
    return logits


def _keep_batch(store: ScanStore, state: ScanState, recorder: _Recorder, plan: _Plan,
                indices: np.ndarray, logits: torch.Tensor, count: int) -> None:
    for layer in plan.layers:
        values, positions = recorder.peaks[layer]
        state.topk[layer].add(values, indices, positions)
    if recorder.features is not None:
        if store.features is None:
            store.create_features(count, recorder.features.shape[1])
        store.features[indices] = recorder.features
    probabilities = torch.softmax(logits.float(), dim=1)
    top = probabilities.topk(min(TOP, probabilities.shape[1]), dim=1)
    rows = np.full((len(indices), TOP), -1, np.int32)
    chances = np.zeros((len(indices), TOP), np.float32)
    rows[:, :top.indices.shape[1]] = top.indices.cpu().numpy()
    chances[:, :top.values.shape[1]] = top.values.cpu().numpy()
    store.top5[indices] = rows
    store.top5_probabilities[indices] = chances


def _write_heatmaps(loaded, store, entries, indices, crops, method, device) -> None:
    from ..attribution import attribute
    from ..inspect import inspect
    from ..render import heat_overlay, save_png

    folder = store.folder / "heatmaps"
    folder.mkdir(exist_ok=True)
    for index, crop in zip(indices, crops):
        rgb = crop.permute(1, 2, 0).numpy()
        inspection = inspect(loaded, rgb, device, cropped=True)
        found = attribute(loaded, inspection, method)
        stem = Path(entries[index].path).stem[:60]
        save_png(heat_overlay(inspection.input_rgb, found.heatmap), folder / f"{index:06d}_{stem}.png")


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

    write_atomic(path, write, "w")
    return path
