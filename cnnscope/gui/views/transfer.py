"""The transfer-learning panel: which layers learn, the data, the run, and what it reached.

Left: presets and the model's blocks with a checkbox per layer (tri-state per block), with live
trainable / frozen parameter counts. Right: the image folder, training settings, progress with
ETA and Cancel, loss and accuracy curves, and after the run a confusion matrix and per-class
accuracy; every run of the session in a table of its own (views/runs.py). Everything here is plain
data; training itself runs in gui/trainer.py.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QGridLayout, QHBoxLayout,
                               QLabel, QLineEdit, QProgressBar, QPushButton, QSlider, QSpinBox,
                               QSplitter, QTabWidget, QTreeWidget, QTreeWidgetItem, QVBoxLayout,
                               QWidget)

from .dataset_map import DatasetMapView
from .runs import RunsView

CUSTOM = ("custom", "Custom (tick the layers that learn)", "Your own choice of trainable layers.")
_CHECK = Qt.CheckState


class TransferPanel(QWidget):
    """See the module docstring."""

    start_requested = Signal()
    cancel_requested = Signal()
    save_requested = Signal()
    open_requested = Signal()
    browse_requested = Signal()
    make_dataset_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._layout_info: dict | None = None
        self._updating = False
        self._classes = 0
        self._canvas = None

        # --- left: the freeze plan
        self.preset = QComboBox()
        self.preset.setToolTip("Which layers learn: the four textbook cases, or your own ticks")
        self.blocks_slider = QSlider(Qt.Orientation.Horizontal)
        self.blocks_slider.setToolTip("How many blocks, from the input, stay frozen")
        self.blocks_label = QLabel("")
        self.cut = QComboBox()
        self.cut.setToolTip("The block after which the network is cut and the new head goes")
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Learns / layer", "Parameters"])
        self.tree.setToolTip("Tick the layers that learn; a block's box sets all its layers")
        self.counts = QLabel("")
        self.counts.setWordWrap(True)
        self.why = QLabel("")  # why the chosen case starts from its settings
        self.why.setWordWrap(True)
        self._defaults: dict = {}
        note = QLabel("BatchNorm layers inside frozen parts stay in eval mode: they keep the "
                      "statistics the weights were trained with (ImageNet's, for torchvision's "
                      "models). The head is replaced to fit your classes.")
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(mid)")
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(QLabel("<b>Which layers learn</b>"))
        left_layout.addWidget(self.preset)
        left_layout.addWidget(self.why)
        row = QHBoxLayout()
        row.addWidget(QLabel("Frozen blocks"))
        row.addWidget(self.blocks_slider, 1)
        row.addWidget(self.blocks_label)
        left_layout.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel("Cut after"))
        row.addWidget(self.cut, 1)
        left_layout.addLayout(row)
        left_layout.addWidget(self.tree, 1)
        left_layout.addWidget(self.counts)
        left_layout.addWidget(note)

        # --- right: data, settings, progress, results
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("A folder with one subfolder of images per class")
        browse = QPushButton("Browse...")
        sample = QPushButton("Make sample dataset...")
        sample.setToolTip("Draw arrows, moons and diamonds (shapes the demo model never saw) into a folder")
        self.data_summary = QLabel("")
        self.data_summary.setWordWrap(True)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 500)
        self.epochs.setValue(5)
        self.batch = QSpinBox()
        self.batch.setRange(1, 1024)
        self.batch.setValue(32)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(1e-5, 1.0)
        self.lr.setSingleStep(0.0005)
        self.lr.setValue(0.001)
        self.optimizer = QComboBox()
        self.optimizer.addItem("Adam", "adam")
        self.optimizer.addItem("SGD with momentum", "sgd")
        self.val_split = QSpinBox()
        self.val_split.setRange(5, 50)
        self.val_split.setValue(20)
        self.val_split.setSuffix(" %")
        self.val_split.setToolTip("Held out for validation (seeded), unless the folder has train/ and val/")
        self.seed = QSpinBox()
        self.seed.setRange(0, 999_999)
        self.seed.setToolTip("Starts the new head's weights and the batch order: the same seed, "
                             "data and settings give the same run (cnnscope train --seed)")
        self.flip, self.crop, self.color = QCheckBox("flip"), QCheckBox("crop"), QCheckBox("colour")
        augment = QHBoxLayout()
        for box in (self.flip, self.crop, self.color):
            box.setToolTip("Random changes to training images each epoch (turns the feature cache off)")
            augment.addWidget(box)
        form = QGridLayout()  # two settings a row: the results below keep their room
        pairs = (("Epochs", self.epochs, "Batch size", self.batch),
                 ("Learning rate", self.lr, "Optimiser", self.optimizer),
                 ("Validation", self.val_split, "Seed", self.seed))
        for row, (first_label, first, second_label, second) in enumerate(pairs):
            form.addWidget(QLabel(first_label), row, 0)
            form.addWidget(first, row, 1)
            form.addWidget(QLabel(second_label), row, 2)
            form.addWidget(second, row, 3)
        form.addWidget(QLabel("Augmentation"), len(pairs), 0)
        form.addLayout(augment, len(pairs), 1, 1, 3)
        form.setColumnStretch(1, 1)
        form.setColumnStretch(3, 1)
        self.start = QPushButton("Train")
        self.start.setToolTip("Start training (runs in the background; the viewer stays usable)")
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop after this batch and keep the best epoch so far")
        self.save = QPushButton("Save model...")
        self.save.setToolTip("Write a cnnscope checkpoint: weights, classes, freeze plan, metrics")
        self.open = QPushButton("Open in viewer")
        self.open.setToolTip("Load the saved model in the main views (predictions, feature maps, Grad-CAM)")
        buttons = QHBoxLayout()
        for button in (self.start, self.cancel, self.save, self.open):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.epoch_bar, self.batch_bar = QProgressBar(), QProgressBar()
        self.epoch_bar.setFormat("epoch %v / %m")
        self.batch_bar.setFormat("batch %v / %m")
        self.eta = QLabel("")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.plot_area = QVBoxLayout()
        self.per_class = QLabel("")
        self.per_class.setWordWrap(True)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        folder_row.addWidget(sample)
        right_layout.addLayout(folder_row)
        right_layout.addWidget(self.data_summary)
        right_layout.addLayout(form)
        right_layout.addLayout(buttons)
        bars = QHBoxLayout()
        bars.addWidget(self.epoch_bar)
        bars.addWidget(self.batch_bar)
        bars.addWidget(self.eta)
        right_layout.addLayout(bars)
        right_layout.addWidget(self.status)
        this_run = QWidget()
        this_layout = QVBoxLayout(this_run)
        this_layout.setContentsMargins(0, 0, 0, 0)
        this_layout.addLayout(self.plot_area, 1)
        this_layout.addWidget(self.per_class)
        self.runs = RunsView()
        self.results = QTabWidget()
        self.results.addTab(this_run, "This run")
        self.results.addTab(self.runs, "All runs")
        self.results.setTabToolTip(1, "Every run of this session: compare the four cases, see the "
                                      "images each got wrong")
        self.map_before = DatasetMapView("Before fine-tuning")
        self.map_after = DatasetMapView("After")
        for view in (self.map_before, self.map_after):
            view.clear("After a run: each validation image where its features land (PCA).")
        maps = QWidget()
        maps_layout = QHBoxLayout(maps)
        maps_layout.setContentsMargins(0, 0, 0, 0)
        maps_layout.addWidget(self.map_before)
        maps_layout.addWidget(self.map_after)
        self.results.addTab(maps, "Features map")
        self.results.setTabToolTip(2, "The validation images as the network sees them (the head's "
                                      "input, in 2-D), before and after fine-tuning: classes that "
                                      "pull apart are easy for the new head")
        right_layout.addWidget(self.results, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([330, 520])
        layout = QVBoxLayout(self)
        layout.addWidget(split)

        self.set_running(False)
        self.save.setEnabled(False)
        self.open.setEnabled(False)
        self.preset.currentIndexChanged.connect(lambda _: self._use_preset_defaults())
        self.blocks_slider.valueChanged.connect(lambda _: self._apply_preset())
        self.cut.currentIndexChanged.connect(lambda _: self._apply_preset())
        self.tree.itemChanged.connect(self._on_item_changed)
        self.start.clicked.connect(self.start_requested.emit)
        self.cancel.clicked.connect(self.cancel_requested.emit)
        self.save.clicked.connect(self.save_requested.emit)
        self.open.clicked.connect(self.open_requested.emit)
        browse.clicked.connect(self.browse_requested.emit)
        sample.clicked.connect(self.make_dataset_requested.emit)

    # --- the freeze plan ---------------------------------------------------------------------

    def set_presets(self, presets: dict[str, tuple[str, str]], defaults: dict | None = None) -> None:
        """Offer core.freeze.PRESETS (key -> (label, when it fits)), then 'custom'; ``defaults``
        (core.training.PRESET_DEFAULTS) are the settings each case starts from."""
        self._defaults = defaults or {}
        self._updating = True
        self.preset.clear()
        for index, (key, (label, tip)) in enumerate([*presets.items(), (CUSTOM[0], CUSTOM[1:])]):
            self.preset.addItem(label, key)
            self.preset.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)
        self._updating = False
        self._use_preset_defaults()

    def set_model(self, layout: dict | None, name: str) -> None:
        """A new model: rebuild the tree from its blocks (``layout`` from the engine; None when
        the model has no head cnnscope can replace)."""
        self._layout_info = layout
        self._updating = True
        self.tree.clear()
        self.cut.clear()
        if layout is None:
            self.counts.setText(f"{name} has no linear head to replace: it cannot be fine-tuned here.")
            self.start.setEnabled(False)
            self._updating = False
            return
        for block, leaves in layout["blocks"].items():
            item = QTreeWidgetItem([block, f"{sum(layout['params'][n] for n in leaves):,}"])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsAutoTristate)
            item.setData(0, Qt.ItemDataRole.UserRole, block)
            for leaf in leaves:
                child = QTreeWidgetItem([leaf, f"{layout['params'][leaf]:,}"])
                child.setFlags(child.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                child.setCheckState(0, _CHECK.Unchecked)
                child.setData(0, Qt.ItemDataRole.UserRole, leaf)
                item.addChild(child)
            self.tree.addTopLevelItem(item)
            self.cut.addItem(block, block)
        head = QTreeWidgetItem([f"{layout['head']} (new head)", ""])
        head.setFlags(Qt.ItemFlag.ItemIsEnabled)
        head.setCheckState(0, _CHECK.Checked)
        head.setToolTip(0, "Always learns: it is new, sized to your classes")
        self.tree.addTopLevelItem(head)
        self._head_item = head
        self.tree.resizeColumnToContents(0)
        count = len(layout["blocks"])
        self.blocks_slider.setRange(0, count)
        self.blocks_slider.setValue(count // 2)
        self.cut.setCurrentIndex(max(0, count // 2 - 1))
        self.start.setEnabled(True)
        self._updating = False
        self._use_preset_defaults()

    def _use_preset_defaults(self) -> None:
        """A case chosen (or a new model): start from its settings, and say why they suit it."""
        defaults = self._defaults.get(self.preset_key)
        self.why.setText(defaults.why if defaults is not None else "")
        if defaults is not None and not self._updating:
            self._updating = True
            self.epochs.setValue(defaults.epochs)
            self.lr.setValue(defaults.learning_rate)
            self.batch.setValue(defaults.batch_size)
            if self._layout_info is not None:
                channels = self._layout_info.get("block_channels", {})
                planned = defaults.plan_arguments(list(self._layout_info["blocks"]),
                                                  [b for b, c in channels.items() if c is not None])
                self.blocks_slider.setValue(planned["n"])
                self.cut.setCurrentIndex(max(0, self.cut.findData(planned["cut_after"])))
            self._updating = False
        self._apply_preset()

    def set_classes(self, count: int) -> None:
        """The dataset's class count, for the new head's parameter count."""
        self._classes = count
        self._update_counts()

    @property
    def preset_key(self) -> str:
        """The chosen preset's key."""
        return self.preset.currentData()

    def _blocks(self) -> list[QTreeWidgetItem]:
        return [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount() - 1)]

    def _apply_preset(self) -> None:
        if self._updating or self._layout_info is None:
            return
        key = self.preset_key
        self.blocks_slider.setEnabled(key == "freeze-first")
        self.cut.setEnabled(key == "early-features")
        self.blocks_label.setText(str(self.blocks_slider.value()))
        if key == "custom":
            self._update_counts()
            return
        frozen = self.blocks_slider.value()
        cut = self.cut.currentIndex()
        self._updating = True
        for index, item in enumerate(self._blocks()):
            learns = (key == "fine-tune-all" or (key == "freeze-first" and index >= frozen))
            removed = key == "early-features" and index > cut
            item.setHidden(False)
            item.setDisabled(removed)
            for c in range(item.childCount()):
                item.child(c).setCheckState(0, _CHECK.Checked if learns else _CHECK.Unchecked)
                item.child(c).setDisabled(removed)
            item.setToolTip(0, "Cut off: not part of the trained network" if removed else "")
        self._updating = False
        self._update_counts()

    def _on_item_changed(self, _item: QTreeWidgetItem, column: int) -> None:
        if self._updating or column != 0:
            return
        if self.preset_key != "custom":  # a tick by hand makes the plan the user's own
            self._updating = True
            self.preset.setCurrentIndex(self.preset.findData("custom"))
            self._updating = False
        self._update_counts()

    def trainable_layers(self) -> list[str]:
        """Names of the ticked layers (the head excluded), in model order."""
        names = []
        for item in self._blocks():
            for c in range(item.childCount()):
                child = item.child(c)
                if child.checkState(0) == _CHECK.Checked and not child.isDisabled():
                    names.append(child.data(0, Qt.ItemDataRole.UserRole))
        return names

    def plan(self) -> dict:
        """The freeze plan as core.freeze.FreezePlan.as_dict() writes it."""
        key = self.preset_key
        layout = self._layout_info or {"head": ""}
        if key == "early-features":
            return {"preset": key, "trainable": ["head"], "cut_after": self.cut.currentData(),
                    "blocks_frozen": None}
        return {"preset": key, "trainable": self.trainable_layers() + [layout["head"]],
                "cut_after": None,
                "blocks_frozen": self.blocks_slider.value() if key == "freeze-first" else None}

    def _update_counts(self) -> None:
        layout = self._layout_info
        if layout is None:
            return
        params = layout["params"]
        trainable = sum(params[n] for n in self.trainable_layers())
        kept = [leaf for item in self._blocks() if not item.isDisabled()
                for leaf in layout["blocks"][item.data(0, Qt.ItemDataRole.UserRole)]]
        frozen = sum(params[n] for n in kept) - trainable
        if self._classes:
            inputs = layout["head_inputs"]
            if self.preset_key == "early-features":  # the new head reads the cut block's channels
                inputs = layout.get("block_channels", {}).get(self.cut.currentData())
            head = (inputs * self._classes + self._classes) if inputs else None
            head_text = f"new head {head:,}" if head is not None else "new head"
            trainable += head or 0
        else:
            head_text = "new head (sized when the data is read)"
        self.counts.setText(f"<b>{trainable:,}</b> parameters learn ({head_text}), "
                            f"<b>{frozen:,}</b> frozen")
        self.counts_values = (trainable, frozen)

    # --- the run -----------------------------------------------------------------------------

    def config(self) -> dict:
        """Training settings as core.training.TrainingConfig takes them (plus the split)."""
        return {"epochs": self.epochs.value(), "batch_size": self.batch.value(),
                "learning_rate": self.lr.value(), "optimizer": self.optimizer.currentData(),
                "augmentation": {"flip": self.flip.isChecked(), "crop": self.crop.isChecked(),
                                 "color": self.color.isChecked()},
                "val_fraction": self.val_split.value() / 100, "seed": self.seed.value()}

    @property
    def running(self) -> bool:
        """Whether a training run is under way (as this panel shows it)."""
        return self.cancel.isEnabled()

    def set_running(self, running: bool) -> None:
        """Enable what makes sense during / outside a run."""
        self.start.setEnabled(not running and self._layout_info is not None)
        self.cancel.setEnabled(running)
        for widget in (self.preset, self.tree, self.folder, self.epochs, self.batch, self.lr,
                       self.optimizer, self.val_split, self.seed, self.flip, self.crop, self.color):
            widget.setEnabled(not running)
        if running:
            self.save.setEnabled(False)
            self.open.setEnabled(False)
            self.history: list = []
            self.batch_losses: list[tuple[float, float]] = []
            self.eta.setText("")
            self.per_class.setText("")

    def show_reading(self, done: int, total: int) -> None:
        """Images read so far."""
        self.status.setText(f"reading images: {done} / {total}")

    def show_data(self, info: dict) -> None:
        """The dataset as read (summary, skipped files)."""
        text = info["summary"]
        if info["skipped"]:
            shown = "; ".join(f"{path}" for path, _ in info["skipped"][:5])
            text += f" (skipped: {shown}{' ...' if len(info['skipped']) > 5 else ''})"
        self.data_summary.setText(text)
        self.set_classes(len(info["classes"]))
        self.status.setText("training...")

    def show_batch(self, progress) -> None:
        """One batch done: bars, ETA, and the batch loss on the curve."""
        self.epoch_bar.setRange(0, progress.epochs)
        self.epoch_bar.setValue(progress.epoch - 1)
        self.batch_bar.setRange(0, progress.batches)
        self.batch_bar.setValue(progress.batch)
        minutes, seconds = divmod(int(progress.eta_seconds + 0.5), 60)
        self.eta.setText(f"ETA {minutes}:{seconds:02d}")
        self.batch_losses.append((progress.epoch - 1 + progress.batch / progress.batches, progress.loss))

    def show_epoch(self, record) -> None:
        """One epoch done: redraw the curves."""
        self.history.append(record)
        self.epoch_bar.setValue(record.epoch)
        self._plot()

    def show_finished(self, info: dict) -> None:
        """The run ended: confusion matrix, per-class accuracy, notes."""
        self.set_running(False)
        self.save.setEnabled(True)
        accuracy = info["val_accuracy"]
        parts = [f"validation accuracy {accuracy:.1%} (epoch {info['best_epoch']})"
                 if accuracy is not None and info["best_epoch"] else
                 "no validation images" if accuracy is None else
                 f"validation accuracy {accuracy:.1%}"]
        parts += info["notes"]
        self.status.setText("; ".join(parts))
        self.per_class.setText("Per class: " + ", ".join(
            f"{c} {a:.0%}" if a is not None else f"{c} -" for c, a in zip(info["classes"], info["per_class"])))
        self._plot(info)
        self.show_feature_maps(info.get("feature_maps"))
        if "run" in info:
            self.runs.add_run(info["run"], info["mistakes"], info["mistakes_total"])
            self.results.setTabText(1, f"All runs ({len(self.runs.runs)})")

    def show_feature_maps(self, maps: dict | None) -> None:
        """The validation images' maps before and after the run (core.transfer_maps), or a note."""
        if not maps:
            for view in (self.map_before, self.map_after):
                view.clear("Too few validation images for a map.")
            return
        names = [f"{maps['classes'][label]} (validation image {k + 1})" for k, label in enumerate(maps["labels"])]
        for view, key in ((self.map_before, "before"), (self.map_after, "after")):
            view.set_map(maps[key], maps["labels"], maps["classes"], names)

    def show_error(self, message: str) -> None:
        """A failed run: say why, keep the settings."""
        self.set_running(False)
        self.status.setText(f"<span style='color:#c92a2a'>{message}</span>")

    def _plot(self, finished: dict | None = None) -> None:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        if self._canvas is None:
            self._canvas = FigureCanvasQTAgg(Figure(figsize=(7, 2.6), layout="constrained"))
            self._canvas.setMinimumHeight(220)
            self.plot_area.addWidget(self._canvas)
        figure = self._canvas.figure
        figure.clear()
        columns = 3 if finished else 2
        loss, acc = figure.add_subplot(1, columns, 1), figure.add_subplot(1, columns, 2)
        epochs = [r.epoch for r in self.history]
        if self.batch_losses:
            x, y = zip(*self.batch_losses)
            loss.plot(x, y, color="0.75", linewidth=0.8, label="batch")
        loss.plot(epochs, [r.train_loss for r in self.history], "o-", label="train")
        acc.plot(epochs, [r.train_accuracy for r in self.history], "o-", label="train")
        if any(r.val_loss is not None for r in self.history):
            loss.plot(epochs, [r.val_loss for r in self.history], "s-", label="validation")
            acc.plot(epochs, [r.val_accuracy for r in self.history], "s-", label="validation")
        loss.set_title("loss", fontsize=9)
        acc.set_title("accuracy", fontsize=9)
        acc.set_ylim(0, 1.02)
        for axes in (loss, acc):
            axes.set_xlabel("epoch", fontsize=8)
            axes.tick_params(labelsize=7)
            axes.legend(fontsize=7)
        if finished:
            matrix = figure.add_subplot(1, columns, 3)
            values = finished["confusion"]
            matrix.imshow(values, cmap="Blues")
            names = finished["classes"]
            matrix.set_xticks(range(len(names)), names, rotation=45, fontsize=7, ha="right")
            matrix.set_yticks(range(len(names)), names, fontsize=7)
            matrix.set_xlabel("predicted", fontsize=8)
            matrix.set_ylabel("true", fontsize=8)
            matrix.set_title("confusion (val)", fontsize=9)
            if len(names) <= 12:
                for i, row in enumerate(values):
                    for j, v in enumerate(row):
                        matrix.text(j, i, str(v), ha="center", va="center", fontsize=7)
        self._canvas.draw_idle()

    def curve_points(self) -> int:
        """How many epoch points the curves show (for tests)."""
        return len(getattr(self, "history", []))
