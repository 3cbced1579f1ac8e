"""The Transfer learning tab's side of the window: the trainer thread and its files.

A mixin of :class:`~cnnscope.gui.main_window.MainWindow`: it uses the window's views and engine."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from ..trainer import Trainer


class TransferPart:
    """The Transfer learning tab's side of the window (see the module docstring)."""

    def _connect_trainer(self) -> None:
        self.trainer = Trainer()
        t, panel = self.trainer, self.transfer
        t.reading.connect(panel.show_reading)
        t.data_loaded.connect(panel.show_data)
        t.batch_done.connect(panel.show_batch)
        t.epoch_done.connect(panel.show_epoch)
        t.finished.connect(panel.show_finished)
        t.failed.connect(panel.show_error)
        for ended in (t.finished, t.failed):  # after the panel's own slots: it is idle by then
            ended.connect(lambda _=None: self._apply_waiting_transfer_model())
        t.saved.connect(self._on_model_saved)
        t.dataset_made.connect(self._on_dataset_made)
        panel.start_requested.connect(self.start_training)
        panel.cancel_requested.connect(t.cancel)
        panel.save_requested.connect(self.save_trained_model)
        panel.open_requested.connect(self.open_trained_model)
        panel.browse_requested.connect(self._browse_dataset)
        panel.make_dataset_requested.connect(self.make_sample_dataset)
        self._trained_path: str | None = None
        self._waiting_transfer_model: tuple | None = None

    def _set_transfer_model(self, layout: dict | None, name: str) -> None:
        """Show a newly loaded model's layers in the panel, or, while a run trains the previous
        model, once that run ends: until then its curves and its plan belong together."""
        if self.transfer.running:  # the panel's state, kept on this thread: no race with the run's end
            self._waiting_transfer_model = (layout, name)
            self.transfer.status.setText(f"still training the previous model; {name} is in the "
                                         "viewer and its layers show here when this run ends")
        else:
            self.transfer.set_model(layout, name)

    def _apply_waiting_transfer_model(self) -> None:
        if self._waiting_transfer_model is not None:
            waiting, self._waiting_transfer_model = self._waiting_transfer_model, None
            self.transfer.set_model(*waiting)

    def start_training(self) -> None:
        """Train the shown model on the chosen folder with the panel's plan and settings."""
        info = self.session.model
        folder = self.transfer.folder.text().strip()
        if info is None:
            self.transfer.show_error("No model is loaded yet.")
            return
        if self.trainer.running:  # the button is disabled then; a shortcut or a script may not know
            return
        if not folder:
            self.transfer.show_error("Choose a folder of images first (one subfolder per class), "
                                     "or make the sample dataset.")
            return
        self.transfer.set_running(True)
        self.transfer.status.setText("reading images...")
        self.trainer.start(info["name"], info["weights"], folder, self.transfer.plan(),
                           self.transfer.config(), self.device_box.currentData())

    def save_trained_model(self) -> None:
        """Save the last run as a checkpoint file the model chooser can open."""
        path, _ = QFileDialog.getSaveFileName(self, "Save fine-tuned model", "cnnscope-finetuned.pt",
                                              "cnnscope checkpoint (*.pt)")
        if path:
            self.trainer.save(path)

    def _on_model_saved(self, path: str) -> None:
        self._trained_path = path
        self.transfer.status.setText(f"saved {path}")
        self.transfer.open.setEnabled(True)

    def open_trained_model(self) -> None:
        """Load the saved checkpoint into the viewer: its classes, maps and heatmaps."""
        if self._trained_path:
            self._weights_file = self._trained_path
            self._load_selected(weights=self._trained_path)
            self.tabs.setCurrentWidget(self.features)

    def _browse_dataset(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Image folder (one subfolder per class)")
        if folder:
            self.transfer.folder.setText(folder)

    def make_sample_dataset(self) -> None:
        """Draw the sample dataset into a folder the user picks (File menu or the panel)."""
        parent = QFileDialog.getExistingDirectory(self, "Where to put the sample dataset")
        if parent:
            self.tabs.setCurrentWidget(self.transfer)
            self.transfer.status.setText("drawing the sample dataset...")
            self.trainer.make_dataset(str(Path(parent) / "cnnscope-shapes"))

    def _on_dataset_made(self, folder: str) -> None:
        self.transfer.folder.setText(folder)
        self.transfer.status.setText(f"sample dataset ready in {folder}: three shapes the demo model "
                                     "never saw. Press Train.")
