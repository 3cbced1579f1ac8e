"""How long does the architecture graph take to draw? Target: ResNet-50 and Inception v3 in < 1 s.

"Draw" is all the work between a loaded model and a finished picture: the traced graph (as a
model just loaded has it), the shape pass, the layered layout and the SVG text. Each model is
loaded afresh for the first draw (what a user waits for the first time), then drawn again
(median of the repeats: the traced graph is cached from then on). The last column is the
window's share on top of that: building the Graph tab's scene from the layout and painting all
of it once (offscreen Qt).

    python benchmarks/graph.py [--repeats N] [--models resnet50,inception_v3]
"""

from __future__ import annotations

import _no_shadow  # noqa: F401  (first: see its docstring)
import argparse
import os
import statistics
import time

from cnnscope.core.graph import build_graph
from cnnscope.core.graph_layout import lay_out
from cnnscope.core.graph_svg import drawing_to_svg
from cnnscope.core.weights import load_model

TARGET_S = 1.0


def draw(loaded, collapse: bool) -> tuple[float, int]:
    """Seconds for one full draw, and the number of nodes drawn."""
    start = time.perf_counter()
    graph = build_graph(loaded)
    shown = graph.collapsed() if collapse else graph
    drawing_to_svg(lay_out(shown))
    return time.perf_counter() - start, len(shown.nodes)


def window_paint(loaded, collapse: bool) -> float:
    """Seconds to build the Graph tab's scene and paint the whole drawing once."""
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtWidgets import QApplication

    from cnnscope.gui.views.graph import GraphCanvas

    QApplication.instance() or QApplication([])
    graph = build_graph(loaded)
    drawing = lay_out(graph.collapsed() if collapse else graph)
    canvas = GraphCanvas()
    start = time.perf_counter()
    canvas.show_drawing(drawing)
    image = QImage(int(drawing.width), int(drawing.height), QImage.Format.Format_RGB32)
    painter = QPainter(image)
    canvas.scene().render(painter)
    painter.end()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default="resnet50,inception_v3")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    print(f"{'model':<14} {'drawn':<10} {'nodes':>5} {'first s':>8} {'again s':>8} {'window s':>9}  "
          f"target < {TARGET_S} s")
    for name in args.models.split(","):
        for collapse in (False, True):
            loaded = load_model(name, "random")  # the graph does not depend on the weights
            first, nodes = draw(loaded, collapse)
            again = statistics.median(draw(loaded, collapse)[0] for _ in range(args.repeats))
            paint = window_paint(loaded, collapse)
            verdict = "ok" if first + paint < TARGET_S else "SLOW"
            print(f"{name:<14} {'blocks' if collapse else 'all':<10} {nodes:>5} {first:>8.2f} "
                  f"{again:>8.2f} {paint:>9.2f}  {verdict}")


if __name__ == "__main__":
    main()
