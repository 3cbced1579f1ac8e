"""The Graph panel: the architecture of the session's model drawn as its traced graph.

A click on a node selects its layer everywhere (the session's layer); the session's layer is
framed in the graph (or the block holding it). Double-click opens or closes a block; the buttons
close or open them all. The engine builds and lays out the graph; this panel only paints it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from ..requester import Requester
from ..services.architecture import DrawGraph, ExportGraph
from ..session import Session
from ..views.graph import GraphView


class GraphPanel(GraphView):
    """See the module docstring."""

    def __init__(self, session: Session, engine, parent=None) -> None:
        super().__init__(parent)
        self.session, self.requests = session, Requester(engine, self)
        self.shown = None  # services.architecture.GraphDrawn on screen
        self.collapsed: frozenset[str] | None = None  # None: the engine's default for the model
        self._stale = True
        session.model_changed.connect(self._on_model_changed)
        session.inspection_changed.connect(lambda _inspection: self.refresh_if_stale())
        session.layer_changed.connect(lambda _layer: self.frame_session_layer())
        self.canvas.node_clicked.connect(self.select_node)
        self.canvas.node_double_clicked.connect(self.toggle_block)
        self.collapse_all.connect(lambda: self._redraw(frozenset(self.shown.blocks) if self.shown else None))
        self.expand_all.connect(lambda: self._redraw(frozenset()))
        self.export_requested.connect(self.export_file)

    def _on_model_changed(self, _model) -> None:
        self.requests.forget(DrawGraph)
        self.shown, self.collapsed, self._stale = None, None, True
        self.canvas.scene().clear()
        self.canvas.items_by_id = {}
        self.status.setText("")
        self.refresh_if_stale()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        self.refresh_if_stale()

    def refresh_if_stale(self) -> None:
        """Ask for the graph when shown, a model is inspected, and the one on screen is not its own."""
        if self.isVisible() and self._stale and self.session.model is not None \
                and self.session.inspection is not None:
            self._stale = False
            self._redraw(self.collapsed)

    def _redraw(self, collapsed: frozenset[str] | None) -> None:
        self.status.setText("Drawing the graph...")
        self.requests.ask(DrawGraph(collapsed), self.show_graph, self._show_error)

    def show_graph(self, drawn) -> None:
        """Paint the engine's services.architecture.GraphDrawn and frame the session's layer."""
        first = self.shown is None
        self.shown, self.collapsed = drawn, drawn.collapsed
        self.canvas.show_drawing(drawn.drawing)
        open_blocks = len(drawn.blocks) - len(drawn.collapsed)
        text = (f"<b>{drawn.model}</b>: {len(drawn.drawing.nodes)} nodes"
                + (f", {len(drawn.collapsed)} of {len(drawn.blocks)} blocks closed" if drawn.blocks else "")
                + ". Click a node to select its layer; double-click a block to open it"
                + (" or a layer inside an open block to close it" if open_blocks else "") + ".")
        if not drawn.traced:
            text += (" <span style='color:#c92a2a'>This model cannot be traced, so its layers are "
                     "drawn one after another: branches and shortcuts are not shown.</span>")
        self.status.setText(text)
        self.collapse.setEnabled(open_blocks > 0)
        self.expand.setEnabled(bool(drawn.collapsed))
        if first:
            self.canvas.fit_width()
        self.frame_session_layer()

    def _node(self, node_id: str):
        return next(p.node for p in self.shown.drawing.nodes if p.node.id == node_id)

    def select_node(self, node_id: str) -> None:
        """Make the clicked node's layer the session's layer (every view follows)."""
        if self.shown is None:
            return
        node = self._node(node_id)
        inspection = self.session.inspection
        if inspection is not None and node.selects in inspection.map_layers():
            self.session.layer = node.selects
            self.frame_session_layer()  # also when it already was the session's layer
            return
        self.canvas.select({node_id})  # framed; the other views stay where they are
        if node.selects is not None:
            why = "its output has no feature maps (it is a list of numbers)"
        else:
            why = "no layer's recorded output is this one (the maps shown are the next layer's)"
        self.status.setText(f"<b>{node.title}</b>" + (f" in {node.layer}" if node.layer else "")
                            + (f": output {node.shape_text}" if node.shape_text else "")
                            + f". Nothing else to select: {why}.")

    def toggle_block(self, node_id: str) -> None:
        """Open a closed block, or close the open block a node belongs to."""
        if self.shown is None:
            return
        node = self._node(node_id)
        if node.kind == "block":
            self._redraw(self.collapsed - {node.block})
        elif node.block:
            self._redraw(self.collapsed | {node.block})

    def frame_session_layer(self) -> None:
        """Frame the node(s) of the session's layer, or the closed block that holds it."""
        layer = self.session.layer
        if self.shown is None or not layer:
            return
        ids = {p.node.id for p in self.shown.drawing.nodes if layer in p.node.outputs}
        if not ids:
            ids = {p.node.id for p in self.shown.drawing.nodes
                   if p.node.kind == "block" and layer.startswith(p.node.block + ".")}
        self.canvas.select(ids)

    def export_file(self) -> None:
        """Save the graph as drawn, SVG or PNG (the engine writes it)."""
        if self.shown is None:
            return
        path, chosen = QFileDialog.getSaveFileName(self, "Save graph", f"{self.shown.model}-graph.svg",
                                                   "SVG (*.svg);;PNG (*.png)")
        if path and not Path(path).suffix:  # a name typed without one: the chosen type's
            path += ".png" if chosen.startswith("PNG") else ".svg"
        if path:
            self.requests.ask(ExportGraph(path, self.collapsed),
                              lambda done: self.status.setText(f"Saved {done.path} ({done.model})."),
                              self._show_error)

    def _show_error(self, message: str) -> None:
        self.status.setText(f"<span style='color:#c92a2a'>{message}</span>")
