"""What does "can we trust this heatmap?" cost? The deletion / insertion curves against the bare
batched forwards they must make.

Per model (random weights: the time does not depend on the values), on chelsea.png's Grad-CAM map:
- **first check**: ``faithfulness.check`` with nothing kept: the map's two curves and both
  baselines' (random map, centre blob), 6 x (STEPS - 1) + 2 inputs;
- **next map**: the same with the baselines handed back (as the window does for a second method
  on the same image and class): 2 x (STEPS - 1) inputs;
- **bare**: as many inputs, prebuilt, through ``model(x)`` under ``no_grad`` in batches of the size
  the check uses (core/batching.py), softmax included; nothing else.
Ratio = check / bare (target: close to 1; the rest is building the masked inputs). Target (issue 19):
the first check under 2 s for ResNet-18 on the project's 2-core CPU. Each figure is the median of
``--repeats`` runs, the three taking turns.

    python benchmarks/faithfulness.py [--device auto|cpu|cuda] [--models resnet18,mobilenet_v2]
                                      [--repeats 3] [--steps 16]
"""

from __future__ import annotations

import _no_shadow  # noqa: F401  (first: see its docstring)
import argparse
import platform

import torch
from _timing import median_ms

from cnnscope.core import faithfulness
from cnnscope.core.attribution import attribute
from cnnscope.core.devices import describe, keep_freed_host_memory, pick_device
from cnnscope.core.images import open_image
from cnnscope.core.inspect import inspect
from cnnscope.core.passes import Runner
from cnnscope.core.resources import sample_images_dir
from cnnscope.core.weights import load_model


def _bare(loaded, inspection, count: int, size: int, target: int):
    """``count`` prebuilt copies of the input through the model in batches of ``size``."""
    x = inspection.input_tensor.detach()
    batches = [x.repeat(min(size, count - begin), 1, 1, 1) for begin in range(0, count, size)]

    def run() -> None:
        with torch.no_grad():
            for batch in batches:
                torch.softmax(loaded.module(batch).float(), dim=1)[:, target].cpu()

    return run


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", default="resnet18,mobilenet_v2")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=faithfulness.STEPS)
    args = parser.parse_args()
    keep_freed_host_memory()
    device = pick_device(args.device)
    photo = open_image(sample_images_dir() / "chelsea.png")
    print(f"device: {describe(device)}; torch {torch.__version__}; {platform.machine()}, "
          f"{torch.get_num_threads()} threads; {args.steps} steps per curve; median of {args.repeats}")
    print()
    print(f"| {'model':<13} | batch | first check: inputs | ms      | bare ms | ratio | "
          f"next map: inputs | ms     | bare ms | ratio |")
    print(f"|{'-' * 15}|-------|---------------------|---------|---------|-------|"
          f"------------------|--------|---------|-------|")
    for name in args.models.split(","):
        torch.manual_seed(0)
        loaded = load_model(name, "random")
        loaded.module.to(device)
        inspection = inspect(loaded, photo, device)
        found = attribute(loaded, inspection, "gradcam")
        kept = faithfulness.check(loaded, inspection, found.heatmap, found.target, steps=args.steps)
        first_n = kept.passes
        next_n = 2 * (args.steps - 1)
        size = Runner(loaded, inspection, None, None).batch(first_n)
        runs = [
            lambda: faithfulness.check(loaded, inspection, found.heatmap, found.target, steps=args.steps),
            _bare(loaded, inspection, first_n, size, found.target),
            lambda: faithfulness.check(loaded, inspection, found.heatmap, found.target, steps=args.steps,
                                       baselines=kept.baselines),
            _bare(loaded, inspection, next_n, min(size, next_n), found.target),
        ]
        first, first_bare, again, again_bare = median_ms(runs, device, args.repeats)
        print(f"| {name:<13} | {size:>5} | {first_n:>19} | {first:>7.0f} | {first_bare:>7.0f} | "
              f"{first / first_bare:>5.2f} | {next_n:>16} | {again:>6.0f} | {again_bare:>7.0f} | "
              f"{again / again_bare:>5.2f} |")


if __name__ == "__main__":
    main()
