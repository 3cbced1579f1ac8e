"""Every fast method's heatmap for the same class, side by side, and the grid as one picture.

Methods disagree, and seeing them together is the quickest lesson in how much: the CAM family is
coarse and class-specific, the gradient family sharp and noisy, Eigen-CAM ignores the class. The
slow methods are left out (a grid of them would take minutes); a method refused for this network
(CAM without a GAP-linear head) is listed with its reason instead of a map.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .attribution import METHODS, Attribution, attribute, cam_refusal, resolve_target
from .errors import ModelError
from .inspect import Inspection
from .passes import AttributionCancelled, CancelCheck, ProgressCallback
from .weights import LoadedModel


@dataclass
class MethodGrid:
    """Each fast method's map for one class, and the methods refused, with why."""

    target: int
    label: str
    probability: float
    maps: list[Attribution]
    refused: dict[str, str] = field(default_factory=dict)  # method key -> the reason


def fast_methods() -> list[str]:
    """The keys of every method that makes one pass or none (the grid's methods)."""
    return [key for key, method in METHODS.items() if not method.slow]


def every_method(loaded: LoadedModel, inspection: Inspection, target: int | str | None = None,
                 layer: str | None = None, methods: list[str] | None = None,
                 progress: ProgressCallback | None = None,
                 should_cancel: CancelCheck | None = None) -> MethodGrid:
    """Every method of ``methods`` (default: the fast ones) for the same class and layer."""
    keys = methods or fast_methods()
    index = resolve_target(loaded, inspection, target)
    maps, refused = [], {}
    for done, key in enumerate(keys):
        if should_cancel is not None and should_cancel():
            raise AttributionCancelled("Attribution cancelled.")
        reason = cam_refusal(loaded.spec) if key == "cam" else None
        if reason:
            refused[key] = reason
        else:
            try:
                maps.append(attribute(loaded, inspection, key, index, layer))
            except AttributionCancelled:
                raise
            except ModelError as exc:  # one method's refusal does not empty the grid
                refused[key] = str(exc)
            except Exception as exc:  # nor one method's failure on an unusual model: say which
                refused[key] = f"failed on this model ({type(exc).__name__}: {exc})."
        if progress is not None:
            progress(done + 1, len(keys))
    return MethodGrid(index, loaded.labels[index], float(inspection.probabilities[index]), maps, refused)


def grid_figure(photo: np.ndarray, grid: MethodGrid, cmap: str = "jet", alpha: float = 0.5,
                columns: int | None = None, title: str = "") -> np.ndarray:
    """The grid as one RGB picture: the photo, then each map over it, titled with its method,
    layer and time; the refused methods listed under it. ``columns`` (default: about 1.5 as many
    as rows, so the picture fills a screen's landscape pane)."""
    import math

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .render import heat_overlay

    cells = 1 + len(grid.maps)
    columns = columns or min(cells, math.ceil(math.sqrt(cells * 1.5)))
    rows = -(-cells // columns)
    figure = Figure(figsize=(3.0 * columns, 3.25 * rows + (0.5 if grid.refused else 0) + 0.4),
                    layout="constrained", dpi=100)
    FigureCanvasAgg(figure)
    figure.suptitle(title or f"Every fast method for '{grid.label}' ({grid.probability:.1%})", fontsize=14)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    axes[0].imshow(photo)
    axes[0].set_title("the photo as the network saw it", fontsize=11)
    for ax, found in zip(axes[1:], grid.maps):
        ax.imshow(heat_overlay(photo, found.heatmap, alpha, cmap))
        where = f" at {found.layer}" if found.layer else ""
        ax.set_title(f"{METHODS[found.method].label}{where}\n{found.elapsed_ms:.0f} ms", fontsize=11)
    for ax in axes:
        ax.axis("off")
    if grid.refused:
        lines = [f"{METHODS[key].label}: {reason}" for key, reason in grid.refused.items()]
        figure.supxlabel("\n".join(_wrap(line, 40 * columns) for line in lines), fontsize=8)
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))
