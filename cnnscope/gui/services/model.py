"""Loading the model shown, and inspecting images with it (one forward pass feeds every view)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .base import ImageSource, Job, Request, Service

PHOTO_SIDE = 640  # the longer side of the photo the Input panel shows beside the network's input


@dataclass(frozen=True)
class LoadModel(Request):
    """Load a registry model with "pretrained", "random" or a weights file's path, on a device."""

    name: str
    weights: str
    device: str = "auto"
    # what the user stated about their own model (model_details dialog): sorted (key, value)
    # pairs of input_size, mean, std, labels_file; empty: worked out
    stated: tuple = ()


@dataclass(frozen=True)
class AdoptModel(Request):
    """Show a model that is already built (``cnnscope.show(model)``): a core LoadedModel, moved
    to ``device`` on the engine thread."""

    loaded: Any = field(compare=False)
    device: str = "auto"
    key: str = ""  # what the model box knows it by (never a registry name)
    stated: tuple = ()  # as LoadModel's: what the user stated since, worked out again with it
    weights: str = "given"  # or a weights file / a checkpoint trained from it, into a copy


LoadModel.superseded_by = (LoadModel, AdoptModel)  # a newer choice makes a load in progress pointless
AdoptModel.superseded_by = (LoadModel, AdoptModel)


@dataclass(frozen=True)
class Inspect(Request):
    """Run the loaded model once on an image, framed as ``framing`` says: "crop" (the model's
    centre crop) or "whole" (the whole photo, padded to a square)."""

    source: ImageSource
    framing: str = "crop"


@dataclass
class ModelInfo:
    """What the window shows about a registry model before it is loaded."""

    name: str
    family: str
    description: str
    num_params: int
    weights_offline: bool  # pretrained weights need no download


@dataclass
class Catalogue:
    """What the engine can do, announced once torch has loaded."""

    models: list[ModelInfo]
    devices: list[str]  # "auto" is not in it
    methods: list  # core.attribution.Method
    presets: dict  # freeze presets
    preset_defaults: dict  # core.training.PRESET_DEFAULTS: each preset's starting settings
    comparison: tuple[str, ...]  # the models the Compare tab starts with
    default_model: str  # the bundled model that always loads


@dataclass
class ModelLoaded:
    """A model is loaded and shown: plain data about it."""

    name: str
    weights: str  # as asked: "pretrained", "random", a file path, or "given" (cnnscope.show's model)
    weights_label: str
    trained: bool
    device: str  # described, e.g. "cpu"
    device_choice: str  # as asked, e.g. "auto"
    labels: list[str]
    cam_layer: str | None
    cam_refusal: str | None
    freeze: dict | None  # freeze_layout()
    notes: list[str] = field(default_factory=list)
    asked_as: str = ""  # the name it was asked for ("path/net.py:build"), where not its own name
    given: Any = field(default=None, repr=False)  # the core LoadedModel cnnscope.show handed in
    stated: tuple = ()  # what the user stated about their own model (LoadModel.stated)
    # how its input is prepared, to show and to start the model_details dialog from:
    # {"input_size", "resize", "mean", "std", "channels"}
    preprocessing: dict = field(default_factory=dict)


@dataclass
class InspectionResult:
    """Plain data from one inspection: no tensors cross into the window."""

    source: ImageSource
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
    framing: Any = None  # core.preprocess.Framing (plain numbers): where input_rgb sits in the photo
    # the photo, at most PHOTO_SIDE px, darkened outside what the network sees; that part's
    # rectangle (x, y, w, h) in its pixels; its pixels per photo pixel
    photo_rgb: np.ndarray | None = field(default=None, repr=False)
    photo_box: tuple = ()
    photo_scale: float = 1.0

    def map_layers(self) -> list[str]:
        """The layers whose output is a stack of maps (C, H, W)."""
        return [row[0] for row in self.layers if len(row[2]) == 3]

    def in_photo(self, rect: tuple) -> tuple[int, int, int, int] | None:
        """A rectangle (x, y, w, h) in input pixels -> the same in photo_rgb's pixels."""
        if self.framing is None:
            return None
        x, y, w, h = (v * self.photo_scale for v in self.framing.to_photo(rect))
        return round(x), round(y), max(1, round(w)), max(1, round(h))


def catalogue() -> Catalogue:
    """The models, devices, heatmap methods and freeze presets (imports torch)."""
    from cnnscope.core.attribution import METHODS
    from cnnscope.core.devices import available_devices
    from cnnscope.core.freeze import PRESETS
    from cnnscope.core.models import DEFAULT_COMPARISON, DEFAULT_MODEL, REGISTRY, model_names
    from cnnscope.core.training import PRESET_DEFAULTS
    from cnnscope.core.weights import is_available_offline

    models = [ModelInfo(n, REGISTRY[n].family, REGISTRY[n].description, REGISTRY[n].num_params,
                        is_available_offline(REGISTRY[n])) for n in model_names()]
    return Catalogue(models, available_devices(), list(METHODS.values()), PRESETS, PRESET_DEFAULTS,
                     DEFAULT_COMPARISON, DEFAULT_MODEL)


class ModelService(Service):
    """Owns the model shown: loads it, inspects images with it."""

    handles = (LoadModel, AdoptModel, Inspect)

    def run(self, request: Request, job: Job) -> Any:
        """Serve a load, an adoption or an inspection."""
        if isinstance(request, (LoadModel, AdoptModel)):
            return self._load(request, job)
        return self._inspect(request)

    def _load(self, request: LoadModel | AdoptModel, job: Job) -> ModelLoaded:
        from cnnscope.core.attribution import cam_refusal
        from cnnscope.core.devices import describe, pick_device
        from cnnscope.core.inspect import prepare
        from cnnscope.core.user_models import is_user_model
        from cnnscope.core.weights import load_model

        target = pick_device(request.device)
        if isinstance(request, AdoptModel):
            loaded, weights = adopted(request, target), request.weights
            asked_as = request.key or request.loaded.name
        else:
            loaded, weights = load_model(request.name, request.weights, progress=job.progress,
                                         should_cancel=job.cancelled,
                                         hints=stated_hints(request.stated)), request.weights
            # a user model is known by the name it was opened as; a registry checkpoint may name
            # another architecture, which is then the one shown
            asked_as = request.name if is_user_model(request.name) else ""
        loaded.module.to(target)
        # Trace before announcing the model: the window then repaints while this thread is idle,
        # instead of both wanting the GIL at once (benchmarks/responsiveness.py).
        prepare(loaded)
        if job.cancelled():  # a newer load is waiting: this one must not become the model shown
            return None
        state = self.state
        state.loaded, state.device, state.inspection = loaded, target, None
        state.serial += 1
        job.drop_pending_about_the_shown_model()
        return ModelLoaded(name=loaded.name, weights=weights,
                           weights_label=loaded.weights_label, trained=loaded.trained,
                           device=describe(target), device_choice=request.device,
                           labels=list(loaded.labels), cam_layer=loaded.spec.cam_layer,
                           cam_refusal=cam_refusal(loaded.spec), freeze=freeze_layout(loaded.module),
                           notes=list(loaded.notes), asked_as=asked_as,
                           given=loaded if isinstance(request, AdoptModel) else None,
                           stated=request.stated, preprocessing=_preprocessing(loaded.spec))

    def _inspect(self, request: Inspect) -> InspectionResult:
        from cnnscope.core.inspect import default_feature_layer, inspect
        from cnnscope.core.render import framed_photo

        loaded = self.state.model()
        image = request.source.decode()
        result = inspect(loaded, image, self.state.device, framing=request.framing)
        photo, photo_box, photo_scale = framed_photo(image, result.framing.box, PHOTO_SIDE)
        self.state.inspection = result
        self.state.serial += 1
        self.state.device = next(loaded.module.parameters()).device  # an out-of-memory fallback moves it
        return InspectionResult(
            source=request.source, model=result.model_name, weights_label=result.weights_label,
            trained=result.trained, device=result.device, input_rgb=result.input_rgb,
            predictions=[(p.label, p.probability) for p in result.predictions],
            layers=[(r.name, r.type, r.output_shape, r.params, r.has_children) for r in result.layers],
            default_layer=default_feature_layer(result, loaded.spec.input_size),
            elapsed_ms=result.elapsed_ms, notes=result.notes, framing=result.framing,
            photo_rgb=photo, photo_box=photo_box, photo_scale=photo_scale)


def adopted(request: AdoptModel, target):
    """The model handed in, ready to show on ``target``: on that device through a copy (the
    caller's object stays where it was), worked out again with what the user stated since, and
    with a weights file (a checkpoint trained from it: its head, its class names) in a copy."""
    import copy
    from pathlib import Path

    from cnnscope.core.devices import borrowed_on
    from cnnscope.core.user_models import apply_weights, from_module
    from cnnscope.core.weights import read_weights_file

    loaded = request.loaded
    module = borrowed_on(loaded.module, target)
    if module is not loaded.module:
        loaded = replace(loaded, module=module, graph=None, graph_key=None, layer_tables={})
    hints = stated_hints(request.stated)
    labels = hints.labels if hints is not None else None
    if request.weights != "given" and hints is not None:
        hints = replace(hints, labels=None)  # the names are the weights' outputs': named after
    if hints is not None:
        if hints.labels is None and loaded.spec.labels != loaded.labels:  # named in Python
            hints = replace(hints, labels=loaded.labels)
        again = from_module(loaded.module, loaded.name, hints, description=loaded.spec.description)
        loaded = replace(again, source=loaded.source, weights_label=loaded.weights_label)
    if request.weights != "given":
        content = read_weights_file(request.weights)
        loaded = replace(loaded, module=copy.deepcopy(loaded.module), graph=None, graph_key=None,
                         layer_tables={}, notes=list(loaded.notes))
        apply_weights(loaded, content, Path(request.weights).name, labels)
        loaded.module.to(target)
    return loaded


def _preprocessing(spec) -> dict:
    prep = spec.preprocessing
    return {"input_size": prep.crop_size, "resize": prep.resize_size, "mean": tuple(prep.mean),
            "std": tuple(prep.std), "channels": prep.channels}


def stated_hints(stated: tuple):
    """The core ModelHints for what the user stated in the window (None: nothing stated); the
    labels file is read here, on the engine thread, through core's bounded reader."""
    if not stated:
        return None
    from cnnscope.core.labels import read_labels
    from cnnscope.core.user_models import ModelHints

    values = dict(stated)
    labels_file = values.pop("labels_file", None)
    return ModelHints.checked(**values, labels=read_labels(labels_file) if labels_file else None)


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
                               getattr(head_module, "in_channels", 0)),
            "block_channels": {block: _out_channels(module, tops) for block, tops in members.items()}}


def _out_channels(module, tops: list[str]) -> int | None:
    """The channels a block outputs: those of its last convolution or normalisation (what a head
    cut in after it receives); None when it has neither."""
    found = None
    for top in tops:
        for sub in module.get_submodule(top).modules():
            channels = getattr(sub, "out_channels", None) or getattr(sub, "num_features", None)
            if isinstance(channels, int):
                found = channels
    return found
