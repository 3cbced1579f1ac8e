"""What does a heatmap cost? Grad-CAM after an inspection, against a bare forward, captum's
LayerGradCam and pytorch-grad-cam's GradCAM, and the time of every method.

Table 1, per model (same model, same input, one run): bare ``inference_mode`` forward of a
preprocessed batch; inspect() (preprocessing, every layer's maps, top-5); our Grad-CAM after it
(the tail after the CAM layer again, its gradient, upsampling); captum's LayerGradCam and
pytorch-grad-cam's GradCAM, each a forward and a backward of their own. Targets:
(inspect + Grad-CAM) / bare <= 1.3, and pytorch-grad-cam / (inspect + Grad-CAM) >= 3.

Table 2: every method of core.attribution after one inspection (slow ones timed once).

pytorch-grad-cam is a benchmark-only comparison, never a dependency of cnnscope:

    pip install grad-cam
    python benchmarks/attribution.py [--device auto|cpu|cuda] [--repeats N] [--models a,b] [--no-methods]
"""

from __future__ import annotations

import _no_shadow  # noqa: F401  (first: see its docstring)
import argparse
import platform

import numpy as np
import torch
from _timing import median_ms, once_ms

from cnnscope.core.attribution import METHODS, attribute
from cnnscope.core.devices import describe, keep_freed_host_memory, pick_device
from cnnscope.core.images import open_image
from cnnscope.core.inspect import inspect
from cnnscope.core.resources import sample_images_dir
from cnnscope.core.weights import load_model

MODELS = ["resnet50", "vgg16"]




def _pytorch_grad_cam(module, layer, batch, target):
    """pytorch-grad-cam's GradCAM as its README uses it (built once: only the call is timed)."""
    try:
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    except ImportError:
        return None
    cam = GradCAM(model=module, target_layers=[layer])
    targets = [ClassifierOutputTarget(target)]
    return lambda: cam(input_tensor=batch, targets=targets)


def compare(name: str, device: torch.device, image: np.ndarray, repeats: int) -> dict:
    """Table 1's row for one model (random weights: the speed does not depend on their values)."""
    from captum.attr import LayerGradCam

    torch.manual_seed(0)
    loaded = load_model(name, "random")
    loaded.module.to(device)
    batch = loaded.spec.preprocessing(image)[0].to(device)
    layer = loaded.module.get_submodule(loaded.spec.cam_layer)
    result = inspect(loaded, image, device)
    target = result.predictions[0].index

    def bare():
        with torch.inference_mode():
            loaded.module(batch)

    def ours():
        attribute(loaded, inspect(loaded, image, device), "gradcam")

    captum_cam = LayerGradCam(loaded.module, layer)
    fns = [bare, lambda: inspect(loaded, image, device), lambda: attribute(loaded, result, "gradcam"),
           ours, lambda: captum_cam.attribute(batch, target=target)]
    pgc = _pytorch_grad_cam(loaded.module, layer, batch, target)
    if pgc is not None:
        fns.append(pgc)
    times = median_ms(fns, device, repeats)
    row = dict(zip(["bare", "inspect", "gradcam", "both", "captum", "pgc"], times))
    row["model"] = name
    return row


def methods(name: str, device: torch.device, image: np.ndarray, repeats: int) -> list[tuple[str, float]]:
    """Table 2's rows for one model: each method's ms after one inspection."""
    torch.manual_seed(0)
    loaded = load_model(name, "random")
    loaded.module.to(device)
    result = inspect(loaded, image, device)
    rows = []
    for key, method in METHODS.items():
        if key == "cam" and loaded.spec.cam_head is None:
            rows.append((method.label, float("nan")))
            continue
        if method.slow:
            attribute(loaded, result, key)  # warm-up (captum's first import, kernels)
            rows.append((method.label, once_ms(lambda k=key: attribute(loaded, result, k), device)))
        else:
            rows.append((method.label, median_ms([lambda k=key: attribute(loaded, result, k)], device,
                                              repeats)[0]))
    return rows


def main() -> None:
    """Print both tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--no-methods", action="store_true", help="only the Grad-CAM comparison")
    args = parser.parse_args()
    device = pick_device(args.device)
    keep_freed_host_memory()
    image = open_image(sample_images_dir() / "chelsea.png")
    names = args.models.split(",")
    print(f"device: {describe(device)}; torch {torch.__version__}; {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads; median of {args.repeats}")
    print(f"| {'model':<9} | {'bare ms':>7} | {'inspect ms':>10} | {'Grad-CAM ms':>11} | "
          f"{'(inspect + Grad-CAM) / bare':>27} | {'captum LayerGradCam ms':>22} | "
          f"{'pytorch-grad-cam ms':>19} | {'pytorch-grad-cam / ours':>23} | {'captum / ours':>13} |")
    print("|" + "|".join("-" * (w + 2) for w in (9, 7, 10, 11, 27, 22, 19, 23, 13)) + "|")
    for name in names:
        r = compare(name, device, image, args.repeats)
        pgc = r.get("pgc")
        pgc_text = f"{pgc:>19.1f}" if pgc else f"{'not installed':>19}"
        pgc_ratio = f"{pgc / r['both']:>23.2f}" if pgc else f"{'-':>23}"
        print(f"| {name:<9} | {r['bare']:>7.1f} | {r['inspect']:>10.1f} | {r['gradcam']:>11.2f} | "
              f"{r['both'] / r['bare']:>27.2f} | {r['captum']:>22.1f} | {pgc_text} | {pgc_ratio} | "
              f"{r['captum'] / r['both']:>13.2f} |", flush=True)
    if args.no_methods:
        return
    print()
    print(f"| {'method':<20} | " + " | ".join(f"{n + ' ms':>14}" for n in names) + " |")
    print("|" + "|".join("-" * (w + 2) for w in [20] + [14] * len(names)) + "|")
    columns = [methods(n, device, image, args.repeats) for n in names]
    for i, (label, _ms) in enumerate(columns[0]):
        cells = " | ".join("CAM refused".rjust(14) if np.isnan(col[i][1]) else f"{col[i][1]:>14.1f}"
                           for col in columns)
        print(f"| {label:<20} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
