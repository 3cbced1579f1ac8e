"""Reading a scan back: a unit's top images and the crops of their receptive fields (cut from the
original photos, where the unit peaked), and the sheet ``cnnscope scan --show`` draws. No model
is needed: scan.json keeps each layer's receptive field."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CnnscopeError, ScanError
from .folder import ImageEntry
from .store import PENDING, SCANNED, ScanState, ScanStore
from .topk import TopK

TILE = 112  # pixels of one crop on a sheet


@dataclass(frozen=True)
class UnitHit:
    """One of a unit's top images: where in the scan and the photo, and how strongly it fired."""

    rank: int  # 0: the strongest
    index: int  # the image's index in the scan
    path: str  # relative to the scanned folder
    label: str  # its class folder ("" in a flat folder)
    value: float  # the peak activation
    row: int  # where it peaked in the layer's map
    col: int


@dataclass
class Scan:
    """A scan folder opened for reading (see store.py for the files)."""

    folder: Path
    info: dict
    entries: list[ImageEntry]
    state: ScanState
    features: np.ndarray | None  # (N, D), rows valid where scanned
    top5: np.ndarray | None
    top5_probabilities: np.ndarray | None

    @property
    def layers(self) -> list[str]:
        """The layers with a top-k."""
        return list(self.info["layers"])

    @property
    def data(self) -> Path:
        """The folder that was scanned."""
        return Path(self.info["data"])

    @property
    def complete(self) -> bool:
        """Whether every image was scanned (or skipped)."""
        return not bool((self.state.status == PENDING).any())

    @property
    def scanned(self) -> np.ndarray:
        """Indices of the images scanned (not skipped, not pending)."""
        return np.flatnonzero(self.state.status == SCANNED)

    def channels(self, layer: str) -> int:
        """How many channels ``layer`` has."""
        return int(self._layer(layer)["channels"])

    def unit(self, layer: str, channel: int) -> list[UnitHit]:
        """The top images of channel ``channel`` of ``layer``, strongest first."""
        topk = self.topk(layer)
        if not 0 <= channel < topk.values.shape[1]:
            raise ScanError(f"{layer} has {topk.values.shape[1]} channels (0 to {topk.values.shape[1] - 1}), "
                            f"not {channel}.")
        rows, cols = topk.rows_columns()
        hits = []
        for rank in range(topk.k):
            index = int(topk.images[rank, channel])
            if index < 0:
                break
            entry = self.entries[index]
            hits.append(UnitHit(rank, index, entry.path, entry.label, float(topk.values[rank, channel]),
                                int(rows[rank, channel]), int(cols[rank, channel])))
        return hits

    def topk(self, layer: str) -> TopK:
        """The running top-k of ``layer``."""
        self._layer(layer)
        return self.state.topk[layer]

    def crop(self, layer: str, hit: UnitHit, size: int = TILE) -> np.ndarray:
        """The receptive field of ``hit``'s peak, cut from the original photo, as (size, size, 3)
        uint8 (grey where the photo cannot be read any more)."""
        from PIL import Image

        from ..images import open_image

        try:
            photo = open_image(self.data / hit.path)
        except CnnscopeError:
            return np.full((size, size, 3), 128, np.uint8)
        top, left, bottom, right = self.field_box(layer, hit.row, hit.col, photo.shape[:2])
        piece = photo[top:bottom + 1, left:right + 1]
        return np.asarray(Image.fromarray(piece).resize((size, size), Image.Resampling.BILINEAR))

    def field_box(self, layer: str, row: int, col: int, photo_shape: tuple[int, int]) -> tuple[int, int, int, int]:
        """(top, left, bottom, right), inclusive, in the original photo's pixels, of what map
        position (row, col) of ``layer`` sees: the receptive field on the model's crop, mapped
        back through the centre crop and the resize."""
        prep = self.info["preprocessing"]
        side, resize = int(prep["crop"]), int(prep["resize"])
        field = self._layer(layer).get("field")
        if field is None or field.get("whole"):
            box = (0, 0, side - 1, side - 1)
        else:
            (top, bottom), (left, right) = _span(field["rows"], row, side), _span(field["cols"], col, side)
            box = (top, left, bottom, right)
        height, width = photo_shape
        new_h, new_w = _resized(height, width, resize)
        off_top, off_left = int(round((new_h - side) / 2.0)), int(round((new_w - side) / 2.0))
        sy, sx = height / new_h, width / new_w
        top, left, bottom, right = box
        return (max(0, int(math.floor((top + off_top) * sy))), max(0, int(math.floor((left + off_left) * sx))),
                min(height - 1, int(math.ceil((bottom + off_top + 1) * sy)) - 1),
                min(width - 1, int(math.ceil((right + off_left + 1) * sx)) - 1))

    def _layer(self, layer: str) -> dict:
        if layer not in self.info["layers"]:
            raise ScanError(f"This scan kept no top images for '{layer}'; it has "
                            f"{', '.join(self.info['layers'])}.")
        return self.info["layers"][layer]


def _span(axis: list, index: int, side: int) -> tuple[int, int]:
    """First and last crop pixel seen along one axis (summary.Axis, as scan.json keeps it)."""
    from ..summary import Axis

    return Axis(int(axis[0]), int(axis[1]), float(axis[2])).span(index, side)


def _resized(height: int, width: int, size: int) -> tuple[int, int]:
    """The photo's size after torchvision's resize of its shorter side to ``size``."""
    if height <= width:
        return size, int(size * width / height)
    return int(size * height / width), size


def open_scan(folder: str | Path) -> Scan:
    """A scan folder, complete or not, for reading."""
    store = ScanStore(Path(folder))
    if not store.exists():
        raise ScanError(f"'{folder}' holds no cnnscope scan (no scan.json).")
    info = store.read_info()
    entries = store.read_listing()
    if len(entries) != info.get("images"):
        raise ScanError(f"'{folder}' is a damaged scan: images.csv does not list its images.")
    state = store.read_state(len(entries), list(info["layers"]))
    if state is None:
        raise ScanError(f"'{folder}' holds a scan that has not finished a batch yet.")
    store.open_rows(len(entries), "r")
    return Scan(store.folder, info, entries, state, store.features, store.top5, store.top5_probabilities)


def unit_sheet(scan: Scan, layer: str, channel: int, size: int = TILE) -> np.ndarray:
    """A unit's top crops side by side in a grid (3 columns for 9), strongest first, as uint8."""
    from ..render import tile

    hits = scan.unit(layer, channel)
    if not hits:
        raise ScanError(f"No image was scanned yet for {layer} channel {channel}.")
    crops = np.stack([scan.crop(layer, hit, size) for hit in hits])
    columns = math.ceil(math.sqrt(len(hits)))
    return tile(crops, columns=columns, pad=4)
