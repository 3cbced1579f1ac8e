"""The model toolbar: which network, which weights, which device; the download's progress and
Cancel. It loads the chosen model and publishes it as the session's model, remembers the choice
(a weights file is reopened at the next launch), and puts the boxes back on the model really
loaded when a load fails or is cancelled."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QComboBox, QFileDialog, QInputDialog, QLabel, QMenu, QMessageBox,
                               QProgressBar, QPushButton, QToolBar)

from ..requester import Requester
from ..services.model import AdoptModel, LoadModel
from ..session import Session
from .model_details import ModelDetailsDialog

WEIGHT_CHOICES = (("pretrained", "Pretrained"), ("random", "Untrained (random)"),
                  ("file", "Load file..."))
WEIGHTS_FILTER = "PyTorch weights (*.pt *.pth *.bin);;All files (*)"


class ModelBar(QToolBar):
    """See the module docstring."""

    # text, level ("info", "error"), actions ((label, callback), ...): for the window's banner
    message = Signal(str, str, object)
    loading = Signal(str)  # a model is being loaded: the last message no longer applies

    def __init__(self, session: Session, engine, settings: QSettings, parent=None,
                 initial=None) -> None:
        super().__init__("Model", parent)
        self._initial = initial  # a core LoadedModel to show first (cnnscope.show), else None
        self._adopted: dict = {}  # name -> core LoadedModel handed in rather than loaded by name
        self._user_names: set[str] = set()  # "file.py:function" and "timm:NAME" models opened
        self._stated: dict[str, tuple] = {}  # per user model: what its user stated (model_details)
        self.setObjectName("model-toolbar")
        self.session, self.engine, self.settings = session, engine, settings
        self.requests = Requester(engine, self)
        self.models: list = []  # services.model.ModelInfo, from the catalogue
        self.default_model: str | None = None
        self.weights_file: str | None = None  # the weights file chosen last
        self._loading: tuple[str, str] | None = None  # (name, weights) of the newest load asked for
        self.status = QLabel("loading model...")  # for the window's status bar
        self.models_menu, self.devices_menu = QMenu("&Choose model"), QMenu("&Device")
        for menu in (self.models_menu, self.devices_menu):
            menu.setToolTipsVisible(True)
        self._build()
        engine.ready.connect(self._on_catalogue)
        session.inspection_changed.connect(lambda _result: self._update_status())

    def _build(self) -> None:
        self.model_box = QComboBox()
        self.model_box.setToolTip("The network to look inside")
        self.model_box.setMinimumContentsLength(18)
        self.weights_box = QComboBox()
        self.weights_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for key, text in WEIGHT_CHOICES:
            self.weights_box.addItem(text, key)
        self.weights_box.setToolTip("Pretrained downloads torchvision's ImageNet weights once, then "
                                    "uses the cache; untrained shows a random network")
        self.device_box = QComboBox()
        self.device_box.addItem("Auto", "auto")
        self.device_box.setToolTip("Where the network runs")
        self.download = QProgressBar()
        self.download.setMaximumWidth(220)
        self.download.setToolTip("Downloading pretrained weights (once: they are cached)")
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop the download and keep the current model")
        self.cancel.clicked.connect(self.cancel_download)
        for label, widget in (("Model ", self.model_box), (" Weights ", self.weights_box),
                              (" Device ", self.device_box)):
            self.addWidget(QLabel(label))
            self.addWidget(widget)
        # Widgets in a toolbar are shown and hidden through their actions (Qt's rule).
        self._download_actions = [self.addWidget(self.download), self.addWidget(self.cancel)]
        self._show_download(False)
        self.model_box.activated.connect(lambda _: self.load())
        self.weights_box.activated.connect(lambda _: self._weights_chosen())
        self.device_box.activated.connect(lambda _: self.load())

    def _add_action(self, menu: QMenu, text: str, slot, tip: str) -> None:
        action = QAction(text, menu)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)

    def _on_catalogue(self, catalogue) -> None:
        self.models, self.default_model = catalogue.models, catalogue.default_model
        self.model_box.clear()
        for info in self.models:
            tip = f"{info.family}, {info.num_params / 1e6:.1f}M parameters: {info.description}"
            self.model_box.addItem(info.name, info.name)
            self.model_box.setItemData(self.model_box.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
            self._add_action(self.models_menu, info.name, lambda _=False, n=info.name: self.load_named(n), tip)
        for device in catalogue.devices:
            self.device_box.addItem(device.upper(), device)
        for index in range(self.device_box.count()):
            data, text = self.device_box.itemData(index), self.device_box.itemText(index)
            self._add_action(self.devices_menu, text, lambda _=False, d=data: self._choose_device(d),
                             "Pick the best device present" if data == "auto" else f"Run the model on {text}")
        wanted = self.settings.value("model", self.models[0].name)
        self.model_box.setCurrentIndex(max(0, self.model_box.findData(wanted)))
        self.device_box.setCurrentIndex(max(0, self.device_box.findData(self.settings.value("device", "auto"))))
        weights = self.settings.value("weights", "pretrained")
        if weights == "file":  # reopen the file used last time (a missing one says so, then the demo)
            self.weights_file = self.settings.value("weights_file", None)
        self.weights_box.setCurrentIndex(max(0, self.weights_box.findData(weights)))
        if self._initial is not None:
            self.adopt(self._initial)
        else:
            self.load()

    def adopt(self, loaded) -> None:
        """Show ``loaded`` (a core LoadedModel built elsewhere: ``cnnscope.show(model)``); it joins
        the model box for this session under its own entry (a registry model of the same name
        keeps its own), and is never reopened at the next launch."""
        key = f"yours:{loaded.name}"
        self._adopted[key] = loaded
        if self.model_box.findData(key) < 0:
            self.model_box.addItem(f"{loaded.name} (yours)", key)
            self.model_box.setItemData(self.model_box.count() - 1, loaded.spec.description,
                                       Qt.ItemDataRole.ToolTipRole)
        self.model_box.setCurrentIndex(self.model_box.findData(key))
        self.load()

    def choose_user_model(self) -> None:
        """Ask for a model file: a torch.export program (.pt2, read as data), or a Python file and
        the function in it that builds the model (a .py runs: the dialogs say so)."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Open your model: a .pt2 program (read as data) or a Python file (it runs: only "
            "code you trust)", "",
            "Models (*.pt2 *.py);;torch.export programs (*.pt2);;Python files (*.py)")
        if not path:
            return
        name = path
        if not path.lower().endswith(".pt2"):
            function, ok = QInputDialog.getText(
                self, "Your model", f"The function in {Path(path).name} that returns the model\n"
                "(cnnscope runs this file: only open code you trust):", text="build")
            if not ok or not function.strip():
                return
            name = f"{path}:{function.strip()}"
        dialog = ModelDetailsDialog(Path(path).name, self._stated.get(name, ()), parent=self)
        if dialog.exec():
            self.open_user_model(name, stated=dialog.stated())

    def describe_model(self) -> None:
        """Ask again what cnnscope cannot work out about the user's model shown (input size,
        normalisation, class names) and open it again with the answers."""
        model = self.session.model
        key = (model.asked_as or model.name) if model is not None else None
        if key not in self._user_names and key not in self._adopted:
            self.message.emit("Only your own models can be described: cnnscope's own models state "
                              "their input size, normalisation and classes.", "info", ())
            return
        dialog = ModelDetailsDialog(self.model_box.currentText(), self._stated.get(key, ()),
                                    model.preprocessing, parent=self)
        if dialog.exec():
            self._stated[key] = dialog.stated()
            self.load_named(key, model.weights)

    def choose_timm_model(self) -> None:
        """Ask for a timm model name and whether to download its pretrained weights."""
        name, ok = QInputDialog.getText(self, "timm model", "timm model name (e.g. resnet18, "
                                        "convnext_tiny, efficientnet_b0):", text="resnet18")
        if not ok or not name.strip():
            return
        answer = QMessageBox.question(
            self, "timm model", f"Download {name.strip()}'s pretrained weights (once: they are "
            "cached)?\n(No: random weights, nothing downloaded.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        self.open_user_model(f"timm:{name.strip()}",
                             "pretrained" if answer == QMessageBox.StandardButton.Yes else "random")

    def open_user_model(self, name: str, weights: str = "pretrained", stated: tuple = ()) -> None:
        """Load a user model, ``path/to/net.py:function``, ``net.pt2`` or ``timm:NAME``, with what
        its user ``stated`` (model_details); it joins the model box for this session (never
        reopened, nor its file run, by itself at the next launch)."""
        self._user_names.add(name)
        self._stated[name] = stated
        if self.model_box.findData(name) < 0:
            if name.startswith("timm:"):
                shown = name
            elif name.lower().endswith(".pt2"):
                shown = f"{Path(name).stem} (yours)"
            else:
                shown = f"{Path(name.rpartition(':')[0]).stem}.{name.rpartition(':')[2]} (yours)"
            self.model_box.addItem(shown, name)
            self.model_box.setItemData(self.model_box.count() - 1, name, Qt.ItemDataRole.ToolTipRole)
        self.model_box.setCurrentIndex(self.model_box.findData(name))
        self.load(weights)

    def load(self, weights: str | None = None) -> None:
        """Load the model the box shows with ``weights`` (default: the weights box's choice)."""
        name = self.model_box.currentData()
        if name is None:
            return
        if name in self._adopted:  # a model handed in: its own weights, or a file's in a copy
            file = weights if weights not in (None, "pretrained", "random", "given", "file") else "given"
            self._show_weights_choice(file)
            self.loading.emit(name)
            self.status.setText(f"loading {name}...")
            self._loading = (name, file)
            self.requests.ask(AdoptModel(self._adopted[name], self.device_box.currentData(), name,
                                         self._stated.get(name, ()), file),
                              self._on_loaded, self._on_failed)
            return
        choice = weights or self.weights_box.currentData()
        if choice in ("file", "given"):
            choice = self.weights_file or "pretrained"
        if name in self._user_names and choice == "given":
            choice = "pretrained"  # a factory's model as it built it
        self._show_weights_choice(choice)
        self.loading.emit(name)
        self.status.setText(f"loading {name}...")
        self._loading = (name, choice)
        self.requests.ask(LoadModel(name, choice, self.device_box.currentData(), self._stated.get(name, ())),
                          self._on_loaded, self._on_failed, self._on_progress)
        info = next((m for m in self.models if m.name == name), None)
        if choice == "pretrained" and info is not None and not info.weights_offline:
            self.download.setRange(0, 0)
            self._show_download(True)

    def load_named(self, name: str, weights: str | None = None) -> None:
        """Load model ``name``; with no ``weights``, the weights box's choice."""
        self.model_box.setCurrentIndex(self.model_box.findData(name))
        self.load(weights)

    def load_file(self, name: str, path: str) -> None:
        """Load model ``name`` with the weights file or checkpoint at ``path``."""
        self.weights_file = path
        self.load_named(name, path)

    def choose_weights_file(self, name: str | None = None) -> None:
        """Ask for a weights file and load it (into ``name``, default: the chosen model)."""
        path, _ = QFileDialog.getOpenFileName(self, "Load weights", "", WEIGHTS_FILTER)
        if path:
            self.load_file(name or self.model_box.currentData(), path)
        else:  # the dialog was closed: the toolbar names what is loaded again
            self._show_loaded_choice()

    def use_pretrained(self) -> None:
        """The registry's pretrained weights (downloaded once) for the chosen model."""
        self.load(weights="pretrained")

    def use_untrained(self) -> None:
        """Random weights for the chosen model."""
        self.load(weights="random")

    def _weights_chosen(self) -> None:
        if self.weights_box.currentData() == "file":
            self.choose_weights_file()
        else:
            self.load()

    def _choose_device(self, device: str) -> None:
        self.device_box.setCurrentIndex(self.device_box.findData(device))
        self.load()

    def cancel_download(self) -> None:
        """Stop a download; the previous model stays."""
        self.engine.cancel(LoadModel)
        self.requests.forget(LoadModel)
        self._show_download(False)
        self._show_loaded_choice()
        self.status.setText("download cancelled; the previous model stays")

    def _on_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.download.setRange(0, total)
            self.download.setValue(done)
            self.download.setFormat(f"{done / 1e6:.0f} / {total / 1e6:.0f} MB")
        self._show_download(True)

    def _show_download(self, shown: bool) -> None:
        for action in self._download_actions:
            action.setVisible(shown)

    def _on_loaded(self, model) -> None:
        self._show_download(False)
        # a user's model is never reopened (nor their code run) by itself at the next launch
        registry = any(info.name == (model.asked_as or model.name) for info in self.models)
        if registry and model.weights != "given":
            self.settings.setValue("model", model.name)
            self.settings.setValue("device", model.device_choice)
            if model.weights in ("pretrained", "random"):
                self.settings.setValue("weights", model.weights)
            else:
                self.settings.setValue("weights", "file")
                self.settings.setValue("weights_file", model.weights)
        self.session.inspection = None  # the old model's: every view of it empties
        self.session.model = model
        self._show_loaded_choice()  # a checkpoint or bare state_dict can name another architecture
        if model.notes:
            self.message.emit(" ".join(model.notes), "info", ())
        self._update_status()

    def _on_failed(self, message: str) -> None:
        self._show_download(False)
        failed_name, failed_weights = self._loading
        if self.session.model is None and self.default_model and \
                (failed_name, failed_weights) != (self.default_model, "pretrained"):
            # nothing to keep showing (a first launch whose remembered model is gone): the
            # bundled demo always loads, so the window is never left empty
            message += f" Showing the bundled {self.default_model} model meanwhile."
            self.load_named(self.default_model, "pretrained")
        actions = () if failed_name in self._adopted else (
            ("Load weights file...", lambda: self.choose_weights_file(failed_name)),
            ("Use untrained weights", lambda: self.load_named(failed_name, "random")))
        self.message.emit(message, "error", actions)
        self._show_loaded_choice()
        self._update_status()

    # --- what the boxes show -------------------------------------------------------------------

    def _show_weights_choice(self, choice: str) -> None:
        """Show ``choice`` ("pretrained", "random", "given" or a file path) in the weights box."""
        given = self.weights_box.findData("given")
        if choice == "given" and given < 0:
            self.weights_box.addItem("As given", "given")
        elif choice != "given" and given >= 0:  # only a model handed in or built by its user has it
            self.weights_box.removeItem(given)
        shown = choice if choice in ("pretrained", "random", "given") else "file"
        file_index = self.weights_box.findData("file")
        self.weights_box.setItemText(file_index, f"File: {Path(choice).name}" if shown == "file"
                                     else "Load file...")
        self.weights_box.setCurrentIndex(self.weights_box.findData(shown))

    def _show_loaded_choice(self) -> None:
        """Put the boxes back on the model that is really loaded (after a failed or cancelled load
        they would otherwise name a model the views do not show)."""
        model = self.session.model
        if model is None:
            return
        asked = model.asked_as or model.name
        self.model_box.setCurrentIndex(self.model_box.findData(asked))
        factory_built = asked in self._user_names and not asked.startswith("timm:") \
            and model.weights in ("pretrained", "random")  # a factory's or a program's own weights
        self._show_weights_choice("given" if factory_built else model.weights)
        self.device_box.setCurrentIndex(max(0, self.device_box.findData(model.device_choice)))

    def _update_status(self) -> None:
        model, inspection = self.session.model, self.session.inspection
        if model is None:
            return
        parts = [f"Device: {model.device}", f"Model: {model.name} ({model.weights_label})"]
        if inspection is not None:
            parts.append(f"Inspection: {inspection.elapsed_ms:.0f} ms")
        self.status.setText("   |   ".join(parts))
