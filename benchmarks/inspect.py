"""How much does seeing inside cost? inspect() against a bare forward pass, per model.

Prints one table: bare ``inference_mode`` forward of an already preprocessed batch (ms), the
preprocessing alone (ms), inspect() (ms: preprocessing, the hooked forward, top-5, every layer's
maps kept), the ratios, and the time to render the widest layer's channel grid. Targets: inspect <= 1.15x bare; a 512-channel grid <= 30 ms.

    python benchmarks/inspect.py [--device auto|cpu|cuda] [--repeats N] [--models a,b]
"""

from __future__ import annotations

import _no_shadow  # noqa: F401  (first: see its docstring)
import argparse
import platform

import numpy as np
import torch
from _timing import median_ms

from cnnscope.core import render
from cnnscope.core.devices import describe, keep_freed_host_memory, pick_device
from cnnscope.core.inspect import inspect
from cnnscope.core.weights import load_model

MODELS = ["demo_shapes", "resnet18", "resnet50", "vgg16", "inception_v3"]




def bench(name: str, device: torch.device, repeats: int) -> dict:
    """Timings for one model (random weights: speed does not depend on their values)."""
    loaded = load_model(name, "random")
    loaded.module.to(device)
    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    batch = loaded.spec.preprocessing(image)[0].to(device)

    def bare():
        with torch.inference_mode():
            loaded.module(batch)

    bare_ms, prep_ms, inspect_ms = median_ms(
        [bare, lambda: loaded.spec.preprocessing(image, device), lambda: inspect(loaded, image, device)],
        device, repeats)
    result = inspect(loaded, image, device)
    widest = max(result.activations, key=lambda n: result.activations.shape(n)[0])
    maps = result.activations[widest]
    grid_ms, = median_ms([lambda: render.feature_grid(maps)], torch.device("cpu"), repeats)
    return {"model": name, "bare": bare_ms, "prep": prep_ms, "inspect": inspect_ms,
            "ratio": inspect_ms / bare_ms, "ratio_prep": inspect_ms / (bare_ms + prep_ms),
            "layers": len(result.activations), "widest": f"{widest} {maps.shape[0]}ch",
            "grid": grid_ms}


def main() -> None:
    """Run the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    device = pick_device(args.device)
    keep_freed_host_memory()  # what inspect() does on first use; bare forwards get it too
    print(f"device: {describe(device)}; torch {torch.__version__}; {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads; median of {args.repeats}")
    print(f"| {'model':<13} | {'bare fwd ms':>11} | {'preprocess ms':>13} | {'inspect ms':>10} | "
          f"{'inspect / bare':>14} | {'inspect / (bare + pre)':>22} | {'maps':>4} | "
          f"{'widest layer':<28} | {'grid ms':>7} |")
    print("|" + "|".join("-" * (w + 2) for w in (13, 11, 13, 10, 14, 22, 4, 28, 7)) + "|")
    for name in args.models.split(","):
        r = bench(name, device, args.repeats)
        print(f"| {r['model']:<13} | {r['bare']:>11.1f} | {r['prep']:>13.1f} | {r['inspect']:>10.1f} | "
              f"{r['ratio']:>14.2f} | {r['ratio_prep']:>22.2f} | {r['layers']:>4} | "
              f"{r['widest']:<28} | {r['grid']:>7.1f} |", flush=True)


if __name__ == "__main__":
    main()
