"""The scan of run.py on a Ray cluster, through Ray Data, with the same result.

This process (the driver) lists the folder, plans the scan on its own copy of the model and owns
the scan folder. Ray Data streams the pending images (index and path, a batch per block) to a
pool of model actors: one per GPU where the cluster has GPUs, else CPU workers. Each actor opens
the model itself by the name and weights the user gave, reads its batch's files by path through
core's safe loader (the folder must be at the same path on every node), runs one forward pass
with the local scan's hooks, and sends back one small result per batch: the batch's own top-k
per channel, its images' pooled features and top-5, the unreadable files with why (and with a
CAM method, the heatmaps as PNG bytes). The driver merges each result into the same files as a
local scan (the top-k merge is exact and order independent) and saves the state after each, so
a stop loses at most the batches in flight and the same call again scans the pending images only.
"""

from __future__ import annotations

import io
import logging
import os
import platform
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from .. import errors
from ..errors import CnnscopeError, ScanError
from ..weights import LoadedModel
from .folder import ImageEntry, list_images
from .run import (BatchResult, ScanOptions, ScanProgress, ScanSummary, _collate, _Plan, _Recorder,
                  begin_scan, decode_image, finish_scan, forward_batch, heatmap_overlay, heatmap_path,
                  keep_batch, pending_images, plan_scan)
from .store import MAX_REASON, SKIPPED, ScanState, ScanStore, write_atomic
from .topk import TopK

INSTALL = "pip install 'cnnscope[cluster]'"
MAX_BLOCKS = 20_000  # blocks of pending images handed to Ray Data (past it, several batches a block)
MAX_DECODE_THREADS = 8  # threads reading a GPU actor's images
_QUIET = ("ray", "ray.data")  # loggers kept to errors while a scan runs (its own bar shows progress)


def scan_on_ray(loaded: LoadedModel, data: str | os.PathLike, out: str | os.PathLike, options: ScanOptions,
                address: str | None = None, model_ref: str = "", weights_ref: str = "",
                progress: Callable[[ScanProgress], None] | None = None,
                should_cancel: Callable[[], bool] | None = None, hints=None,
                max_actors: int | None = None) -> ScanSummary:
    """Scan ``data`` into ``out`` as :func:`scan_folder` does, on the Ray cluster at ``address``
    (None: a new local Ray, or the one this process already joined). The actors open the model
    themselves as ``model_ref`` with ``weights_ref`` (and ``hints``, a ModelHints, for your own
    model), as ``load_model`` takes them; one per GPU, else CPU workers filling the cluster, at
    most ``max_actors``."""
    ray, ray_data = _import_ray()
    started = time.monotonic()
    options = replace(options, model_ref=options.model_ref or model_ref,
                      weights_ref=options.weights_ref or weights_ref)
    root = Path(data).expanduser()
    entries = list_images(root, exclude=Path(out))
    plan = plan_scan(loaded, options, next(loaded.module.parameters()).device)
    store, state = begin_scan(loaded, root, entries, out, options, plan)
    resumed_from = state.done
    pending = pending_images(state)
    if pending:
        job = {"root": str(root.resolve()), "model": _absolute_model(options.model_ref or loaded.name),
               "weights": _absolute_weights(options.weights_ref or _weights_of(loaded)), "hints": hints,
               "preprocessing": loaded.spec.preprocessing, "layers": list(plan.layers), "head": plan.head,
               "channels": {layer: info["channels"] for layer, info in plan.layer_info.items()},
               "top_k": options.top_k, "cam": options.cam}
        joined = _connect(ray, address)
        try:
            _stream(ray, ray_data, job, pending, entries, store, state, options.batch_size, max_actors,
                    started, resumed_from, progress, should_cancel)
        finally:
            if joined:
                ray.shutdown()
    return finish_scan(loaded, store, entries, state, plan, started, resumed_from)


def _import_ray():
    try:
        import ray
        import ray.data
    except ImportError:
        raise ScanError(f"A scan on Ray needs Ray Data: {INSTALL}.") from None
    return ray, ray.data


def _connect(ray, address: str | None) -> bool:
    """Join the cluster (True: this call started the connection, to be shut down after)."""
    if ray.is_initialized():
        return False
    options = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address is None:
        options["include_dashboard"] = False
    try:
        ray.init(address=address, **options)
    except Exception as exc:  # noqa: BLE001 - Ray says it in many ways (ConnectionError, RuntimeError...)
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise ScanError(f"Could not start or reach {where} ({_first_line(exc)}).") from None
    return True


def _weights_of(loaded: LoadedModel) -> str:
    if loaded.source in ("pretrained", "bundled"):
        return "pretrained"
    if loaded.source == "random":
        return "random"
    raise ScanError("Name the weights file for the Ray workers to open (weights_ref).")


def _absolute_model(name: str) -> str:
    """A model file named relative to this process's folder, named absolute for the workers."""
    from ..user_models import FACTORY

    found = FACTORY.match(name)
    if found and Path(found["path"]).expanduser().is_file():
        return f"{Path(found['path']).expanduser().resolve()}:{found['name']}"
    if name.lower().endswith(".pt2") and Path(name).expanduser().is_file():
        return str(Path(name).expanduser().resolve())
    return name


def _absolute_weights(weights: str) -> str:
    if weights in ("pretrained", "random") or not Path(weights).expanduser().is_file():
        return weights
    return str(Path(weights).expanduser().resolve())


def _pool(ray) -> tuple[int, dict, int]:
    """The actor pool the cluster holds: (actors, Ray resources of each, threads of each)."""
    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    gpu_nodes = [(int(node["GPU"]), int(node.get("CPU", 0))) for node in nodes if int(node.get("GPU", 0)) >= 1]
    cpus = [int(node.get("CPU", 0)) for node in nodes if node.get("CPU", 0) >= 1]
    if gpu_nodes:  # one actor per GPU; its images are read by threads, its share of its node's CPUs
        share = min(c // g for g, c in gpu_nodes)
        return sum(g for g, _ in gpu_nodes), {"num_gpus": 1, "num_cpus": 1 if share else 0}, \
            max(1, min(MAX_DECODE_THREADS, share))
    if not cpus:
        raise ScanError("The Ray cluster has no CPU or GPU to run the scan on.")
    each = max(1, min(4, min(cpus) // 4))  # small nodes: one thread per actor; large: up to 4
    return sum(c // each for c in cpus), {"num_cpus": each}, each


def _stream(ray, ray_data, job: dict, pending: list[int], entries: list[ImageEntry], store: ScanStore,
            state: ScanState, batch_size: int, max_actors: int | None, started: float, resumed_from: int,
            progress: Callable[[ScanProgress], None] | None, should_cancel: Callable[[], bool] | None) -> None:
    import pyarrow as pa

    actors, resources, threads = _pool(ray)
    job = {**job, "threads": threads, "gpu": "num_gpus" in resources}
    per_block = batch_size * max(1, -(-len(pending) // (batch_size * MAX_BLOCKS)))
    blocks = [pa.table({"index": pa.array(pending[start:start + per_block], pa.int64()),
                        "path": pa.array([entries[i].path for i in pending[start:start + per_block]], pa.string())})
              for start in range(0, len(pending), per_block)]
    context = ray_data.DataContext.get_current()
    was = getattr(context, "enable_progress_bars", None), {name: logging.getLogger(name).level for name in _QUIET}
    context.enable_progress_bars = False
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.ERROR)
    rows = None
    try:
        dataset = ray_data.from_arrow(blocks).map_batches(
            _ScanWorker, fn_constructor_args=(job,), batch_size=batch_size, batch_format="numpy",
            compute=ray_data.ActorPoolStrategy(size=max(1, min(actors, len(blocks), max_actors or actors))),
            **resources)
        rows = iter(dataset.iter_rows())
        for row in rows:
            result, bad, pictures = _decode(row["result"], job["layers"])
            for index, reason in bad:
                state.status[index], state.skipped[index] = SKIPPED, reason
            if result is not None:
                keep_batch(store, state, result)
                _write_pictures(store, entries, result.indices, pictures)
            store.save_state(state)
            if progress is not None:
                progress(ScanProgress(state.done, len(entries), len(state.skipped),
                                      time.monotonic() - started, resumed_from))
            if should_cancel is not None and should_cancel():
                break
    except Exception as exc:
        if not (isinstance(exc, ray.exceptions.RayError) or type(exc).__module__.startswith("ray.")):
            raise  # this process's own (a full disk...), said as anywhere else
        raise ScanError(f"A Ray worker stopped the scan: {_worker_error(exc)} The images done so far are "
                        "saved: the same command again goes on from there.") from None
    finally:
        if hasattr(rows, "close"):
            rows.close()  # stops the dataset's execution: the batches in flight are left pending
        if was[0] is not None:
            context.enable_progress_bars = was[0]
        for name, level in was[1].items():
            logging.getLogger(name).setLevel(level)


def _write_pictures(store: ScanStore, entries: list[ImageEntry], indices: np.ndarray,
                    pictures: list[bytes]) -> None:
    if not pictures:
        return
    (store.folder / "heatmaps").mkdir(exist_ok=True)
    for index, png in zip(indices, pictures):
        write_atomic(heatmap_path(store.folder, int(index), entries[int(index)]), lambda fh, png=png: fh.write(png))


class _ScanWorker:
    """A model actor of the pool: the model opened once, then a batch of image paths at a time
    in, one encoded result out (see :func:`_encode`)."""

    def __init__(self, job: dict) -> None:
        import torch

        from ..weights import load_model

        self.root = Path(job["root"])
        if not self.root.is_dir():
            raise ScanError(f"'{self.root}' is not a folder on the Ray node {platform.node()}: every node "
                            "must reach the images at the same path.")
        self.device = torch.device("cuda" if job["gpu"] and torch.cuda.is_available() else "cpu")
        if self.device.type == "cpu":
            torch.set_num_threads(job["threads"])
        self.loaded = load_model(job["model"], job["weights"], hints=job["hints"])
        # the driver's input size and normalisation, so that every node crops exactly alike
        self.loaded.spec = replace(self.loaded.spec, preprocessing=job["preprocessing"])
        self.loaded.module.to(self.device).eval()
        modules = dict(self.loaded.module.named_modules())
        for layer in job["layers"] + ([job["head"]] if job["head"] else []):
            if layer not in modules:
                raise ScanError(f"The Ray worker on {platform.node()} opened {job['model']} without the "
                                f"layer '{layer}': give every node the same cnnscope and model files.")
        self.layers, self.channels, self.k, self.cam = job["layers"], job["channels"], job["top_k"], job["cam"]
        self.plan = _Plan(self.layers, job["head"], {})
        self.recorder = _Recorder(self.loaded.module, tuple(self.layers), job["head"])
        self.threads = ThreadPoolExecutor(job["threads"]) if job["threads"] > 1 else None

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        indices = [int(i) for i in batch["index"]]
        paths = [self.root / str(p) for p in batch["path"]]
        preprocessing = self.loaded.spec.preprocessing
        decoded = list(self.threads.map(decode_image, paths, [preprocessing] * len(paths))) if self.threads \
            else [decode_image(path, preprocessing) for path in paths]
        good, crops, bad = _collate([(i, crop, why) for i, (crop, why) in zip(indices, decoded)])
        result, pictures = None, []
        if good:
            result = forward_batch(self.loaded, self.recorder, self.plan, np.array(good, np.int64), crops,
                                   self.device)
            for layer in self.layers:
                if result.candidates[layer][0].shape[1] != self.channels[layer]:
                    raise ScanError(f"The Ray worker on {platform.node()} opened another model: its "
                                    f"'{layer}' has other channels than the driver's.")
                result.candidates[layer] = _batch_top(*result.candidates[layer], self.k)
            if self.cam is not None:
                pictures = [_png(heatmap_overlay(self.loaded, crop, self.cam, self.device)) for crop in crops]
        return {"result": np.array([_encode(result, bad, pictures, self.layers)], dtype=object)}


def _batch_top(values: np.ndarray, images: np.ndarray, positions: np.ndarray, k: int):
    """A batch's candidates cut to its own top-k per channel (the merge of those is exact)."""
    if len(values) <= k:
        return values, images, positions
    part = TopK.empty(k, values.shape[1], 1, 1)
    part.add(values, images, positions)
    return part.values, part.images, part.positions


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def _encode(result: BatchResult | None, bad: list[tuple[int, str]], pictures: list[bytes],
            layers: list[str]) -> bytes:
    """One batch's result as the bytes of an .npz file (plain arrays, no pickle): what the driver
    takes in, whatever Ray version or Python object model either side runs."""
    arrays = {"skipped_index": np.array([i for i, _ in bad], np.int64),
              "skipped_reason": np.array([why[:MAX_REASON] for _, why in bad], np.str_)}
    if result is not None:
        arrays.update(indices=result.indices.astype(np.int64), top5=result.top5,
                      top5_probabilities=result.top5_probabilities)
        if result.features is not None:
            arrays["features"] = result.features
        for n, layer in enumerate(layers):
            values, images, positions = result.candidates[layer]
            arrays.update({f"{n}.values": values, f"{n}.images": images.astype(np.int32),
                           f"{n}.positions": positions})
        if pictures:
            arrays["png"] = np.frombuffer(b"".join(pictures), np.uint8)
            arrays["png_ends"] = np.cumsum([len(p) for p in pictures])
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _decode(blob: bytes, layers: list[str]) -> tuple[BatchResult | None, list[tuple[int, str]], list[bytes]]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as arrays:
        bad = [(int(i), str(why)) for i, why in zip(arrays["skipped_index"], arrays["skipped_reason"])]
        if "indices" not in arrays:
            return None, bad, []
        candidates = {layer: (arrays[f"{n}.values"], arrays[f"{n}.images"], arrays[f"{n}.positions"])
                      for n, layer in enumerate(layers)}
        result = BatchResult(arrays["indices"], candidates, arrays["features"] if "features" in arrays else None,
                             arrays["top5"], arrays["top5_probabilities"])
        pictures = []
        if "png" in arrays:
            data, ends = arrays["png"].tobytes(), arrays["png_ends"]
            pictures = [data[start:end] for start, end in zip([0, *ends[:-1]], ends)]
    return result, bad, pictures


_RAISED = re.compile(r"^(?:[\w.]+\.)?(\w+(?:Error|Exception|Exit)): (.+)$", re.MULTILINE)


def _worker_error(exc: BaseException) -> str:
    """What a worker raised, in a sentence: a cnnscope error's own, else the exception's last
    line. Ray hands it over wrapped, often only as text (an actor that failed to start)."""
    seen, todo = set(), [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, CnnscopeError):
            return _sentence(str(current))
        todo += [current.__cause__, current.__context__, getattr(current, "cause", None)]
    raised = _RAISED.findall(str(exc))
    ours = [message for name, message in raised
            if isinstance(getattr(errors, name, None), type) and issubclass(getattr(errors, name), CnnscopeError)]
    if ours:
        return _sentence(ours[-1])
    return _sentence(f"{raised[-1][0]}: {raised[-1][1]}" if raised else _first_line(exc))


def _sentence(text: str) -> str:
    text = text.strip()[:400]
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
