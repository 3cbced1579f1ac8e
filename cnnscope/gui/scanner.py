"""Dataset scans run on their own thread, so the viewer's engine stays free while a folder streams
through a model (minutes to hours). The scan loads its own copy of the model (from the name,
weights and stated details the window shows, or a copy of a model handed in), so it shares no
state with the engine; progress and the outcome come back as plain data through Qt signals.
Cancel stops after the batch in flight; the scan folder keeps what was done, and scanning the
same folder again continues it."""

from __future__ import annotations

import threading
import traceback
from typing import Any

from PySide6.QtCore import QObject, Signal


class Scanner(QObject):
    """One scan at a time; see the module docstring."""

    progress = Signal(int, int, object)  # images done, images in all, seconds left (or None)
    finished = Signal(object)  # dict: folder, scanned, skipped [(path, reason)], complete, seconds
    failed = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether a scan is in progress."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, model: str, weights: str, data: str, out: str, layers: tuple[str, ...],
              top_k: int = 9, device: str = "auto", given: Any = None, stated: tuple = (),
              workers: int | None = None) -> bool:
        """Begin scanning ``data`` into ``out``; False if a scan is already running. ``given``:
        the core LoadedModel of a model handed in (a copy of it scans); ``stated``: what the user
        stated about their own model (services.model.LoadModel)."""
        if self.running:
            return False
        self._cancel.clear()
        self._thread = threading.Thread(
            target=self._guard, name="cnnscope-scan", daemon=True,
            args=(model, weights, data, out, layers, top_k, device, given, stated, workers))
        self._thread.start()
        return True

    def cancel(self) -> None:
        """Stop after the batch in flight (what was scanned stays, and continues next time)."""
        self._cancel.set()

    def wait(self, timeout: float = 10.0) -> None:
        """Cancel and join for at most ``timeout`` seconds (the window is closing)."""
        self._cancel.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _guard(self, *args) -> None:
        from cnnscope.core.errors import CnnscopeError

        try:
            self._run(*args)
        except CnnscopeError as exc:
            self.failed.emit(str(exc))
        except MemoryError:
            self.failed.emit("The scan ran out of memory; try a smaller batch.")
        except Exception as exc:  # noqa: BLE001 - a message, never a crash
            traceback.print_exc()
            self.failed.emit(f"The scan failed: {type(exc).__name__}: {exc}")

    def _run(self, model, weights, data, out, layers, top_k, device, given, stated, workers) -> None:
        from cnnscope.core.devices import pick_device
        from cnnscope.core.scan import ScanOptions, scan_folder
        from cnnscope.core.weights import load_model

        if given is not None:  # a model handed in: its own copy, the shown one stays as it is
            import copy
            from dataclasses import replace

            loaded = replace(given, module=copy.deepcopy(given.module), graph=None, graph_key=None,
                             layer_tables={})
        else:
            from .services.model import stated_hints

            loaded = load_model(model, weights, hints=stated_hints(stated))
        # decoding threads, not processes: forking a process that runs Qt's threads is unsafe, and
        # spawned workers ran the script that called cnnscope.show() again (a second window)
        options = ScanOptions(layers=tuple(layers), top_k=top_k, workers=workers, model_ref=model,
                              weights_ref=weights, decoders="threads")
        summary = scan_folder(loaded, data, out, options, pick_device(device),
                              progress=lambda p: self.progress.emit(p.done, p.total, p.eta),
                              should_cancel=self._cancel.is_set)
        self.finished.emit({"folder": str(summary.folder), "scanned": summary.scanned,
                            "skipped": summary.skipped, "complete": summary.complete,
                            "seconds": summary.seconds, "resumed_from": summary.resumed_from,
                            "total": summary.total})
