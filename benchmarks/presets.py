"""The four textbook cases on the sample dataset: validation accuracy over seeds, with the settings
each preset starts from (core.training.PRESET_DEFAULTS), as a new user gets them.

Draws `cnnscope make-dataset`'s default data (arrow, moon, diamond; 60 each, seed 0), then trains
every preset from the bundled demo model once per seed (the seed sets the new head, the batch
order and the 80/20 split, as `cnnscope train --seed` does) and prints mean, spread and time.

    python benchmarks/presets.py [--seeds 5] [--device auto|cpu|cuda]
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
from cnnscope.core.freeze import PRESETS, blocks, make_plan
from cnnscope.core.shapes import write_shape_folder
from cnnscope.core.training import PRESET_DEFAULTS, TrainingConfig, build_for_training, train
from cnnscope.core.weights import load_model


def run(preset: str, folder: str, seed: int, device: torch.device) -> tuple[float, float]:
    """(validation accuracy, seconds) of one seeded run of ``preset`` with its defaults."""
    loaded = load_model("demo_shapes", "pretrained")
    data = load_folder(folder, loaded.spec.preprocessing, seed=seed)
    defaults = PRESET_DEFAULTS[preset]
    plan = make_plan(loaded.module, preset, **defaults.plan_arguments(blocks(loaded.module)))
    model = build_for_training(loaded.module, loaded.spec, plan, len(data.classes), seed=seed)
    start = time.perf_counter()
    result = train(model, plan, data, loaded.spec.preprocessing,
                   TrainingConfig(epochs=defaults.epochs, learning_rate=defaults.learning_rate,
                                  batch_size=defaults.batch_size, seed=seed), device)
    return result.val_accuracy, time.perf_counter() - start


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    print(f"device: {describe(device)}; torch {torch.__version__}; "
          f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads; "
          f"seeds 0..{args.seeds - 1}; demo_shapes -> arrow, moon, diamond (180 images, 36 held out)")
    print(f"| {'preset':<18} | {'settings':<34} | {'mean val acc':>12} | {'min':>6} | {'max':>6} | "
          f"{'s per run':>9} |")
    print("|" + "|".join("-" * (w + 2) for w in (18, 34, 12, 6, 6, 9)) + "|")
    with tempfile.TemporaryDirectory() as folder:
        write_shape_folder(folder)
        for preset in PRESETS:
            runs = [run(preset, folder, seed, device) for seed in range(args.seeds)]
            accs = [a for a, _ in runs]
            d = PRESET_DEFAULTS[preset]
            settings = f"{d.epochs} ep, lr {d.learning_rate:g}, batch {d.batch_size}"
            print(f"| {preset:<18} | {settings:<34} | {statistics.mean(accs):>12.1%} | "
                  f"{min(accs):>6.1%} | {max(accs):>6.1%} | {statistics.mean(s for _, s in runs):>9.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
