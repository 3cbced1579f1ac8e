"""Deletion and insertion curves as a picture (matplotlib's Agg renderer -> uint8 RGB), for the
window, the CLI's PNG and the report alike."""

from __future__ import annotations

import numpy as np

from .faithfulness import BLOB, RANDOM, Faithfulness

# the method bold and coloured; the baselines grey, dashed and dotted
_STYLES = {RANDOM: dict(color="#868e96", linestyle="--", linewidth=1.3),
           BLOB: dict(color="#adb5bd", linestyle=":", linewidth=1.6)}
_METHOD_STYLE = dict(color="#e8590c", linestyle="-", linewidth=2.2)


def curves_image(found: Faithfulness, width: int = 900, height: int = 340, dpi: int = 100) -> np.ndarray:
    """Deletion (left) and insertion (right) for the method, the random map and the centre blob,
    each curve's area in the legend; ``width`` x ``height`` pixels."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    small = 7.5 if width < 640 else 8.5  # points: legible when shown pixel for pixel
    top = max(found.probability, *(c.deletion.scores.max() for c in found.every_map()),
              *(c.insertion.scores.max() for c in found.every_map()))
    for column, (kind, better) in enumerate((("deletion", "lower"), ("insertion", "higher"))):
        axes = figure.add_subplot(1, 2, column + 1)
        for curves in found.every_map():
            curve = getattr(curves, kind)
            style = _STYLES.get(curves.name, _METHOD_STYLE)
            axes.plot(curve.fractions, curve.scores, label=f"{curves.name}: {area_text(curve.area)}",
                      **style)
        title = f"{kind.capitalize()}: {better} area is better" if width >= 640 else \
            f"{kind.capitalize()}: {better} is better"
        axes.set_title(title, fontsize=small + (1 if width >= 640 else 0.5))
        axes.set_xlabel(f"share of pixels {'deleted' if kind == 'deletion' else 'put back'}",
                        fontsize=small)
        if column == 0:
            axes.set_ylabel(f"p({_short(found.label)})", fontsize=small)
        axes.set_xlim(0, 1)
        axes.set_ylim(0, max(1e-3, top) * 1.05)
        axes.tick_params(labelsize=small - 0.5)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=small - 0.5, loc="best", framealpha=0.85, handlelength=1.6)
    canvas = figure.canvas
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def area_text(area: float) -> str:
    """An area as the legends and tables write it: 3 decimals, 2 significant digits below 0.01."""
    return f"{area:.3f}" if area >= 0.01 or area == 0 else f"{area:.2g}"


def _short(label: str, most: int = 24) -> str:
    return label if len(label) <= most else label[:most - 1] + "…"
