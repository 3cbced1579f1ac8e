"""An architecture drawing as an SVG file (plain text, opens in any browser) or a PNG (matplotlib).

SVG is written by hand rather than through matplotlib: the text stays text (searchable, sharp at
any zoom) and a 300-node graph is written in milliseconds."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

from .errors import OptionError
from .files import refuse_unwritable
from .graph_layout import Drawing
from .graph_style import KIND_COLOURS, KIND_NAMES, LINE_H, PAD_Y, SMALL_PX, TITLE_PX

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
LEGEND_ROW = 20
MAX_PNG_PIXELS = 40_000_000  # a PNG of a very tall graph is scaled down to stay under this


def _legend(drawing: Drawing) -> tuple[list[tuple[float, float, str]], float]:
    """(x, y, kind) of each legend entry (the kinds the drawing has), wrapped to its width, and
    the legend's height."""
    present = {p.node.kind for p in drawing.nodes}
    entries, x, y = [], 10.0, 8.0
    for kind in (k for k in KIND_COLOURS if k in present):
        width = 19 + len(KIND_NAMES[kind]) * SMALL_PX * 0.6 + 16
        if x > 10 and x + width > drawing.width:
            x, y = 10.0, y + LEGEND_ROW
        entries.append((x, y, kind))
        x += width
    return entries, y + LEGEND_ROW


def drawing_to_svg(drawing: Drawing) -> str:
    """The drawing as an SVG document: boxes coloured by kind, arrows, a legend on top."""
    legend, legend_h = _legend(drawing)
    width, height = drawing.width, drawing.height + legend_h
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{FONT}">',
           f"<title>{escape(drawing.model)}: architecture</title>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
           'fill="#495057"/></marker></defs>',
           f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>']
    for x, y, kind in legend:
        fill, border = KIND_COLOURS[kind]
        out.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="14" height="14" rx="3" fill="{fill}" '
                   f'stroke="{border}"/><text x="{x + 19:.0f}" y="{y + 11:.0f}" '
                   f'font-size="{SMALL_PX}" fill="#343a40">{escape(KIND_NAMES[kind])}</text>')
    out.append(f'<g transform="translate(0,{legend_h:.0f})">')
    for edge in drawing.edges:
        points = " ".join(f"{px:.1f},{py:.1f}" for px, py in edge.points)
        out.append(f'<polyline points="{points}" fill="none" stroke="#868e96" stroke-width="1.3" '
                   'marker-end="url(#arrow)"/>')
    for p in drawing.nodes:
        fill, border = KIND_COLOURS.get(p.node.kind, KIND_COLOURS["other"])
        thick = 2.2 if p.node.kind == "block" else 1.2
        layer = f' data-layer="{escape(p.node.layer)}"' if p.node.layer else ""
        out.append(f'<g id="{escape(p.node.id)}"{layer}><rect x="{p.x:.1f}" y="{p.y:.1f}" '
                   f'width="{p.w:.1f}" height="{p.h:.1f}" rx="6" fill="{fill}" stroke="{border}" '
                   f'stroke-width="{thick}"/>')
        y = p.y + PAD_Y
        for text, role in p.lines:
            size = TITLE_PX if role == "title" else SMALL_PX
            weight = ' font-weight="bold"' if role == "title" else ""
            colour = "#212529" if role != "layer" else "#495057"
            y += LINE_H
            out.append(f'<text x="{p.x + p.w / 2:.1f}" y="{y - 4:.1f}" font-size="{size}" '
                       f'text-anchor="middle" fill="{colour}"{weight}>{escape(text)}</text>')
        out.append("</g>")
    out.append("</g></svg>")
    return "\n".join(out)


def write_drawing(drawing: Drawing, path: str | Path) -> Path:
    """Write the drawing as SVG or PNG, chosen by the file's suffix (OptionError when the suffix
    is another, or the place cannot be written)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".svg", ".png"):
        raise OptionError(f"Cannot write a graph as '{suffix or path.name}': name the file .svg or .png.")
    try:
        refuse_unwritable(path)
        if suffix == ".svg":
            path.write_text(drawing_to_svg(drawing), encoding="utf-8")
        else:
            _write_png(drawing, path)
    except OSError as exc:
        raise OptionError(f"Could not write {path}: {exc.strerror or exc}.") from exc
    return path


def _write_png(drawing: Drawing, path: Path) -> None:
    """The same drawing through matplotlib's Agg renderer (1 drawing pixel = 1 image pixel, less
    for graphs too tall to hold in memory)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch

    legend, legend_h = _legend(drawing)
    width, height = drawing.width, drawing.height + legend_h
    scale = min(1.0, (MAX_PNG_PIXELS / (width * height)) ** 0.5)
    dpi = 100 * scale
    fig = Figure(figsize=(width / 100, height / 100), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    pt = 72 / 100  # drawing pixels -> points at 100 dpi
    for x, y, kind in legend:
        fill, border = KIND_COLOURS[kind]
        ax.add_patch(FancyBboxPatch((x, y), 14, 14, boxstyle="round,pad=0,rounding_size=3",
                                    facecolor=fill, edgecolor=border))
        ax.text(x + 19, y + 7, KIND_NAMES[kind], fontsize=SMALL_PX * pt, va="center", color="#343a40")
    for edge in drawing.edges:
        xs = [px for px, _ in edge.points]
        ys = [py + legend_h for _, py in edge.points]
        ax.plot(xs[:-1] + [xs[-1]], ys, color="#868e96", linewidth=1.3 * pt)
        ax.annotate("", xy=(xs[-1], ys[-1]), xytext=(xs[-2], ys[-2]),
                    arrowprops={"arrowstyle": "-|>", "color": "#495057", "lw": 0,
                                "shrinkA": 0, "shrinkB": 0, "mutation_scale": 8})
    for p in drawing.nodes:
        fill, border = KIND_COLOURS.get(p.node.kind, KIND_COLOURS["other"])
        ax.add_patch(FancyBboxPatch((p.x, p.y + legend_h), p.w, p.h,
                                    boxstyle="round,pad=0,rounding_size=6", facecolor=fill,
                                    edgecolor=border, linewidth=(2.2 if p.node.kind == "block" else 1.2) * pt))
        y = p.y + legend_h + PAD_Y
        for text, role in p.lines:
            y += LINE_H
            ax.text(p.x + p.w / 2, y - 4, text, ha="center", va="baseline",
                    fontsize=(TITLE_PX if role == "title" else SMALL_PX) * pt,
                    fontweight="bold" if role == "title" else "normal",
                    color="#495057" if role == "layer" else "#212529")
    fig.savefig(path, dpi=dpi, facecolor="white")
