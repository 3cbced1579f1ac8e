"""A scanned dataset, read back for the window: what a scan holds and a unit's top images (the
crops of their receptive fields, cut from the photos). The scan itself runs on its own thread
(gui/scanner.py), and so does the map of the images' features (gui/map_maker.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .base import Job, Request, Service


@dataclass(frozen=True)
class OpenScan(Request):
    """Open the scan folder ``folder`` (complete or not)."""

    folder: str


@dataclass
class ScanInfo:
    """What a scan holds, as plain data: the session's ``scan``."""

    folder: str
    model: str  # the model's name as shown (ModelLoaded.name)
    weights_label: str
    data: str  # the folder scanned
    layers: dict  # layer -> channels
    images: int
    scanned: int
    skipped: int
    complete: bool
    classes: list[str] = field(default_factory=list)  # the class folders, "" for a flat folder
    has_features: bool = False


@dataclass(frozen=True)
class UnitTops(Request):
    """The top images of ``channel`` of ``layer`` in the scan at ``folder``."""

    folder: str
    layer: str
    channel: int
    tile: int = 112


@dataclass
class UnitTopsResult:
    """A unit's top images: the sheet of crops (strongest first, row by row) and each one's facts."""

    folder: str
    layer: str
    channel: int
    sheet: np.ndarray  # uint8 (H, W, 3)
    hits: list  # [(path relative to the data folder, class, peak value, full path)]
    columns: int


@dataclass
class DatasetMapResult:
    """Where each scanned image lands on the map, and what it is."""

    folder: str
    method: str
    coords: np.ndarray  # (N, 2) float32
    paths: list[str]  # full paths, for thumbnails and for opening
    classes: list[int]  # index into ``names`` per image
    names: list[str]  # class folder names ("(no class)" for a flat folder)
    predicted: list[str]  # each image's top prediction
    note: str = ""  # what the map leaves out (a sample of a large scan)


class DatasetService(Service):
    """Serves OpenScan and UnitTops (quick reads); keeps the scan opened last. The map is drawn
    off the engine's thread (gui/map_maker.py): t-SNE can take minutes."""

    handles = (OpenScan, UnitTops)

    def __init__(self, state) -> None:
        super().__init__(state)
        self._opened: tuple[str, float, Any] | None = None  # (folder, state.npz mtime, Scan)

    def run(self, request: Request, job: Job) -> Any:
        """Serve one request (see the request classes)."""
        scan = self._scan(request.folder)
        if isinstance(request, OpenScan):
            return _info(scan)
        return self._unit_tops(scan, request)

    def _scan(self, folder: str):
        """The scan at ``folder``, read again when its state changed (a scan still running)."""
        from pathlib import Path

        from cnnscope.core.scan import open_scan

        state = Path(folder) / "state.npz"
        stamp = state.stat().st_mtime if state.is_file() else 0.0
        if self._opened is None or self._opened[:2] != (folder, stamp):
            self._opened = (folder, stamp, open_scan(folder))
        return self._opened[2]

    def _unit_tops(self, scan, request: UnitTops) -> UnitTopsResult:
        import math

        from cnnscope.core.render import tile

        hits = scan.unit(request.layer, request.channel)
        if not hits:
            sheet = np.full((request.tile, request.tile, 3), 40, np.uint8)
            return UnitTopsResult(request.folder, request.layer, request.channel, sheet, [], 1)
        crops = np.stack([scan.crop(request.layer, hit, request.tile) for hit in hits])
        columns = math.ceil(math.sqrt(len(hits)))
        return UnitTopsResult(request.folder, request.layer, request.channel,
                              tile(crops, columns=columns, pad=3),
                              [(h.path, h.label, h.value, str(scan.data / h.path)) for h in hits], columns)


def _info(scan) -> ScanInfo:
    status = scan.state.status
    return ScanInfo(folder=str(scan.folder), model=scan.info["model"],
                    weights_label=scan.info.get("weights_label", ""), data=str(scan.data),
                    layers={name: int(shape["channels"]) for name, shape in scan.info["layers"].items()},
                    images=len(scan.entries), scanned=int((status == 1).sum()),
                    skipped=int((status == 2).sum()), complete=scan.complete,
                    classes=sorted({e.label for e in scan.entries}),
                    has_features=scan.features is not None)
