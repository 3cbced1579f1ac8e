"""Live frames per second: what the engine does for each camera frame (core.live.process_frame:
inspect, then the selected layer's feature grid or Grad-CAM over the frame), back to back.

Target (issue 7): >= 25 fps with CAM on a GPU for ResNet-50.

    python benchmarks/live.py [--device auto|cpu|cuda] [--models resnet18,resnet50] [--frames N]
"""

from __future__ import annotations

import _no_shadow  # noqa: F401  (first: see its docstring)
import argparse
import platform

import numpy as np
import torch
from _timing import once_ms

from cnnscope.core.devices import describe, keep_freed_host_memory, pick_device
from cnnscope.core.live import process_frame
from cnnscope.core.weights import load_model


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", default="resnet18,resnet50")
    parser.add_argument("--frames", type=int, default=30)
    args = parser.parse_args()
    device = pick_device(args.device)
    keep_freed_host_memory()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(8)]  # VGA camera frames
    print(f"device: {describe(device)}; torch {torch.__version__}; {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads; {args.frames} frames of 640x480 after 3 warm-up frames")
    print(f"| {'model':<10} | {'feature maps fps':>16} | {'Grad-CAM fps':>12} |")
    print(f"|{'-' * 12}|{'-' * 18}|{'-' * 14}|")
    for name in args.models.split(","):
        loaded = load_model(name, "random")
        loaded.module.to(device)
        rates = []
        for mode in ("maps", "cam"):
            for i in range(3):
                process_frame(loaded, frames[i % len(frames)], mode, None, device)
            ms = once_ms(lambda: [process_frame(loaded, frames[i % len(frames)], mode, None, device)
                                  for i in range(args.frames)], device)
            rates.append(args.frames / (ms / 1000))
        print(f"| {name:<10} | {rates[0]:>16.1f} | {rates[1]:>12.1f} |", flush=True)


if __name__ == "__main__":
    main()
