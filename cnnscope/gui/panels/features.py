"""The Feature maps panel: every channel of the session's layer as a grid, and the clicked channel
large over the photo.

It follows the session: a new inspection or layer redraws the grid; a new layer or model empties
the channel pane (its channel belonged to the old one); a new image redraws the clicked channel
for it. The grid on screen is published as the session's ``grid`` (presentation mode mirrors it).
"""

from __future__ import annotations

from PySide6.QtCore import Signal

from ..requester import Requester
from ..services.arithmetic import MapPosition
from ..services.dataset import UnitTops
from ..services.maps import Channel, Grid
from ..session import Session
from ..views.features import FeatureView


class FeatureMapsPanel(FeatureView):
    """See the module docstring."""

    message = Signal(str, str)  # text, level ("info", "error"): for the window's banner
    what_fires_wanted = Signal(str, int)  # layer, channel: "what makes it fire?" (units panel)

    def __init__(self, session: Session, engine, parent=None) -> None:
        super().__init__(parent)
        self.session, self.requests = session, Requester(engine, self)
        session.model_changed.connect(self._on_model)
        session.inspection_changed.connect(lambda _result: self.refresh())
        session.layer_changed.connect(self._on_layer)
        self.settings_changed.connect(self.refresh)
        self.channel_clicked.connect(self._on_channel_clicked)
        self.position_clicked.connect(self._on_position_clicked)
        self.opacity_changed.connect(lambda _alpha: self._ask_channel())
        self.what_fires.clicked.connect(self._what_fires)
        session.scan_changed.connect(lambda _scan: self._ask_dataset_tops())
        session.channel_changed.connect(self._on_session_channel)

    def _on_model(self, _model) -> None:
        self.forget_channel()
        self.requests.forget(Grid)
        self.clear()
        self.session.grid = None

    def _on_layer(self, _layer) -> None:
        self.forget_channel()
        self.refresh()

    def forget_channel(self) -> None:
        """The clicked channel belonged to another layer or model: empty its pane, and drop a
        result still on its way."""
        self.session.channel = None
        self.requests.forget(Channel)
        self.requests.forget(UnitTops)
        self.clear_channel()
        self.show_dataset_tops(None)

    def refresh(self) -> None:
        """Ask for the session's layer drawn (and its clicked channel, for a new image or colormap)."""
        inspection, layer = self.session.inspection, self.session.layer
        if inspection is None or layer not in inspection.map_layers():
            return  # the layers panel is about to pick one this model has
        self.requests.ask(Grid(layer, self.colormap, self.sort_key), self._show, self._on_failed)
        self._ask_channel()

    def _show(self, result) -> None:
        self.show_grid(result)
        self.session.grid = result

    def _what_fires(self) -> None:
        if self.session.layer is not None and self.session.channel is not None:
            self.what_fires_wanted.emit(self.session.layer, self.session.channel)

    def _on_channel_clicked(self, channel: int) -> None:
        self.session.channel = channel  # drawn by _on_session_channel

    def _on_session_channel(self, channel) -> None:
        """A channel chosen here, or elsewhere (a first-layer filter clicked): drawn large over the
        photo, with its top images from the scan open."""
        if channel is not None:
            self._ask_channel()
            self._ask_dataset_tops()

    def _ask_dataset_tops(self) -> None:
        """The clicked channel's top images, when the open scan is of this model and kept this layer."""
        scan, model, layer, channel = self.session.scan, self.session.model, self.session.layer, self.session.channel
        if scan is None or model is None or channel is None or layer not in scan.layers \
                or (model.name, model.weights_label) != (scan.model, scan.weights_label):
            self.show_dataset_tops(None)
            return
        self.requests.ask(UnitTops(scan.folder, layer, channel, tile=72), self.show_dataset_tops,
                          lambda _message: self.show_dataset_tops(None))

    def _on_position_clicked(self, channel: int, row: int, col: int) -> None:
        if self.session.layer is not None:
            self.session.position = MapPosition(self.session.layer, channel, row, col)

    def _ask_channel(self) -> None:
        channel, layer = self.session.channel, self.session.layer
        if channel is not None and layer is not None and self.session.inspection is not None:
            self.requests.ask(Channel(layer, channel, self.colormap, self.opacity.value() / 100),
                              self.show_channel, self._on_failed)

    def _on_failed(self, message: str) -> None:
        self.caption.setText(f"<span style='color:#c92a2a'>{message}</span>")
        self.message.emit(message, "error")
