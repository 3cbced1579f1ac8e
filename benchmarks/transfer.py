"""Bottleneck features: how much faster are epochs when the backbone's output is computed once?

Trains the "feature extractor" preset (only a new head learns, no augmentation) on a generated
shapes dataset twice per model, with the feature cache and without, and prints per-epoch times.
The first cached epoch includes computing the features; the target is about the later ones:
cached epochs >= 20x faster than recomputing (issue 5).

    python benchmarks/transfer.py [--device auto|cpu|cuda] [--models demo_shapes,resnet18] [--epochs 4]
"""

from __future__ import annotations

import _no_shadow  # noqa: F401  (first: see its docstring)
import argparse
import platform
import statistics
import tempfile
import time

import torch

from cnnscope.core.datasets import load_folder
from cnnscope.core.devices import describe, pick_device
from cnnscope.core.freeze import make_plan
from cnnscope.core.shapes import write_shape_folder
from cnnscope.core.training import TrainingConfig, build_for_training, train
from cnnscope.core.weights import load_model


def run(name: str, folder: str, device: torch.device, epochs: int, cache: bool) -> tuple[float, list[float]]:
    """(seconds for the whole run, seconds of each epoch) for one model, cached or not."""
    loaded = load_model(name, "pretrained" if name == "demo_shapes" else "random")
    data = load_folder(folder, loaded.spec.preprocessing)
    plan = make_plan(loaded.module, "feature-extractor")
    torch.manual_seed(0)
    model = build_for_training(loaded.module, loaded.spec, plan, len(data.classes))
    times: list[float] = []
    start = time.perf_counter()
    train(model, plan, data, loaded.spec.preprocessing,
          TrainingConfig(epochs=epochs, cache_features=cache), device,
          on_epoch=lambda record: times.append(record.seconds))
    return time.perf_counter() - start, times


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", default="demo_shapes,resnet18")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--per-class", type=int, default=60)
    args = parser.parse_args()
    device = pick_device(args.device)
    print(f"device: {describe(device)}; torch {torch.__version__}; {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads; {args.per_class * 3} images (80/20 split), "
          f"{args.epochs} epochs, feature-extractor preset")
    print(f"| {'model':<12} | {'recompute: s/epoch':>18} | {'cached: whole run s':>19} | "
          f"{'cached: later epochs s':>22} | {'later epochs speed-up':>21} | {'whole-run speed-up':>18} |")
    print("|" + "|".join("-" * (w + 2) for w in (12, 18, 19, 22, 21, 18)) + "|")
    with tempfile.TemporaryDirectory() as folder:
        write_shape_folder(folder, per_class=args.per_class, seed=0)
        for name in args.models.split(","):
            run(name, folder, device, 1, True)  # warm-up: kernels, allocator
            plain_total, plain = run(name, folder, device, args.epochs, False)
            cached_total, cached = run(name, folder, device, args.epochs, True)
            later = statistics.median(cached[1:]) if len(cached) > 1 else float("nan")
            per_epoch = statistics.median(plain)
            print(f"| {name:<12} | {per_epoch:>18.3f} | {cached_total:>19.3f} | {later:>22.4f} | "
                  f"{per_epoch / later:>20.0f}x | {plain_total / cached_total:>17.1f}x |", flush=True)


if __name__ == "__main__":
    main()
