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
MAX_INFO_BYTES = 64_000_000  # scan.json: layers and up to a million class names


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


def write_atomic(path: Path, write: Callable[[Any], None], mode: str = "wb", **text: str) -> None:
    """Write through ``write(file)`` into a temporary file beside ``path``, then rename it
    (``text``: encoding and errors for a text ``mode``)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **text) as fh:
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
        """scan.json, checked to be a cnnscope scan of a format this version reads, every value
        of the type and range a scan writes."""
        from ..files import FileRefused, read_bounded

        try:
            info = json.loads(read_bounded(self.info_path, MAX_INFO_BYTES).decode("utf-8"))
        except (FileRefused, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise ScanError(f"'{self.folder}' is not a readable cnnscope scan ({type(exc).__name__}).") from None
        if not isinstance(info, dict) or info.get("format") != "cnnscope-scan":
            raise ScanError(f"'{self.folder}' is not a cnnscope scan (its scan.json says otherwise).")
        if info.get("version") != FORMAT_VERSION:
            raise ScanError(f"'{self.folder}' is a scan of format {info.get('version')!r:.20}; this "
                            f"cnnscope reads format {FORMAT_VERSION}.")
        problem = _info_problem(info)
        if problem:
            raise ScanError(f"'{self.folder}' is a damaged scan: its scan.json {problem}.")
        return info

    def begin(self, info: dict[str, Any], entries: list[ImageEntry]) -> None:
        """A new scan: its folder, scan.json and images.csv."""
        if self.folder.exists() and not self.folder.is_dir():
            raise ScanError(f"'{self.folder}' exists and is not a folder: give another --out.")
        if self.folder.is_dir() and any(self.folder.iterdir()) and not self.exists():
            raise ScanError(f"'{self.folder}' is a folder of other files: give a new or empty one.")
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self.folder / "images.csv", lambda fh: _write_listing(fh, entries), "w",
                     encoding="utf-8", errors="surrogateescape")  # a name may not be UTF-8
        write_atomic(self.info_path, lambda fh: json.dump(
            {"format": "cnnscope-scan", "version": FORMAT_VERSION, **info}, fh, indent=1), "w")

    def read_listing(self) -> list[ImageEntry]:
        """images.csv, every row a relative path (and its class)."""
        try:
            with open(self.folder / "images.csv", newline="", encoding="utf-8", errors="surrogateescape") as fh:
                rows = list(csv.DictReader(fh))
            entries = [ImageEntry(row["path"], row["class"]) for row in rows]
        except (OSError, KeyError, UnicodeDecodeError, csv.Error, MemoryError) as exc:
            raise ScanError(f"'{self.folder}' is a damaged scan: its images.csv cannot be read "
                            f"({type(exc).__name__}).") from None
        for entry in entries:
            if not isinstance(entry.path, str) or not isinstance(entry.label, str) or not entry.path \
                    or "\0" in entry.path or entry.path.startswith("/") or ".." in entry.path.split("/"):
                raise ScanError(f"'{self.folder}' is a damaged scan: its images.csv has a row that is "
                                "not a path inside the scanned folder.")
        return entries

    # --- the state ----------------------------------------------------------------------------

    def read_state(self, count: int, layers: list[str]) -> ScanState | None:
        """The state saved last (None when no batch was saved yet)."""
        path = self.folder / "state.npz"
        if not path.is_file():
            return None
        damaged = f"'{self.folder}' is a damaged scan: its state.npz"
        try:
            _check_npz(path)
            with np.load(path, allow_pickle=False) as arrays:
                status = np.array(arrays["status"], np.int8)
                topk = {layer: TopK.from_arrays(arrays, f"{layer}|") for layer in layers}
                skipped = {int(i): str(r) for i, r in zip(arrays["skipped_index"], arrays["skipped_reason"])}
        except ScanError as exc:
            raise ScanError(f"{damaged} {exc}; remove the folder to scan again.") from None
        except Exception as exc:  # noqa: BLE001 - a damaged zip or array fails in many ways
            raise ScanError(f"{damaged} cannot be read ({type(exc).__name__}); remove the folder to "
                            "scan again.") from None
        if status.shape != (count,) or not np.isin(status, (PENDING, SCANNED, SKIPPED)).all() \
                or any(not 0 <= i < count for i in skipped):
            raise ScanError(f"{damaged} does not match its images; remove the folder to scan again.")
        for layer, found in topk.items():
            cells = found.height * found.width
            if found.height < 1 or found.width < 1 or found.values.shape != found.images.shape \
                    or found.values.shape != found.positions.shape or found.values.ndim != 2 \
                    or ((found.images < -1) | (found.images >= count)).any() \
                    or ((found.positions < 0) | (found.positions >= cells)).any():
                raise ScanError(f"{damaged} holds a top-k of {layer} that does not fit its images or "
                                "maps; remove the folder to scan again.")
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
        created = self._create("features.npy", np.float32, count, size)  # the header and the size
        del created  # unmapped: the rows are written by RowFile
        self.features = RowFile(self.folder / "features.npy")

    def write_features(self, indices: np.ndarray, rows: np.ndarray) -> None:
        """Rows of features.npy (created at the first rows, when their size is known)."""
        if self.features is None:
            self.create_features(len(self.top5), rows.shape[1])
        self.features.write(indices, rows)

    def open_rows(self, count: int, mode: str = "r") -> None:
        """The per-image arrays already written, for reading ("r") or going on ("r+")."""
        self.features = self._open("features.npy", count, mode)
        if mode != "r" and self.features is not None:
            self.features = RowFile(self.folder / "features.npy")  # written, never mapped
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


class RowFile:
    """An .npy file of float32 rows written with ``os.pwrite``, nothing of it mapped: a memmap's
    written pages count in the process's memory (5 KiB an image for MobileNetV2's features, the
    only thing that grew with a folder's size, benchmarks/scan.py)."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "r+b")  # noqa: SIM115 - kept open for the scan, closed by close()
        version = np.lib.format.read_magic(self._file)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        self.shape, _fortran, dtype = reader(self._file)
        if dtype != np.dtype("<f4") or len(self.shape) != 2:
            raise ScanError(f"'{path}' is not a table of float32 features.")
        self._offset, self._row = self._file.tell(), self.shape[1] * 4

    def write(self, indices: np.ndarray, rows: np.ndarray) -> None:
        """Rows ``rows`` at ``indices``."""
        data = np.ascontiguousarray(rows, "<f4")
        for index, row in zip(indices, data):
            os.pwrite(self._file.fileno(), row.tobytes(), self._offset + int(index) * self._row)

    def flush(self) -> None:
        """On disk before the state that claims them."""
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """The file closed."""
        self._file.close()


def _check_npz(path: Path) -> None:
    """Refuse (ScanError) an .npz whose arrays claim more bytes than the file holds (np.savez
    stores them uncompressed: a small file claiming billions of numbers is an allocation bomb) or
    hold Python objects."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                with archive.open(member) as fh:
                    version = np.lib.format.read_magic(fh)
                    reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                              else np.lib.format.read_array_header_2_0)
                    shape, _fortran, dtype = reader(fh)
                if dtype.hasobject:
                    raise ScanError("holds Python objects")
                if int(np.prod(shape, dtype=np.float64)) * dtype.itemsize > member.file_size:
                    raise ScanError("claims more numbers than it holds")
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ScanError(f"is not a readable numpy archive ({type(exc).__name__})") from None


def _info_problem(info: dict) -> str | None:
    """What in scan.json is not as a scan writes it, or None."""
    def whole(value, low: int, high: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high

    if not isinstance(info.get("data"), str) or not info["data"]:
        return "names no scanned folder"
    if not whole(info.get("images"), 0, 10**9) or not whole(info.get("top_k"), 1, 1000):
        return "has no image count or top-k"
    prep = info.get("preprocessing")
    if not isinstance(prep, dict) or not whole(prep.get("resize"), 1, 100_000) \
            or not whole(prep.get("crop"), 1, 100_000):
        return "has no input size"
    labels = info.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(n, str) for n in labels):
        return "has class names that are not text"
    layers = info.get("layers")
    if not isinstance(layers, dict) or not layers:
        return "names no layers"
    for name, shape in layers.items():
        if not isinstance(shape, dict) or not all(whole(shape.get(k), 1, 10**7) for k in ("channels", "height", "width")):
            return f"describes layer {name[:60]!r} wrongly"
        field = shape.get("field")
        if field is None or (isinstance(field, dict) and field.get("whole") is True):
            continue
        axes = [field.get(k) for k in ("rows", "cols")] if isinstance(field, dict) else [None]
        if not all(isinstance(a, list) and len(a) == 3 and all(isinstance(v, (int, float))
                   and not isinstance(v, bool) and np.isfinite(v) for v in a) and a[0] >= 1 and a[1] >= 1
                   for a in axes):
            return f"describes the receptive field of {name[:60]!r} wrongly"
    return None


def _write_listing(fh, entries: list[ImageEntry]) -> None:
    writer = csv.writer(fh)
    writer.writerow(["index", "path", "class"])
    for index, entry in enumerate(entries):
        writer.writerow([index, entry.path, entry.label])
