"""Command line: ``cnnscope [IMAGE]`` opens the window; ``cnnscope render | models | make-demo``.

Exit codes: 0 done, 1 bad input (one line on stderr, no traceback), 2 usage error (argparse).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Sequence

from . import __version__

SAMPLE_SHAPE_SIZE = 256  # sample pictures are drawn larger than the demo's 96 px input
COMMANDS = ("render", "models", "make-demo")
# core.attribution.METHODS' keys, spelled out so that --help needs no torch import (a test keeps
# the two lists equal)
ATTRIBUTION_METHODS = ("gradcam", "gradcam++", "cam", "scorecam", "guided_backprop", "guided_gradcam",
                       "saliency", "smoothgrad", "integrated_gradients", "occlusion")


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
    p = argparse.ArgumentParser(prog="cnnscope", description="See inside convolutional neural "
                                "networks: predictions, feature maps, filters.")
    p.add_argument("--version", action="version", version=f"cnnscope {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("render", help="inspect one image and write predictions and pictures")
    r.add_argument("--model", default=None, help="registry name (see 'cnnscope models'); "
                   "default: the bundled demo model")
    r.add_argument("--weights", default="pretrained",
                   help="pretrained (download or cache), random (untrained) or a file path")
    r.add_argument("--image", help="the image to inspect")
    r.add_argument("--layer", help="layer whose feature maps to draw (default: a mid-level one)")
    r.add_argument("--out", help="folder for the output files (created if missing)")
    r.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto)")
    r.add_argument("--cmap", default="viridis", help="matplotlib colormap for feature maps")
    r.add_argument("--sort", choices=("none", "mean"), default="none",
                   help="channel order: as in the model, or by mean activation")
    r.add_argument("--channel", type=int, action="append", metavar="N",
                   help="also write channel N of the layer enlarged, and over the input (repeatable)")
    r.add_argument("--list-layers", action="store_true",
                   help="print the layer table instead of writing files")
    r.add_argument("--cam", metavar="METHOD", choices=ATTRIBUTION_METHODS,
                   help="also write where the network looked, by METHOD: "
                        f"{', '.join(ATTRIBUTION_METHODS)}")
    r.add_argument("--target", metavar="CLASS",
                   help="class to explain with --cam: a label or an index (default: the top prediction)")
    r.add_argument("--cam-layer", metavar="LAYER",
                   help="layer for the CAM methods (default: the model's last conv block)")
    r.add_argument("--alpha", type=float, default=0.5, help="heatmap opacity over the photo (0..1)")
    r.add_argument("--heat-cmap", default="jet", help="matplotlib colormap for the heatmap")

    m = sub.add_parser("models", help="list the models cnnscope knows")
    m.add_argument("-v", "--verbose", action="store_true", help="add each model's description")

    d = sub.add_parser("make-demo", help="train the bundled demo model and draw its sample images")
    d.add_argument("--out", default=None, help="checkpoint to write (default: assets/demo_shapes.pt)")
    d.add_argument("--samples", default=None,
                   help="folder for the sample shape pictures (default: sample_images/)")
    d.add_argument("--samples-only", action="store_true", help="only draw the sample pictures")
    d.add_argument("--epochs", type=int, default=None, help="training epochs (default 16)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cnnscope`` console script."""
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (len(argv) == 1 and not argv[0].startswith("-") and argv[0] not in COMMANDS):
        from .gui.app import main as open_window  # no torch here: the window shows first

        return open_window(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from .core.errors import CnnscopeError

    try:
        return {"render": _render, "models": _models, "make-demo": _make_demo}[args.command](args, parser)
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


def _render(args, parser) -> int:
    if not args.image:
        parser.error("render needs --image PATH")
    if not args.out and not args.list_layers:
        parser.error("render needs --out DIR (or --list-layers)")
    from .core import render
    from .core.devices import pick_device
    from .core.errors import ModelError
    from .core.images import open_image
    from .core.inspect import default_feature_layer, inspect
    from .core.layers import conv_kernels, conv_layers
    from .core.models import DEFAULT_MODEL
    from .core.weights import load_model

    device = pick_device(args.device)
    image = open_image(args.image)
    name = args.model or DEFAULT_MODEL
    loaded = load_model(name, args.weights, progress=_progress_bar(f"downloading {name} weights"))
    result = inspect(loaded, image, device)
    if args.list_layers:
        print(f"{'layer':<40} {'type':<20} {'output':<18} {'params':>12}")
        for info in result.layers:
            shape = "x".join(map(str, info.output_shape))
            print(f"{'  ' * info.depth + info.name:<40} {info.type:<20} {shape:<18} {info.params:>12,}")
        return 0
    layer = args.layer or default_feature_layer(result, loaded.spec.input_size)
    maps = result.activation(layer)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    render.save_png(render.feature_grid(maps, args.cmap, args.sort), out / f"features_{layer}.png")
    first_conv, kernels = conv_kernels(loaded.module)
    render.save_png(render.filter_tiles(kernels), out / "filters.png")
    written = ["predictions.json", f"features_{layer}.png", "filters.png", "input.png"]
    if layer in conv_layers(loaded.module) and layer != first_conv:
        render.save_png(render.filter_tiles(conv_kernels(loaded.module, layer)[1]),
                        out / f"filters_{layer}.png")
        written.append(f"filters_{layer}.png")
    render.save_png(result.input_rgb, out / "input.png")
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
    return {"method": args.cam, "target": found.target, "label": found.target_label,
            "probability": found.probability, "layer": found.layer, "ms": round(found.elapsed_ms, 2),
            "notes": found.notes, "files": [f"{stem}.png", f"{stem}_panel.png"]}


def safe_name(text: str) -> str:
    """``text`` as a file-name part: letters, digits, '-', '.' and '_' only."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "class"


def _models(args, parser) -> int:
    from .core.models import REGISTRY, model_names
    from .core.weights import is_available_offline

    print(f"{'model':<20} {'family':<13} {'input':>5} {'params':>9}  pretrained weights")
    for name in model_names():
        spec = REGISTRY[name]
        if spec.bundled_file:
            status = "bundled" if is_available_offline(spec) else "missing (run make-demo)"
        else:
            size = spec.weights.meta.get("_file_size")
            status = "cached" if is_available_offline(spec) else \
                f"not cached (downloads {size:.0f} MB)" if size else "not cached"
        print(f"{name:<20} {spec.family:<13} {spec.input_size:>5} {spec.num_params / 1e6:>8.2f}M  {status}")
        if args.verbose:
            print(f"{'':<20} {spec.description}")
    return 0


def _make_demo(args, parser) -> int:
    from .core.devices import pick_device
    from .core.resources import assets_dir, sample_images_dir

    if not args.samples_only:
        from .core.demo_training import DemoTrainingSetup, train_demo

        out = Path(args.out) if args.out else assets_dir() / "demo_shapes.pt"
        setup = DemoTrainingSetup(seed=args.seed)
        if args.epochs:
            setup.epochs = args.epochs
        record = train_demo(out, setup, pick_device(args.device))
        out.with_name(out.stem + "_training.json").write_text(json.dumps(record.as_dict(), indent=1))
        print(f"wrote {out}: held-out accuracy {record.test_accuracy:.2%} "
              f"({record.train_seconds:.0f} s on {record.device})")
    folder = Path(args.samples) if args.samples else sample_images_dir()
    for path in write_shape_samples(folder, args.seed):
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
