"""The cnnscope checkpoint: a plain dict that ``torch.load(weights_only=True)`` accepts.

Only tensors, strings, numbers, lists and dicts go in, so loading one can never run code.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import torch

from .errors import TrainingError

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


def check_writable(path: str | os.PathLike) -> Path:
    """Make sure a checkpoint can be written at ``path`` (before hours of training, not after):
    not a folder, its folder creatable and writable. Raises TrainingError saying why."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise TrainingError(f"'{path}' is a folder; give a file name for the checkpoint, "
                                  f"such as {path / 'model.pt'}.")
    if path.exists() and not path.is_file():
        raise TrainingError(f"'{path}' exists and is not a regular file; choose another name.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise TrainingError(f"Cannot write the checkpoint into '{path.parent}': "
                                  f"{exc.strerror or exc}.") from None
    return path


def _temp_prefix(path: Path) -> str:
    """Hidden, and tagged with our process id so a later save can tell a dead run's leftovers."""
    return f".{path.name}.{os.getpid()}."


def _remove_leftovers(path: Path) -> None:
    """Delete temporary files that killed earlier saves of ``path`` left behind."""
    for old in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = old.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            old.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def save_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename: never a half-written file,
    and no temporary file left behind on any failure (a killed run's is removed next time)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
