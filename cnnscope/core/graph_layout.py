"""Where each node of an architecture graph goes: a layered (Sugiyama) drawing, top to bottom.

The layout is grandalf's (pure Python, installed by pip: no Graphviz binary for users to add).
The SVG file, the PNG file and the window all draw the same :class:`Drawing`.
"""

from __future__ import annotations

from dataclasses import dataclass

from grandalf.graphs import Edge, Graph, Vertex
from grandalf.layouts import SugiyamaLayout

from .graph_style import CHAR_W, LINE_H, MARGIN, PAD_X, PAD_Y, SMALL_PX, TITLE_PX, X_SPACE, Y_SPACE


@dataclass(frozen=True)
class PlacedNode:
    """A node and its box: (x, y) is the top-left corner."""

    node: object  # core.graph.GraphNode
    x: float
    y: float
    w: float
    h: float

    @property
    def lines(self) -> list[tuple[str, str]]:
        """(text, role) per line of the box: the title, the layer name, the output shape."""
        return box_lines(self.node)


@dataclass(frozen=True)
class RoutedEdge:
    """An edge as a polyline from the source box's bottom to the target box's top."""

    source: str
    target: str
    points: tuple[tuple[float, float], ...]


@dataclass
class Drawing:
    """A laid-out graph, in pixels at 100 % zoom."""

    model: str
    nodes: list[PlacedNode]
    edges: list[RoutedEdge]
    width: float
    height: float

    def node_at(self, x: float, y: float) -> PlacedNode | None:
        """The node whose box holds (x, y), if any."""
        for p in self.nodes:
            if p.x <= x <= p.x + p.w and p.y <= y <= p.y + p.h:
                return p
        return None


def box_lines(node) -> list[tuple[str, str]]:
    """What a node's box says, line by line, as (text, "title" | "layer" | "shape")."""
    lines = [(node.title, "title")]
    if node.layer:
        lines.append((node.layer, "layer"))
    if node.shape_text:
        lines.append((node.shape_text, "shape"))
    return lines


def box_size(node) -> tuple[float, float]:
    """Width and height of a node's box, from its text."""
    lines = box_lines(node)
    widest = max(len(text) * (TITLE_PX * 1.06 if role == "title" else SMALL_PX) * CHAR_W
                 for text, role in lines)
    return max(96.0, widest + 2 * PAD_X), len(lines) * LINE_H + 2 * PAD_Y


class _View:
    """grandalf's view of a vertex: its size in, its centre out."""

    def __init__(self, w: float = 10.0, h: float = 10.0) -> None:
        self.w, self.h = w, h
        self.xy = (0.0, 0.0)


class _EdgeView:
    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []

    def setpath(self, points) -> None:
        self.points = list(points)


def lay_out(graph) -> Drawing:
    """Place every node of ``graph`` (a core.graph.ArchitectureGraph) in layers, inputs at the
    top; separate pieces (rare) side by side."""
    vertices = {}
    for node in graph.nodes:
        v = Vertex(node)
        v.view = _View(*box_size(node))
        vertices[node.id] = v
    edges = []
    for a, b in graph.edges:
        e = Edge(vertices[a], vertices[b])
        e.view = _EdgeView()
        edges.append(e)
    g = Graph(list(vertices.values()), edges)
    placed: list[PlacedNode] = []
    routed: list[RoutedEdge] = []
    offset, height = MARGIN, 0.0
    for component in g.C:
        sug = SugiyamaLayout(component)
        sug.xspace, sug.yspace = X_SPACE, Y_SPACE
        sug.dw = 8.0  # a long edge's bend points: thin, so skip connections take little room
        sug.init_all()
        sug.draw(3)
        views = [v.view for v in component.sV]
        left = min(v.xy[0] - v.w / 2 for v in views)
        top = min(v.xy[1] - v.h / 2 for v in views)
        dx, dy = offset - left, MARGIN - top
        for v in component.sV:
            cx, cy = v.view.xy
            placed.append(PlacedNode(v.data, cx - v.view.w / 2 + dx, cy - v.view.h / 2 + dy,
                                     v.view.w, v.view.h))
        for e in component.sE:
            points = [(x + dx, y + dy) for x, y in e.view.points]
            (sx, sy), (tx, ty) = points[0], points[-1]
            src, dst = e.v[0].view, e.v[1].view
            points[0] = (sx, sy + src.h / 2)  # leave from the box's bottom edge, enter at the top
            points[-1] = (tx, ty - dst.h / 2)
            routed.append(RoutedEdge(e.v[0].data.id, e.v[1].data.id, tuple(points)))
        right = max(v.xy[0] + v.w / 2 for v in views) + dx
        bottom = max(v.xy[1] + v.h / 2 for v in views) + dy
        offset, height = right + X_SPACE * 2, max(height, bottom)
    order = {n.id: i for i, n in enumerate(graph.nodes)}
    placed.sort(key=lambda p: order[p.node.id])
    return Drawing(graph.model, placed, routed, offset - X_SPACE * 2 + MARGIN, height + MARGIN)
