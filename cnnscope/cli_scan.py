"""``cnnscope scan``: a folder streamed through a model (top images per unit, pooled features,
predictions, optionally a heatmap per image), and ``cnnscope scan --show`` to draw a unit's top
crops from a scan."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .cli_types import MODEL_HELP, add_own_model_options, integer, model_hints, names, stop_after_the_batch


def add_parser(sub) -> None:
    """The scan subcommand and its options."""
    s = sub.add_parser("scan", help="stream a folder of images through a model: each unit's top "
                       "images, the dataset's features, predictions (and heatmaps); or --show a unit")
    s.add_argument("--model", default=None, help=MODEL_HELP)
    add_own_model_options(s)
    s.add_argument("--weights", default="pretrained", help="pretrained, random or a file path")
    s.add_argument("--data", help="the folder of images (class subfolders or flat)")
    s.add_argument("--layers", type=names("layer name"), default=None, metavar="L1,L2",
                   help="layers whose channels get their top images (default: the CAM layer)")
    s.add_argument("--top-k", type=integer(1, 100), default=9, help="images kept per channel (default 9)")
    s.add_argument("--cam", default=None, metavar="METHOD",
                   help="also write a heatmap overlay per image by METHOD (gradcam, ...)")
    s.add_argument("--batch-size", type=integer(1, 4096), default=32)
    s.add_argument("--workers", type=integer(0, 64), default=None,
                   help="processes decoding images beside the model (default: on a GPU one per "
                        "spare core, at most 4; on the CPU one per 4 cores, as the model needs them)")
    s.add_argument("--device", default="auto")
    s.add_argument("--out", default=None,
                   help="the scan folder (default: DATA.scan/MODEL-WEIGHTS beside the data); the "
                        "same command again continues an interrupted scan")
    s.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run on a Ray cluster: its address (auto: the one this machine belongs to), "
                        "or nothing to start a Ray on this machine; needs pip install 'cnnscope[cluster]'")
    s.add_argument("--show", default=None, metavar="SCAN",
                   help="instead of scanning: draw a unit's top crops from the scan SCAN "
                        "(with --layer, --channel and --out FILE.png)")
    s.add_argument("--layer", default=None, help="with --show: the layer")
    s.add_argument("--channel", type=integer(0, 1_000_000), default=None, help="with --show: the channel")


def scan(args: argparse.Namespace, parser) -> int:
    """Run (or continue) a scan, or --show a unit of one."""
    if args.show:
        return _show(args, parser)
    if not args.data:
        parser.error("scan needs --data FOLDER (or --show SCAN)")
    from .cli import load_model_with_bar
    from .core.devices import pick_device
    from .core.models import DEFAULT_MODEL
    from .core.scan import ScanOptions, scan_folder

    from .core.scan.folder import default_scan_folder

    data = Path(args.data).expanduser()
    name = args.model or DEFAULT_MODEL
    out = Path(args.out).expanduser() if args.out else default_scan_folder(data, name, args.weights)
    loaded = load_model_with_bar(name, args.weights, model_hints(args))
    options = ScanOptions(layers=args.layers or (), top_k=args.top_k, batch_size=args.batch_size,
                          workers=args.workers, cam=args.cam, model_ref=name, weights_ref=args.weights)
    with stop_after_the_batch() as stop_asked:
        if args.ray:
            from .core.scan.cluster import scan_on_ray

            summary = scan_on_ray(loaded, data, out, options, None if args.ray == "local" else args.ray,
                                  name, args.weights, progress=_scan_bar(), should_cancel=stop_asked,
                                  hints=model_hints(args))
        else:
            summary = scan_folder(loaded, data, out, options, pick_device(args.device),
                                  progress=_scan_bar(), should_cancel=stop_asked)
    if summary.resumed_from:
        print(f"continued a scan that had {summary.resumed_from:,} of {summary.total:,} images done")
    for path, reason in summary.skipped[:20]:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if len(summary.skipped) > 20:
        print(f"... and {len(summary.skipped) - 20:,} more skipped (see {out / 'predictions.csv'})",
              file=sys.stderr)
    if not summary.complete:
        print(f"stopped: {summary.scanned + len(summary.skipped):,} of {summary.total:,} images are saved "
              f"in {out}; run the same command again to continue.")
        return 130
    print(f"wrote {out}: {summary.scanned:,} images scanned, {len(summary.skipped):,} skipped, "
          f"layers {', '.join(summary.layers)} ({summary.seconds:.1f} s)")
    return 0


def _scan_bar():
    state = {"last": 0.0}

    def show(p) -> None:
        now = time.monotonic()
        if now - state["last"] < 0.2 and p.done != p.total:
            return
        state["last"] = now
        frac = p.done / p.total if p.total else 1.0
        eta = p.eta
        left = f", {eta:.0f} s left" if eta is not None and p.done < p.total else ""
        sys.stderr.write(f"\rscanning [{'#' * int(frac * 30):<30}] {p.done:,}/{p.total:,} images{left}   ")
        if p.done == p.total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def _show(args, parser) -> int:
    from .core.render import save_png
    from .core.scan import open_scan, unit_sheet

    if args.layer is None or args.channel is None or not args.out:
        parser.error("--show SCAN needs --layer, --channel and --out FILE.png")
    out = Path(args.out).expanduser()
    if out.suffix.lower() != ".png":
        parser.error("name the --out file .png")
    scanned = open_scan(args.show)
    sheet = unit_sheet(scanned, args.layer, args.channel)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_png(sheet, out)
    hits = scanned.unit(args.layer, args.channel)
    print(f"wrote {out}: the top {len(hits)} images of {args.layer} channel {args.channel}")
    for hit in hits:
        print(f"  {hit.rank + 1}. {hit.path}  {hit.value:.3f} at ({hit.row}, {hit.col})")
    return 0
