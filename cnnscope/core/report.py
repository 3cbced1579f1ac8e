"""A PDF handout (matplotlib): the photo, top-5, where the network looked, chosen layers' maps,
and the architecture's stages."""

from __future__ import annotations

from pathlib import Path

from .attribution import METHODS, Attribution
from .compare import match_depth
from .inspect import Inspection
from .render import feature_grid, heat_overlay
from .summary import Summary

A4 = (8.27, 11.69)


def default_report_layers(inspection: Inspection) -> list[str]:
    """Three stages, early / middle / late, when no layers are chosen."""
    names = []
    for depth in (0.2, 0.55, 0.9):
        name = match_depth(inspection.layers, depth).name
        if name not in names:
            names.append(name)
    return names


def write_report(path: str | Path, image_name: str, inspection: Inspection, attribution: Attribution,
                 summary: Summary, layers: list[str], description: str) -> Path:
    """Write the handout: page 1 the prediction and the heatmap, then one page per chosen layer,
    then the stages. Returns the path."""
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with PdfPages(path) as pdf:
        figure = Figure(figsize=A4, layout="constrained")
        figure.suptitle(f"{inspection.model_name}: {image_name}", fontsize=14)
        grid = figure.add_gridspec(3, 2, height_ratios=[0.55, 1.1, 1.1])
        intro = figure.add_subplot(grid[0, :])
        intro.axis("off")
        untrained = "" if inspection.trained else "\nUNTRAINED (random) weights: the predictions mean nothing."
        intro.text(0, 1, _wrap(description, 95) + f"\n\nWeights: {inspection.weights_label}.{untrained}",
                   va="top", fontsize=9)
        photo = figure.add_subplot(grid[1, 0])
        photo.imshow(inspection.input_rgb)
        photo.set_title("What the network saw", fontsize=10)
        photo.axis("off")
        bars = figure.add_subplot(grid[1, 1])
        labels = [p.label for p in inspection.predictions][::-1]
        bars.barh(labels, [p.probability for p in inspection.predictions][::-1], color="#1c7ed6")
        bars.set_xlim(0, 1)
        bars.set_title("Top-5 predictions", fontsize=10)
        bars.tick_params(labelsize=8)
        heat = figure.add_subplot(grid[2, 0])
        heat.imshow(heat_overlay(inspection.input_rgb, attribution.heatmap))
        where = f" at {attribution.layer}" if attribution.layer else ""
        heat.set_title(f"{METHODS[attribution.method].label} for '{attribution.target_label}'{where}",
                       fontsize=9)
        heat.axis("off")
        explain = figure.add_subplot(grid[2, 1])
        explain.axis("off")
        explain.text(0, 1, _wrap(METHODS[attribution.method].summary, 48), va="top", fontsize=9)
        pdf.savefig(figure)

        for name in layers:
            maps = inspection.activation(name)
            figure = Figure(figsize=A4, layout="constrained")
            row = next(r for r in summary.rows if r.name == name)
            field = f", each value sees {row.receptive_field} px of the input" if row.receptive_field else ""
            figure.suptitle(f"{name} ({row.type}): {maps.shape[0]} maps of {maps.shape[1]} x "
                            f"{maps.shape[2]}{field}", fontsize=11)
            axes = figure.add_subplot(1, 1, 1)
            axes.imshow(feature_grid(maps), interpolation="nearest")
            axes.axis("off")
            pdf.savefig(figure)

        figure = Figure(figsize=A4, layout="constrained")
        figure.suptitle(f"{summary.model}: stages", fontsize=14)
        axes = figure.add_subplot(2, 1, 1)
        stages = summary.stages()
        for i, (side, channels, name) in enumerate(stages):
            size = 0.25 + 0.75 * side / max(s for s, _, _ in stages)
            axes.add_patch(_square(i, size))
            axes.text(i + 0.5, -0.12, f"{side} px\n{channels} ch\n{name}", ha="center", va="top", fontsize=7)
        axes.set_xlim(0, max(1, len(stages)))
        axes.set_ylim(-0.6, 1.1)
        axes.set_aspect("equal")
        axes.axis("off")
        facts = figure.add_subplot(2, 1, 2)
        facts.axis("off")
        facts.text(0, 1, f"{summary.total_params:,} parameters\n{summary.total_macs / 1e9:.2f} G "
                   f"multiply-adds per {summary.input_size} px image\n{summary.weight_layers} weight layers "
                   "(convolutions and fully connected)",
                   va="top", fontsize=11)
        pdf.savefig(figure)
    return path


def _square(i: int, size: float):
    from matplotlib.patches import Rectangle

    return Rectangle((i + 0.5 - size / 2, 0), size, size, color="#74c0fc", ec="#1864ab")


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))
