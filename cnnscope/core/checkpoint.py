"""The cnnscope checkpoint: a plain dict that ``torch.load(weights_only=True)`` accepts.

Only tensors, strings, numbers, lists and dicts go in, so loading one can never run code.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import torch

FORMAT = "cnnscope-checkpoint"
VERSION = 1


def make_checkpoint(arch: str, state_dict: Mapping[str, torch.Tensor], classes: list[str],
                    meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Bundle weights with the architecture name and the class names they predict."""
    return {"format": FORMAT, "version": VERSION, "arch": arch,
            "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
            "classes": [str(c) for c in classes], "meta": _plain(meta or {})}


def _plain(meta: dict[str, Any]) -> dict[str, Any]:
    """Metadata as plain JSON types: anything else (a TorchVersion, a Path...) would make the file
    unloadable with ``weights_only=True``."""
    return json.loads(json.dumps(meta, default=str))


def is_checkpoint(obj: Any) -> bool:
    """True for a dict written by :func:`make_checkpoint`."""
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def save_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
