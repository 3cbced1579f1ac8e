"""timm's pretrained weights, fetched the way cnnscope fetches torchvision's.

``timm.create_model(name, pretrained=True)`` downloads by itself (through huggingface_hub, which
retries for a minute when offline), with no progress to show and no way to cancel. Instead:

1. where timm would fetch the weights from is worked out from the model's ``pretrained_cfg``, as
   timm's ``_resolve_pretrained_source`` and ``load_state_dict_from_hf`` do: the Hugging Face Hub
   repository ``hf_hub_id`` (``model.safetensors`` first, then ``pytorch_model.bin``, at
   ``$HF_ENDPOINT/{repo}/resolve/{revision}/{file}``), else ``url``, else a local ``file``;
2. the file is downloaded by ``weights.download`` (progress callback, cancel, atomic write) into
   ``cache_dir()/timm/<repo>/``, and reused from there (or from huggingface_hub's own cache, or
   torch's, where timm may have put it before) without any network;
3. it is read as data (safetensors, or ``read_weights_file``: weights only), and handed to timm as
   an in-memory state dict (``pretrained_cfg_overlay=dict(state_dict=...)``), so that timm's own
   ``load_pretrained`` adapts it exactly as for its own download: the model's checkpoint filter,
   input-channel and classifier adaptations, strict loading.
"""

from __future__ import annotations

import os
import re
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import torch
from torch import nn

from .errors import WeightsError
from .weights import (CancelCheck, DownloadCancelled, ProgressCallback, cache_dir, download,
                      read_weights_file)

HF_DEFAULT_ENDPOINT = "https://huggingface.co"
HF_WEIGHTS_NAME = "pytorch_model.bin"  # timm's (and huggingface_hub's) default file name
TIMEOUT = 20.0  # seconds without a byte before a download is given up (one try, no retries)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_TRUE = {"1", "ON", "YES", "TRUE"}


@dataclass(frozen=True)
class Source:
    """Where the pretrained weights of one timm model are: files to try in order, each with the
    URL it is downloaded from and where it is kept; or a file already on this machine."""

    host: str  # what the user is told: "huggingface.co"
    candidates: tuple[tuple[str, Path], ...] = ()  # (url, cache path), the first that exists wins
    local: Path | None = None  # already here: huggingface_hub's cache, torch's, or the cfg's file
    repo: str = ""  # the Hub repository, for messages
    offline: bool = False  # HF_HUB_OFFLINE is set: no download is tried


def timm_cache() -> Path:
    """Where cnnscope keeps timm's weights: beside torchvision's, in a folder of their own."""
    return cache_dir() / "timm"


def pretrained_cfg(name: str) -> dict[str, Any]:
    """timm's pretrained configuration for model ``name`` (with or without a tag), as a dict."""
    from timm.models import get_pretrained_cfg

    try:
        cfg = get_pretrained_cfg(name)
    except RuntimeError:  # an unknown tag
        cfg = None
    if cfg is None:
        return {}
    return cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)


def weights_source(name: str, cfg: dict[str, Any]) -> Source:
    """Where timm would load ``name``'s pretrained weights from (see the module docstring)."""
    hf_id, url, file = cfg.get("hf_hub_id"), cfg.get("url"), cfg.get("file")
    custom = cfg.get("custom_load")
    if cfg.get("state_dict") is None and file and cfg.get("source") != "hf-hub":
        return Source(host="this computer", local=Path(file).expanduser())
    if hf_id:
        repo, _, revision = str(hf_id).partition("@")
        filename = cfg.get("hf_hub_filename")
        if filename and custom == "hf":
            raise _own_format(name)
        endpoint = (os.environ.get("HF_ENDPOINT") or HF_DEFAULT_ENDPOINT).rstrip("/")
        folder = _inside(timm_cache(), _safe(repo.replace("/", "--") + (f"@{revision}" if revision else "")))
        names = hub_filenames(filename)
        candidates = tuple(
            (f"{endpoint}/{repo}/resolve/{quote(revision or 'main', safe='')}/{quote(n)}",
             _inside(folder, _safe(n.rsplit("/", 1)[-1])))
            for n in names)
        local = next((hit for hit in (_hub_cache_hit(repo, n, revision or None) for n in names) if hit), None)
        return Source(host=urlparse(endpoint).netloc or endpoint, candidates=candidates, local=local,
                      repo=repo, offline=os.environ.get("HF_HUB_OFFLINE", "").upper() in _TRUE)
    if url:
        if custom:  # timm reads these (JAX .npz files) with the model's own loader
            raise _own_format(name)
        base = _safe(os.path.basename(urlparse(str(url)).path))
        torch_hub = cache_dir() / base  # where timm's own download (torch.hub) keeps it
        return Source(host=urlparse(str(url)).netloc or str(url),
                      candidates=((str(url), _inside(timm_cache(), base)),),
                      local=torch_hub if torch_hub.is_file() else None)
    raise WeightsError(f"timm has no pretrained weights for {name}: use random weights or a "
                       "weights file.")


def hub_filenames(filename: str | None) -> list[str]:
    """The files timm's ``load_state_dict_from_hf`` tries, in its order: a safetensors twin of
    the file first (when safetensors is installed), then the file itself."""
    filename = filename or HF_WEIGHTS_NAME
    if filename.endswith(".safetensors"):
        return [filename]
    safe: list[str] = []
    if _has_safetensors():
        if filename == HF_WEIGHTS_NAME:
            safe.append("model.safetensors")
        elif filename == "open_clip_pytorch_model.bin":
            safe.append("open_clip_model.safetensors")
        elif filename.endswith(".bin"):
            safe.append(filename[:-4] + ".safetensors")
    return safe + [filename]


def fetch_weights(name: str, source: Source, progress: ProgressCallback | None = None,
                  should_cancel: CancelCheck | None = None) -> Path:
    """The weights file of ``source``: already here, or downloaded into the cache (one try
    each; a file the server does not have is followed by the next candidate)."""
    if source.local is not None:
        return source.local
    for _url, dest in source.candidates:
        if dest.is_file():
            return dest
    if source.offline:
        raise _unreachable(name, source.host, "HF_HUB_OFFLINE is set")
    for index, (url, dest) in enumerate(source.candidates):
        try:
            return download(url, dest, progress, should_cancel, timeout=TIMEOUT)
        except DownloadCancelled:
            raise
        except WeightsError as exc:
            cause = exc.__context__  # download() raises "from None": the cause is kept here
            if isinstance(cause, urllib.error.HTTPError) and cause.code == 404:
                if index + 1 < len(source.candidates):
                    continue  # no model.safetensors in this repository: its pytorch_model.bin
                tried = ", ".join(Path(u).name for u, _ in source.candidates)
                raise WeightsError(f"{source.host} has no pretrained weights file for {name} "
                                   f"({tried} not found{f' in {source.repo}' if source.repo else ''}): "
                                   "use random weights or a weights file.") from None
            if cause is None:  # stopped early, corrupt: download's own sentence says what to do
                raise
            raise _unreachable(name, source.host, getattr(cause, "reason", None) or cause) from None
    raise WeightsError(f"timm has no pretrained weights for {name}: use random weights or a "
                       "weights file.")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, read as data: safetensors, or a torch file read weights-only
    (``read_weights_file``: a file that would run code is refused). A file of cnnscope's own cache
    that cannot be read is removed, so that the next try downloads it again."""
    try:
        if path.name.endswith(".safetensors"):
            from safetensors import SafetensorError
            from safetensors.torch import load_file

            try:
                return load_file(str(path), device="cpu")
            except (SafetensorError, OSError, ValueError) as exc:
                raise WeightsError(f"'{path.name}' is not a readable safetensors file "
                                   f"({str(exc)[:200]}).") from None
        return dict(read_weights_file(path)["state_dict"])
    except WeightsError:
        if _is_inside(path, timm_cache()):
            path.unlink(missing_ok=True)
        raise


def create_pretrained(name: str, progress: ProgressCallback | None = None,
                      should_cancel: CancelCheck | None = None) -> nn.Module:
    """``timm.create_model(name, pretrained=True)``, its weights fetched by cnnscope (progress,
    cancel, cache, one clear sentence offline) and read as data; timm then loads them into the
    model as it loads its own download, so the model is the same."""
    import timm

    cfg = pretrained_cfg(name)
    if not cfg:
        raise WeightsError(f"timm has no pretrained weights for {name}: use random weights or a "
                           "weights file.")
    path = fetch_weights(name, weights_source(name, cfg), progress, should_cancel)
    state = read_state_dict(path)
    # the state dict is timm's first choice of source, before any download of its own; "source"
    # is cleared so that a cfg naming the Hub as its source cannot send timm there instead
    overlay = {"state_dict": state, "source": None}
    try:
        module = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay)
    except Exception as exc:  # noqa: BLE001 - a state dict fails to fit in many ways
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise WeightsError(f"The pretrained weights of {name} ({path.name}) do not fit it: "
                           f"{first[:300]}") from None
    kept = getattr(module, "pretrained_cfg", None)
    if isinstance(kept, dict):  # as timm leaves it after its own download (not the tensors twice)
        kept.pop("state_dict", None)
        for key in ("source", "custom_load"):
            if key in cfg:
                kept[key] = cfg[key]
            else:
                kept.pop(key, None)
    return module


def _own_format(name: str) -> WeightsError:
    return WeightsError(f"timm reads the pretrained weights of {name} with the model's own code "
                        "(they are not a PyTorch state dict), which cnnscope does not run: use "
                        "random weights or a weights file.")


def _unreachable(name: str, host: str, reason: object) -> WeightsError:
    return WeightsError(f"Could not download the pretrained weights of {name} from {host} "
                        f"({reason}): check the internet connection, or use random weights or a "
                        "weights file.")


def _hub_cache_hit(repo: str, filename: str, revision: str | None) -> Path | None:
    """The file in huggingface_hub's own cache (timm's downloads), looked up on disk only."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo, filename, revision=revision)
    except Exception:  # noqa: BLE001 - no huggingface_hub, an old one, an odd cache
        return None
    return Path(found) if isinstance(found, str) and os.path.isfile(found) else None


def _has_safetensors() -> bool:
    try:
        from safetensors.torch import load_file
    except ImportError:
        return False
    return callable(load_file)


def _safe(part: str) -> str:
    """One path component made of letters, digits, '.', '_' and '-' only, never '.' or '..'."""
    cleaned = _UNSAFE.sub("_", part).strip(".")
    return cleaned or "_"


def _inside(folder: Path, part: str) -> Path:
    path = folder / part
    if not _is_inside(path, folder) or path.resolve() == folder.resolve():
        raise WeightsError(f"'{part}' is not a usable file name for timm's weights.")
    return path


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True
