"""The Dataset tab: scan a folder with the session's model (on a thread of its own: the viewer
stays free; progress, Cancel, and the same folder again continues), then see the dataset as the
network arranges it (a map of the images' pooled features) and what each unit responds to
across it (its top images). The scan open is the session's ``scan``: the Feature maps tab shows
a clicked channel's top images from it too."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog

from ..map_maker import MapMaker
from ..requester import Requester
from ..scanner import Scanner
from ..services.dataset import OpenScan, UnitTops
from ..session import Session
from ..thumbnails import ThumbnailLoader
from ..views.dataset import DatasetView


class DatasetPanel(DatasetView):
    """See the module docstring."""

    message = Signal(str, str)  # text, level: for the window's banner
    open_image = Signal(str)  # a map dot clicked: the window opens that photo

    def __init__(self, session: Session, engine, parent=None) -> None:
        super().__init__(parent)
        self.session, self.requests = session, Requester(engine, self)
        self.scanner = s = Scanner()
        self.thumbnails = ThumbnailLoader()
        self.maps = MapMaker()
        self.maps.ready.connect(self._show_map)
        self.maps.failed.connect(self._on_map_failed)
        self.workers: int | None = None  # decoding threads (None: core.scan.run.default_workers)
        s.progress.connect(self.show_progress)
        s.finished.connect(self._on_finished)
        s.failed.connect(self._on_failed_scan)
        self.scan_requested.connect(self.start_scan)
        self.cancel_requested.connect(s.cancel)
        self.browse_requested.connect(self._browse)
        self.open_requested.connect(self._choose_scan)
        self.unit_changed.connect(self._ask_tops)
        self.method_changed.connect(lambda _method: self._ask_map())
        self.map.hovered.connect(self._on_hover)
        self.map.opened.connect(self.open_image)
        self.thumbnails.ready.connect(self.map.set_thumbnail)
        session.channel_changed.connect(self._follow_channel)
        session.scan_changed.connect(self._on_scan)
        session.model_changed.connect(lambda _model: self._note_model())

    # --- scanning ---------------------------------------------------------------------------------

    def start_scan(self) -> None:
        """Scan the chosen folder with the model shown, into DATA.scan/MODEL-WEIGHTS."""
        from cnnscope.core.scan.folder import default_scan_folder

        model, folder = self.session.model, self.folder.text().strip()
        if model is None:
            return
        if not folder or not Path(folder).expanduser().is_dir():
            self.status.setText("Choose a folder of images to scan first.")
            return
        layers = tuple(n.strip() for n in self.layers.text().split(",") if n.strip()) or self._default_layers()
        name = model.asked_as or model.name
        out = default_scan_folder(Path(folder).expanduser(), name, model.weights)
        if self.scanner.start(name, model.weights, str(Path(folder).expanduser()), str(out), layers,
                              self.top_k.value(), model.device_choice, given=model.given,
                              stated=model.stated, workers=self.workers):
            self.set_running(True)
            self.status.setText(f"Scanning {folder} with {model.name} into {out} ...")

    def _default_layers(self) -> tuple[str, ...]:
        """The selected layer (when it outputs maps: not a classifier's) and the CAM layer."""
        model, layer, inspection = self.session.model, self.session.layer, self.session.inspection
        maps = inspection.map_layers() if inspection is not None else []
        layers = [layer] if layer and layer in maps else []
        if model is not None and model.cam_layer and model.cam_layer not in layers:
            layers.append(model.cam_layer)
        return tuple(layers)

    def _on_finished(self, outcome: dict) -> None:
        self.set_running(False)
        skipped = outcome["skipped"]
        done = "Scanned" if outcome["complete"] else "Stopped: scanned"
        text = f"{done} {outcome['scanned']:,} of {outcome['total']:,} images in {outcome['seconds']:.0f} s"
        if skipped:
            text += f"; {len(skipped)} unreadable file(s) skipped ({skipped[0][0]}: {skipped[0][1]})"
        if not outcome["complete"]:
            text += ". Scan the same folder again to continue."
        self.status.setText(text + ".")
        self.open_scan(outcome["folder"])

    def _on_failed_scan(self, message: str) -> None:
        self.set_running(False)
        self.status.setText(message)
        self.message.emit(message, "error")

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of images to scan")
        if folder:
            self.folder.setText(folder)

    def _choose_scan(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a scan (its folder holds scan.json)")
        if folder:
            self.open_scan(folder)

    # --- a scan open --------------------------------------------------------------------------------

    def open_scan(self, folder: str) -> None:
        """Open the scan at ``folder``: it becomes the session's scan."""
        self.requests.ask(OpenScan(folder), self._opened, self._on_failed)

    def _opened(self, info) -> None:
        self.session.scan = info

    def _on_scan(self, info) -> None:
        self.maps.forget()
        if info is None:
            self.map.clear("No scan open.")
            return
        self.set_unit_layers(info.layers)
        self._note_model()
        self._ask_map()
        layer, channel = self.session.layer, self.session.channel
        if not (layer in info.layers and self.choose_unit(layer, channel or 0)):
            self._ask_tops()

    def _note_model(self) -> None:
        info, model = self.session.scan, self.session.model
        if info is None:
            return
        text = (f"Scan of {info.data} by {info.model} ({info.weights_label}): {info.scanned:,} images"
                + (f", {info.skipped:,} skipped" if info.skipped else "")
                + ("" if info.complete else f", {info.images - info.scanned - info.skipped:,} not yet scanned"))
        if model is not None and (model.name, model.weights_label) != (info.model, info.weights_label):
            text += (f". The model shown is {model.name} ({model.weights_label}): its units are not "
                     "the scan's.")
        self.map_caption.setText(text)

    def _ask_map(self) -> None:
        info = self.session.scan
        if info is None:
            return
        if not info.has_features:
            self.map.clear("This scan kept no pooled features, so there is no map.")
            return
        self.map.clear(f"Drawing the map ({self.method.currentText()})...")
        self.maps.request(info.folder, self.method.currentData())

    def _show_map(self, result) -> None:
        self.map.set_map(result.coords, result.classes, result.names, result.paths,
                         [f"predicted: {p}" if p else "" for p in result.predicted])
        self._note_model()
        if result.note:
            self.map_caption.setText(f"{self.map_caption.text()} The map shows {result.note}.")

    def _on_map_failed(self, message: str) -> None:
        self.map.clear(message)

    def _ask_tops(self) -> None:
        info = self.session.scan
        layer, channel = self.unit
        if info is None or layer is None:
            return
        self.requests.ask(UnitTops(info.folder, layer, channel), self.show_tops, self._on_failed)

    def _follow_channel(self, channel) -> None:
        """A channel clicked in Feature maps: its top images here too, when the scan kept them."""
        info, layer, model = self.session.scan, self.session.layer, self.session.model
        if channel is not None and info is not None and layer in info.layers and model is not None \
                and (model.name, model.weights_label) == (info.model, info.weights_label):
            self.choose_unit(layer, channel)

    def _on_hover(self, index: int) -> None:
        if 0 <= index < self.map.shown_count:
            self.thumbnails.request(self.map.paths[index])

    def _on_failed(self, message: str) -> None:
        self.status.setText(message)
        self.message.emit(message, "error")

    def close_down(self) -> None:
        """The window closes: stop the scan (it keeps what was done) and the thumbnails."""
        self.scanner.wait(1.0)
        self.thumbnails.close()
