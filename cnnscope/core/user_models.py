"""Models the registry does not know: a factory in the user's own ``.py`` file, a timm model, or
any ``nn.Module`` handed to the Python API.

What the registry states for its own models is worked out here, once, from one probing forward
pass: the input size and channels, the normalisation, the class names and the CAM layer (with a
sentence saying why that one). Whatever the user states instead (:class:`ModelHints`) wins.

A ``.py`` factory is code: it runs only because the user named it, as ``path/to/net.py:build``.
Nothing else here runs code from a file; weights go through ``weights.read_weights_file``.
"""

from __future__ import annotations

import copy
import importlib.util
import math
import weakref
import re
import sys
from dataclasses import astuple, dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from .errors import ModelError, WeightsError
from .files import FileRefused, check_regular
from .models import ModelSpec
from .preprocess import Preprocessing
from .weights import (CancelCheck, LoadedModel, ProgressCallback, fit_state_dict,
                      prepare_for_inspection, read_weights_file)

FACTORY = re.compile(r"^(?P<path>.+\.py):(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")
TIMM_PREFIX = "timm:"
MAX_FACTORY_BYTES = 4_000_000  # a model definition, not a data file
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
GREY_MEAN, GREY_STD = (0.5,), (0.5,)
MIN_SIDE, MAX_SIDE = 8, 2048  # input sides a user may state
# Input sides tried, in order, when nothing says which one a model takes: the usual ones first
SIDES = {1: (28, 32, 64, 96, 224), 3: (224, 32, 96, 128, 299, 64)}
_POOLS = (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
          nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)
_PASS_THROUGH = (nn.Dropout, nn.Flatten, nn.Identity)


@dataclass(frozen=True)
class ModelHints:
    """What the user says about their model; anything left None is worked out."""

    input_size: int | None = None
    channels: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    labels: tuple[str, ...] | None = None
    cam_layer: str | None = None
    resize: int | None = None  # the shorter side before the centre crop (default: the crop's)

    @classmethod
    def checked(cls, input_size: int | None = None, channels: int | None = None,
                mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                labels: Sequence[str] | None = None, cam_layer: str | None = None,
                resize: int | None = None) -> "ModelHints":
        """Hints as a user states them (API, command line, window), refused in one sentence
        where they cannot be right."""
        if (mean is None) != (std is None):
            raise ModelError("Give the normalisation's mean and std together (one value per channel each).")
        mean_t = _floats(mean, "mean") if mean is not None else None
        std_t = _floats(std, "std") if std is not None else None
        if std_t is not None and not all(v > 0 for v in std_t):
            raise ModelError("Every std value must be above 0 (inputs are divided by it).")
        if mean_t is not None and len(mean_t) != len(std_t):
            raise ModelError(f"Give as many std values as mean values ({len(mean_t)}), one per channel.")
        for what, side in (("An input size", input_size), ("A resize", resize)):
            if side is not None and (isinstance(side, bool) or not isinstance(side, int)
                                     or not MIN_SIDE <= side <= MAX_SIDE):
                raise ModelError(f"{what} of {side} px is refused: give a whole number from "
                                 f"{MIN_SIDE} to {MAX_SIDE}.")
        if channels is not None and channels not in (1, 3):
            raise ModelError(f"Models reading {channels} channels are not opened: cnnscope shows "
                             "them photos, in colour (3 channels) or grey (1).")
        if mean_t is not None and len(mean_t) not in (1, 3):
            raise ModelError(f"Give 1 (grey) or 3 (colour) mean and std values, not {len(mean_t)}.")
        if channels is not None and mean_t is not None and len(mean_t) not in (1, channels):
            raise ModelError(f"The model reads {channels} channel(s): give {channels} mean and std "
                             "value(s), or one of each.")
        return cls(input_size, channels, mean_t, std_t, tuple(labels) if labels else None,
                   cam_layer or None, resize)

    def over(self, other: "ModelHints") -> "ModelHints":
        """These hints, with what they leave open taken from ``other``."""
        return ModelHints(*(mine if mine is not None else theirs for mine, theirs in
                            zip(astuple(self), astuple(other))))

    @property
    def stated(self) -> bool:
        """Whether anything is stated at all."""
        return any(v is not None for v in astuple(self))


@dataclass(frozen=True)
class CamChoice:
    """The layer CAM methods use, why, and whether plain CAM applies (GAP then one linear layer)."""

    layer: str
    reason: str
    head: str | None = None
    head_note: str = ""


@dataclass
class Probe:
    """One forward pass of zeros, as every module saw it (in the order modules finished)."""

    size: int
    channels: int
    logits: torch.Tensor
    records: list = field(default_factory=list)  # (name, module, output, took the model input)


def is_user_model(name: str) -> bool:
    """Whether ``name`` names a user model (``file.py:factory``, ``timm:NAME`` or a ``.pt2``
    torch.export program), not a registry one."""
    return name.startswith(TIMM_PREFIX) or FACTORY.match(name) is not None or \
        name.lower().endswith(".pt2")


# --- loading ---------------------------------------------------------------------------------------

def load_user_model(name: str, weights: str = "random", hints: ModelHints | None = None,
                    progress: ProgressCallback | None = None,
                    should_cancel: CancelCheck | None = None) -> LoadedModel:
    """Build a user model named as ``file.py:factory``, ``timm:NAME`` or ``net.pt2`` with
    ``weights``: a weights file or a cnnscope checkpoint trained from it, or for a factory its
    model as built ("pretrained" or "random"), for timm "pretrained" (downloaded) or "random"."""
    hints = hints or ModelHints()
    content, labels = None, None
    if weights not in ("random", "pretrained", None):
        path = Path(weights).expanduser()
        content = read_weights_file(path)
        hints = hints.over(_checkpoint_hints(content, path.name))  # what it was trained with
        # stated class names are the weights' (a fine-tuned head has its own count): named after
        labels, hints = hints.labels, replace(hints, labels=None)
    if name.startswith(TIMM_PREFIX):
        loaded = _load_timm(name[len(TIMM_PREFIX):], weights if content is None else "random", hints,
                            progress, should_cancel)
    elif name.lower().endswith(".pt2"):
        loaded = _load_program(Path(name).expanduser(), hints)
    else:
        loaded = _load_factory_model(name, hints)
    loaded.spec = replace(loaded.spec, opened_as=_reopened_as(name))
    if content is not None:
        apply_weights(loaded, content, Path(weights).name, labels)
    return loaded


def _reopened_as(name: str) -> str:
    """How a checkpoint trained from this model names it: a file by its full path."""
    if name.startswith(TIMM_PREFIX):
        return name
    match = FACTORY.match(name)
    if match is not None:
        return f"{Path(match['path']).expanduser().resolve()}:{match['name']}"
    return str(Path(name).expanduser().resolve())


def _load_factory_model(name: str, hints: ModelHints) -> LoadedModel:
    match = FACTORY.match(name)
    if match is None:
        raise ModelError(f"'{name}' is not a model file: write it as path/to/net.py:function.")
    path = Path(match["path"]).expanduser()
    built_by = f"{match['name']}() in {path.name}"
    factory = load_factory(path, match["name"])
    module = _call(factory, built_by)
    # "pretrained" and "random" both mean the model as the factory makes it: it may load trained
    # weights itself, or not; cnnscope does not know, and does not re-initialise it
    return from_module(module, f"{path.stem}.{match['name']}", hints,
                       builder=lambda: _call(factory, built_by),
                       description=f"{type(module).__name__}, built by {built_by} (your code).",
                       weights_label=f"as built by {built_by}")


def load_factory(path: Path, name: str) -> Callable[[], nn.Module]:
    """The function ``name`` of the user's file ``path``, which this runs (the user chose it)."""
    try:
        size = check_regular(path)
    except FileRefused as exc:
        raise ModelError(str(exc)) from None
    if size > MAX_FACTORY_BYTES:
        raise ModelError(f"'{path.name}' is {size:,} bytes: too large for a model definition.")
    module_name = f"cnnscope_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ModelError(f"'{path.name}' cannot be imported as Python.")
    code = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = code  # dataclasses and pickling look a class's module up here
    folder = str(path.resolve().parent)
    if folder not in sys.path:  # the file's own imports of modules beside it
        sys.path.append(folder)
    try:
        spec.loader.exec_module(code)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the user's code may fail, or exit
        sys.modules.pop(module_name, None)
        raise ModelError(f"Running {path.name} failed: {_error_line(exc, path)}") from None
    factory = getattr(code, name, None)
    if not callable(factory):
        found = [n for n, v in vars(code).items() if callable(v) and not n.startswith("_")
                 and getattr(v, "__module__", None) == module_name]
        raise ModelError(f"{path.name} has no function '{name}'"
                         + (f"; it defines {', '.join(found[:8])}." if found else "."))
    return factory


def _call(factory: Callable[[], nn.Module], what: str) -> nn.Module:
    try:
        module = factory()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the user's code may fail, or exit
        raise ModelError(f"{what} failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(module, nn.Module):
        raise ModelError(f"{what} returned a {type(module).__name__}, not a torch nn.Module.")
    return module


def _error_line(exc: Exception, path: Path) -> str:
    """The exception and the line of the user's file it came from."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename) == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) and exc.lineno:
        line = exc.lineno
    where = f" (line {line})" if line else ""
    return f"{type(exc).__name__}{where}: {exc}"


def _load_timm(name: str, weights: str, hints: ModelHints, progress: ProgressCallback | None = None,
               should_cancel: CancelCheck | None = None) -> LoadedModel:
    try:
        import timm
    except ImportError:
        raise ModelError("timm models need the timm package: pip install timm (or "
                         "pip install 'cnnscope[timm]').") from None
    if name not in timm.list_models():
        close = timm.list_models(f"*{name}*")[:8]
        raise ModelError(f"timm has no model '{name}'" + (f"; close ones: {', '.join(close)}." if close else "."))
    pretrained = weights == "pretrained"
    if pretrained:  # fetched by cnnscope (progress, cancel, cache), read as data, loaded by timm
        from .timm_weights import create_pretrained

        module = create_pretrained(name, progress, should_cancel)
    else:
        try:
            module = timm.create_model(name, pretrained=False)
        except Exception as exc:  # noqa: BLE001 - a model's own code fails in many ways
            raise ModelError(f"timm could not build {name}: {exc}") from None
    cfg = getattr(module, "pretrained_cfg", None) or {}
    size = cfg.get("input_size")
    side = hints.input_size or (int(size[-1]) if size else None)
    labels = hints.labels
    if labels is None and getattr(module, "num_classes", None) == 1000:  # timm's ImageNet-1k heads
        from torchvision.models import ResNet18_Weights  # ImageNet's class names, in timm's order

        labels = tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])
    crop_pct = cfg.get("crop_pct")
    stated = ModelHints(
        input_size=side, channels=hints.channels or (int(size[0]) if size else None),
        mean=hints.mean or (tuple(cfg["mean"]) if cfg.get("mean") else None),
        std=hints.std or (tuple(cfg["std"]) if cfg.get("std") else None),
        labels=labels, cam_layer=hints.cam_layer,
        resize=hints.resize or (int(side / crop_pct) if side and crop_pct else None))
    loaded = from_module(module, name, stated, builder=lambda: timm.create_model(name, pretrained=False),
                         description=f"{name} from timm ({type(module).__name__}).", family="timm",
                         source="pretrained" if pretrained else "random",
                         weights_label=f"timm's pretrained weights ({cfg.get('tag') or 'default'})"
                         if pretrained else "untrained (random weights)")
    return loaded


def _load_program(path: Path, hints: ModelHints) -> LoadedModel:
    """A torch.export program: its graph and its own tensors, read as data (core.exported)."""
    from .exported import load_exported
    from .weights import max_weights_bytes

    module, side = load_exported(path, max_weights_bytes())
    if hints.input_size is None and side is not None:
        hints = replace(hints, input_size=side)
    return from_module(module, path.stem, hints, family="torch.export",
                         builder=lambda: load_exported(path, max_weights_bytes())[0],
                         description=f"A torch.export program read from {path.name} (graph and "
                                     "tensors only: no code of it runs but its operations).",
                       source="file", weights_label=f"its own weights ({path.name})")


def apply_weights(loaded: LoadedModel, content: dict, file_name: str,
                  labels: tuple[str, ...] | None = None) -> None:
    """Weights read by ``read_weights_file`` into a user model, fitted strictly; a cnnscope
    checkpoint trained from it brings its new head (or its cut) and its class names, which the
    user's own ``labels`` replace (as many as the weights' outputs)."""
    from .freeze import replace_head
    from .training import cut_as_trained, trained_cut
    from .weights import _check_class_count

    module, spec = loaded.module, loaded.spec
    classes = tuple(content["classes"])
    if classes:  # before any head is built for them: a million invented classes take gigabytes
        _check_class_count(content["state_dict"], list(classes), file_name)
    cut = trained_cut(content, file_name)
    if cut:  # trained on early features: the network ends after that block, with a new head
        module, spec = cut_as_trained(module, spec, cut, len(classes))
    elif classes and len(classes) != len(loaded.labels):  # trained with a new head for its classes
        replace_head(module, len(classes))
    fit_state_dict(module, content["state_dict"], spec, file_name)
    outputs = len(classes) if classes else len(loaded.labels)
    if labels is not None:
        if len(labels) != outputs:
            raise ModelError(f"The class names list {len(labels)} classes, but the weights in "
                             f"'{file_name}' give {outputs} outputs.")
        classes = tuple(labels)
    if classes:
        loaded.labels = classes
        spec = replace(spec, labels=classes)
    loaded.module, loaded.spec = prepare_for_inspection(module), spec
    loaded.source, loaded.weights_label = "file", f"weights from {file_name}"
    loaded.meta = dict(content["meta"])
    loaded.notes = [n for n in loaded.notes if "names no classes" not in n or not classes]


def _checkpoint_hints(content: dict, file_name: str) -> ModelHints:
    """What a cnnscope checkpoint says its model was trained with (input size, normalisation)."""
    stated = content["meta"].get("preprocessing") if content["arch"] else None
    if not isinstance(stated, dict):
        return ModelHints()
    try:
        return ModelHints.checked(input_size=stated.get("crop_size"), resize=stated.get("resize"),
                                  channels=stated.get("channels"), mean=stated.get("mean"),
                                  std=stated.get("std"))
    except ModelError as exc:
        raise WeightsError(f"'{file_name}' is a damaged cnnscope checkpoint: {exc}") from None


# --- working out what the registry would say ---------------------------------------------------------

def from_module(module: nn.Module, name: str = "your model", hints: ModelHints | None = None,
                builder: Callable[[], nn.Module] | None = None, description: str = "",
                family: str = "Your model", source: str = "given",
                weights_label: str = "its own weights") -> LoadedModel:
    """A LoadedModel for any CNN: its spec worked out from one probing pass (see the module
    docstring), ``hints`` first. The module is used as it is (eval mode, in-place ops off)."""
    hints = hints or ModelHints()
    module = prepare_for_inspection(module)
    notes: list[str] = []
    channels = hints.channels or first_conv_channels(module)
    if channels not in (1, 3):
        raise ModelError(f"{name} reads {channels} channels; cnnscope shows it photos, so it opens "
                         "models that read colour (3 channels) or grey (1).")
    dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)
    if dtype != torch.float32:
        kind = str(dtype).removeprefix("torch.")
        raise ModelError(f"{name}'s weights are {kind}; cnnscope runs models in float32: hand in a "
                         "float32 copy (copy.deepcopy(model).float()).")
    probe = probe_module(module, channels, hints.input_size or known_input_size(module))
    classes = probe.logits.shape[1]
    labels = tuple(hints.labels) if hints.labels else tuple(f"class {i}" for i in range(classes))
    if len(labels) != classes:
        raise ModelError(f"The class names list {len(labels)} classes, but {name} has {classes} outputs.")
    if not hints.labels:
        notes.append(f"{name} names no classes: its {classes} outputs are numbered (give a labels file "
                     "to name them).")
    mean, std = hints.mean, hints.std
    if mean is None or std is None:
        mean, std = (IMAGENET_MEAN, IMAGENET_STD) if channels == 3 else (GREY_MEAN * channels, GREY_STD * channels)
        notes.append(f"Normalisation assumed: mean {_numbers(mean)}, std {_numbers(std)} "
                     + ("(ImageNet's, as most pretrained CNNs use)." if channels == 3 else "(0..1 to -1..1).")
                     + " Give the model's own if it was trained with others.")
    if len(mean) == 1 and len(std) == 1:  # one value for every channel (0.5 and 0.5, say)
        mean, std = mean * channels, std * channels
    if len(mean) != channels or len(std) != channels:
        raise ModelError(f"{name} reads {channels} channel(s): give {channels} mean and std value(s) "
                         "(or one of each for every channel).")
    choice = choose_cam_layer(probe, hints.cam_layer)
    if choice.head is not None and not _head_is_exact(module, probe, choice):
        choice = CamChoice(choice.layer, choice.reason, None,
                           "something written in forward() (DenseNet's ReLU, say) comes between the "
                           "pooled maps and the linear layer, so plain CAM would not be exact.")
    notes.append(choice.reason)
    preprocessing = Preprocessing(hints.resize or probe.size, probe.size, tuple(mean), tuple(std),
                                  channels=channels)
    original = weakref.ref(module)  # a fresh copy when training asks for one, not kept meanwhile
    spec = ModelSpec(name=name, family=family,
                     description=description or f"{type(module).__name__}, opened as a Python object.",
                     cam_layer=choice.layer,
                     builder=(lambda num_classes=None, **_: builder()) if builder is not None
                     else (lambda num_classes=None, **_: _copy_of(original)),
                     preprocessing=preprocessing, labels=labels, cam_head=choice.head,
                     head_note=choice.head_note, opened_as="")
    return LoadedModel(spec, module, labels, source, weights_label, {}, notes)


def _copy_of(ref) -> nn.Module:
    module = ref()
    if module is None:
        raise ModelError("The model object this was opened from no longer exists; open it again.")
    return copy.deepcopy(module)


# Models that accept many sizes but were made for one, where the module itself does not say
# (torchvision's Inception v3 runs on 224 px, but its weights were trained at 299)
_MADE_FOR = {"Inception3": 299}


def known_input_size(module: nn.Module) -> int | None:
    """The side a model object says it was made for (a timm-style ``pretrained_cfg`` or
    ``default_cfg``, or a known class), else None (the probe tries the usual ones)."""
    for attr in ("pretrained_cfg", "default_cfg"):
        cfg = getattr(module, attr, None)
        size = cfg.get("input_size") if isinstance(cfg, dict) else None
        if isinstance(size, (tuple, list)) and size and isinstance(size[-1], int) and \
                MIN_SIDE <= size[-1] <= MAX_SIDE:
            return size[-1]
    return _MADE_FOR.get(type(module).__name__)


def first_conv_channels(module: nn.Module) -> int:
    """Input channels of the first 2-D convolution (3 when there is none to ask)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            return m.in_channels
    return 3


def probe_module(module: nn.Module, channels: int, size: int | None = None) -> Probe:
    """One forward pass of zeros at ``size`` (or the first usual side the model accepts), every
    module's output kept, in the order the modules finished."""
    sides = (size,) if size else SIDES.get(channels, SIDES[3])
    device = next(module.parameters(), torch.zeros(0)).device
    failures = []
    for side in sides:
        records: list = []
        x = torch.zeros(1, channels, side, side, device=device)

        def hook(name):
            def record(mod, inputs, output) -> None:
                took_input = bool(inputs) and inputs[0] is x
                records.append((name, mod, output, took_input))
            return record

        handles = [m.register_forward_hook(hook(n)) for n, m in module.named_modules() if n]
        try:
            with torch.no_grad():
                logits = module(x)
        except Exception as exc:  # noqa: BLE001 - a wrong size fails in many ways
            failures.append(f"{side} px: {type(exc).__name__}")
            continue
        finally:
            for h in handles:
                h.remove()
        if isinstance(logits, (tuple, list)):  # (logits, aux) as Inception returns in training
            logits = logits[0]
        if isinstance(logits, torch.Tensor) and logits.dim() == 2:
            return Probe(side, channels, logits, records)
        failures.append(f"{side} px: output of shape {tuple(getattr(logits, 'shape', ()))}")
    raise ModelError(f"Could not run the model on a {channels}-channel square image "
                     f"({'; '.join(failures[:4])}): give its input size (--input-size on the "
                     "command line, input_size= in Python).")


def choose_cam_layer(probe: Probe, stated: str | None = None) -> CamChoice:
    """The last layer whose output is still a spatial map (not a pooling's), as CAM methods need;
    where several modules return that same tensor, the outermost one that is not the whole
    feature extractor (ResNet's ``layer4``, MobileNet's ``features.18``)."""
    records = probe.records
    names = [r[0] for r in records]
    if stated is not None:
        if stated not in names:
            raise ModelError(f"'{stated}' is not a layer that runs in this model.")
        shape = tuple(next(r[2] for r in records if r[0] == stated).shape[1:])
        return CamChoice(stated, f"CAM methods use '{stated}' ({_shape(shape)}), as asked.",
                         *_cam_head(records, stated))
    producer: dict[int, nn.Module] = {}
    for _name, mod, out, _took in records:  # the innermost module finishes first
        if isinstance(out, torch.Tensor):
            producer.setdefault(id(out), mod)
    classes = probe.logits.shape[1]
    maps = []  # spatial outputs not made by a pooling, in order, each tensor once
    for name, mod, out, _took in records:
        # square, as the probe's input is: a transformer's (batch, heads, tokens, dim) is not a map
        if isinstance(out, torch.Tensor) and out.dim() == 4 and out.shape[2] == out.shape[3] > 1 \
                and not isinstance(producer[id(out)], _POOLS) and all(out is not m for m in maps):
            maps.append(out)
    # one map per class at the very end is the head's class scores (SqueezeNet), not features
    while len(maps) > 1 and maps[-1].shape[1] == classes:
        maps.pop()
    last = maps[-1] if maps else None
    if last is None:
        raise ModelError("This model has no layer with spatial feature maps, so there is nothing "
                         "for CAM methods or feature maps to show.")
    sharing = [(n, took) for n, _m, out, took in records if out is last]
    inner = [n for n, took in sharing if not took] or [n for n, _ in sharing]
    layer = min(inner, key=lambda n: (n.count("."), len(n)))
    shape = tuple(last.shape[1:])
    reason = (f"CAM methods use '{layer}' ({_shape(shape)}): the last layer whose output is still a "
              "map of the image; after it the maps are pooled into one number per channel.")
    cells = shape[1] * shape[2]
    end = max(i for i, r in enumerate(records) if r[0] == layer)
    if any(isinstance(out, torch.Tensor) and out.dim() == 3 and out.shape[1] in (cells, cells + 1)
           for _n, _m, out, _t in records[end + 1:]):
        reason = (f"CAM methods use '{layer}' ({_shape(shape)}), the last map of the image: after it "
                  "the model works on a sequence of patch tokens (a vision transformer), so the "
                  "heatmaps show the patch embedding, not what the later layers attend to.")
    return CamChoice(layer, reason, *_cam_head(records, layer))


def _head_is_exact(module: nn.Module, probe: Probe, choice: CamChoice) -> bool:
    """Whether the logits of a random input are the linear head applied to the average of the CAM
    layer's maps (what CAM assumes); a 1x1-convolution head (SqueezeNet) is taken as stated."""
    head = module.get_submodule(choice.head)
    if not isinstance(head, nn.Linear):
        return True
    layer = module.get_submodule(choice.layer)
    seen: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: seen.append(out.clone()))  # F.relu_ follows
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, probe.channels, probe.size, probe.size, generator=generator).to(probe.logits.device)
    try:
        with torch.no_grad():
            logits = module(x)
            if isinstance(logits, (tuple, list)):
                logits = logits[0]
            predicted = head(seen[-1].mean(dim=(2, 3)))
    finally:
        handle.remove()
    return bool(torch.allclose(predicted, logits, rtol=1e-3, atol=1e-4))


def _cam_head(records: list, layer: str) -> tuple[str | None, str]:
    """(the linear layer, "") when the layer's maps reach the logits through global average pooling
    and one linear layer, as CAM needs; else (None, what comes instead)."""
    end = max(i for i, r in enumerate(records) if r[0] == layer)
    after = [(n, m, out) for n, m, out, _ in records[end + 1:]
             if not any(True for _ in m.children()) and not isinstance(m, _PASS_THROUGH)]
    kinds = [type(m).__name__ for _n, m, _o in after]
    maps = next(r[2] for r in records[end:end + 1])
    global_avg = [isinstance(m, nn.AdaptiveAvgPool2d) and tuple(o.shape[2:]) == (1, 1) for _n, m, o in after]
    if len(after) == 2 and global_avg[0] and isinstance(after[1][1], nn.Linear):
        return after[1][0], ""
    if len(after) == 1 and isinstance(after[0][1], nn.Linear) and after[0][1].in_features == maps.shape[1]:
        return after[0][0], ""  # pooled in forward() (MobileNet's F.adaptive_avg_pool2d), then linear
        # (checked against a real pass by the caller: DenseNet's ReLU in forward() breaks it)
    if after and isinstance(after[0][1], nn.Conv2d) and after[0][1].kernel_size == (1, 1) and global_avg[-1] \
            and all(isinstance(m, (nn.ReLU, nn.AdaptiveAvgPool2d)) for _n, m, _o in after[1:]):
        return after[0][0], ""  # class maps by a 1x1 convolution, then averaged (SqueezeNet)
    if not after:
        return None, "the maps reach the outputs through operations written in forward(), not layers."
    return None, f"after it come {', '.join(kinds[:5])}{' ...' if len(kinds) > 5 else ''}, not " \
                 "global average pooling and one linear layer."


def _floats(values: Sequence[float], what: str) -> tuple[float, ...]:
    try:
        numbers = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ModelError(f"The {what} must be numbers, one per channel.") from None
    if not numbers or not all(math.isfinite(v) for v in numbers):
        raise ModelError(f"The {what} must be finite numbers, one per channel.")
    return numbers


def _shape(shape: tuple[int, ...]) -> str:
    return " x ".join(map(str, shape))


def _numbers(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"
