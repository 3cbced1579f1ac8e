"""The main window: docks, menus, shortcuts, drag and drop. It asks the engine, then paints."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import (QApplication, QComboBox, QDockWidget, QFileDialog, QLabel,
                               QListWidget, QListWidgetItem, QMainWindow, QProgressBar, QPushButton,
                               QSplitter, QTabWidget, QToolBar, QVBoxLayout, QWidget)

from ..core.images import IMAGE_SUFFIXES
from ..core.render import save_png  # numpy + Pillow only: no torch on the window's side
from ..core.resources import sample_images
from .engine import Engine
from .panels.explanation import ExplanationPanel
from .panels.filters import FiltersPanel
from .panels.summary import SummaryPanel
from .qimage import to_pixmap
from .session import Session
from .thumbnails import ThumbnailLoader
from .window.attribution_tab import HeatmapsPart
from .window.compare_tab import ComparePart
from .window.live_tab import LivePart
from .window.presentation import PresentationPart
from .window.transfer_tab import TransferPart
from .views.attribution import AttributionView
from .views.banner import Banner
from .views.compare import CompareView
from .views.features import FeatureView
from .views.image_view import ImageView
from .views.layer_tree import LayerTree
from .views.live import LiveView
from .views.predictions import PredictionsView
from .views.presentation import PresentationView
from .views.transfer import TransferPanel

WEIGHT_CHOICES = (("pretrained", "Pretrained"), ("random", "Untrained (random)"),
                  ("file", "Load file..."))


class MainWindow(HeatmapsPart, LivePart, PresentationPart, ComparePart, TransferPart, QMainWindow):
    """Drop an image, see inside the network."""

    def __init__(self, engine: Engine, image: str | None = None,
                 settings: QSettings | None = None) -> None:
        super().__init__()
        self.engine = engine
        self.settings = settings or QSettings("cnnscope", "cnnscope")
        self.session = Session(layer=self.settings.value("layer", None))  # what the views show
        self.setWindowTitle("cnnscope")
        self.setAcceptDrops(True)
        self.resize(1400, 880)
        self._latest: dict[str, int] = {}  # kind -> id of the newest request
        self._wanted: dict | None = None  # the newest image asked for (may still be pending)
        self._models: list = []
        self._weights_file: str | None = None
        self._loading: str | None = None  # the model of the newest load request
        self._loading_weights: str | None = None  # and its weights choice
        self._default_model: str | None = None
        self._shown_layers: list = []
        self._build()
        self._connect_engine()
        self._initial_image = image or self._first_sample()
        self.status.setText("loading model...")

    # --- layout ------------------------------------------------------------------------------

    def _build(self) -> None:
        self.banner = Banner()
        self.input_view = ImageView("No image yet")
        self.input_view.setToolTip("The image as the network sees it (resized and cropped)")
        self.predictions = PredictionsView()
        self.features = FeatureView()
        self.filters = FiltersPanel(self.session, self.engine)
        self.attribution = AttributionView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.features, "Feature maps")
        self.tabs.addTab(self.filters, "Filters")
        self.tabs.addTab(self.attribution, "Where it looked")
        self.tabs.setTabToolTip(2, "Grad-CAM, CAM and other heatmaps: which pixels drove a prediction")
        self.transfer = TransferPanel()
        self.tabs.addTab(self.transfer, "Transfer learning")
        self.tabs.setTabToolTip(3, "Freeze layers and fine-tune the model on a folder of your images")
        self.compare = CompareView()
        self.tabs.addTab(self.compare, "Compare")
        self.tabs.setTabToolTip(4, "The same image through 2 to 4 models side by side")
        self.summary = SummaryPanel(self.session, self.engine)
        self.tabs.addTab(self.summary, "Summary")
        self.live = LiveView()
        self.tabs.addTab(self.live, "Live")
        self.tabs.setTabToolTip(6, "A camera or a video, inspected frame after frame")
        self.tabs.setTabToolTip(5, "The architecture as a table: shapes, parameters, multiply-adds, "
                                   "receptive fields")
        self._compared_source: dict | None = None
        self.layers = LayerTree()

        left = QSplitter(Qt.Orientation.Vertical)
        left.setMinimumWidth(300)
        left.addWidget(self.input_view)
        left.addWidget(self.predictions)
        main = QSplitter()
        main.addWidget(left)
        main.addWidget(self.tabs)
        main.setStretchFactor(0, 1)
        main.setStretchFactor(1, 3)
        main.setSizes([340, 1000])
        left.setSizes([330, 420])

        self.strip = QListWidget()
        self.strip.setViewMode(QListWidget.ViewMode.IconMode)
        self.strip.setIconSize(QSize(72, 72))
        self.strip.setGridSize(QSize(132, 90))  # one cell per sample, long names elided
        self.strip.setFlow(QListWidget.Flow.LeftToRight)
        self.strip.setWrapping(False)
        self.strip.setFixedHeight(110)
        self.strip.setToolTip("Sample images and queued drops: click one to inspect it")
        self.thumbnails = ThumbnailLoader()
        self.thumbnails.ready.connect(self._show_thumbnail)
        for path in sample_images():
            self._add_to_strip(path)
        self.strip.itemClicked.connect(lambda item: self.open_path(item.data(Qt.ItemDataRole.UserRole)))

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.banner)
        layout.addWidget(main, 1)
        layout.addWidget(self.strip)
        self.setCentralWidget(central)

        dock = self.layers_dock = QDockWidget("Layers", self)
        dock.setObjectName("layers")
        self.explanation = ExplanationPanel(self.session, self.engine)
        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(self.layers)
        side.addWidget(self.explanation)
        side.setSizes([560, 220])
        dock.setWidget(side)
        dock.setMinimumWidth(470)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.resizeDocks([dock], [440], Qt.Orientation.Horizontal)

        self._build_toolbar()
        self._build_menus()
        self.status = QLabel("")
        self.statusBar().addWidget(self.status, 1)

        self.layers.layer_selected.connect(self._on_layer_selected)
        self.features.settings_changed.connect(self._request_grid)
        self.features.channel_clicked.connect(self._request_channel)
        self.features.opacity_changed.connect(lambda _: self._request_channel(self.session.channel))
        self.predictions.class_clicked.connect(self.explain_class)
        self.attribution.request_changed.connect(self._request_attribution)
        self.attribution.style_changed.connect(self._restyle_attribution)
        self.attribution.cancel_requested.connect(self._cancel_attribution)
        self.attribution.export_requested.connect(self.export_overlay)
        self.tabs.currentChanged.connect(lambda _: self._attribution_stale and self._request_attribution())
        self.tabs.currentChanged.connect(lambda _: self._compare_if_stale())
        self.tabs.currentChanged.connect(self._fit_dock_to_tab)
        self._dock_was_open, self._on_wide_tab = True, False
        self.compare.run_requested.connect(self.run_comparison)
        self.compare.export_requested.connect(self.export_comparison)
        self.compare.cancel_requested.connect(self._cancel_comparison)
        self.presentation: PresentationView | None = None
        self._connect_live()
        self._connect_trainer()
        self._attribution_stale = False  # a slow method waits until its tab is shown

    def _build_toolbar(self) -> None:
        bar = QToolBar("Model")
        bar.setObjectName("model-toolbar")
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
        self.cancel.clicked.connect(self._cancel_download)
        for label, widget in (("Model ", self.model_box), (" Weights ", self.weights_box),
                              (" Device ", self.device_box)):
            bar.addWidget(QLabel(label))
            bar.addWidget(widget)
        # Widgets in a toolbar are shown and hidden through their actions (Qt's rule).
        self._download_actions = [bar.addWidget(self.download), bar.addWidget(self.cancel)]
        self._show_download(False)
        self.addToolBar(bar)
        self.model_box.activated.connect(lambda _: self._load_selected())
        self.weights_box.activated.connect(lambda _: self._weights_chosen())
        self.device_box.activated.connect(lambda _: self._load_selected())

    def _action(self, menu, text: str, shortcut, slot, tip: str) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        file_menu = self.file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Open image...", QKeySequence.StandardKey.Open, self.choose_image,
                     "Open an image file (Ctrl+O); you can also drop files on the window")
        self._action(file_menu, "&Paste image", QKeySequence.StandardKey.Paste, self.paste_image,
                     "Inspect the image on the clipboard (Ctrl+V)")
        self.camera_action = self._action(file_menu, "&Live camera", "Ctrl+L", self.start_camera,
                                          "Inspect a camera's frames continuously")
        self._action(file_menu, "Live from a &video file...", None, self.play_video,
                     "Inspect a video's frames continuously (a camera stand-in)")
        file_menu.addSeparator()
        self._action(file_menu, "&Export current view...", "Ctrl+E", self.export_view,
                     "Save the feature grid or filters shown now as PNG")
        self._action(file_menu, "Save feature &grid...", None, lambda: self._save(self.features.grid),
                     "Save the feature grid as PNG (the same pixels 'cnnscope render' writes)")
        self._action(file_menu, "Save &filters...", None, lambda: self._save(self.filters.first),
                     "Save the first-layer filters as PNG")
        self._action(file_menu, "Export heatmap &overlay...", "Ctrl+Shift+E", self.export_overlay,
                     "Save the heatmap over the photo as PNG (the same pixels 'cnnscope render "
                     "--cam' writes)")
        file_menu.addSeparator()
        self._action(file_menu, "Make sample &dataset...", None, self.make_sample_dataset,
                     "Draw a small folder of new shapes (arrow, moon, diamond) to try transfer learning")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close, "Quit cnnscope")
        view = self.menuBar().addMenu("&View")
        self._action(view, "&Next layer", "PgDown", lambda: self.layers.step(1),
                     "Show the next layer's feature maps (Page Down)")
        self._action(view, "&Previous layer", "PgUp", lambda: self.layers.step(-1),
                     "Show the previous layer's feature maps (Page Up)")
        self._action(view, "Zoom &in", QKeySequence.StandardKey.ZoomIn, self.features.grid.zoom_in,
                     "Enlarge the feature grid")
        self._action(view, "Zoom &out", QKeySequence.StandardKey.ZoomOut, self.features.grid.zoom_out,
                     "Shrink the feature grid")
        self._action(view, "&Fit feature grid", "Ctrl+0", self.features.grid.fit,
                     "Show the whole feature grid")
        colormaps = view.addMenu("&Colormap")
        colormaps.setToolTipsVisible(True)
        for index in range(self.features.cmap.count()):
            name = self.features.cmap.itemText(index)
            self._action(colormaps, name, None, lambda _=False, n=name: self.features.cmap.setCurrentText(n),
                         f"Draw activations with matplotlib's {name} colormap")
        self.sort_action = self._action(view, "&Most active channels first", None,
                                        self._toggle_sort, "Order the grid by mean activation")
        self.sort_action.setCheckable(True)
        self.features.sort.currentIndexChanged.connect(
            lambda _: self.sort_action.setChecked(self.features.sort_key == "mean"))
        view.addSeparator()
        self._action(view, "&Feature maps", "Ctrl+1", lambda: self.tabs.setCurrentIndex(0),
                     "Show the feature maps")
        self._action(view, "F&ilters", "Ctrl+2", lambda: self.tabs.setCurrentIndex(1),
                     "Show the filters")
        self._action(view, "&Where it looked", "Ctrl+3", lambda: self.tabs.setCurrentIndex(2),
                     "Show the heatmap of the pixels that drove a prediction (Grad-CAM and others)")
        self._action(view, "&Transfer learning", "Ctrl+4", lambda: self.tabs.setCurrentIndex(3),
                     "Freeze layers and fine-tune the model on a folder of images")
        self._action(view, "C&ompare models", "Ctrl+5", lambda: self.tabs.setCurrentIndex(4),
                     "The same image through 2 to 4 models side by side, layers matched")
        self._action(view, "Architecture &summary", "Ctrl+6", lambda: self.tabs.setCurrentIndex(5),
                     "Every layer's output shape, parameters, multiply-adds and receptive field")
        view.addSeparator()
        self._action(view, "&Presentation mode", "F11", self.toggle_presentation,
                     "Full screen, large type, keyboard-driven: arrows step layers, C toggles CAM, "
                     "1-9 pick samples, Esc leaves")
        model = self.menuBar().addMenu("&Model")
        self.models_menu = model.addMenu("&Choose model")
        self.models_menu.setToolTipsVisible(True)
        self.devices_menu = model.addMenu("&Device")
        self.devices_menu.setToolTipsVisible(True)
        model.addSeparator()
        self._action(model, "Use &pretrained weights", None, self._use_pretrained,
                     "torchvision's ImageNet weights (downloaded once, then cached); the demo's own")
        self._action(model, "Load &weights file...", None, self._choose_weights_file,
                     "Load a state_dict or cnnscope checkpoint for the chosen model")
        self._action(model, "Use &untrained weights", None, self._use_untrained,
                     "Random weights: see what a network looks like before training")
        self._action(model, "&Cancel download", None, self._cancel_download,
                     "Stop a pretrained download and keep the current model")
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&About cnnscope", None, self._about, "What cnnscope is")

    # --- engine wiring -----------------------------------------------------------------------

    def _connect_engine(self) -> None:
        e = self.engine
        e.ready.connect(self._on_ready)
        e.model_loaded.connect(self._fresh("load", self._on_model_loaded))
        e.progress.connect(self._on_progress)
        e.inspected.connect(self._fresh("inspect", self._on_inspected))
        e.grid_ready.connect(self._fresh("grid", self.features.show_grid))
        e.grid_ready.connect(lambda *_: self._refresh_presentation())
        e.channel_ready.connect(self._fresh("channel", self.features.show_channel))
        e.attribution_ready.connect(self._fresh("attribution view", self._on_attribution))
        self.session.explained_class_changed.connect(self.predictions.highlight)
        e.attribution_ready.connect(lambda *_: self._refresh_presentation())
        e.compare_column.connect(self._fresh("compare", self.compare.show_column))
        e.compare_done.connect(self._fresh("compare", self.compare.done))
        e.compare_exported.connect(lambda _id, path: self.compare.status.setText(f"saved {path}"))
        e.failed.connect(self._on_failed)

    def _on_attribution(self, result) -> None:
        self.attribution.show_result(result)
        self.session.explained_class = result.label

    def _submit(self, kind: str, **params) -> int:
        self._latest[kind] = self.engine.submit(kind, **params)
        return self._latest[kind]

    def _fresh(self, kind: str, slot):
        """Wrap ``slot`` so results older than the newest request of their kind are dropped."""
        def receive(request_id: int, payload) -> None:
            if request_id == self._latest.get(kind):
                slot(payload)
        return receive

    def _on_ready(self, models: list, devices: list, catalogue: dict) -> None:
        self._models = models
        self._default_model = catalogue["default_model"]
        methods = catalogue["methods"]
        self.attribution.set_methods(methods, self.settings.value("attribution_method", methods[0].key))
        self.transfer.set_presets(catalogue["presets"])
        self.compare.set_models([m.name for m in models], catalogue["comparison"])
        self.model_box.clear()
        for info in models:
            tip = f"{info.family}, {info.num_params / 1e6:.1f}M parameters: {info.description}"
            self.model_box.addItem(info.name, info.name)
            self.model_box.setItemData(self.model_box.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
            self._action(self.models_menu, info.name, None,
                         lambda _=False, n=info.name: self._choose_model(n), tip)
        for device in devices:
            self.device_box.addItem(device.upper(), device)
        for index in range(self.device_box.count()):
            data, text = self.device_box.itemData(index), self.device_box.itemText(index)
            self._action(self.devices_menu, text, None, lambda _=False, d=data: self._choose_device(d),
                         "Pick the best device present" if data == "auto" else f"Run the model on {text}")
        wanted = self.settings.value("model", models[0].name)
        index = max(0, self.model_box.findData(wanted))
        self.model_box.setCurrentIndex(index)
        device_index = self.device_box.findData(self.settings.value("device", "auto"))
        self.device_box.setCurrentIndex(max(0, device_index))
        weights = self.settings.value("weights", "pretrained")
        if weights == "file":  # reopen the file used last time (a missing one says so, then the demo)
            self._weights_file = self.settings.value("weights_file", None)
        self.weights_box.setCurrentIndex(max(0, self.weights_box.findData(weights)))
        self._load_selected()

    def _choose_device(self, device: str) -> None:
        self.device_box.setCurrentIndex(self.device_box.findData(device))
        self._load_selected()

    def _toggle_sort(self, checked: bool) -> None:
        self.features.sort.setCurrentIndex(self.features.sort.findData("mean" if checked else "none"))

    def _use_pretrained(self) -> None:
        self._load_selected(weights="pretrained")

    def _choose_model(self, name: str) -> None:
        self.model_box.setCurrentIndex(self.model_box.findData(name))
        self._load_selected()

    def _load_selected(self, weights: str | None = None) -> None:
        name = self.model_box.currentData()
        if name is None:
            return
        choice = weights or self.weights_box.currentData()
        if choice == "file":
            choice = self._weights_file or "pretrained"
        self._show_weights_choice(choice)
        self.banner.hide()  # a new choice: the last message no longer applies
        self.status.setText(f"loading {name}...")
        self._loading, self._loading_weights = name, choice
        self._submit("load", name=name, weights=choice, device=self.device_box.currentData())
        info = next((m for m in self._models if m.name == name), None)
        if choice == "pretrained" and info is not None and not info.weights_offline:
            self.download.setRange(0, 0)
            self._show_download(True)

    def _show_weights_choice(self, choice: str) -> None:
        """Show ``choice`` ("pretrained", "random" or a file path) in the weights box."""
        shown = choice if choice in ("pretrained", "random") else "file"
        file_index = self.weights_box.findData("file")
        self.weights_box.setItemText(file_index, f"File: {Path(choice).name}" if shown == "file"
                                     else "Load file...")
        self.weights_box.setCurrentIndex(self.weights_box.findData(shown))

    def _show_loaded_choice(self) -> None:
        """Put the toolbar back on the model that is really loaded (after a failed or cancelled
        load the boxes would otherwise name a model the views do not show)."""
        info = self.session.model
        if info is None:
            return
        self.model_box.setCurrentIndex(self.model_box.findData(info["name"]))
        self._show_weights_choice(info["weights"])
        self.device_box.setCurrentIndex(max(0, self.device_box.findData(info["device_choice"])))

    def _load_named(self, name: str, weights: str | None = None) -> None:
        self.model_box.setCurrentIndex(self.model_box.findData(name))
        if weights is None:
            self._choose_weights_file()
        else:
            self._load_selected(weights=weights)

    def _on_progress(self, request_id: int, done: int, total: int) -> None:
        if request_id == self._latest.get("attribute"):
            self.attribution.show_progress(done, total)
            return
        if request_id == self._latest.get("compare"):
            self.compare.show_progress(done, total)
            return
        if request_id != self._latest.get("load"):
            return
        if total > 0:
            self.download.setRange(0, total)
            self.download.setValue(done)
            self.download.setFormat(f"{done / 1e6:.0f} / {total / 1e6:.0f} MB")
        self._show_download(True)

    def _cancel_download(self) -> None:
        self.engine.cancel_load()
        self._latest.pop("load", None)
        self._hide_download()
        self._show_loaded_choice()
        self.status.setText("download cancelled; the previous model stays")

    def _hide_download(self) -> None:
        self._show_download(False)

    def _show_download(self, shown: bool) -> None:
        for action in self._download_actions:
            action.setVisible(shown)

    def _on_model_loaded(self, info: dict) -> None:
        self._hide_download()
        self.settings.setValue("model", info["name"])
        self.settings.setValue("device", self.device_box.currentData())
        if info["weights"] in ("pretrained", "random"):
            self.settings.setValue("weights", info["weights"])
        else:
            self.settings.setValue("weights", "file")
            self.settings.setValue("weights_file", info["weights"])
            self.compare.offer_weights_file(info["weights"])
        self.session.model = info
        self._forget_channel()
        self._shown_layers = []  # the next inspection rebuilds the tree, so every layer view asks anew
        self._show_loaded_choice()  # a checkpoint or bare state_dict can name another architecture
        if info["notes"]:
            self.banner.show_message(" ".join(info["notes"]), "info")
        self.predictions.set_classes(info["labels"])
        self.attribution.set_model(info["labels"], info["cam_layer"], info["cam_refusal"])
        self._set_transfer_model(info["freeze"], info["name"])
        self._update_status()
        # the newest image asked for, even one dropped while the model was loading
        self._inspect(self._wanted or {"path": str(self._initial_image)})

    def _inspect(self, source: dict) -> None:
        self._wanted = source
        self._submit("inspect", **source)

    def _on_inspected(self, result) -> None:
        self.session.image = self._wanted
        self.session.inspection = result
        self._compare_if_stale()
        self.input_view.set_image(result.input_rgb)
        self.predictions.show_predictions(result.predictions, result.trained)
        if result.layers == self._shown_layers:
            self._request_grid()  # same model: keep the tree (rebuilding it stalls the window)
        else:
            names = {row[0] for row in result.layers if len(row[2]) == 3}
            layer = self.session.layer if self.session.layer in names else result.default_layer
            self._shown_layers = result.layers
            self.layers.show_layers(result.layers, layer)
            self.attribution.set_layers([row[0] for row in result.layers if len(row[2]) == 3])
        self._request_attribution()
        for note in result.notes:
            if "out of memory" in note:
                self.banner.show_message(note, "info")
        self._update_status()
        self._refresh_presentation()

    def _on_layer_selected(self, layer: str) -> None:
        self.session.layer = layer
        self.settings.setValue("layer", layer)
        self._forget_channel()
        self._request_grid()

    def _request_grid(self) -> None:
        if self.session.layer and self.session.inspection is not None:
            self._submit("grid", layer=self.session.layer, cmap=self.features.colormap,
                         sort=self.features.sort_key)
            if self.session.channel is not None:
                self._request_channel(self.session.channel)

    def _forget_channel(self) -> None:
        """The clicked channel belonged to another layer or model: empty its pane, and drop a
        result still on its way."""
        self.session.channel = None
        self._latest.pop("channel", None)
        self.features.clear_channel()

    def _request_channel(self, channel: int | None) -> None:
        if channel is None or self.session.layer is None:
            return
        self.session.channel = channel
        self._submit("channel", layer=self.session.layer, channel=channel, cmap=self.features.colormap,
                     alpha=self.features.opacity.value() / 100)

    def _on_failed(self, request_id: int, kind: str, message: str) -> None:
        if request_id != self._latest.get(kind):
            return
        if kind in ("attribute", "restyle"):
            self.attribution.show_message(message, error="cancelled" not in message)
        elif kind in ("compare", "export_compare"):
            self.compare.done([])
            self.compare.status.setText(f"<span style='color:#c92a2a'>{message}</span>")
        elif kind == "load":
            self._hide_download()
            failed = self._loading or ""
            fallback = (self._default_model, "pretrained")
            if self.session.model is None and self._default_model and \
                    (failed, self._loading_weights) != fallback:
                # nothing to keep showing (a first launch whose remembered model is gone): the
                # bundled demo always loads, so the window is never left empty
                message += f" Showing the bundled {self._default_model} model meanwhile."
                self._load_named(self._default_model, "pretrained")
            self.banner.show_message(message, "error", actions=(
                ("Load weights file...", lambda: self._load_named(failed)),
                ("Use untrained weights", lambda: self._load_named(failed, "random"))))
            self._show_loaded_choice()
            self._update_status()
        else:
            if kind == "inspect":
                self._wanted = self.session.image  # a bad file: the last good image stays wanted
            self.banner.show_message(message, "error")

    def _update_status(self) -> None:
        info = self.session.model
        if info is None:
            return
        parts = [f"Device: {info['device']}", f"Model: {info['name']} ({info['weights_label']})"]
        if self.session.inspection is not None:
            parts.append(f"Inspection: {self.session.inspection.elapsed_ms:.0f} ms")
        self.status.setText("   |   ".join(parts))

    # --- images in ---------------------------------------------------------------------------

    def _first_sample(self) -> str:
        samples = sample_images()
        shapes = [p for p in samples if p.name.startswith("shape_")]
        return str((shapes or samples)[0]) if samples else ""

    def _add_to_strip(self, path: Path) -> None:
        row = self.strip.count()
        # the first nine carry the number that opens them in presentation mode (keys 1-9)
        item = QListWidgetItem(f"{row + 1}  {path.name}" if row < 9 else path.name)
        item.setData(Qt.ItemDataRole.UserRole, str(path))
        item.setToolTip(f"{path}\n(key {row + 1} in presentation mode)" if row < 9 else str(path))
        self.strip.addItem(item)
        self.thumbnails.request(str(path))

    def _show_thumbnail(self, path: str, rgb) -> None:
        icon = QIcon(to_pixmap(rgb))
        for row in range(self.strip.count()):
            item = self.strip.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == path:
                item.setIcon(icon)

    def open_path(self, path: str) -> None:
        """Inspect an image file (errors appear in the banner; the current image stays)."""
        self.banner.hide()
        self._inspect({"path": str(path), "name": Path(path).name})

    def open_paths(self, paths: list[str]) -> None:
        """Show the first of several dropped files; queue the rest in the strip."""
        if not paths:
            return
        for extra in paths[1:]:
            self._add_to_strip(Path(extra))
        self.open_path(paths[0])

    def choose_image(self) -> None:
        """File > Open."""
        patterns = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "Open image", "", f"Images ({patterns});;All files (*)")
        if path:
            self.open_path(path)

    def paste_image(self) -> None:
        """Edit > Paste: the clipboard's image (or an image file URL on it)."""
        mime = QApplication.clipboard().mimeData()
        if mime.hasUrls():
            self.open_paths([u.toLocalFile() for u in mime.urls() if u.isLocalFile()])
            return
        image = QApplication.clipboard().image()
        if image.isNull():
            self.banner.show_message("The clipboard holds no image.", "info")
            return
        from PySide6.QtCore import QBuffer, QByteArray, QIODevice

        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")
        self._inspect({"data": bytes(data.data()), "name": "clipboard image"})

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        self.open_paths(paths)
        event.acceptProposedAction()

    # --- model choices -----------------------------------------------------------------------

    def _weights_chosen(self) -> None:
        if self.weights_box.currentData() == "file":
            self._choose_weights_file()
        else:
            self._load_selected()

    def _choose_weights_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load weights", "",
                                              "PyTorch weights (*.pt *.pth *.bin);;All files (*)")
        if path:
            self._weights_file = path
            self.weights_box.setCurrentIndex(self.weights_box.findData("file"))
            self._load_selected(weights=path)
        else:  # the dialog was closed: the toolbar names what is loaded again
            self._show_loaded_choice()

    def _use_untrained(self) -> None:
        self.weights_box.setCurrentIndex(self.weights_box.findData("random"))
        self._load_selected(weights="random")

    # --- out ---------------------------------------------------------------------------------

    def export_view(self) -> None:
        """Save what the current tab shows."""
        self._save(self.features.grid if self.tabs.currentIndex() == 0 else self.filters.first)

    def _save(self, view: ImageView) -> None:
        if view.array is None:
            self.banner.show_message("Nothing to save yet.", "info")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save PNG", "cnnscope.png", "PNG (*.png)")
        if path:
            save_png(view.array, path)

    def _about(self) -> None:
        self.banner.show_message("cnnscope: see inside convolutional neural networks. Drop an image, "
                                 "pick a layer, click a channel.", "info")

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Escape:
            self.banner.hide()
            if self.attribution.cancel.isVisible():
                self._cancel_attribution()
        super().keyPressEvent(event)

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if not getattr(self, "_started", False):
            self._started = True
            self.engine.start()

    def closeEvent(self, event) -> None:  # noqa: N802
        # Everything is cancelled at once and waited for briefly: closing takes under 2 s whatever
        # runs. A thread still inside one forward pass is left to app.main, which then skips the
        # interpreter's teardown rather than pull torch down under it.
        self.live_controller.detach()
        if self.presentation is not None:
            self.presentation.close()
        self.thumbnails.close()
        self.trainer.cancel()
        self.engine.stop(timeout=1.0)
        self.trainer.wait(timeout=0.5)
        super().closeEvent(event)
