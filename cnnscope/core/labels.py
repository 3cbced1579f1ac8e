"""Class names a user gives for their model: a list, or a labels file (one name per line, or a
JSON list), read as bounded text."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from .errors import ModelError
from .files import FileRefused, read_bounded

MAX_LABELS_BYTES = 8_000_000


def read_labels(classes: Sequence[str] | str | os.PathLike) -> tuple[str, ...]:
    """Class names from a sequence, or from a labels file (one per line, or a JSON list)."""
    if isinstance(classes, (str, os.PathLike)):
        path = Path(classes).expanduser()
        try:
            text = read_bounded(path, MAX_LABELS_BYTES).decode("utf-8")
        except (FileRefused, UnicodeDecodeError) as exc:
            raise ModelError(f"Cannot read the labels file '{path.name}': {exc}") from None
        if text.lstrip().startswith("["):
            try:
                names = json.loads(text)
            except (json.JSONDecodeError, RecursionError) as exc:
                raise ModelError(f"'{path.name}' is not a JSON list of names "
                                 f"({type(exc).__name__}).") from None
        else:
            names = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        names = list(classes)
    if not names or not all(isinstance(n, str) for n in names):
        raise ModelError("Class names must be a non-empty list of strings.")
    return tuple(names)
