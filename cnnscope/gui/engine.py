"""The one worker thread that owns models and runs every core call.

The window submits requests; each gets an id. Per kind only the newest pending request is kept (a
burst of twenty drops inspects one image, the last), and results come back through Qt signals
carrying their id so the window can drop any that a newer request made stale. The thread imports
torch itself, so the window is on screen before torch has finished loading.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

# Served in this order when several kinds wait: a model load changes what the others mean.
KINDS = ("load", "inspect", "grid", "filters", "channel", "explain", "summary", "attribute",
         "restyle", "compare", "export_compare", "export_summary", "live")
# Requests about the model and inspection shown: one still waiting when a new model loads was
# made for the old one (the window asks again once the new model's first inspection arrives).
_ABOUT_THE_SHOWN_MODEL = ("grid", "filters", "channel", "explain", "summary", "attribute", "restyle",
                          "export_summary")
# A request of these kinds makes a running attribution stale: it stops at its next batch.
_SUPERSEDE_ATTRIBUTION = ("load", "inspect", "attribute")


@dataclass
class ModelInfo:
    """What the window shows about a registry model."""

    name: str
    family: str
    description: str
    num_params: int
    weights_offline: bool  # pretrained weights need no download


@dataclass
class InspectionResult:
    """Plain data from one inspection: no tensors cross into the window."""

    model: str
    weights_label: str
    trained: bool
    device: str
    input_rgb: np.ndarray
    predictions: list  # [(label, probability)]
    layers: list  # [(name, type, shape tuple, params, has_children)]
    default_layer: str
    elapsed_ms: float
    notes: list[str] = field(default_factory=list)


@dataclass
class GridResult:
    """A layer's channel grid and what the window needs to map a click to a channel."""

    layer: str
    image: np.ndarray
    order: list[int]  # channel shown in each tile
    rows: int
    cols: int
    tile: tuple[int, int]
    pad: int
    shape: tuple[int, ...]
    values: np.ndarray | None = None  # (C, h, w) float32: the activations, for the value under the pointer


@dataclass
class ChannelResult:
    """One channel overlaid on the input (opacity 1: the channel alone), and its statistics."""

    layer: str
    channel: int
    overlay: np.ndarray
    stats: dict[str, float]
    values: np.ndarray | None = None  # (h, w) float32: the channel, for the value under the pointer


@dataclass
class FiltersResult:
    """First-layer kernels, and the selected conv layer's when it is one."""

    first_name: str
    first: np.ndarray
    selected_name: str | None
    selected: np.ndarray | None


@dataclass
class AttributionResult:
    """A heatmap for one class, drawn: photo | heatmap | overlay, and the overlay alone."""

    method: str
    method_label: str
    target: int
    label: str
    probability: float
    layer: str | None
    panel: np.ndarray
    overlay: np.ndarray
    elapsed_ms: float
    notes: list[str] = field(default_factory=list)
    heatmap: np.ndarray | None = None  # (S, S) float32 in 0..1 over the photo: the value under the pointer
    colorbar: np.ndarray | None = None  # the colormap's scale, 1 at the top
    panel_pad: int = 6  # pixels around and between photo | heatmap | overlay


@dataclass
class CompareColumn:
    """One model's column in the comparison, drawn."""

    index: int
    model: str
    weights: str
    layer: str
    layer_shape: tuple
    predictions: list  # [(label, probability)]
    heat_label: str
    heat: np.ndarray
    grid: np.ndarray
    facts: str
    notes: list[str] = field(default_factory=list)
    error: str | None = None  # this column could not be made (offline weights...): why
    weights_missing: bool = False  # the error is that its weights could not be had


class Engine(QObject):
    """Runs core work on one thread; see the module docstring."""

    # list[ModelInfo], devices ("cuda", "cpu"...), {"methods": attribution methods, "presets": freeze presets}
    ready = Signal(object, object, object)
    model_loaded = Signal(int, object)  # id, dict(name, weights_label, trained, device)
    progress = Signal(int, int, int)  # id, done, total (-1 unknown): download bytes, attribution passes
    inspected = Signal(int, object)  # id, InspectionResult
    grid_ready = Signal(int, object)  # id, GridResult
    channel_ready = Signal(int, object)  # id, ChannelResult
    filters_ready = Signal(int, object)  # id, FiltersResult
    attribution_ready = Signal(int, object)  # id, AttributionResult
    compare_column = Signal(int, object)  # id, CompareColumn: painted as soon as each is ready
    compare_done = Signal(int, object)  # id, list of notes
    compare_exported = Signal(int, str)  # id, path
    explained = Signal(int, str)  # id, the selected layer explained in plain words
    summary_ready = Signal(int, object)  # id, dict: rows, totals, stages
    summary_exported = Signal(int, str)  # id, path
    live_ready = Signal(int, object)  # id, core.live.LiveFrame
    failed = Signal(int, str, str)  # id, kind, message

    def __init__(self) -> None:
        super().__init__()
        self._ids = count(1)
        self._pending: dict[str, tuple[int, dict[str, Any]]] = {}
        self._wake = threading.Condition()
        self._cancel_load = threading.Event()
        self._cancel_attribution = threading.Event()
        self._attribution = None  # (key, core Attribution): restyling reuses it
        self._serial = 0  # counts inspections: part of the attribution's key
        self._compare_models: dict = {}  # (name, weights) -> LoadedModel, for the compare view
        self._compare_cache: dict = {}  # (model key, image key) -> Inspection
        self._compare_image: tuple | None = None  # (image key, decoded image)
        self._compare_columns: dict = {}  # index -> core.compare.Column, for the export
        self._cancel_compare = threading.Event()
        self._summary = None  # (loaded model, core Summary): the architecture table of the model shown
        self._stop = False
        self._loaded = None
        self._image: np.ndarray | None = None
        self._inspection = None
        self._device = None
        self._thread = threading.Thread(target=self._run, name="cnnscope-engine", daemon=True)

    # --- the window's side ---------------------------------------------------------------

    def start(self) -> None:
        """Start the thread (it imports torch, then announces the models)."""
        # Every Qt callback into Python must win the GIL back from this thread's pure-Python
        # stretches, waiting up to one switch interval each time; a repaint makes many such
        # callbacks. 1 ms instead of the default 5 ms shortens those waits (responsiveness.py).
        sys.setswitchinterval(0.001)
        self._thread.start()

    def submit(self, kind: str, **params: Any) -> int:
        """Queue a request, replacing any pending one of the same kind; returns its id."""
        assert kind in KINDS, kind
        request_id = next(self._ids)
        with self._wake:
            if kind == "load":
                self._cancel_load.clear()
            self._pending[kind] = (request_id, params)
            self._wake.notify()
        return request_id

    def cancel_attribution(self) -> None:
        """Stop a running attribution at its next batch (and drop a pending one)."""
        self._cancel_attribution.set()
        with self._wake:
            self._pending.pop("attribute", None)

    def cancel_compare(self) -> None:
        """Stop a comparison between columns (and a download it is waiting on)."""
        self._cancel_compare.set()
        with self._wake:
            self._pending.pop("compare", None)

    def cancel_load(self) -> None:
        """Stop a download in progress (the previous model stays)."""
        self._cancel_load.set()
        with self._wake:
            self._pending.pop("load", None)

    def stop(self, timeout: float = 1.5) -> bool:
        """Cancel whatever runs (a download, a slow method, a comparison) and end the thread;
        False if it is still busy after ``timeout`` seconds (one forward pass cannot be cut)."""
        with self._wake:
            self._stop = True
            self._pending.clear()
            for event in (self._cancel_load, self._cancel_attribution, self._cancel_compare):
                event.set()
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    # --- the thread's side -----------------------------------------------------------------

    def _run(self) -> None:
        # torch + torchvision are millions of objects that live as long as the app; collecting
        # while they load only rescans them (full passes of 0.2-0.4 s here), so pause the collector
        # for the imports and exempt what they leave behind from later passes.
        gc.disable()
        try:
            from cnnscope.core.attribution import METHODS
            from cnnscope.core.devices import available_devices
            from cnnscope.core.freeze import PRESETS
            from cnnscope.core.models import (
                DEFAULT_COMPARISON,
                DEFAULT_MODEL,
                REGISTRY,
                model_names,
            )
            from cnnscope.core.weights import is_available_offline
        finally:
            gc.enable()
        gc.freeze()

        self.ready.emit([ModelInfo(n, REGISTRY[n].family, REGISTRY[n].description,
                                   REGISTRY[n].num_params,
                                   is_available_offline(REGISTRY[n])) for n in model_names()],
                        available_devices(), {"methods": list(METHODS.values()), "presets": PRESETS,
                                              "comparison": DEFAULT_COMPARISON,
                                              "default_model": DEFAULT_MODEL})
        while True:
            with self._wake:
                while not self._pending and not self._stop:
                    self._wake.wait()
                if self._stop:
                    return
                kind = next(k for k in KINDS if k in self._pending)
                request_id, params = self._pending.pop(kind)
            try:
                getattr(self, f"_do_{kind}")(request_id, **params)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a message, never a crash
                self.failed.emit(request_id, kind, _message(exc))

    def _do_load(self, request_id: int, name: str, weights: str, device: str) -> None:
        from cnnscope.core.attribution import cam_refusal
        from cnnscope.core.devices import describe, pick_device
        from cnnscope.core.inspect import prepare
        from cnnscope.core.weights import load_model

        target = pick_device(device)
        last = [0.0]

        def progress(done: int, total: int | None) -> None:
            now = time.monotonic()
            if now - last[0] > 0.05 or done == total:
                last[0] = now
                self.progress.emit(request_id, done, total if total is not None else -1)

        loaded = load_model(name, weights, progress=progress, should_cancel=self._cancel_load.is_set)
        loaded.module.to(target)
        # Trace before announcing the model: the window then repaints while this thread is idle,
        # instead of both wanting the GIL at once (benchmarks/responsiveness.py).
        prepare(loaded)
        self._loaded, self._device, self._inspection = loaded, target, None
        self._attribution, self._serial, self._summary = None, self._serial + 1, None
        with self._wake:  # asked about the previous model: it is gone, so they are stale
            for kind in _ABOUT_THE_SHOWN_MODEL:
                self._pending.pop(kind, None)
        self.model_loaded.emit(request_id, {"name": loaded.name, "weights_label": loaded.weights_label,
                                            "trained": loaded.trained, "device": describe(target),
                                            "labels": list(loaded.labels),
                                            "cam_layer": loaded.spec.cam_layer,
                                            "cam_refusal": cam_refusal(loaded.spec),
                                            "freeze": freeze_layout(loaded.module),
                                            "weights": weights, "device_choice": device,
                                            "notes": list(loaded.notes)})

    def _do_inspect(self, request_id: int, path: str | None = None, data: bytes | None = None,
                    name: str = "image") -> None:
        from cnnscope.core.errors import ModelError
        from cnnscope.core.files import READ_TIMEOUT
        from cnnscope.core.images import decode_image, open_image
        from cnnscope.core.inspect import default_feature_layer, inspect

        if self._loaded is None:
            raise ModelError("No model is loaded yet.")
        image = (open_image(path, timeout=READ_TIMEOUT) if path is not None
                 else decode_image(data or b"", name))
        result = inspect(self._loaded, image, self._device)
        self._image, self._inspection = image, result
        self._attribution, self._serial = None, self._serial + 1
        self._device = _device_of(self._loaded)  # an out-of-memory fallback moves the model
        self.inspected.emit(request_id, InspectionResult(
            model=result.model_name, weights_label=result.weights_label, trained=result.trained,
            device=result.device, input_rgb=result.input_rgb,
            predictions=[(p.label, p.probability) for p in result.predictions],
            layers=[(r.name, r.type, r.output_shape, r.params, r.has_children) for r in result.layers],
            default_layer=default_feature_layer(result, self._loaded.spec.input_size),
            elapsed_ms=result.elapsed_ms, notes=result.notes))

    def _do_grid(self, request_id: int, layer: str, cmap: str, sort: str) -> None:
        from cnnscope.core import render

        maps = self._current().activation(layer)
        order = render.channel_order(maps, sort)
        image = render.feature_grid(maps, cmap, sort)
        rows, cols = render.grid_shape(len(order))
        tile = render.upscaled_size(maps.shape[1:])
        self.grid_ready.emit(request_id, GridResult(layer, image, order.tolist(), rows, cols, tile,
                                                    render.GRID_PAD, tuple(maps.shape),
                                                    np.asarray(maps, dtype=np.float32)))

    def _do_channel(self, request_id: int, layer: str, channel: int, cmap: str,
                    alpha: float) -> None:
        from cnnscope.core import render

        result = self._current()
        values = result.activation(layer)[channel]
        self.channel_ready.emit(request_id, ChannelResult(
            layer, channel, render.overlay(result.input_rgb, values, alpha, cmap),
            {"min": float(values.min()), "max": float(values.max()), "mean": float(values.mean())},
            np.asarray(values, dtype=np.float32)))

    def _do_filters(self, request_id: int, layer: str | None) -> None:
        from cnnscope.core import render
        from cnnscope.core.layers import conv_kernels, conv_layers

        module = self._loaded.module
        first_name, first = conv_kernels(module)
        selected_name = layer if layer in conv_layers(module) and layer != first_name else None
        selected = render.filter_tiles(conv_kernels(module, selected_name)[1]) if selected_name else None
        self.filters_ready.emit(request_id, FiltersResult(first_name, render.filter_tiles(first),
                                                          selected_name, selected))

    def _do_attribute(self, request_id: int, method: str, target: int | str | None,
                      layer: str | None, cmap: str, alpha: float) -> None:
        from cnnscope.core.attribution import attribute

        inspection = self._current()
        key = (self._serial, method, target, layer)
        if self._attribution is None or self._attribution[0] != key:
            self._cancel_attribution.clear()
            last = [0.0]

            def progress(done: int, total: int) -> None:
                now = time.monotonic()
                if now - last[0] > 0.05 or done == total:
                    last[0] = now
                    self.progress.emit(request_id, done, total)

            def should_cancel() -> bool:
                return self._cancel_attribution.is_set() or self._stop or any(
                    kind in self._pending for kind in _SUPERSEDE_ATTRIBUTION)

            self._attribution = None
            found = attribute(self._loaded, inspection, method, target, layer, progress, should_cancel)
            self._attribution = (key, found)
        self._emit_attribution(request_id, cmap, alpha)

    def _do_restyle(self, request_id: int, method: str, target: int | str | None,
                    layer: str | None, cmap: str, alpha: float) -> None:
        """Redraw the last attribution with another colormap or opacity; no recomputation."""
        key = (self._serial, method, target, layer)
        if self._attribution is not None and self._attribution[0] == key:
            self._emit_attribution(request_id, cmap, alpha)

    def _emit_attribution(self, request_id: int, cmap: str, alpha: float) -> None:
        from cnnscope.core import render
        from cnnscope.core.attribution import METHODS

        (_key, found), photo = self._attribution, self._inspection.input_rgb
        method = found.method
        self.attribution_ready.emit(request_id, AttributionResult(
            method=method, method_label=METHODS[method].label, target=found.target,
            label=found.target_label, probability=found.probability, layer=found.layer,
            panel=render.attribution_panel(photo, found.heatmap, alpha, cmap),
            overlay=render.heat_overlay(photo, found.heatmap, alpha, cmap),
            elapsed_ms=found.elapsed_ms, notes=found.notes,
            heatmap=np.asarray(found.heatmap, dtype=np.float32),
            colorbar=render.colorbar(cmap), panel_pad=render.PANEL_PAD))

    def _do_compare(self, request_id: int, models: list, source: dict, depth: float | None,
                    stride: float | None, method: str, target: str | None, device: str) -> None:
        from cnnscope.core.devices import pick_device
        from cnnscope.core.errors import CnnscopeError, WeightsError
        from cnnscope.core.files import READ_TIMEOUT
        from cnnscope.core.images import decode_image, open_image

        self._cancel_compare.clear()
        notes = []
        wanted = [tuple(m) for m in models]
        for key in [k for k in self._compare_models if k not in wanted]:
            del self._compare_models[key]  # not shown: free its memory
            notes.append(f"unloaded {key[0]} (no longer compared)")
        self._compare_cache = {k: v for k, v in self._compare_cache.items() if k[0] in wanted}
        image_key = source.get("path") or hash(source.get("data") or b"")
        if self._compare_image is None or self._compare_image[0] != image_key:
            image = (open_image(source["path"], timeout=READ_TIMEOUT) if source.get("path")
                     else decode_image(source.get("data") or b"", source.get("name", "image")))
            self._compare_image = (image_key, image)
            self._compare_cache.clear()
        image = self._compare_image[1]
        target_device = pick_device(device)
        self._compare_columns = {}
        first: list = []  # (labels, top class) of the first column made: what the others explain
        for index, key in enumerate(wanted):
            if "compare" in self._pending:
                return  # a newer comparison makes the rest of this one stale
            if self._cancel_compare.is_set() or self._stop:
                self.compare_done.emit(request_id, ["cancelled"])
                return
            try:
                column = self._compare_one(request_id, index, key, image, image_key, target_device,
                                           method, target, depth, stride, first)
            except CnnscopeError as exc:  # this column only: the others still come
                self.compare_column.emit(request_id, CompareColumn(
                    index, key[0], key[1], "", (0, 0, 0), [], "", None, None, "", [], str(exc),
                    isinstance(exc, WeightsError)))
                continue
            if not first:
                first.append((column[1], column[2]))
            self.compare_column.emit(request_id, column[0])
        self.compare_done.emit(request_id, notes)

    def _compare_one(self, request_id, index, key, image, image_key, target_device, method, target,
                     depth, stride, first: list):
        """One column of a comparison: (CompareColumn, the model's labels, its top class)."""
        import torch

        from cnnscope.core.compare import explained_class, make_column
        from cnnscope.core.inspect import inspect, prepare
        from cnnscope.core.weights import load_model

        loaded = self._compare_models.get(key)
        if loaded is None:
            def progress(done: int, total: int | None) -> None:
                self.progress.emit(request_id, done, total if total is not None else -1)

            def stop() -> bool:
                return self._cancel_compare.is_set() or self._stop or "compare" in self._pending
            loaded = load_model(*key, progress=progress, should_cancel=stop)
            loaded.module.to(target_device)
            prepare(loaded)
            self._compare_models[key] = loaded
        inspection = self._compare_cache.get((key, image_key))
        peak = None
        if inspection is None:
            if target_device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(target_device)
            inspection = inspect(loaded, image, target_device)
            if target_device.type == "cuda":
                peak = torch.cuda.max_memory_allocated(target_device)
            self._compare_cache[(key, image_key)] = inspection
        explain = explained_class(loaded.labels, first[0] if first else None, target)
        column = make_column(loaded, inspection, method, explain, depth, stride, peak)
        f = column.facts
        self._compare_columns[index] = column
        return CompareColumn(
            index, loaded.name, loaded.weights_label, column.layer, column.layer_shape,
            column.predictions, column.heat_label, column.heat, column.grid,
            f"{f.params / 1e6:.1f}M params, {f.layers} weight layers, {f.input_size} px, "
            f"inspect {f.inspect_ms:.0f} ms on {f.device}, "
            f"{'peak' if peak is not None else 'maps'} {f.memory_mb:.0f} MB", column.notes), \
            loaded.labels, inspection.predictions[0].label

    def _table(self):
        """The shown model's architecture summary, computed once per model."""
        from cnnscope.core.summary import summarize

        if self._summary is None or self._summary[0] is not self._loaded:
            self._summary = (self._loaded, summarize(self._loaded, self._current()))
        return self._summary[1]

    def _do_explain(self, request_id: int, layer: str) -> None:
        from cnnscope.core.explain import explain
        from cnnscope.core.freeze import head_name

        row = next((r for r in self._table().rows if r.name == layer), None)
        if row is None:
            return
        try:
            head = head_name(self._loaded.module)
        except Exception:  # noqa: BLE001 - a model without a linear head: nothing is "the head"
            head = None
        self.explained.emit(request_id, explain(self._loaded.module.get_submodule(layer), row,
                                                self._loaded.spec.input_size, layer == head))

    def _do_summary(self, request_id: int) -> None:
        table = self._table()
        self.summary_ready.emit(request_id, {
            "model": table.model, "input_size": table.input_size,
            "rows": [(r.name, r.type, r.output_shape, r.params, r.macs, r.receptive_field, r.depth)
                     for r in table.rows],
            "total_params": table.total_params, "trainable_params": table.trainable_params,
            "total_macs": table.total_macs, "stages": table.stages(),
            "weight_layers": table.weight_layers})

    def _do_export_summary(self, request_id: int, path: str) -> None:
        self.summary_exported.emit(request_id, str(self._table().write_csv(path)))

    def _do_live(self, request_id: int, frame: np.ndarray, mode: str, layer: str | None) -> None:
        """One camera or video frame; the view's own inspection and maps are left as they are."""
        from cnnscope.core.errors import ModelError
        from cnnscope.core.live import process_frame

        if self._loaded is None:
            raise ModelError("No model is loaded yet.")
        self.live_ready.emit(request_id, process_frame(self._loaded, frame, mode, layer, self._device))

    def _do_export_compare(self, request_id: int, path: str, title: str) -> None:
        from cnnscope.core.compare import comparison_figure
        from cnnscope.core.errors import ModelError

        if not self._compare_columns:
            raise ModelError("Nothing has been compared yet.")
        comparison_figure([self._compare_columns[i] for i in sorted(self._compare_columns)], path, title)
        self.compare_exported.emit(request_id, path)

    def _current(self):
        from cnnscope.core.errors import ModelError

        if self._inspection is None:
            raise ModelError("Nothing has been inspected yet.")
        return self._inspection


def freeze_layout(module) -> dict | None:
    """What the transfer panel needs to draw and count a freeze plan, as plain data: the blocks
    and their modules, the head, and each module's own parameter count."""
    from cnnscope.core.errors import ModelError
    from cnnscope.core.freeze import block_members, head_name

    try:
        head = head_name(module)
        members = block_members(module)
    except ModelError:
        return None
    own = {name: sum(p.numel() for p in m.parameters(recurse=False))
           for name, m in module.named_modules()}
    leaves = {block: [n for n, count in own.items() if count and any(
        n == top or n.startswith(top + ".") for top in tops)] for block, tops in members.items()}
    head_module = module.get_submodule(head)
    return {"blocks": leaves, "params": {n: c for n, c in own.items() if c}, "head": head,
            "head_inputs": int(getattr(head_module, "in_features", 0) or
                               getattr(head_module, "in_channels", 0))}


def _device_of(loaded):
    return next(loaded.module.parameters()).device


def _message(exc: Exception) -> str:
    """The user's sentence for a typed error; a short description (logged in full) otherwise."""
    from cnnscope.core.errors import CnnscopeError

    if isinstance(exc, CnnscopeError):
        return str(exc)
    traceback.print_exc()
    return f"Something went wrong: {type(exc).__name__}: {exc}"
