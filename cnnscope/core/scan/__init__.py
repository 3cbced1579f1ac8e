"""Dataset scans: a folder streamed through a model once, keeping what matters (the top images
of every unit of chosen layers, each image's pooled features and predictions, optionally a
heatmap per image), saved as it goes and continued when run again. ``run`` scans on this
machine, ``cluster`` on a Ray cluster with the same result; ``results`` reads a scan back.

The names below load on first use, so that ``folder`` (no torch) can be imported alone."""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {"Scan": "results", "UnitHit": "results", "open_scan": "results", "unit_sheet": "results",
          "ScanOptions": "run", "ScanProgress": "run", "ScanSummary": "run", "scan_folder": "run"}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
