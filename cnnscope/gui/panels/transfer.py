"""The Transfer learning panel: freeze layers of the session's model and fine-tune it on a folder
of images, on a thread of its own (the viewer's engine stays free), then save or open the result.

While a run trains, a newly loaded model waits: the panel shows it once the run ends, so the
curves and the plan on screen always belong together."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog

from ..session import Session
from ..trainer import Trainer
from ..views.transfer import TransferPanel


class TransferLearningPanel(TransferPanel):
    """See the module docstring."""

    open_model = Signal(str, str)  # model name, checkpoint path: for the window's model chooser
    shown_wanted = Signal()  # the panel asks to be the current tab (a sample dataset is drawn)

    def __init__(self, session: Session, engine, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.trainer = t = Trainer()
        self._trained_path: str | None = None
        self._waiting_model: tuple | None = None
        engine.ready.connect(lambda catalogue: self.set_presets(catalogue.presets,
                                                                catalogue.preset_defaults))
        session.model_changed.connect(self._on_model)
        t.reading.connect(self.show_reading)
        t.data_loaded.connect(self.show_data)
        t.batch_done.connect(self.show_batch)
        t.epoch_done.connect(self.show_epoch)
        t.finished.connect(self.show_finished)
        t.failed.connect(self.show_error)
        for ended in (t.finished, t.failed):  # after the slots above: the panel is idle by then
            ended.connect(lambda _=None: self._apply_waiting_model())
        t.saved.connect(self._on_saved)
        t.dataset_made.connect(self._on_dataset_made)
        self.start_requested.connect(self.start_training)
        self.cancel_requested.connect(t.cancel)
        self.save_requested.connect(self.save_trained_model)
        self.open_requested.connect(self.open_trained_model)
        self.browse_requested.connect(self._browse)
        self.make_dataset_requested.connect(self.make_sample_dataset)
        self.runs.export_csv_requested.connect(self.export_runs_csv)
        self.runs.export_png_requested.connect(self.export_runs_png)

    def _on_model(self, model) -> None:
        if model is None:
            return
        if self.running:  # the panel's state, kept on this thread: no race with the run's end
            self._waiting_model = (model.freeze, model.name)
            self.status.setText(f"still training the previous model; {model.name} is in the "
                                "viewer and its layers show here when this run ends")
        else:
            self.set_model(model.freeze, model.name)

    def _apply_waiting_model(self) -> None:
        if self._waiting_model is not None:
            waiting, self._waiting_model = self._waiting_model, None
            self.set_model(*waiting)

    def start_training(self) -> None:
        """Train the shown model on the chosen folder with the panel's plan and settings."""
        model = self.session.model
        folder = self.folder.text().strip()
        if model is None:
            self.show_error("No model is loaded yet.")
            return
        if self.trainer.running:  # the button is disabled then; a shortcut or a script may not know
            return
        if not folder:
            self.show_error("Choose a folder of images first (one subfolder per class), "
                            "or make the sample dataset.")
            return
        self.set_running(True)
        self.status.setText("reading images...")
        # a user's model is loaded again as it was asked for (its file, timm, .pt2); one handed
        # in as an object trains as a copy of that object
        self.trainer.start(model.asked_as or model.name, model.weights, folder, self.plan(), self.config(),
                           model.device_choice, given=model.given, stated=model.stated)

    def save_trained_model(self) -> None:
        """Save the last run as a checkpoint file the model chooser can open."""
        path, _ = QFileDialog.getSaveFileName(self, "Save fine-tuned model", "cnnscope-finetuned.pt",
                                              "cnnscope checkpoint (*.pt)")
        if path:
            self.trainer.save(path)

    def _on_saved(self, path: str) -> None:
        self._trained_path = path
        self.status.setText(f"saved {path}")
        self.open.setEnabled(True)

    def open_trained_model(self) -> None:
        """Ask the window to load the saved checkpoint into the viewer."""
        if self._trained_path and self.session.model is not None:
            self.open_model.emit(self.session.model.name, self._trained_path)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Image folder (one subfolder per class)")
        if folder:
            self.folder.setText(folder)

    def make_sample_dataset(self) -> None:
        """Draw the sample dataset into a folder the user picks (File menu or the panel)."""
        parent = QFileDialog.getExistingDirectory(self, "Where to put the sample dataset")
        if parent:
            self.shown_wanted.emit()
            self.status.setText("drawing the sample dataset...")
            self.trainer.make_dataset(str(Path(parent) / "cnnscope-shapes"))

    def _on_dataset_made(self, folder: str) -> None:
        self.folder.setText(folder)
        self.status.setText(f"sample dataset ready in {folder}: three shapes the demo model "
                            "never saw. Press Train.")

    def export_runs_csv(self) -> None:
        """Save the table of runs as CSV."""
        path, _ = QFileDialog.getSaveFileName(self, "Save the runs", "cnnscope-runs.csv", "CSV (*.csv)")
        if path:
            self._write(self.runs.write_csv, path)

    def export_runs_png(self) -> None:
        """Save the overlaid curves as PNG."""
        path, _ = QFileDialog.getSaveFileName(self, "Save the curves", "cnnscope-runs.png", "PNG (*.png)")
        if path:
            self._write(self.runs.write_png, path)

    def _write(self, write, path: str) -> None:
        try:
            write(path)
        except OSError as exc:  # a folder we may not write to: say so, keep everything
            self.status.setText(f"<span style='color:#c92a2a'>Could not write {path}: "
                                f"{exc.strerror or exc}</span>")
            return
        self.status.setText(f"saved {path}")

    def shutdown(self, timeout: float = 0.5) -> None:
        """Cancel a run and wait for it briefly (the window is closing)."""
        self.trainer.cancel()
        self.trainer.wait(timeout=timeout)
