"""Dataset scans: a folder streamed through a model once, keeping what matters (the top images
of every unit of chosen layers, each image's pooled features and predictions, optionally a
heatmap per image), saved as it goes and continued when run again. ``run`` scans on this
machine, ``cluster`` on a Ray cluster with the same result; ``results`` reads a scan back."""

from .results import Scan, UnitHit, open_scan, unit_sheet
from .run import ScanOptions, ScanProgress, ScanSummary, scan_folder

__all__ = ["Scan", "ScanOptions", "ScanProgress", "ScanSummary", "UnitHit", "open_scan", "scan_folder",
           "unit_sheet"]
