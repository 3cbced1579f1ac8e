"""Feature visualisation's cost: one optimisation step (parameterisation, random transforms,
forward through the traced graph, backward to the image, Adam) against a bare forward + backward of
the same model and batch, and the seconds a 256-step 224 px channel visualisation takes.

Target (issue 15): a step <= 1.3x the bare forward + backward.

    python benchmarks/optimize.py [--device auto|cpu|cuda] [--models resnet18,mobilenet_v2] [--steps 256]
"""

from __future__ import annotations

import _no_shadow  # noqa: F401  (first: see its docstring)
import argparse
import platform
import time

import torch

from cnnscope.core import optimize
from cnnscope.core.devices import describe, pick_device
from cnnscope.core.inspect import prepare
from cnnscope.core.weights import load_model


def bare_step_seconds(module, size: int, device, repeats: int) -> float:
    """A forward and a backward to the input of a (1, 3, size, size) batch, nothing else."""
    x = torch.rand(1, 3, size, size, device=device, requires_grad=True)
    for p in module.parameters():
        p.requires_grad_(False)
    times = []
    for _ in range(repeats + 2):
        start = time.perf_counter()
        out = module(x)
        out = out[0] if isinstance(out, tuple) else out
        out.mean().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    for p in module.parameters():
        p.requires_grad_(True)
    return sorted(times[2:])[len(times[2:]) // 2]


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", default="resnet18,mobilenet_v2")
    parser.add_argument("--steps", type=int, default=256)
    args = parser.parse_args()
    device = pick_device(args.device)
    print(f"device: {describe(device)}; torch {torch.__version__}; "
          f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads; "
          f"batch 1, 224 px, random weights (the cost does not depend on them)")
    print(f"| {'model':<13} | {'bare fwd+bwd ms':>15} | {'optimisation step ms':>20} | {'ratio':>5} | "
          f"{args.steps}-step visualisation s |")
    print("|" + "|".join("-" * (w + 2) for w in (13, 15, 20, 5, len(f"{args.steps}-step visualisation s"))) + "|")
    for name in args.models.split(","):
        loaded = load_model(name, "random")
        loaded.module.to(device).eval()
        prepare(loaded)
        layer = {"resnet18": "layer3", "mobilenet_v2": "features.10"}.get(name)
        if layer is None:
            layer = [n for n, _ in loaded.module.named_children()][0]
        bare = bare_step_seconds(loaded.module, 224, device, 10)
        start = time.perf_counter()
        found = optimize.visualise(loaded, optimize.channel(layer, 0), steps=args.steps, size=224,
                                   device=device)
        total = time.perf_counter() - start
        step = total / found.steps_done
        print(f"| {name:<13} | {bare * 1000:>15.1f} | {step * 1000:>20.1f} | {step / bare:>5.2f} | "
              f"{total:>{len(f'{args.steps}-step visualisation s')}.1f} |", flush=True)


if __name__ == "__main__":
    main()
