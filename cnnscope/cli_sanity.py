"""``cnnscope sanity``: the sanity check for heatmaps (Adebayo et al. 2018). A copy of the model is
randomised from the head down, one block more per step; each method's map is recomputed after
every step and compared with the trained model's map. Writes the grid as PNG and prints the
correlations."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from .cli_types import (MODEL_HELP, add_own_model_options, add_whole_image_option, colormap, framing,
                        integer, model_hints, names)
from .core.files import refuse_unwritable  # plain Python: no torch before --help

MAX_STEPS = 24  # core.sanity.MAX_STEPS, spelled out so that --help needs no torch import


def add_parser(sub) -> None:
    """The sanity subcommand and its options."""
    s = sub.add_parser("sanity", help="the sanity check for heatmaps: randomise the model from the "
                       "head down and see which maps change (a grid as PNG)")
    s.add_argument("--model", default=None, help=MODEL_HELP)
    add_own_model_options(s)
    s.add_argument("--weights", default="pretrained", help="pretrained, random or a file path")
    s.add_argument("--image", required=True, help="the image to explain")
    add_whole_image_option(s)
    s.add_argument("--methods", type=names("method, e.g. gradcam,guided_backprop"), default=None, metavar="M1,M2",
                   help="heatmap methods, one row each (default: the fast gradient ones: gradcam, "
                        "guided_backprop, saliency, guided_gradcam, input_x_gradient)")
    s.add_argument("--target", default=None, metavar="CLASS",
                   help="class to explain: a label or an index (default: the top prediction)")
    s.add_argument("--steps", type=integer(1, MAX_STEPS), default=8,
                   help="randomisation steps at most: the head alone, then the rest in groups "
                        "of neighbouring blocks (default 8)")
    s.add_argument("--layer", default=None,
                   help="layer for the CAM methods (default: the model's last conv block)")
    s.add_argument("--seed", type=integer(0, 2**31 - 1), default=0,
                   help="seed of the new weights (default 0)")
    s.add_argument("--cmap", type=colormap, default="inferno", help="matplotlib colormap of the maps")
    s.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    s.add_argument("--out", required=True, help="PNG file to write")


def sanity(args: argparse.Namespace, parser) -> int:
    """Run the cascade, write the grid, print the correlation table."""
    from .cli import _progress_bar, load_model_with_bar
    from .core.devices import pick_device
    from .core.images import open_image
    from .core.inspect import inspect
    from .core.models import DEFAULT_MODEL
    from .core.render import save_png
    from .core.sanity import cascading_randomisation, checked_methods
    from .core.sanity_figure import sanity_grid

    out = Path(args.out).expanduser()
    if out.suffix.lower() != ".png":
        parser.error("name the --out file .png")
    refuse_unwritable(out)  # before minutes of work, not after
    checked_methods(args.methods)  # before the model loads: a typo costs nothing
    image = open_image(args.image)
    loaded = load_model_with_bar(args.model or DEFAULT_MODEL, args.weights, model_hints(args))
    shown = inspect(loaded, image, pick_device(args.device), framing=framing(args))
    found = cascading_randomisation(loaded, shown, args.methods, args.target, args.steps, args.layer,
                                    progress=_progress_bar("randomising and explaining", "maps", 1),
                                    seed=args.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_png(sanity_grid(found, args.cmap), out)
    for note in found.notes:
        print(f"note: {note}")
    print(f"{found.model_name}: '{found.target_label}' ({found.probability:.1%}); Spearman rank "
          "correlation of each |map| with the trained model's map:")
    print(table(found.column_titles, found.method_labels, found.correlations.tolist()))
    print(f"wrote {out} ({found.elapsed_s:.1f} s)")
    return 0


def table(steps: list[str], methods: list[str], correlations: list[list[float]]) -> str:
    """A row per randomisation step, a column per method."""
    first = max(len("randomised"), *(len(s) for s in steps))
    widths = [max(6, len(m)) for m in methods]
    lines = ["  ".join([f"{'randomised':<{first}}"] + [f"{m:>{w}}" for m, w in zip(methods, widths)])]
    for column, step in enumerate(steps):
        cells = ["n/a" if math.isnan(row[column]) else f"{row[column]:.2f}" for row in correlations]
        lines.append("  ".join([f"{step:<{first}}"] + [f"{c:>{w}}" for c, w in zip(cells, widths)]))
    return "\n".join(lines)
