"""Fine-tuning runs on their own thread, so the viewer's engine stays free while a model trains.

The run loads its own copy of the model (from the same name and weights the window shows), so it
shares no state with the engine. Results come back as plain data through Qt signals.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any

from PySide6.QtCore import QObject, Signal


MAX_MISTAKES = 60  # pictures of wrongly classified validation images sent to the window


class Trainer(QObject):
    """One training run at a time; see the module docstring."""

    data_loaded = Signal(object)  # dict(summary, classes, skipped)
    reading = Signal(int, int)  # files read, files in all
    batch_done = Signal(object)  # core.training.BatchProgress
    epoch_done = Signal(object)  # core.training.EpochRecord
    finished = Signal(object)  # dict: the run's metrics, plain data
    saved = Signal(str)  # path
    dataset_made = Signal(str)  # folder
    failed = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._result = None
        self._spec = None

    @property
    def running(self) -> bool:
        """Whether a run (or a save) is in progress."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, model: str, weights: str, data: str, plan: dict[str, Any],
              config: dict[str, Any], device: str, given: Any = None, stated: tuple = ()) -> bool:
        """Begin a run; False if one is already going. ``given``: the core LoadedModel of a model
        handed in (cnnscope.show), which cannot be loaded again by name: a copy of it trains.
        ``stated``: what the user stated about their own model (services.model.LoadModel)."""
        if self.running:
            return False  # checked first: clearing the flag would undo a cancel in flight
        self._cancel.clear()
        return self._launch("cnnscope-training", self._run, model, weights, data, plan, config, device,
                            given, stated)

    def cancel(self) -> None:
        """Stop after the current batch; the best epoch so far is kept."""
        self._cancel.set()

    def save(self, path: str) -> bool:
        """Write the last run's model as a cnnscope checkpoint (atomically), on a thread."""
        return self._result is not None and self._launch("cnnscope-save", self._save, path)

    def make_dataset(self, folder: str) -> bool:
        """Draw the sample shapes dataset into ``folder`` on a thread."""
        return self._launch("cnnscope-dataset", self._make_dataset, folder)

    def _make_dataset(self, folder: str) -> None:
        from cnnscope.core.shapes import write_shape_folder

        write_shape_folder(folder)
        self.dataset_made.emit(folder)

    def wait(self, timeout: float = 10.0) -> None:
        """Cancel and join for at most ``timeout`` seconds (the window is closing)."""
        self._cancel.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _launch(self, name: str, work, *args) -> bool:
        """Run ``work(*args)`` on a new thread unless one is running; False if one is."""
        if self.running:
            return False
        self._thread = threading.Thread(target=self._guard, args=(work, *args), name=name, daemon=True)
        self._thread.start()
        return True

    def _guard(self, work, *args) -> None:
        from cnnscope.core.errors import CnnscopeError

        try:
            work(*args)
        except CnnscopeError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - a message, never a crash
            traceback.print_exc()
            self.failed.emit(f"Training failed: {type(exc).__name__}: {exc}")

    def _run(self, model: str, weights: str, data: str, plan: dict, config: dict, device: str,
             given: Any = None, stated: tuple = ()) -> None:
        from cnnscope.core.datasets import Augmentation, load_folder
        from cnnscope.core.devices import pick_device
        from cnnscope.core.freeze import FreezePlan, count_parameters
        from cnnscope.core.training import TrainingConfig, build_for_training, mistake_pictures, train
        from cnnscope.core.weights import load_model

        if given is not None:  # the model object shown: its own copy, the shown one stays as it is
            import copy
            from dataclasses import replace

            loaded = replace(given, module=copy.deepcopy(given.module), graph=None, graph_key=None)
        else:
            from .services.model import stated_hints

            loaded = load_model(model, weights, hints=stated_hints(stated))
        dataset = load_folder(data, loaded.spec.preprocessing, config.pop("val_fraction", 0.2),
                              config.get("seed", 0), progress=self.reading.emit, should_cancel=self._cancel.is_set)
        self.data_loaded.emit({"summary": dataset.summary(), "classes": dataset.classes,
                               "skipped": dataset.skipped})
        freeze = FreezePlan.from_dict(plan)
        network = build_for_training(loaded.module, loaded.spec, freeze, len(dataset.classes),
                                     seed=config.get("seed", 0))
        from cnnscope.core.transfer_maps import before_and_after, validation_features

        # the new head's input for the validation images before training: the map's "before"
        before = validation_features(network, dataset, loaded.spec.preprocessing)
        augmentation = Augmentation(**config.pop("augmentation", {}))
        result = train(network, freeze, dataset, loaded.spec.preprocessing,
                       TrainingConfig(augmentation=augmentation, **config), pick_device(device),
                       on_batch=self.batch_done.emit, on_epoch=self.epoch_done.emit,
                       should_cancel=self._cancel.is_set)
        self._result, self._spec = result, loaded.spec
        counts = count_parameters(network, freeze)
        feature_maps = None if result.cancelled and not result.history else before_and_after(
            before, validation_features(result.model, dataset, loaded.spec.preprocessing), dataset)
        wrong = result.mistakes(dataset.val_labels)
        self.finished.emit({
            "classes": result.classes, "confusion": result.confusion.tolist(),
            "per_class": result.per_class_accuracy, "val_accuracy": result.val_accuracy,
            "best_epoch": result.best_epoch, "cancelled": result.cancelled, "notes": result.notes,
            "model": loaded.name,
            "run": {"model": loaded.name, "preset": freeze.preset, "trainable": counts.trainable,
                    "frozen": counts.frozen, "epochs": len(result.history),
                    "seconds": result.seconds, "val_accuracy": result.val_accuracy,
                    "learning_rate": result.config.learning_rate, "seed": result.config.seed,
                    "curve": [(r.epoch, r.val_accuracy, r.train_accuracy) for r in result.history]},
            # the first MAX_MISTAKES validation images it gets wrong, as pictures (plain data)
            "mistakes": mistake_pictures(result, dataset, MAX_MISTAKES),
            "mistakes_total": len(wrong),
            # the validation images' pooled features in 2-D, before and after (plain arrays)
            "feature_maps": feature_maps})

    def _save(self, path: str) -> None:
        from cnnscope.core.training import save_trained

        self.saved.emit(str(save_trained(self._result, self._spec, path)))
