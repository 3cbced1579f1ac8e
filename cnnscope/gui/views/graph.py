"""The architecture graph: boxes coloured by kind, arrows as data flows, zoom and scroll.

It paints a laid-out ``core.graph_layout.Drawing`` (positions computed on the engine thread) and
reports clicks and double-clicks on nodes by node id; what they mean is the panel's business."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import (QGraphicsItem, QGraphicsPathItem, QGraphicsScene, QGraphicsView,
                               QHBoxLayout, QLabel, QPushButton, QStyleOptionGraphicsItem,
                               QVBoxLayout, QWidget)

from ...core.graph_style import KIND_COLOURS, LINE_H, PAD_X, PAD_Y, SMALL_PX, TITLE_PX  # constants

SELECTED = QColor("#f59f00")


def _font(px: int, bold: bool = False) -> QFont:
    font = QFont()
    font.setPixelSize(px)
    font.setBold(bold)
    return font


class NodeItem(QGraphicsItem):
    """One box: its lines of text on the kind's colour; a thick amber frame when selected."""

    def __init__(self, placed) -> None:
        super().__init__()
        self.placed = placed
        self.node = placed.node
        self.selected = False
        self.setPos(placed.x, placed.y)
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setZValue(1)
        tip = [f"<b>{self.node.title}</b>"]
        if self.node.layer:
            tip.append(self.node.layer)
        if self.node.shape_text:
            tip.append(f"output {self.node.shape_text}")
        if self.node.kind == "block":
            tip.append("<i>Double-click to open this block</i>")
        elif self.node.block:
            tip.append(f"<i>Double-click to close block {self.node.block}</i>")
        self.setToolTip("<br>".join(tip))

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt naming)
        return QRectF(-3, -3, self.placed.w + 6, self.placed.h + 6)

    def paint(self, painter: QPainter, _option: QStyleOptionGraphicsItem, _widget=None) -> None:
        fill, border = KIND_COLOURS.get(self.node.kind, KIND_COLOURS["other"])
        box = QRectF(0, 0, self.placed.w, self.placed.h)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(SELECTED if self.selected else QColor(border),
                   4 if self.selected else (2.2 if self.node.kind == "block" else 1.2))
        painter.setPen(pen)
        painter.setBrush(QColor(fill))
        painter.drawRoundedRect(box, 6, 6)
        y = PAD_Y
        for text, role in self.placed.lines:
            font = _font(TITLE_PX if role == "title" else SMALL_PX, role == "title")
            painter.setFont(font)
            painter.setPen(QColor("#495057" if role == "layer" else "#212529"))
            room = int(self.placed.w - 2 * PAD_X + 8)
            shown = QFontMetrics(font).elidedText(text, Qt.TextElideMode.ElideMiddle, room)
            painter.drawText(QRectF(0, y, self.placed.w, LINE_H), Qt.AlignmentFlag.AlignCenter, shown)
            y += LINE_H


def _edge_path(points) -> QPainterPath:
    path = QPainterPath(QPointF(*points[0]))
    for x, y in points[1:]:
        path.lineTo(QPointF(x, y))
    return path


def _arrow_head(points) -> QPolygonF:
    (x0, y0), (x1, y1) = points[-2], points[-1]
    length = max(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5, 1e-6)
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    size = 7.0
    return QPolygonF([QPointF(x1, y1), QPointF(x1 - size * ux + size * 0.5 * uy, y1 - size * uy - size * 0.5 * ux),
                      QPointF(x1 - size * ux - size * 0.5 * uy, y1 - size * uy + size * 0.5 * ux)])


class GraphCanvas(QGraphicsView):
    """The scene of one drawing. Ctrl+wheel (or +/-) zooms; Fit shows it all."""

    node_clicked = Signal(str)
    node_double_clicked = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setBackgroundBrush(QBrush(QColor("#ffffff")))
        self.items_by_id: dict[str, NodeItem] = {}
        self.drawing = None

    def show_drawing(self, drawing) -> None:
        """Replace the scene with ``drawing`` (a core.graph_layout.Drawing)."""
        scene = self.scene()
        scene.clear()
        self.items_by_id = {}
        self.drawing = drawing
        pen = QPen(QColor("#868e96"), 1.3)
        for edge in drawing.edges:
            line = QGraphicsPathItem(_edge_path(edge.points))
            line.setPen(pen)
            scene.addItem(line)
            scene.addPolygon(_arrow_head(edge.points), QPen(Qt.PenStyle.NoPen), QBrush(QColor("#495057")))
        for placed in drawing.nodes:
            item = NodeItem(placed)
            scene.addItem(item)
            self.items_by_id[placed.node.id] = item
        scene.setSceneRect(QRectF(0, 0, drawing.width, drawing.height))

    def select(self, node_ids: set[str]) -> None:
        """Frame the nodes ``node_ids`` (and no others) and scroll the first into view."""
        first = None
        for node_id, item in self.items_by_id.items():
            chosen = node_id in node_ids
            if chosen != item.selected:
                item.selected = chosen
                item.update()
            if chosen and first is None:
                first = item
        if first is not None:
            self.ensureVisible(first, 40, 80)

    def selected_ids(self) -> set[str]:
        """Ids of the framed nodes."""
        return {i for i, item in self.items_by_id.items() if item.selected}

    def zoom_by(self, factor: float) -> None:
        """Zoom in (> 1) or out, within 5 % and 400 %."""
        scale = self.transform().m11() * factor
        if 0.05 <= scale <= 4.0:
            self.scale(factor, factor)

    def fit(self) -> None:
        """Show the whole drawing, never enlarged past 100 %."""
        self.resetTransform()
        rect = self.sceneRect()
        if rect.width() > 0 and rect.height() > 0:
            fit = min(self.viewport().width() / rect.width(), self.viewport().height() / rect.height())
            if fit < 1:
                self.scale(fit, fit)

    def fit_width(self) -> None:
        """Readable first: 100 %, or less when the drawing is wider than the view; scroll down
        for the rest."""
        self.resetTransform()
        width = self.sceneRect().width()
        if width > 0 and width > self.viewport().width():
            fit = self.viewport().width() / width
            self.scale(fit, fit)

    def _item_at(self, event) -> NodeItem | None:
        for item in self.items(event.position().toPoint()):
            if isinstance(item, NodeItem):
                return item
        return None

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        item = self._item_at(event)
        if item is not None and event.button() == Qt.MouseButton.LeftButton:
            self.node_clicked.emit(item.node.id)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        item = self._item_at(event)
        if item is not None:
            self.node_double_clicked.emit(item.node.id)
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom_by(1.15 if event.angleDelta().y() > 0 else 1 / 1.15)
            event.accept()
            return
        super().wheelEvent(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if event.key() in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_by(1.25)
        elif event.key() == Qt.Key.Key_Minus:
            self.zoom_by(0.8)
        else:
            super().keyPressEvent(event)


class GraphView(QWidget):
    """The canvas under a row of controls: collapse / expand blocks, zoom, fit, export."""

    collapse_all = Signal()
    expand_all = Signal()
    export_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.canvas = GraphCanvas()
        self.collapse = QPushButton("Collapse blocks")
        self.collapse.setToolTip("Draw each block (a ResNet bottleneck, an Inception module) as one box")
        self.expand = QPushButton("Expand all")
        self.expand.setToolTip("Draw every layer and every sum or concatenation")
        self.zoom_in, self.zoom_out, self.fit_button = QPushButton("+"), QPushButton("−"), QPushButton("Fit")
        self.zoom_in.setToolTip("Zoom in (+, or Ctrl+wheel)")
        self.zoom_out.setToolTip("Zoom out (−, or Ctrl+wheel)")
        self.fit_button.setToolTip("Show the whole graph")
        self.export = QPushButton("Export...")
        self.export.setToolTip("Save the graph as drawn: SVG (sharp at any size) or PNG")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        for button in (self.zoom_in, self.zoom_out):
            button.setFixedWidth(32)
        self.collapse.clicked.connect(self.collapse_all.emit)
        self.expand.clicked.connect(self.expand_all.emit)
        self.zoom_in.clicked.connect(lambda: self.canvas.zoom_by(1.25))
        self.zoom_out.clicked.connect(lambda: self.canvas.zoom_by(0.8))
        self.fit_button.clicked.connect(self.canvas.fit)
        self.export.clicked.connect(self.export_requested.emit)
        row = QHBoxLayout()
        for widget in (self.collapse, self.expand, self.zoom_in, self.zoom_out, self.fit_button):
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(self.export)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.canvas, 1)
