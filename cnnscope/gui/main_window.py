"""The main window: it assembles the panels, the model toolbar, the menus, the docks and the tabs,
and takes images in (open, paste, drag and drop). Every panel is built from (session, engine)
and listens to the session; the window only wires what one panel asks of another."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSettings, Qt
from PySide6.QtWidgets import (QApplication, QDockWidget, QFileDialog, QMainWindow, QSplitter,
                               QTabWidget, QVBoxLayout, QWidget)

from ..core.images import IMAGE_SUFFIXES
from ..core.render import save_png  # numpy + Pillow only: no torch on the window's side
from ..core.resources import sample_images
from .engine import Engine
from .panels.compare import ComparePanel
from .panels.dataset import DatasetPanel
from .panels.explanation import ExplanationPanel
from .panels.features import FeatureMapsPanel
from .panels.filters import FiltersPanel
from .panels.graph import GraphPanel
from .panels.heatmaps import HeatmapsPanel
from .panels.input_image import InputImagePanel
from .panels.layers import LayersPanel
from .panels.live import LivePanel
from .panels.method_grid import MethodGridPanel
from .panels.playground import KernelPlaygroundPanel
from .panels.predictions import PredictionsPanel
from .panels.presentation import PresentationPanel
from .panels.sanity import SanityPanel
from .panels.summary import SummaryPanel
from .panels.transfer import TransferLearningPanel
from .panels.arithmetic import ArithmeticPanel
from .panels.units import UnitsPanel
from .services.base import ImageSource
from .session import Session
from .views.banner import Banner
from .views.image_view import ImageView
from .window.image_strip import ImageStrip
from .window.inspector import Inspector
from .window.menus import build_menus
from .window.model_bar import ModelBar


class MainWindow(QMainWindow):
    """Drop an image, see inside the network."""

    def __init__(self, engine: Engine, image: str | ImageSource | None = None,
                 settings: QSettings | None = None, model=None) -> None:
        super().__init__()
        self.engine = engine
        self.settings = settings or QSettings("cnnscope", "cnnscope")
        self.session = Session(layer=self.settings.value("layer", None))
        self.setWindowTitle("cnnscope")
        self.setAcceptDrops(True)
        self.resize(1400, 880)
        whole = self.settings.value("whole_image", False, type=bool)  # View > Whole image
        self.inspector = Inspector(self.session, engine, image or _first_sample(),
                                   framing="whole" if whole else "crop")
        self._initial_model = model  # a core LoadedModel to show first (cnnscope.show), or None
        self._build_panels()
        self._build_layout()
        build_menus(self)
        self._wire()

    # --- assembly ------------------------------------------------------------------------------

    def _build_panels(self) -> None:
        s, e = self.session, self.engine
        self.banner = Banner()
        self.model_bar = ModelBar(s, e, self.settings, initial=self._initial_model)
        self.input_view = InputImagePanel(s, e)
        self.predictions = PredictionsPanel(s, e)
        self.layers = LayersPanel(s, e)
        self.explanation = ExplanationPanel(s, e)
        self.features = FeatureMapsPanel(s, e)
        self.filters = FiltersPanel(s, e)
        self.heatmaps = HeatmapsPanel(s, e, settings=self.settings)
        heat = self.heatmaps  # its class, layer and style choices serve its other pages too
        self.method_grid = MethodGridPanel(s, e, lambda: (heat.target_choice, heat.layer_choice,
                                                          heat.colormap, heat.alpha))
        self.sanity = SanityPanel(s, e, settings=self.settings)
        heat.add_page(self.method_grid, "All methods",
                      "Every fast method's heatmap for the same class, side by side")
        heat.add_page(self.sanity, "Sanity check", "Does the map depend on what the model learned? "
                      "Randomise its layers from the head down and watch each method's map")
        self.transfer = TransferLearningPanel(s, e)
        self.dataset = DatasetPanel(s, e)
        self.compare = ComparePanel(s, e)
        self.summary = SummaryPanel(s, e)
        self.graph = GraphPanel(s, e)
        self.architecture = QTabWidget()  # one tab, two ways to see the architecture
        self.architecture.addTab(self.summary, "Table")
        self.architecture.addTab(self.graph, "Graph")
        self.architecture.setTabToolTip(0, "Shapes, parameters, multiply-adds and receptive fields per layer")
        self.architecture.setTabToolTip(1, "The network as it computes: shortcuts, parallel branches, "
                                           "blocks; click a node to select its layer")
        self.live = LivePanel(s, e)
        self.units = UnitsPanel(s, e)
        self.arithmetic = ArithmeticPanel(s, e)
        self.playground = KernelPlaygroundPanel(s, e)
        self.mechanism = QTabWidget()  # how a convolution computes: one value, then any kernel
        self.mechanism.addTab(self.arithmetic, "A value of a map")
        self.mechanism.addTab(self.playground, "Kernel playground")
        self.mechanism.setTabToolTip(0, "How one value of a feature map was computed from the patch it sees")
        self.mechanism.setTabToolTip(1, "Slide your own 3x3 or 5x5 kernel over the photo, next to a "
                                        "filter the network learned")
        self.presentation = PresentationPanel(s, e)
        self.strip = ImageStrip(sample_images())

    def tab_entries(self) -> list[tuple[QWidget, str, str, str]]:
        """(panel, tab title, menu text, tooltip) per tab, in tab order (Ctrl+1 is the first)."""
        return [
            (self.features, "Feature maps", "&Feature maps",
             "Every channel of the selected layer; click one to see it large"),
            (self.filters, "Filters", "F&ilters",
             "The first layer's filters, and the selected convolution's"),
            (self.heatmaps, "Where it looked", "&Where it looked",
             "Grad-CAM, CAM and other heatmaps: which pixels drove a prediction"),
            (self.transfer, "Transfer", "&Transfer learning",
             "Freeze layers and fine-tune the model on a folder of your images"),
            (self.compare, "Compare", "C&ompare models",
             "The same image through 2 to 4 models side by side"),
            (self.architecture, "Architecture", "Arc&hitecture (table and graph)",
             "The architecture as a table (shapes, parameters, multiply-adds, receptive fields) "
             "and as a graph (shortcuts, branches, blocks)"),
            (self.live, "Live", "&Live", "A camera or a video, inspected frame after frame"),
            (self.units, "What units see", "What &units see",
             "The image a channel responds to most, Deep Dream, and an adversarial photo"),
            (self.mechanism, "Arithmetic", "&Arithmetic and kernels",
             "How one value of a feature map was computed, and a playground for your own kernels"),
            (self.dataset, "Dataset", "&Dataset scan",
             "Scan a folder of images: what each unit responds to across it, and a map of the "
             "dataset as the network sees it"),
        ]

    def _build_layout(self) -> None:
        self.tabs = QTabWidget()
        for panel, title, _menu_text, tip in self.tab_entries():
            self.tabs.setTabToolTip(self.tabs.addTab(panel, title), tip)
        left = QSplitter(Qt.Orientation.Vertical)
        left.setMinimumWidth(260)
        left.addWidget(self.input_view)
        left.addWidget(self.predictions)
        left.setSizes([330, 420])
        main = QSplitter()
        main.addWidget(left)
        main.addWidget(self.tabs)
        main.setStretchFactor(0, 1)
        main.setStretchFactor(1, 3)
        main.setSizes([340, 1000])
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.banner)
        layout.addWidget(main, 1)
        layout.addWidget(self.strip)
        self.setCentralWidget(central)

        dock = self.layers_dock = QDockWidget("Layers", self)
        dock.setObjectName("layers")
        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(self.layers)
        side.addWidget(self.explanation)
        side.setSizes([560, 220])
        dock.setWidget(side)
        dock.setMinimumWidth(300)  # the tree scrolls sideways; the window must fit 1280 px projectors
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.resizeDocks([dock], [440], Qt.Orientation.Horizontal)
        self.addToolBar(self.model_bar)
        self.status = self.model_bar.status
        self.statusBar().addWidget(self.status, 1)
        self._dock_was_open, self._on_wide_tab = True, False

    def _wire(self) -> None:
        """What one part asks of another; everything else goes through the session."""
        show = self.banner.show_message
        self.model_bar.message.connect(show)
        self.model_bar.loading.connect(lambda _name: self.banner.hide())
        for part in (self.inspector, self.features, self.heatmaps, self.method_grid, self.sanity,
                     self.live, self.units, self.dataset):
            part.message.connect(show)
        self.heatmaps.request_changed.connect(self.method_grid.refresh)  # another class or layer
        self.heatmaps.style_changed.connect(self.method_grid.refresh)  # redrawn, not recomputed
        self.dataset.open_image.connect(self.open_path)
        self.predictions.class_clicked.connect(self.heatmaps.explain)
        self.predictions.class_clicked.connect(lambda _label: self.tabs.setCurrentWidget(self.heatmaps))
        self.transfer.open_model.connect(self._open_trained_model)
        self.features.what_fires_wanted.connect(self._what_fires)
        self.transfer.shown_wanted.connect(lambda: self.tabs.setCurrentWidget(self.transfer))
        self.live.shown_wanted.connect(lambda: self.tabs.setCurrentWidget(self.live))
        self.presentation.step_layer.connect(self.layers.step)
        self.presentation.pick_sample.connect(self.strip.pick)
        self.presentation.heatmap_wanted.connect(lambda: self.heatmaps.compute(unseen=True))
        self.presentation.leave.connect(self.activateWindow)
        self.presentation.arithmetic_wanted.connect(lambda: self.arithmetic.start_at(self.session.layer))
        self.presentation.step_position.connect(
            lambda delta: self.arithmetic.step_forward() if delta > 0 else self.arithmetic.step_back())
        self.presentation.toggle_play.connect(self.arithmetic.play.toggle)
        self.presentation.arithmetic_left.connect(lambda: self.arithmetic.play.setChecked(False))
        self.strip.chosen.connect(self.open_path)
        self.session.layer_changed.connect(lambda layer: self.settings.setValue("layer", layer))
        self.tabs.currentChanged.connect(self._fit_dock_to_tab)

    def _what_fires(self, layer: str, channel: int) -> None:
        self.tabs.setCurrentWidget(self.units)
        self.units.show_channel(layer, channel)

    def _open_trained_model(self, name: str, path: str) -> None:
        self.model_bar.load_file(name, path)
        self.tabs.setCurrentWidget(self.features)

    def _fit_dock_to_tab(self, _index: int) -> None:
        """The Layers dock is about the main model: give its room to the wide tabs (transfer,
        compare, live) and bring it back, as the user left it, on the others."""
        wide = self.tabs.currentWidget() in (self.transfer, self.compare, self.live, self.dataset)
        if wide and not self._on_wide_tab:
            self._dock_was_open = self.layers_dock.isVisible()
            self.layers_dock.hide()
        elif not wide and self._on_wide_tab and self._dock_was_open:
            self.layers_dock.show()
        self._on_wide_tab = wide

    # --- images in -----------------------------------------------------------------------------

    def open_path(self, path: str) -> None:
        """Inspect an image file (errors appear in the banner; the current image stays)."""
        self.banner.hide()
        self.inspector.open(ImageSource(path=str(path), name=Path(path).name))

    def open_paths(self, paths: list[str]) -> None:
        """Show the first of several dropped files; queue the rest in the strip."""
        if paths:
            for extra in paths[1:]:
                self.strip.add(Path(extra))
            self.open_path(paths[0])

    def choose_image(self) -> None:
        """File > Open."""
        patterns = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "Open image", "", f"Images ({patterns});;All files (*)")
        if path:
            self.open_path(path)

    def paste_image(self) -> None:
        """File > Paste: the clipboard's image (or image files' URLs on it)."""
        mime = QApplication.clipboard().mimeData()
        if mime.hasUrls():
            self.open_paths([u.toLocalFile() for u in mime.urls() if u.isLocalFile()])
            return
        image = QApplication.clipboard().image()
        if image.isNull():
            self.banner.show_message("The clipboard holds no image.", "info")
            return
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")
        self.inspector.open(ImageSource(data=bytes(data.data()), name="clipboard image"))

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        self.open_paths([u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()])
        event.acceptProposedAction()

    # --- out, modes, lifetime ------------------------------------------------------------------

    def export_view(self) -> None:
        """Save what the current tab shows."""
        if self.tabs.currentWidget() is self.architecture and self.architecture.currentWidget() is self.graph:
            self.graph.export_file()
            return
        self.save_png(self.features.grid if self.tabs.currentWidget() is self.features
                      else self.filters.first)

    def save_png(self, view: ImageView) -> None:
        """Save ``view``'s picture as PNG (the same pixels the CLI writes)."""
        if view.array is None:
            self.banner.show_message("Nothing to save yet.", "info")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save PNG", "cnnscope.png", "PNG (*.png)")
        if path:
            try:
                save_png(view.array, path)
            except OSError as exc:  # a folder, a read-only place: one sentence, nothing lost
                self.banner.show_message(f"Could not write {path}: {exc.strerror or exc}.", "error")

    def set_whole_image(self, whole: bool) -> None:
        """View > Whole image: show the network the whole photo (shrunk, padded to a square)
        instead of its centre crop, for the current image and the next ones; remembered."""
        self.settings.setValue("whole_image", bool(whole))
        self.inspector.set_framing("whole" if whole else "crop")

    def toggle_presentation(self) -> None:
        """F11: enter or leave presentation mode."""
        if self.presentation.isVisible():
            self.presentation.hide()
            self.activateWindow()
        else:
            self.presentation.enter()

    def about(self) -> None:
        """Help > About."""
        self.banner.show_message("cnnscope: see inside convolutional neural networks. Drop an image, "
                                 "pick a layer, click a channel.", "info")

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Escape:
            self.banner.hide()
            if self.heatmaps.busy:
                self.heatmaps.cancel_computation()
            self.heatmaps.cancel_pages()
            self.units.cancel_run()
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
        self.live.controller.detach()
        self.presentation.close()
        self.strip.stop_thumbnails()
        self.transfer.trainer.cancel()
        self.dataset.scanner.cancel()
        self.engine.stop(timeout=1.0)
        self.dataset.close_down()
        self.transfer.shutdown(timeout=0.5)
        super().closeEvent(event)


def _first_sample() -> str:
    """The image shown at start: the first drawn shape (the demo model knows them), else a photo."""
    samples = sample_images()
    shapes = [p for p in samples if p.name.startswith("shape_")]
    return str((shapes or samples)[0]) if samples else ""
