"""The Layers panel: every layer of the session's model, nested as the model is. Selecting one
makes it the session's layer, and a layer chosen elsewhere is selected here; a new model's tree keeps the selected layer when it has one of
that name, else shows the model's default feature layer."""

from __future__ import annotations

from ..session import Session
from ..views.layer_tree import LayerTree


class LayersPanel(LayerTree):
    """See the module docstring."""

    def __init__(self, session: Session, engine=None, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self._shown_rows: list = []  # the layer table the tree was built from
        session.model_changed.connect(self._on_model)
        session.inspection_changed.connect(self._on_inspection)
        self.layer_selected.connect(lambda layer: setattr(session, "layer", layer))
        session.layer_changed.connect(self._follow)  # chosen elsewhere (a graph node, say)

    def _follow(self, layer) -> None:
        if layer and layer != self.current_layer():
            self.select(layer)

    def _on_model(self, _model) -> None:
        self._shown_rows = []  # the next inspection builds the new model's tree
        self.show_layers([], None)

    def _on_inspection(self, result) -> None:
        if result is None or result.layers == self._shown_rows:
            return  # same model: keep the tree (rebuilding it stalls the window)
        names = set(result.map_layers())
        layer = self.session.layer if self.session.layer in names else result.default_layer
        self._shown_rows = result.layers
        self.show_layers(result.layers, layer)
        self.session.layer = layer
