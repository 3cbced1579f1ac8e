"""The map of a scanned dataset is drawn on a thread of its own: t-SNE of thousands of images takes
from seconds to minutes, and on the engine's thread it would hold up every inspection meanwhile.
The newest request wins: an older map still being made is dropped when it is done."""

from __future__ import annotations

import threading
import traceback
from itertools import count

from PySide6.QtCore import QObject, Signal

from .services.dataset import DatasetMapResult

# The most images a map draws: t-SNE and UMAP take minutes past a few thousand on a laptop
MAX_POINTS = {"pca": 50_000, "tsne": 5_000, "umap": 10_000}


class MapMaker(QObject):
    """Ask with :meth:`request`; ``ready(DatasetMapResult)`` or ``failed(sentence)`` comes back on
    the window's thread, for the newest request only."""

    ready = Signal(object)
    failed = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self._ids = count(1)
        self._newest = 0
        self._lock = threading.Lock()

    def request(self, folder: str, method: str) -> None:
        """Draw the map of the scan at ``folder`` by ``method`` (pca, tsne, umap)."""
        with self._lock:
            self._newest = request_id = next(self._ids)
        threading.Thread(target=self._run, args=(request_id, folder, method), name="cnnscope-map",
                         daemon=True).start()

    def forget(self) -> None:
        """Drop the maps being made (another scan is open now)."""
        with self._lock:
            self._newest = next(self._ids)

    def _current(self, request_id: int) -> bool:
        with self._lock:
            return request_id == self._newest

    def _run(self, request_id: int, folder: str, method: str) -> None:
        from cnnscope.core.errors import CnnscopeError

        try:
            result = make_map(folder, method)
        except CnnscopeError as exc:
            if self._current(request_id):
                self.failed.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a message, never a crash
            traceback.print_exc()
            if self._current(request_id):
                self.failed.emit(f"The map could not be drawn: {type(exc).__name__}: {exc}")
            return
        if self._current(request_id):
            self.ready.emit(result)


def make_map(folder: str, method: str) -> DatasetMapResult:
    """The scanned images' pooled features in 2-D, with what each image is (core calls only)."""
    import numpy as np

    from cnnscope.core.errors import ScanError
    from cnnscope.core.scan import open_scan
    from cnnscope.core.scan.embedding import embed

    scan = open_scan(folder)
    if scan.features is None:
        raise ScanError("This scan kept no pooled features (the model has no head layer to read "
                        "them at), so there is no map of the dataset.")
    rows, note = scan.scanned, ""
    most = MAX_POINTS.get(method, MAX_POINTS["pca"])
    if len(rows) > most:  # a seeded sample: the same map each time, in seconds not hours
        rows = np.sort(np.random.default_rng(0).choice(rows, most, replace=False))
        note = f"{most:,} of the {len(scan.scanned):,} images, chosen at random (seeded)"
    coords = embed(np.asarray(scan.features[rows]), method)
    labels = [scan.entries[i].label for i in rows]
    names = sorted(set(labels))
    index = {name: k for k, name in enumerate(names)}
    classes_of_model = scan.info.get("labels") or []
    predicted = [classes_of_model[int(scan.top5[i][0])] if scan.top5 is not None
                 and 0 <= int(scan.top5[i][0]) < len(classes_of_model) else "" for i in rows]
    return DatasetMapResult(folder, method, coords, [str(scan.data / scan.entries[i].path) for i in rows],
                            [index[label] for label in labels], [name or "(no class)" for name in names],
                            predicted, note)
