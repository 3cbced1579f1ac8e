"""A scan on disk: a folder of plain numpy files and text, readable without cnnscope, written
as the scan goes so that a crash or Ctrl+C loses at most the batch in flight.

    SCAN/
      scan.json         what was scanned (model, weights, folder, layers, k, each layer's map
                        size and receptive field) and the format version
      images.csv        index, path (relative to the folder), class
      state.npz         status (N,) int8: 0 not yet, 1 scanned, 2 skipped (unreadable);
                        skipped_index / skipped_reason; per layer L: "L|values", "L|images",
                        "L|positions" (k, C) and "L|map_size" (the running top-k, best first)
      features.npy      (N, D) float32: each image's pooled features (the head's input)
      top5.npy          (N, 5) int32 and top5_probabilities.npy (N, 5) float32: predictions

Rows of features.npy and top5*.npy are valid where status is 1. ``np.load`` opens every file;
``state.npz`` is replaced atomically after the batch's rows are flushed, so it never claims
rows that are not on disk.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ScanError
from .folder import ImageEntry
from .topk import TopK

FORMAT_VERSION = 1
PENDING, SCANNED, SKIPPED = 0, 1, 2
TOP = 5  # predictions kept per image
MAX_REASON = 300  # characters of a skipped file's reason


@dataclass
class ScanState:
    """Everything that changes as the scan goes, as it stands after the last whole batch."""

    status: np.ndarray  # (N,) int8
    topk: dict[str, TopK]
    skipped: dict[int, str] = field(default_factory=dict)

    @property
    def done(self) -> int:
        """Images scanned or skipped."""
        return int((self.status != PENDING).sum())


def write_atomic(path: Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Write through ``write(file)`` into a temporary file beside ``path``, then rename it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ScanStore:
    """The files of one scan folder (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder).expanduser()
        self.features: np.memmap | None = None
        self.top5: np.memmap | None = None
        self.top5_probabilities: np.memmap | None = None

    # --- what was scanned -------------------------------------------------------------------

    @property
    def info_path(self) -> Path:
        """scan.json."""
        return self.folder / "scan.json"

    def exists(self) -> bool:
        """Whether a scan was begun here."""
        return self.info_path.is_file()

    def read_info(self) -> dict[str, Any]:
        """scan.json, checked to be a cnnscope scan of a format this version reads."""
        try:
            info = json.loads(self.info_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise ScanError(f"'{self.folder}' is not a readable cnnscope scan ({type(exc).__name__}).") from None
        if not isinstance(info, dict) or info.get("format") != "cnnscope-scan":
            raise ScanError(f"'{self.folder}' is not a cnnscope scan (its scan.json says otherwise).")
        if info.get("version") != FORMAT_VERSION:
            raise ScanError(f"'{self.folder}' is a scan of format {info.get('version')}; this cnnscope "
                            f"reads format {FORMAT_VERSION}.")
        return info

    def begin(self, info: dict[str, Any], entries: list[ImageEntry]) -> None:
        """A new scan: its folder, scan.json and images.csv."""
        if self.folder.exists() and not self.folder.is_dir():
            raise ScanError(f"'{self.folder}' exists and is not a folder: give another --out.")
        if self.folder.is_dir() and any(self.folder.iterdir()) and not self.exists():
            raise ScanError(f"'{self.folder}' is a folder of other files: give a new or empty one.")
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self.folder / "images.csv", lambda fh: _write_listing(fh, entries), "w")
        write_atomic(self.info_path, lambda fh: json.dump(
            {"format": "cnnscope-scan", "version": FORMAT_VERSION, **info}, fh, indent=1), "w")

    def read_listing(self) -> list[ImageEntry]:
        """images.csv."""
        try:
            with open(self.folder / "images.csv", newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
            return [ImageEntry(row["path"], row["class"]) for row in rows]
        except (OSError, KeyError, UnicodeDecodeError, csv.Error) as exc:
            raise ScanError(f"'{self.folder}' is a damaged scan: its images.csv cannot be read "
                            f"({type(exc).__name__}).") from None

    # --- the state ----------------------------------------------------------------------------

    def read_state(self, count: int, layers: list[str]) -> ScanState | None:
        """The state saved last (None when no batch was saved yet)."""
        path = self.folder / "state.npz"
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as arrays:
                status = np.array(arrays["status"], np.int8)
                topk = {layer: TopK.from_arrays(arrays, f"{layer}|") for layer in layers}
                skipped = {int(i): str(r) for i, r in zip(arrays["skipped_index"], arrays["skipped_reason"])}
        except (OSError, KeyError, ValueError) as exc:
            raise ScanError(f"'{self.folder}' is a damaged scan: its state.npz cannot be read "
                            f"({type(exc).__name__}); remove the folder to scan again.") from None
        if status.shape != (count,):
            raise ScanError(f"'{self.folder}' is a damaged scan: its state does not match its images.")
        return ScanState(status, topk, skipped)

    def save_state(self, state: ScanState) -> None:
        """Flush the batch's rows, then replace state.npz (atomically: it never claims more)."""
        for array in (self.features, self.top5, self.top5_probabilities):
            if array is not None:
                array.flush()
        arrays: dict[str, np.ndarray] = {"status": state.status}
        for layer, topk in state.topk.items():
            arrays.update(topk.as_arrays(f"{layer}|"))
        indices = sorted(state.skipped)
        arrays["skipped_index"] = np.array(indices, np.int64)
        arrays["skipped_reason"] = np.array([state.skipped[i][:MAX_REASON] for i in indices], dtype=f"<U{MAX_REASON}")
        write_atomic(self.folder / "state.npz", lambda fh: np.savez(fh, **arrays))

    # --- per-image rows ---------------------------------------------------------------------

    def create_rows(self, count: int) -> None:
        """The prediction arrays of a new scan (the features' once their size is known)."""
        self.top5 = self._create("top5.npy", np.int32, count, TOP)
        self.top5_probabilities = self._create("top5_probabilities.npy", np.float32, count, TOP)

    def create_features(self, count: int, size: int) -> None:
        """features.npy, (count, size) float32, once the first batch tells the size."""
        self.features = self._create("features.npy", np.float32, count, size)

    def open_rows(self, count: int, mode: str = "r") -> None:
        """The per-image arrays already written, for reading ("r") or going on ("r+")."""
        self.features = self._open("features.npy", count, mode)
        self.top5 = self._open("top5.npy", count, mode)
        self.top5_probabilities = self._open("top5_probabilities.npy", count, mode)

    def _create(self, name: str, dtype, count: int, columns: int) -> np.memmap:
        return np.lib.format.open_memmap(self.folder / name, mode="w+", dtype=dtype, shape=(count, columns))

    def _open(self, name: str, count: int, mode: str) -> np.memmap | None:
        path = self.folder / name
        if not path.is_file():
            return None
        try:
            opened = np.load(path, mmap_mode=mode, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ScanError(f"'{self.folder}' is a damaged scan: {name} cannot be read "
                            f"({type(exc).__name__}).") from None
        if opened.ndim != 2 or opened.shape[0] != count:
            raise ScanError(f"'{self.folder}' is a damaged scan: {name} does not match its images.")
        return opened


def _write_listing(fh, entries: list[ImageEntry]) -> None:
    writer = csv.writer(fh)
    writer.writerow(["index", "path", "class"])
    for index, entry in enumerate(entries):
        writer.writerow([index, entry.path, entry.label])
