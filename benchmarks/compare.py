"""What does a side-by-side comparison cost beyond inspecting each model on its own?

For three models (random weights, preloaded: loading is not compared), on one photo: the sum of
the three single inspections, and a full comparison (each model's inspection, its matched stage's
feature grid and its Grad-CAM), the code path the compare view and `cnnscope compare` use.
Target (issue 6): comparison <= 1.1x the sum of the single inspections.

    python benchmarks/compare.py [--device auto|cpu|cuda] [--models vgg16,resnet50,inception_v3] [--repeats N]
"""

from __future__ import annotations

import _no_shadow  # noqa: F401  (first: see its docstring)
import argparse
import platform
import statistics

import torch
from _timing import once_ms

from cnnscope.core.compare import make_column
from cnnscope.core.devices import describe, keep_freed_host_memory, pick_device
from cnnscope.core.images import open_image
from cnnscope.core.inspect import inspect, prepare
from cnnscope.core.resources import sample_images_dir
from cnnscope.core.weights import load_model



def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", default="vgg16,resnet50,inception_v3")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = pick_device(args.device)
    keep_freed_host_memory()
    image = open_image(sample_images_dir() / "chelsea.png")
    models = []
    for name in args.models.split(","):
        loaded = load_model(name, "random")
        loaded.module.to(device)
        prepare(loaded)
        models.append(loaded)

    def singles() -> None:
        for loaded in models:
            inspect(loaded, image, device)

    def comparison() -> None:
        first = None
        for loaded in models:
            result = inspect(loaded, image, device)
            first = first or result.predictions[0].label
            make_column(loaded, result, "gradcam", first, stride=8)

    for _ in range(2):
        singles()
        comparison()
    single_ms, compare_ms = [], []
    for _ in range(args.repeats):
        single_ms.append(once_ms(singles, device))
        compare_ms.append(once_ms(comparison, device))
    s, c = statistics.median(single_ms), statistics.median(compare_ms)
    print(f"device: {describe(device)}; torch {torch.__version__}; {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads; median of {args.repeats}")
    print(f"| {'models':<28} | {'sum of inspections ms':>21} | {'comparison ms':>13} | {'ratio':>5} |")
    print(f"|{'-' * 30}|{'-' * 23}|{'-' * 15}|{'-' * 7}|")
    print(f"| {args.models:<28} | {s:>21.1f} | {c:>13.1f} | {c / s:>5.2f} |")


if __name__ == "__main__":
    main()
