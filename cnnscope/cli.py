"""Command line: ``cnnscope [IMAGE]`` opens the window; ``cnnscope render | models | make-demo``.

Exit codes: 0 done, 1 bad input (one line on stderr, no traceback), 2 usage error (argparse).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Sequence

from . import __version__
from .cli_types import (MODEL_HELP, CliParser, add_own_model_options, add_whole_image_option, box_corners,
                        colormap, framing, integer, model_hints, number, stop_after_the_batch)

SAMPLE_SHAPE_SIZE = 256  # sample pictures are drawn larger than the demo's 96 px input
MAX_PER_CLASS = 5000  # make-dataset: 5,000 96-px pictures per class is already ~100 MB
COMMANDS = ("render", "models", "make-demo", "make-lenet", "train", "make-dataset", "compare",
            "summary", "graph", "report", "visualize", "dream", "attack", "scan", "sanity")
PRESET_KEYS = ("feature-extractor", "fine-tune-all", "freeze-first", "early-features")  # core.freeze.PRESETS
# core.attribution.METHODS' keys, spelled out so that --help needs no torch import (a test keeps
# the two lists equal)
ATTRIBUTION_METHODS = ("gradcam", "gradcam++", "hirescam", "xgradcam", "layercam", "eigencam", "cam",
                       "scorecam", "scorecam_fast", "ablationcam", "smoothgradcam++", "guided_backprop",
                       "guided_gradcam", "saliency", "input_x_gradient", "smoothgrad",
                       "integrated_gradients", "deeplift", "occlusion")


def _progress_bar(label: str, unit: str = "MB", scale: float = 1e6):
    """A progress callback that draws a text bar on stderr (``done``/``total`` in units*scale)."""
    state = {"last": 0.0}

    def show(done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - state["last"] < 0.1 and done != total:
            return
        state["last"] = now
        if total:
            frac = done / total
            bar = "#" * int(frac * 30)
            sys.stderr.write(f"\r{label} [{bar:<30}] {frac:6.1%} of {total / scale:.{1 if scale > 1 else 0}f} {unit}")
        else:
            sys.stderr.write(f"\r{label} {done / scale:.1f} {unit}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def _parser() -> argparse.ArgumentParser:
    p = CliParser(prog="cnnscope", description="See inside convolutional neural "
                                "networks: predictions, feature maps, filters.")
    p.add_argument("--version", action="version", version=f"cnnscope {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("render", help="inspect one image and write predictions and pictures")
    r.add_argument("--model", default=None, help=MODEL_HELP)
    add_own_model_options(r)
    r.add_argument("--weights", default="pretrained",
                   help="pretrained (download or cache), random (untrained) or a file path")
    r.add_argument("--image", help="the image to inspect")
    r.add_argument("--layer", help="layer whose feature maps to draw (default: a mid-level one)")
    r.add_argument("--out", help="folder for the output files (created if missing)")
    r.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto)")
    r.add_argument("--cmap", default="viridis", type=colormap, help="matplotlib colormap for feature maps")
    r.add_argument("--sort", choices=("none", "mean"), default="none",
                   help="channel order: as in the model, or by mean activation")
    r.add_argument("--channel", type=integer(0, 1_000_000), action="append", metavar="N",
                   help="also write channel N of the layer enlarged, and over the input (repeatable)")
    r.add_argument("--list-layers", action="store_true",
                   help="print the layer table instead of writing files")
    r.add_argument("--cam", metavar="METHOD", choices=ATTRIBUTION_METHODS + ("all",),
                   help="also write where the network looked, by METHOD: "
                        f"{', '.join(ATTRIBUTION_METHODS)}; or 'all': every fast one in a grid")
    r.add_argument("--target", metavar="CLASS",
                   help="class to explain with --cam: a label or an index (default: the top prediction)")
    r.add_argument("--cam-layer", metavar="LAYER",
                   help="layer for the CAM methods (default: the model's last conv block)")
    r.add_argument("--alpha", type=number(0, 1), default=0.5, help="heatmap opacity over the photo (0..1)")
    r.add_argument("--heat-cmap", default="jet", type=colormap, help="matplotlib colormap for the heatmap")
    r.add_argument("--metrics", action="store_true",
                   help="with --cam METHOD: can we trust the map? Its deletion and insertion curves "
                        "beside a random map's and a centre blob's (a PNG, areas in predictions.json)")
    r.add_argument("--box", type=box_corners, metavar="X0,Y0,X1,Y1",
                   help="with --cam METHOD: a box around the object, in pixels of the crop the network "
                        "saw (input.png; X1, Y1 excluded): the pointing game and the map's share inside")
    add_whole_image_option(r)

    m = sub.add_parser("models", help="list the models cnnscope knows")
    m.add_argument("-v", "--verbose", action="store_true", help="add each model's description")

    d = sub.add_parser("make-demo", help="train the bundled demo model and draw its sample images")
    d.add_argument("--out", default=None, help="checkpoint to write (default: assets/demo_shapes.pt)")
    d.add_argument("--samples", default=None,
                   help="folder for the sample shape pictures (default: sample_images/)")
    d.add_argument("--samples-only", action="store_true", help="only draw the sample pictures")
    d.add_argument("--epochs", type=integer(1, 1000), default=None, help="training epochs (default 16)")
    d.add_argument("--seed", type=integer(0, 2**32 - 1), default=0)
    d.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    le = sub.add_parser("make-lenet", help="train the bundled LeNet-5 on drawn digits and draw its "
                        "sample digit")
    le.add_argument("--out", default=None, help="checkpoint to write (default: assets/lenet5.pt)")
    le.add_argument("--samples", default=None,
                    help="folder for the sample digit picture (default: sample_images/)")
    le.add_argument("--samples-only", action="store_true", help="only draw the sample picture")
    le.add_argument("--epochs", type=integer(1, 1000), default=None, help="training epochs (default 10)")
    le.add_argument("--seed", type=integer(0, 2**32 - 1), default=0)
    le.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    t = sub.add_parser("train", help="fine-tune a model on a folder of images (one subfolder per class)")
    t.add_argument("--model", default=None, help=MODEL_HELP)
    add_own_model_options(t)
    t.add_argument("--weights", default="pretrained", help="pretrained, random or a file path")
    t.add_argument("--data", required=True, help="image folder: one subfolder per class "
                   "(or train/ and val/ holding them)")
    t.add_argument("--preset", choices=PRESET_KEYS, default="feature-extractor",
                   help="which layers learn (default: feature-extractor, only the new head)")
    t.add_argument("--blocks", type=integer(0, 10_000), default=None, metavar="N",
                   help="freeze-first: how many blocks stay frozen (default: three quarters)")
    t.add_argument("--cut-after", default=None, metavar="BLOCK",
                   help="early-features: the block the new head follows (default: the one three "
                   "quarters deep)")
    t.add_argument("--epochs", type=integer(1, 1000), default=None,
                   help="default: the preset's (5; 20 for early-features)")
    t.add_argument("--batch-size", type=integer(1, 4096), default=None,
                   help="default: the preset's (32; 16 for fine-tune-all)")
    t.add_argument("--lr", type=number(0, 10, low_open=True), default=None,
                   help="learning rate, above 0 and at most 10 (default: the preset's: 0.01 "
                   "feature-extractor, 0.001 fine-tune-all, 0.003 freeze-first, 0.03 early-features)")
    t.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    t.add_argument("--augment", default="", metavar="LIST",
                   help="comma-separated: flip, crop, color (default: none)")
    t.add_argument("--val-fraction", type=number(0, 0.9), default=0.2,
                   help="share of each class kept for validation, 0 to 0.9 (default 0.2)")
    t.add_argument("--no-cache", action="store_true",
                   help="recompute the backbone every epoch even when only the head learns")
    t.add_argument("--device", default="auto")
    t.add_argument("--seed", type=integer(0, 2**32 - 1), default=0)
    t.add_argument("--out", required=True, help="checkpoint file to write (checked before training)")

    c = sub.add_parser("compare", help="the same image through 2 to 4 models, side by side, as one PNG")
    c.add_argument("--models", required=True,
                   help="comma-separated: registry names, NAME=WEIGHTS_FILE, or cnnscope checkpoints")
    c.add_argument("--weights", default="pretrained", help="for plain names: pretrained or random")
    add_own_model_options(c)
    c.add_argument("--image", required=True)
    c.add_argument("--out", required=True, help="PNG file to write")
    match = c.add_mutually_exclusive_group()
    match.add_argument("--depth", type=number(0, 1), default=None,
                       help="match the layers at this relative depth, 0 (input) to 1 (output); default 0.5")
    match.add_argument("--stride", type=number(1, 1024), default=None,
                       help="match the layers whose maps are input/STRIDE px (8: 28 px of 224)")
    c.add_argument("--cam", default="gradcam", choices=ATTRIBUTION_METHODS)
    c.add_argument("--target", default=None, help="class to explain in every column (by label)")
    c.add_argument("--device", default="auto")
    add_whole_image_option(c)

    sm = sub.add_parser("summary", help="the architecture as a table: output shapes, parameters, "
                        "multiply-adds, receptive fields")
    sm.add_argument("--model", default=None, help=MODEL_HELP)
    add_own_model_options(sm)
    sm.add_argument("--weights", default="random",
                    help="random (default: the table does not depend on them), pretrained or a file")
    sm.add_argument("--csv", default=None, help="also write the table as CSV")
    sm.add_argument("--depth", type=integer(0, 100), default=None, help="show layers nested at most this deep")

    gr = sub.add_parser("graph", help="the architecture as a graph (shortcuts, branches, blocks), "
                        "written as SVG or PNG")
    gr.add_argument("--model", default=None, help=MODEL_HELP)
    add_own_model_options(gr)
    gr.add_argument("--weights", default="random",
                    help="random (default: the graph does not depend on them), pretrained or a file")
    gr.add_argument("--out", required=True, help="file to write: .svg (sharp at any zoom) or .png")
    gr.add_argument("--collapse", action="store_true",
                    help="draw each block (a ResNet bottleneck, an Inception module) as one node")

    rp = sub.add_parser("report", help="a PDF handout: photo, top-5, heatmap, feature maps, stages")
    rp.add_argument("--model", default=None, help=MODEL_HELP)
    add_own_model_options(rp)
    rp.add_argument("--weights", default="pretrained", help="pretrained, random or a file path")
    rp.add_argument("--image", required=True)
    rp.add_argument("--out", required=True, help="PDF file to write")
    rp.add_argument("--layers", default=None, help="comma-separated layers (default: early, middle, late)")
    rp.add_argument("--cam", default="gradcam", choices=ATTRIBUTION_METHODS)
    rp.add_argument("--target", default=None, help="class to explain (default: the top prediction)")
    rp.add_argument("--device", default="auto")
    add_whole_image_option(rp)

    ds = sub.add_parser("make-dataset", help="draw a small image-folder dataset of new shapes "
                        "(for trying transfer learning offline)")
    ds.add_argument("out", help="folder to create (one subfolder per class)")
    ds.add_argument("--classes", default="arrow,moon,diamond",
                    help="comma-separated shapes (default: arrow,moon,diamond: the demo model never saw them)")
    ds.add_argument("--per-class", type=integer(1, MAX_PER_CLASS), default=60,
                    help=f"images per class, 1 to {MAX_PER_CLASS:,} (default 60)")
    ds.add_argument("--seed", type=integer(0, 2**32 - 1), default=0)
    from .cli_optimize import add_parsers
    from .cli_sanity import add_parser as add_sanity_parser
    from .cli_scan import add_parser as add_scan_parser

    add_parsers(sub)
    add_scan_parser(sub)
    add_sanity_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cnnscope`` console script."""
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (len(argv) == 1 and not argv[0].startswith("-") and argv[0] not in COMMANDS):
        from .gui.screen_check import display_problem

        problem = display_problem()  # before Qt loads: without a display it aborts the process
        if problem:
            print(f"cnnscope: {problem}", file=sys.stderr)
            return 1
        from .gui.app import main as open_window  # no torch here: the window shows first

        return open_window(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from .core.errors import CnnscopeError

    try:
        from . import cli_optimize, cli_sanity, cli_scan

        return {"render": _render, "models": _models, "make-demo": _make_demo,
                "make-lenet": _make_lenet, "train": _train,
                "make-dataset": _make_dataset, "compare": _compare, "summary": _summary,
                "graph": _graph,
                "report": _report, "visualize": cli_optimize.visualize, "dream": cli_optimize.dream,
                "attack": cli_optimize.attack, "scan": cli_scan.scan,
                "sanity": cli_sanity.sanity}[args.command](args, parser)
    except CnnscopeError as exc:
        print(f"cnnscope: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into `head`
        sys.stderr.close()
        return 0
    except OSError as exc:  # e.g. an output folder we may not write to
        print(f"cnnscope: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cnnscope: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("cnnscope: error: this ran out of memory; try a smaller image, model or batch.",
              file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug of ours: one line, never a traceback
        if os.environ.get("CNNSCOPE_DEBUG"):
            raise
        print(f"cnnscope: error: unexpected failure ({type(exc).__name__}: "
              f"{str(exc).splitlines()[0][:200] if str(exc) else 'no details'}); please report it "
              "(CNNSCOPE_DEBUG=1 shows the details).", file=sys.stderr)
        return 1


def _render(args, parser) -> int:
    if not args.image:
        parser.error("render needs --image PATH")
    if not args.out and not args.list_layers:
        parser.error("render needs --out DIR (or --list-layers)")
    if (args.metrics or args.box) and args.cam in (None, "all"):
        parser.error("--metrics and --box judge one heatmap: add --cam METHOD (not 'all')")
    from .core import render
    from .core.devices import pick_device
    from .core.errors import ModelError
    from .core.images import open_image
    from .core.inspect import default_feature_layer, inspect
    from .core.layers import conv_kernels, conv_layers
    from .core.models import DEFAULT_MODEL

    device = pick_device(args.device)
    image = open_image(args.image)
    name = args.model or DEFAULT_MODEL
    loaded = load_model_with_bar(name, args.weights, model_hints(args))
    result = inspect(loaded, image, device, framing=framing(args))
    if args.list_layers:
        print(f"{'layer':<40} {'type':<20} {'output':<18} {'params':>12}")
        for info in result.layers:
            shape = "x".join(map(str, info.output_shape))
            print(f"{'  ' * info.depth + info.name:<40} {info.type:<20} {shape:<18} {info.params:>12,}")
        return 0
    if args.box:  # before any file is written
        from .core.faithfulness import check_box, photo_box

        size = result.input_rgb.shape[:2]
        check_box(args.box, size, photo_box(result, size))
    layer = args.layer or default_feature_layer(result, loaded.spec.input_size)
    maps = result.activation(layer)
    from .core.files import make_folder

    out = make_folder(args.out)
    render.save_png(render.feature_grid(maps, args.cmap, args.sort), out / f"features_{layer}.png")
    first_conv, kernels = conv_kernels(loaded.module)
    render.save_png(render.filter_tiles(kernels), out / "filters.png")
    written = ["predictions.json", f"features_{layer}.png", "filters.png", "input.png"]
    if layer in conv_layers(loaded.module) and layer != first_conv:
        render.save_png(render.filter_tiles(conv_kernels(loaded.module, layer)[1]),
                        out / f"filters_{layer}.png")
        written.append(f"filters_{layer}.png")
    render.save_png(result.input_rgb, out / "input.png")
    if result.framing.mode == "crop":  # where the crop lies in the photo: the rest darkened
        render.save_png(render.framed_photo(image, result.framing.box)[0], out / "crop_in_photo.png")
        written.append("crop_in_photo.png")
    for channel in args.channel or []:
        if not 0 <= channel < maps.shape[0]:
            raise ModelError(f"Layer '{layer}' has channels 0 to {maps.shape[0] - 1}; there is no "
                             f"channel {channel}.")
        render.save_png(render.channel_image(maps[channel], args.cmap), out / f"channel_{layer}_{channel}.png")
        render.save_png(render.overlay(result.input_rgb, maps[channel], 0.6, args.cmap),
                        out / f"overlay_{layer}_{channel}.png")
        written += [f"channel_{layer}_{channel}.png", f"overlay_{layer}_{channel}.png"]
    explained = _write_attribution(args, loaded, result, out, written) if args.cam else None
    record = {
        "model": result.model_name, "weights": result.weights_label, "trained": result.trained,
        "device": result.device, "image": str(args.image), "layer": layer,
        "layer_shape": list(maps.shape), "first_conv": first_conv,
        "inspect_ms": round(result.elapsed_ms, 2), "notes": result.notes,
        # where the input sits in the photo: (x, y, width, height) in its pixels, and in the input's
        "framing": {"mode": result.framing.mode, "box_in_photo": [round(v, 2) for v in result.framing.box],
                    "photo_in_input": list(result.framing.content)},
        "predictions": [{"label": p.label, "index": p.index, "probability": p.probability}
                        for p in result.predictions],
    }
    if explained is not None:
        record["attribution"] = explained
    (out / "predictions.json").write_text(json.dumps(record, indent=2))
    for note in result.notes:
        print(f"note: {note}")
    for p in result.predictions:
        print(f"{p.probability:7.2%}  {p.label}")
    if not args.layer:
        print(f"feature maps: layer '{layer}' {tuple(maps.shape)} (choose another with --layer)")
    print(f"wrote {', '.join(written)} to {out}")
    return 0


def _write_attribution(args, loaded, result, out: Path, written: list[str]) -> dict:
    """Write the --cam overlay and its photo | heatmap | overlay panel; return their record."""
    if args.cam == "all":
        return _write_method_grid(args, loaded, result, out, written)
    from .core import render
    from .core.attribution import attribute

    found = attribute(loaded, result, args.cam, target=args.target, layer=args.cam_layer,
                      progress=_progress_bar(f"{args.cam}", "passes", 1))
    stem = f"cam_{args.cam}_{safe_name(found.target_label)}"
    render.save_png(render.heat_overlay(result.input_rgb, found.heatmap, args.alpha, args.heat_cmap),
                    out / f"{stem}.png")
    render.save_png(render.attribution_panel(result.input_rgb, found.heatmap, args.alpha, args.heat_cmap),
                    out / f"{stem}_panel.png")
    written += [f"{stem}.png", f"{stem}_panel.png"]
    for note in found.notes:
        print(f"note: {note}")
    where = f" at layer '{found.layer}'" if found.layer else ""
    print(f"{args.cam} for '{found.target_label}' ({found.probability:.2%}){where}: "
          f"{found.elapsed_ms:.0f} ms")
    record = {"method": args.cam, "target": found.target, "label": found.target_label,
              "probability": found.probability, "layer": found.layer, "ms": round(found.elapsed_ms, 2),
              "notes": found.notes, "files": [f"{stem}.png", f"{stem}_panel.png"]}
    if args.metrics or args.box:
        record.update(_write_metrics(args, loaded, result, found, stem, out, written))
    return record


def _write_metrics(args, loaded, result, found, stem: str, out: Path, written: list[str]) -> dict:
    """--metrics: the deletion / insertion curves as a PNG and their numbers; --box: the pointing
    game and the share inside. Returns what they add to the attribution record."""
    from .core import render
    from .core.attribution import METHODS
    from .core.faithfulness import box_scores, check, photo_box
    from .core.render_curves import area_text, curves_image

    added: dict = {}
    if args.metrics:
        checked = check(loaded, result, found.heatmap, found.target, METHODS[args.cam].label,
                        progress=_progress_bar("faithfulness", "passes", 1))
        name = f"{stem}_faithfulness.png"
        render.save_png(curves_image(checked), out / name)
        written.append(name)
        added["files"] = [f"{stem}.png", f"{stem}_panel.png", name]
        curves = {}
        for each in checked.every_map():
            curves[each.name] = {kind: {"area": round(getattr(each, kind).area, 5),
                                        "scores": [round(float(v), 5) for v in getattr(each, kind).scores]}
                                 for kind in ("deletion", "insertion")}
            for kind in ("deletion", "insertion"):
                print(f"{kind:<9} {each.name:<22} area {area_text(getattr(each, kind).area)}")
        print(checked.verdict())
        added["faithfulness"] = {
            "fractions": [round(float(v), 5) for v in checked.method.deletion.fractions],
            "curves": curves, "verdict": checked.verdict(), "passes": checked.passes,
            "ms": round(checked.elapsed_ms, 2), "notes": checked.notes}
    if args.box:
        scores = box_scores(found.heatmap, args.box, photo_box(result, found.heatmap.shape))
        print(f"box {','.join(map(str, scores.box))}: {scores.sentence()}")
        added["box"] = {"box": list(scores.box), "pointing_game_hit": scores.hit,
                        "share_inside": scores.inside_share, "box_share_of_image": scores.area_share}
    return added


def _write_method_grid(args, loaded, result, out: Path, written: list[str]) -> dict:
    """--cam all: every fast method's map for the class, one grid PNG; return its record."""
    from .core import render
    from .core.method_grid import every_method, grid_figure

    grid = every_method(loaded, result, args.target, args.cam_layer,
                        progress=_progress_bar("all methods", "methods", 1))
    name = f"cam_all_{safe_name(grid.label)}.png"
    render.save_png(grid_figure(result.input_rgb, grid, args.heat_cmap, args.alpha), out / name)
    written.append(name)
    for key, reason in grid.refused.items():
        print(f"note: {key} left out: {reason}")
    print(f"{len(grid.maps)} methods for '{grid.label}' ({grid.probability:.2%}): "
          + ", ".join(f"{m.method} {m.elapsed_ms:.0f} ms" for m in grid.maps))
    return {"method": "all", "target": grid.target, "label": grid.label, "probability": grid.probability,
            "methods": {m.method: {"layer": m.layer, "ms": round(m.elapsed_ms, 2), "notes": m.notes}
                        for m in grid.maps},
            "refused": grid.refused, "files": [name]}


def safe_name(text: str) -> str:
    """``text`` as a file-name part: letters, digits, '-', '.' and '_' only."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "class"


def _compare(args, parser) -> int:
    from .core.compare import comparison_figure, explained_class, make_column
    from .core.devices import pick_device
    from .core.images import open_image
    from .core.inspect import inspect

    from .core.user_models import is_user_model

    hints = model_hints(args)  # for the entries that are your own models
    entries = [e.strip() for e in args.models.split(",") if e.strip()]
    if not 2 <= len(entries) <= 4:
        parser.error("compare takes 2 to 4 models")
    device = pick_device(args.device)
    image = open_image(args.image)
    runs = []
    for entry in entries:
        name, _, weights = entry.partition("=")
        if not weights and Path(name).is_file():  # a cnnscope checkpoint names its architecture
            name, weights = "demo_shapes", name
        loaded = load_model_with_bar(name, weights or args.weights, hints if is_user_model(name) else None)
        result = inspect(loaded, image, device, framing=framing(args))
        runs.append((loaded, result))
    first = (runs[0][0].labels, runs[0][1].predictions[0].label)
    columns = []
    for loaded, result in runs:
        explain = explained_class(loaded.labels, first, args.target)
        column = make_column(loaded, result, args.cam, explain, args.depth, args.stride)
        columns.append(column)
        print(f"{loaded.name:<18} {result.predictions[0].probability:7.2%} {result.predictions[0].label:<24} "
              f"layer {column.layer} {'x'.join(map(str, column.layer_shape))}  {result.elapsed_ms:.0f} ms")
        for note in column.notes:
            print(f"note: {note}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    how = f"stride {args.stride:g}" if args.stride else f"relative depth {0.5 if args.depth is None else args.depth:g}"
    comparison_figure(columns, out, f"{Path(args.image).name}: layers matched by {how}")
    print(f"wrote {out}")
    return 0


def _summary(args, parser) -> int:
    import numpy as np

    from .core.inspect import inspect
    from .core.models import DEFAULT_MODEL
    from .core.summary import summarize

    name = args.model or DEFAULT_MODEL
    loaded = load_model_with_bar(name, args.weights, model_hints(args))
    size = loaded.spec.input_size
    table = summarize(loaded, inspect(loaded, np.zeros((size, size, 3), np.uint8)))
    print(f"{'layer':<44} {'type':<22} {'output':<16} {'params':>12} {'mult-adds':>15} {'RF':>5}")
    for r in table.rows:
        if args.depth is not None and r.depth > args.depth:
            continue
        rf = str(r.receptive_field) if r.receptive_field is not None else ""
        print(f"{'  ' * r.depth + r.name:<44} {r.type:<22} {'x'.join(map(str, r.output_shape)):<16} "
              f"{r.params:>12,} {r.macs:>15,} {rf:>5}")
    print(f"total: {table.total_params:,} parameters ({table.trainable_params:,} trainable), "
          f"{table.total_macs:,} multiply-adds per {table.input_size} px image, "
          f"{table.weight_layers} weight layers (convolutions and fully connected)")
    print("stages: " + " -> ".join(f"{side} px x {ch} ({name})" for side, ch, name in table.stages()))
    if args.csv:
        print(f"wrote {table.write_csv(args.csv)}")
    return 0


def _graph(args, parser) -> int:
    from .core.graph import build_graph
    from .core.graph_layout import lay_out
    from .core.graph_svg import write_drawing
    from .core.models import DEFAULT_MODEL

    if Path(args.out).suffix.lower() not in (".svg", ".png"):
        parser.error(f"--out {args.out}: name the file .svg or .png")
    graph = build_graph(load_model_with_bar(args.model or DEFAULT_MODEL, args.weights, model_hints(args)))
    if not graph.traced:
        print("note: this model cannot be traced, so it is drawn as the chain of its layers "
              "(branches and shortcuts are not shown)", file=sys.stderr)
    shown = graph.collapsed() if args.collapse else graph
    path = write_drawing(lay_out(shown), args.out)
    blocks = f", {len(graph.blocks)} blocks collapsed" if args.collapse and graph.blocks else ""
    print(f"wrote {path}: {graph.model}, {len(shown.nodes)} nodes{blocks}")
    return 0


def _report(args, parser) -> int:
    import numpy as np

    from .core.attribution import attribute
    from .core.devices import pick_device
    from .core.images import open_image
    from .core.inspect import inspect
    from .core.models import DEFAULT_MODEL
    from .core.report import default_report_layers, write_report
    from .core.summary import summarize

    loaded = load_model_with_bar(args.model or DEFAULT_MODEL, args.weights, model_hints(args))
    result = inspect(loaded, open_image(args.image), pick_device(args.device), framing=framing(args))
    found = attribute(loaded, result, args.cam, target=args.target)
    layers = [n.strip() for n in args.layers.split(",")] if args.layers else default_report_layers(result)
    for name in layers:
        result.activation(name)  # a readable error for a layer that has no maps
    size = loaded.spec.input_size
    table = summarize(loaded, inspect(loaded, np.zeros((size, size, 3), np.uint8)))
    path = write_report(args.out, Path(args.image).name, result, found, table, layers,
                        loaded.spec.description)
    print(f"wrote {path}: 1 page of prediction and heatmap, {len(layers)} of feature maps "
          f"({', '.join(layers)}), 1 of stages")
    return 0


def _make_dataset(args, parser) -> int:
    from .core.shapes import write_shape_folder

    classes = tuple(c.strip() for c in args.classes.split(",") if c.strip())
    try:
        written = write_shape_folder(args.out, classes, args.per_class, args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    print(f"wrote {len(written)} images of {', '.join(classes)} to {args.out}")
    print(f"try: cnnscope train --data {args.out} --out shapes.pt")
    return 0


def _train(args, parser) -> int:
    import signal

    import torch

    from .core.datasets import Augmentation, load_folder
    from .core.devices import describe, pick_device
    from .core.freeze import block_members, blocks, count_parameters, make_plan
    from .core.models import DEFAULT_MODEL
    from .core.checkpoint import check_writable
    from .core.training import PRESET_DEFAULTS, TrainingConfig, build_for_training, save_trained, train

    extras = {a.strip() for a in args.augment.split(",") if a.strip()}
    if extras - {"flip", "crop", "color"}:
        parser.error(f"--augment takes flip, crop and color, not {', '.join(sorted(extras))}")
    out = check_writable(args.out)  # before any training: a run must never end unsaveable
    device = pick_device(args.device)
    name = args.model or DEFAULT_MODEL
    loaded = load_model_with_bar(name, args.weights, model_hints(args))
    defaults = PRESET_DEFAULTS[args.preset]  # what the case starts from; options override it
    members = block_members(loaded.module)
    maps = [b for b, names in members.items()
            if any(isinstance(loaded.module.get_submodule(n), torch.nn.Conv2d) for n in names)]
    planned = defaults.plan_arguments(blocks(loaded.module), maps)
    n = args.blocks if args.blocks is not None else planned["n"]
    plan = make_plan(loaded.module, args.preset, n=n, cut_after=args.cut_after or planned["cut_after"])
    epochs = args.epochs or defaults.epochs
    batch_size = args.batch_size or defaults.batch_size
    learning_rate = args.lr or defaults.learning_rate
    data = load_folder(args.data, loaded.spec.preprocessing, args.val_fraction, args.seed,
                       progress=_progress_bar("reading images", "files", 1))
    print(f"data: {data.summary()}")
    for path, reason in data.skipped:
        print(f"  skipped {path}: {reason}")
    model = build_for_training(loaded.module, loaded.spec, plan, len(data.classes), seed=args.seed)
    counts = count_parameters(model, plan)
    print(f"{name} ({loaded.weights_label}) on {describe(device)}: {args.preset}"
          f"{f' (first {n} blocks frozen)' if args.preset == 'freeze-first' else ''}"
          f"{f' (cut after {plan.cut_after})' if args.preset == 'early-features' else ''}; "
          f"{counts.trainable:,} parameters learn, {counts.frozen:,} frozen; {epochs} epochs, "
          f"learning rate {learning_rate:g}, batch {batch_size}")
    config = TrainingConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                            optimizer=args.optimizer,
                            augmentation=Augmentation("flip" in extras, "crop" in extras, "color" in extras),
                            cache_features=not args.no_cache, seed=args.seed)
    def batch_line(p) -> None:
        sys.stderr.write(f"\repoch {p.epoch}/{p.epochs} batch {p.batch}/{p.batches} "
                         f"loss {p.loss:.3f}  ETA {p.eta_seconds:4.0f} s ")
        sys.stderr.flush()

    def epoch_line(r) -> None:
        val = (f"val loss {r.val_loss:.3f} acc {r.val_accuracy:6.1%}" if r.val_accuracy is not None
               else "no validation images")
        sys.stderr.write("\r")
        print(f"epoch {r.epoch}: train loss {r.train_loss:.3f} acc {r.train_accuracy:6.1%}, {val}, "
              f"{r.seconds:.1f} s{' (cached features)' if r.cached_features else ''}", flush=True)

    def terminated(_signum, _frame) -> None:
        raise KeyboardInterrupt  # unwinds like Ctrl+C twice: no temporary file stays behind

    previous_term = signal.signal(signal.SIGTERM, terminated)
    with stop_after_the_batch() as stop_asked:
        result = train(model, plan, data, loaded.spec.preprocessing, config, device,
                       on_batch=batch_line, on_epoch=epoch_line, should_cancel=stop_asked)
    for note in result.notes:
        print(f"note: {note}")
    if result.val_accuracy is not None:
        print(f"validation accuracy {result.val_accuracy:.1%} (epoch {result.best_epoch}); per class:")
        width = max(len(c) for c in data.classes)
        print(f"  {'':<{width}}  " + " ".join(f"{c[:6]:>6}" for c in data.classes) + "   accuracy")
        for c, row, acc in zip(data.classes, result.confusion, result.per_class_accuracy):
            print(f"  {c:<{width}}  " + " ".join(f"{v:>6}" for v in row) +
                  (f"   {acc:7.1%}" if acc is not None else "        -"))
    try:
        path = save_trained(result, loaded.spec, out)
    finally:
        signal.signal(signal.SIGTERM, previous_term)
    model = f"--model {name} " if loaded.spec.user_model and not name.startswith("timm:") else ""
    print(f"wrote {path}: open it with 'cnnscope render {model}--weights {path} ...' or the window's "
          "Load weights file" + (" (with your model shown)" if model else ""))
    return 0


def load_model_with_bar(name: str, weights: str, hints=None):
    """load_model with the download progress bar on stderr (``hints``: core.user_models.ModelHints)."""
    from .core.weights import load_model

    loaded = load_model(name, weights, progress=_progress_bar(f"downloading {name} weights"), hints=hints)
    for note in loaded.notes:
        print(f"note: {note}", file=sys.stderr)
    return loaded


def _models(args, parser) -> int:
    from .core.models import REGISTRY, model_names
    from .core.weights import is_available_offline

    print(f"{'model':<20} {'family':<13} {'input':>5} {'params':>9}  pretrained weights")
    for name in model_names():
        spec = REGISTRY[name]
        if spec.bundled_file:
            status = "bundled" if is_available_offline(spec) else f"missing (run {spec.bundled_command})"
        else:
            size = spec.weights.meta.get("_file_size")
            status = "cached" if is_available_offline(spec) else \
                f"not cached (downloads {size:.0f} MB)" if size else "not cached"
        print(f"{name:<20} {spec.family:<13} {spec.input_size:>5} {spec.num_params / 1e6:>8.2f}M  {status}")
        if args.verbose:
            print(f"{'':<20} {spec.description}")
    return 0


def _train_bundled(args, file_name: str, setup, train) -> None:
    """Train a bundled model into assets/ (or --out) and write its training record beside it."""
    from .core.devices import pick_device
    from .core.resources import assets_dir

    out = Path(args.out) if args.out else assets_dir() / file_name
    if args.epochs:
        setup.epochs = args.epochs
    record = train(out, setup, pick_device(args.device))
    out.with_name(out.stem + "_training.json").write_text(json.dumps(record.as_dict(), indent=1))
    drawing = f", drawing {record.draw_seconds:.0f} s" if hasattr(record, "draw_seconds") else ""
    print(f"wrote {out}: held-out accuracy {record.test_accuracy:.2%} "
          f"({record.train_seconds:.0f} s on {record.device}{drawing})")


def _make_demo(args, parser) -> int:
    from .core.resources import sample_images_dir

    if not args.samples_only:
        from .core.demo_training import DemoTrainingSetup, train_demo

        _train_bundled(args, "demo_shapes.pt", DemoTrainingSetup(seed=args.seed), train_demo)
    folder = Path(args.samples) if args.samples else sample_images_dir()
    for path in write_shape_samples(folder, args.seed):
        print(f"wrote {path}")
    return 0


def _make_lenet(args, parser) -> int:
    from .core.resources import sample_images_dir

    if not args.samples_only:
        from .core.lenet_training import LeNetTrainingSetup, train_lenet

        _train_bundled(args, "lenet5.pt", LeNetTrainingSetup(seed=args.seed), train_lenet)
    from .core.digits import sample_digit
    from .core.render import save_png

    folder = Path(args.samples) if args.samples else sample_images_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "digit_7.png"
    save_png(sample_digit(7, args.seed), path)
    print(f"wrote {path}")
    return 0


def write_shape_samples(folder: Path, seed: int) -> list[Path]:
    """One picture of each demo class, ``shape_<class>.png``."""
    import numpy as np

    from .core.render import save_png
    from .core.shapes import DEMO_CLASSES, draw_shape

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, name in enumerate(DEMO_CLASSES):
        image, _mask = draw_shape(np.random.default_rng([seed, 7, k]), name, SAMPLE_SHAPE_SIZE)
        paths.append(folder / f"shape_{name}.png")
        save_png(image, paths[-1])
    return paths
