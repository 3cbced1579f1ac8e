"""The sanity check's grid as one picture: the photo at the left, a row per method, a column per
randomisation step, each map's rank correlation with the original under it (matplotlib, Agg)."""

from __future__ import annotations

import math
import textwrap

import numpy as np

from .render import apply_colormap
from .sanity import SanityResult

CELL_INCHES = 1.35
DPI = 100
EXPLANATION = ("r: Spearman rank correlation of the absolute map with the trained model's map. "
               "Each column re-initialises one more block, from the head down. A map that stays "
               "the same while the model's knowledge is destroyed explains the image, not the model.")


def correlation_text(value: float) -> str:
    """How a correlation is written under its map: "r = 0.83", or "r = n/a (empty map)" when a map
    has no ranking to compare (an empty map)."""
    return "r = n/a (empty map)" if math.isnan(value) else f"r = {value:.2f}"


def sanity_grid(result: SanityResult, cmap: str = "inferno") -> np.ndarray:
    """The grid as uint8 RGB: column titles name the block randomised, row titles the method."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows, columns = result.maps.shape[:2]
    label_gap = 0.95  # inches between the photo and the grid, for the row titles
    width = CELL_INCHES * (columns + 1) + label_gap + 0.3
    height = CELL_INCHES * rows + 0.38 * rows + 1.55
    figure = Figure(figsize=(width, height), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    layer = f", CAM-family maps at {result.layer}" if result.layer else ""
    figure.suptitle(f"Cascading randomisation of {result.model_name}: where it looked for "
                    f"'{result.target_label}' ({result.probability:.0%})", fontsize=11, y=1 - 0.12 / height)
    figure.text(0.5, 1 - 0.42 / height, f"{result.weights_label}{layer}; new weights from seed "
                f"{result.seed}", ha="center", fontsize=8, color="#444444")
    top, bottom = 1 - 0.95 / height, 0.75 / height
    left = 0.15 / width
    photo_right = left + CELL_INCHES / width
    photo = figure.add_subplot(figure.add_gridspec(1, 1, left=left, right=photo_right, top=top,
                                                   bottom=bottom)[0, 0])
    photo.imshow(result.photo)
    photo.set_title("the photo", fontsize=9)
    photo.axis("off")
    grid = figure.add_gridspec(rows, columns, left=photo_right + label_gap / width, right=1 - 0.15 / width,
                               top=top, bottom=bottom, wspace=0.08, hspace=0.45)
    titles = result.column_titles
    for r in range(rows):
        for c in range(columns):
            ax = figure.add_subplot(grid[r, c])
            ax.imshow(apply_colormap(result.maps[r, c], cmap), interpolation="bilinear")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if r == 0:
                ax.set_title(titles[c], fontsize=8.5, fontweight="bold" if c == 0 else "normal")
            if c == 0:
                ax.set_ylabel(result.method_labels[r], fontsize=9, fontweight="bold")
            text = "reference" if c == 0 else correlation_text(float(result.correlations[r, c]))
            ax.set_xlabel(text, fontsize=8.5, labelpad=2)
    characters = max(40, int(width * DPI / 5.4))  # about 5.5 px per character at 8 pt
    figure.text(0.5, 0.1 / height, "\n".join(textwrap.wrap(EXPLANATION, characters)), ha="center",
                va="bottom", fontsize=8, color="#444444")
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
