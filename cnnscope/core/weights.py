"""Getting trained (or deliberately untrained) weights into a model, safely.

Sources:
- ``"pretrained"``: torchvision's ImageNet weights, downloaded into torch's standard cache with a
  progress callback (no network at all when already cached); for the demo model, the bundled file.
- ``"random"``: untrained weights, labelled as such.
- a path: a state_dict or a cnnscope checkpoint, loaded with ``torch.load(weights_only=True)`` only.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import socket
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping
from urllib.parse import urlparse

import torch
from torch import nn

from .checkpoint import is_checkpoint
from .errors import ModelError, WeightsError
from .files import FileRefused, check_regular, human_bytes
from .identify import identify
from .models import ModelSpec, get_spec
from .resources import assets_dir

if TYPE_CHECKING:
    from .user_models import ModelHints

#: progress(bytes_done, bytes_total_or_None)
ProgressCallback = Callable[[int, "int | None"], None]
#: should_cancel() -> True to stop a download
CancelCheck = Callable[[], bool]

CHUNK = 1 << 16
HASH_PREFIX = re.compile(r"-([a-f0-9]{8,})\.")  # torchvision names files <name>-<sha256 prefix>.pth


class DownloadCancelled(WeightsError):
    """The user cancelled a download; nothing was written to the cache."""


@dataclass
class LoadedModel:
    """A model ready to inspect: eval mode, no in-place ops, with labels and where its weights came from."""

    spec: ModelSpec
    module: nn.Module
    labels: tuple[str, ...]
    source: str  # "pretrained" | "bundled" | "random" | "file"
    weights_label: str  # what the UI shows, e.g. "ImageNet weights (IMAGENET1K_V1)"
    meta: dict[str, Any]  # from the checkpoint (training record...), shown to the user
    notes: list[str] = field(default_factory=list)  # what the user should know about this load
    # Worked out by inspect() on first use: the traced graph (None if the model cannot be traced)
    # and the module structure it was traced from, outputs that in-place ops overwrite when hooks
    # are used instead, and the layer table (the same for every image: inputs are one size).
    graph: Any = field(default=None, repr=False)
    graph_key: tuple | None = field(default=None, repr=False)
    capture_clones: set[str] = field(default_factory=set, repr=False)
    layer_tables: dict[tuple, list] = field(default_factory=dict, repr=False)

    @property
    def trained(self) -> bool:
        """False for untrained (random) weights, whose predictions mean nothing."""
        return self.source != "random"

    @property
    def name(self) -> str:
        """The registry name of the architecture."""
        return self.spec.name


# ---------------------------------------------------------------------------------------------
# the torchvision cache and downloads


def cache_dir() -> Path:
    """torchvision's standard weights cache: ``$TORCH_HOME/hub/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_file(spec: ModelSpec) -> Path | None:
    """Where ``spec``'s pretrained weights live in the cache (whether or not present)."""
    if spec.weights is None:
        return None
    return cache_dir() / os.path.basename(urlparse(spec.weights.url).path)


def is_available_offline(spec: ModelSpec) -> bool:
    """True when "pretrained" needs no network: bundled, or already in the cache."""
    if spec.bundled_file is not None:
        return (assets_dir() / spec.bundled_file).is_file()
    path = cached_file(spec)
    return path is not None and path.is_file()


def download(url: str, dest: Path, progress: ProgressCallback | None = None,
             should_cancel: CancelCheck | None = None, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` atomically, checking the sha256 prefix in its file name.

    torch.hub's downloader only offers a tqdm bar; the GUI and the CLI need a callback and a way
    to cancel, hence this small loop.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    host = urlparse(url).netloc or url
    expected = HASH_PREFIX.search(dest.name)
    fd, tmp = tempfile.mkstemp(prefix=dest.name, suffix=".partial", dir=dest.parent)
    try:
        sha = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            if progress:
                progress(0, total)
            while True:
                if should_cancel and should_cancel():
                    raise DownloadCancelled(f"The download of {dest.name} was cancelled.")
                chunk = resp.read(CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                sha.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        if total is not None and done != total:
            raise WeightsError(f"The download of {dest.name} from {host} stopped early "
                               f"({done} of {total} bytes). Try again.")
        if expected and not sha.hexdigest().startswith(expected.group(1)):
            raise WeightsError(f"The file downloaded from {host} is corrupt (its checksum does not "
                               f"match {dest.name}). Try again later.")
        os.replace(tmp, dest)
        return dest
    except (urllib.error.URLError, socket.timeout, ConnectionError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WeightsError(f"Could not download {dest.name} from {host} ({reason}).") from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def ensure_pretrained_file(spec: ModelSpec, progress: ProgressCallback | None = None,
                           should_cancel: CancelCheck | None = None) -> Path:
    """Path of ``spec``'s trained weights, downloading them into the cache if needed."""
    if spec.bundled_file is not None:
        path = assets_dir() / spec.bundled_file
        if not path.is_file():
            raise WeightsError(f"The bundled weights for {spec.name} are missing ({path}); "
                               f"recreate them with 'cnnscope {spec.bundled_command}'.")
        return path
    if spec.weights is None:
        raise WeightsError(f"{spec.name} has no pretrained weights; use untrained weights or a file.")
    path = cached_file(spec)
    assert path is not None
    if path.is_file():
        return path
    try:
        return download(spec.weights.url, path, progress, should_cancel)
    except DownloadCancelled:
        raise
    except WeightsError as exc:
        raise WeightsError(f"{exc} The pretrained weights for {spec.name} could not be fetched: "
                           "check the internet connection, or load a local weights file, or use "
                           "untrained (random) weights.") from None


# ---------------------------------------------------------------------------------------------
# reading files


#: Element types a weights tensor may have (no complex, quantized or exotic ones).
_TENSOR_DTYPES = {torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.uint8,
                  torch.int8, torch.int16, torch.int32, torch.int64, torch.bool}
#: torch.save writes its archive uncompressed: a file may unpack to at most this much more than
#: its own size (the archive's small records) before it is taken for a zip bomb.
_INFLATION_SLACK = 16_000_000


def max_weights_bytes() -> int:
    """The most a weights file may hold, unpacked: four float32 copies of the largest registry
    model (weights plus a training run's optimizer state), plus room for metadata."""
    from .models import REGISTRY

    return 4 * 4 * max(spec.num_params for spec in REGISTRY.values()) + 256_000_000


def read_weights_file(path: str | os.PathLike) -> dict[str, Any]:
    """Load a weights file as data only; return a dict with 'state_dict' and, if known, 'arch',
    'classes' and 'meta'. A file that would need to run code to load is refused, and so are
    malformed files, zip bombs and weights that are not numbers (NaN, infinity)."""
    path = Path(path)
    name = path.name
    try:
        size = check_regular(path)
    except FileRefused as exc:
        raise WeightsError(str(exc)) from None
    limit = max_weights_bytes()
    if size > limit:
        raise WeightsError(f"'{name}' is {human_bytes(size)}, more than any model cnnscope knows "
                           f"needs ({human_bytes(limit)}); it was not read.")
    _check_archive(path, size, limit)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's protocol / sparse notes: not the user's business
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = str(exc)
        if "Unsupported global" in detail or "GLOBAL" in detail:
            found = re.search(r"GLOBAL ([\w.]+)", detail)
            raise WeightsError(
                f"'{name}' was refused: besides tensors it names Python code"
                f"{f' ({found.group(1)})' if found else ''}, so loading it could run code hidden in "
                f"it. Load only "
                "files you trust, saved as a state_dict (torch.save(model.state_dict(), ...)).") from None
        raise WeightsError(f"'{name}' is not a PyTorch weights file (its contents could not be "
                           "read as one).") from None
    except Exception as exc:  # noqa: BLE001 - torch reports a broken archive in many ways
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WeightsError(f"'{name}' is not a readable PyTorch weights file ({first[:200]}).") from None
    return _validated(obj, name)


def _check_archive(path: Path, size: int, limit: int) -> None:
    """Refuse, before torch reads it, a file that is not a torch archive or pickle, and an
    archive whose records claim more than ``limit`` bytes or inflate far past the file's size."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                claimed = sum(info.file_size for info in archive.infolist())
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise WeightsError(f"'{path.name}' is a damaged archive, not a readable PyTorch "
                               f"weights file ({exc}).") from None
        if claimed > limit or claimed > size + _INFLATION_SLACK:
            raise WeightsError(
                f"'{path.name}' was refused: it claims to unpack to {human_bytes(claimed)} from a "
                f"{human_bytes(size)} file. PyTorch never compresses weights, so this is a "
                "'zip bomb' meant to exhaust memory.")
    elif not head.startswith(b"\x80"):  # the pickle protocol mark of torch's legacy format
        raise WeightsError(f"'{path.name}' is not a PyTorch weights file (a .pt/.pth file is a "
                           "zip archive or a pickle; this is neither).")


def _validated(obj: Any, name: str) -> dict[str, Any]:
    """The file's content as {'state_dict', 'arch', 'classes', 'meta'}, every part checked."""
    if is_checkpoint(obj):
        state = obj.get("state_dict")
        if not isinstance(state, dict) or not state:
            raise WeightsError(f"'{name}' is a damaged cnnscope checkpoint: it holds no weights "
                               "(its 'state_dict' is missing or not a mapping of names to tensors).")
        arch, classes, meta = obj.get("arch"), obj.get("classes"), obj.get("meta")
        if arch is not None and not isinstance(arch, str):
            raise WeightsError(f"'{name}' is a damaged cnnscope checkpoint: its architecture name "
                               "is not text.")
        if classes is None:
            classes = []
        if not isinstance(classes, (list, tuple)) or not all(isinstance(c, str) for c in classes):
            raise WeightsError(f"'{name}' is a damaged cnnscope checkpoint: its class names are "
                               "not a list of names.")
        if meta is None:
            meta = {}
        if not isinstance(meta, dict):
            raise WeightsError(f"'{name}' is a damaged cnnscope checkpoint: its training record "
                               "('meta') is not a mapping.")
        _check_tensors(state, name)
        return {"state_dict": state, "arch": arch, "classes": list(classes), "meta": meta}
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            inner = obj.get(key)
            if isinstance(inner, dict) and inner and _all_tensors(inner):
                obj = inner
                break
    if not (isinstance(obj, dict) and obj and _all_tensors(obj)):
        raise WeightsError(f"'{name}' does not hold a state_dict (a mapping from parameter names "
                           "to tensors), so cnnscope cannot load it into a model.")
    _check_tensors(obj, name)
    return {"state_dict": _strip_prefix(obj, "module."), "arch": None, "classes": [], "meta": {}}


def _check_tensors(state: Mapping[str, Any], name: str) -> None:
    """Every value a dense, real tensor in memory on the CPU, with numbers that are finite."""
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise WeightsError(f"'{name}' is damaged: its weights are not a mapping of parameter "
                               "names to tensors.")
        if value.is_meta or value.layout != torch.strided or value.device.type != "cpu" \
                or value.is_quantized or value.dtype not in _TENSOR_DTYPES:
            kind = ("has no data (a 'meta' tensor)" if value.is_meta else
                    "is sparse" if value.layout != torch.strided else f"is of type {value.dtype}")
            raise WeightsError(f"'{name}' cannot be used: '{key}' {kind}, and cnnscope loads only "
                               "dense tensors of real numbers.")
    broken = [key for key, value in state.items()
              if value.is_floating_point() and not bool(torch.isfinite(value).all())]
    if broken:
        more = f" and {len(broken) - 3} more" if len(broken) > 3 else ""
        raise WeightsError(f"'{name}' holds weights that are not numbers (NaN or infinity) in "
                           f"{', '.join(broken[:3])}{more}: the training that saved them probably "
                           "diverged, and every prediction made with them would be meaningless.")


#: More class names than any real classifier has (ImageNet-21k has 21,841).
MAX_CLASSES = 100_000


def _check_class_count(state: Mapping[str, torch.Tensor], classes: list[str], name: str) -> None:
    """A checkpoint's class names must match its head's outputs, checked before any network is
    built: a head made for a million invented classes would take gigabytes."""
    head = next((t for k, t in reversed(list(state.items())) if k.endswith("weight") and t.dim() >= 2),
                None)
    if len(classes) > MAX_CLASSES or (head is not None and head.shape[0] != len(classes)):
        outputs = f"its last layer gives {head.shape[0]:,} outputs" if head is not None else \
            f"cnnscope takes at most {MAX_CLASSES:,}"
        raise WeightsError(f"'{name}' is a damaged cnnscope checkpoint: it names {len(classes):,} "
                           f"classes, but {outputs}.")


def _all_tensors(d: Mapping) -> bool:
    return all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in d.items())


def _strip_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Models saved from nn.DataParallel prefix every key with 'module.'."""
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return dict(state)


def fit_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], spec: ModelSpec,
                   source_name: str) -> None:
    """Load ``state`` into ``model`` strictly, or raise WeightsError listing what does not fit."""
    state = {k: v for k, v in state.items() if not k.startswith(spec.ignored_key_prefixes)}
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                  for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or mismatched:
        parts = []
        for title, items in (("missing", missing), ("unexpected", unexpected),
                             ("wrong shape", mismatched)):
            if items:
                more = f" (+{len(items) - 6} more)" if len(items) > 6 else ""
                parts.append(f"{len(items)} {title}: {', '.join(items[:6])}{more}")
        raise WeightsError(f"'{source_name}' does not fit {spec.name}: " + "; ".join(parts) + ". "
                           "Is it for another architecture?")
    model.load_state_dict(state, strict=True)


# ---------------------------------------------------------------------------------------------
# the one entry point


def prepare_for_inspection(module: nn.Module) -> nn.Module:
    """Eval mode, and in-place activations switched off so captured outputs are not overwritten."""
    for m in module.modules():
        if hasattr(m, "inplace") and isinstance(m.inplace, bool):
            m.inplace = False
    return module.eval()


def _build_uninitialised(spec: ModelSpec, num_classes: int) -> nn.Module:
    """Build on the meta device (no time spent initialising weights that are overwritten next),
    unless the model has buffers a state_dict does not restore."""
    with torch.device("meta"):
        module = spec.build(num_classes=num_classes)
    if set(dict(module.named_buffers())) - set(module.state_dict()):
        return spec.build(num_classes=num_classes)
    return module.to_empty(device="cpu")


def load_model(name: str, weights: str = "pretrained", progress: ProgressCallback | None = None,
               should_cancel: CancelCheck | None = None, hints: ModelHints | None = None) -> LoadedModel:
    """Build registry model ``name`` with ``weights``: "pretrained", "random" or a file path.

    A cnnscope checkpoint names its own architecture and classes; they win over ``name``.
    ``name`` may also be a user model, ``path/to/net.py:factory``, ``timm:NAME`` or ``net.pt2``
    (core.user_models), whose spec is worked out from the model itself, ``hints`` first; for a
    registry model, ``hints`` may only rename its classes.
    """
    from .user_models import is_user_model, load_user_model

    if is_user_model(name):
        return load_user_model(name, weights, hints, progress=progress, should_cancel=should_cancel)
    loaded = _load_registry_model(name, weights, progress, should_cancel)
    if hints is not None:
        _apply_registry_hints(loaded, hints)
    return loaded


def _trained_from_user_model(content: dict[str, Any], path: Path, progress: ProgressCallback | None,
                             should_cancel: CancelCheck | None) -> LoadedModel:
    """A checkpoint trained from a user's model: a timm model is built again (timm's own code);
    a file or an object is never opened because a checkpoint names it: the user opens it."""
    from .user_models import TIMM_PREFIX, is_user_model, load_user_model

    arch = str(content["arch"])[:500]
    if arch.startswith(TIMM_PREFIX):
        return load_user_model(arch, str(path), progress=progress, should_cancel=should_cancel)
    if is_user_model(arch):
        raise WeightsError(f"'{path.name}' was trained from your model {arch}: open that model with "
                           f"it (--model {arch} --weights {path.name}, or in the window Model > Open "
                           "your model, then Weights > Load file).")
    shown = str(content["meta"]["user_model"])[:80]
    raise WeightsError(f"'{path.name}' was trained from a model object ({shown}) handed to cnnscope: "
                       f"open it with that model, e.g. cnnscope.show(model, weights='{path.name}').")


def _apply_registry_hints(loaded: LoadedModel, hints: ModelHints) -> None:
    """Class names for a registry model; the rest it states itself."""
    from dataclasses import replace

    others = [what for what, value in (("an input size", hints.input_size), ("channels", hints.channels),
                                       ("a normalisation", hints.mean), ("a resize", hints.resize))
              if value is not None]
    if others:
        raise ModelError(f"{loaded.name} is one of cnnscope's own models, which states its own input "
                         f"size and normalisation: {' and '.join(others)} can only be given for your "
                         "own model.")
    if hints.cam_layer is not None:
        if hints.cam_layer not in dict(loaded.module.named_modules()):
            raise ModelError(f"'{hints.cam_layer}' is not a layer of {loaded.name}.")
        loaded.spec = replace(loaded.spec, cam_layer=hints.cam_layer)
    if hints.labels is not None:
        if len(hints.labels) != len(loaded.labels):
            raise ModelError(f"The class names list {len(hints.labels)} classes, but {loaded.name} has "
                             f"{len(loaded.labels)} outputs.")
        loaded.labels = tuple(hints.labels)


def _load_registry_model(name: str, weights: str, progress: ProgressCallback | None,
                         should_cancel: CancelCheck | None) -> LoadedModel:
    spec = get_spec(name)
    if weights == "random":
        with torch.random.fork_rng(devices=[]):  # seeded, without touching the caller's RNG
            torch.manual_seed(0)  # the same untrained model every time, so views are reproducible
            module = spec.build()
        return LoadedModel(spec, prepare_for_inspection(module), spec.labels, "random",
                           "untrained (random weights)", {})
    if weights == "pretrained":
        path = ensure_pretrained_file(spec, progress, should_cancel)
        source = "bundled" if spec.bundled_file else "pretrained"
    else:
        path = Path(weights).expanduser()
        source = "file"
    content = read_weights_file(path)
    if content["meta"].get("user_model") and content["arch"]:
        return _trained_from_user_model(content, path, progress, should_cancel)
    if content["arch"]:
        try:
            spec = get_spec(content["arch"])
        except ModelError:
            raise WeightsError(f"'{path.name}' is a checkpoint for '{content['arch']}', which this "
                               "version of cnnscope does not know.") from None
    if content["classes"]:
        _check_class_count(content["state_dict"], content["classes"], path.name)
    classes = tuple(content["classes"]) or spec.labels
    from .training import cut_as_trained, trained_cut

    cut = trained_cut(content, path.name)
    if cut:  # trained on early features: the network ends after that block, with a new head
        module, spec = cut_as_trained(spec.build(), spec, cut, len(classes))
    else:
        module = _build_uninitialised(spec, len(classes))
    notes: list[str] = []
    try:
        fit_state_dict(module, content["state_dict"], spec, path.name)
    except WeightsError:
        if content["arch"]:
            raise
        # a bare state_dict names no architecture: it may be another model's, or have another head
        found = identify(content["state_dict"], spec)
        if found is None:
            raise
        spec, count = found
        if spec.name != name:
            notes.append(f"'{path.name}' holds {spec.name} weights, not {name}'s: loaded as {spec.name}.")
        classes = spec.labels
        if count != len(classes):
            classes = tuple(f"class {i}" for i in range(count))
            notes.append(f"'{path.name}' has a {count}-class head, not {spec.name}'s standard one; "
                         "a bare state_dict has no class names, so they are numbered.")
        module = _build_uninitialised(spec, count)
        fit_state_dict(module, content["state_dict"], spec, path.name)
    if source == "pretrained":
        label = f"ImageNet weights ({spec.weights.name})"
    elif source == "bundled":
        label = spec.bundled_label
    else:
        label = f"weights from {path.name}"
    return LoadedModel(spec, prepare_for_inspection(module), classes, source, label,
                       dict(content["meta"]), notes)
