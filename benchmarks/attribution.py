"""What does a heatmap cost? Grad-CAM after an inspection, against a bare forward, captum's
LayerGradCam and pytorch-grad-cam's GradCAM, and the time of every method.

Table 1, per model (same model, same input, one run): bare ``inference_mode`` forward of a
preprocessed batch; inspect() (preprocessing, every layer's maps, top-5); our Grad-CAM after it
(the tail after the CAM layer again, its gradient, upsampling); captum's LayerGradCam and
pytorch-grad-cam's GradCAM, each a forward and a backward of their own. Targets:
(inspect + Grad-CAM) / bare <= 1.3, and pytorch-grad-cam / (inspect + Grad-CAM) >= 3.

Table 2: every method of core.attribution after one inspection (slow ones timed once).

Table 3 (``--slow``): each slow method against the passes it must make, run bare in batches of the
same size (what core/batching.py gives that model on that device): Score-CAM, its fast option and
occlusion against whole forwards of as many inputs; Ablation-CAM against the traced tail after the
layer, as many times as there are channels; Integrated Gradients, SmoothGrad and Smooth Grad-CAM++
against forwards and backwards to the input. Target (issue 19): method / bare passes <= 1.2.
With ``--weights-file`` (MobileNetV2's real weights), the fast Score-CAM's correlation with the
exact one on the sample photos (target >= 0.95).

pytorch-grad-cam is a benchmark-only comparison, never a dependency of cnnscope:

    pip install grad-cam
    python benchmarks/attribution.py [--device auto|cpu|cuda] [--repeats N] [--models a,b] [--no-methods]
    python benchmarks/attribution.py --slow [--models resnet50,mobilenet_v2] [--methods a,b]
    python benchmarks/attribution.py --fast-scorecam --weights-file mobilenet_v2-b0353104.pth
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


SLOW_PASSES = {"scorecam": "forward", "scorecam_fast": "forward", "occlusion": "forward",
               "ablationcam": "tail", "integrated_gradients": "backward", "smoothgrad": "backward",
               "smoothgradcam++": "backward"}


def _bare_passes(loaded, result, kind: str, count: int, batch: int) -> None:
    """``count`` inputs like the photo through the network in batches of ``batch``: whole forwards,
    the traced tail after the CAM layer, or forwards and backwards to the input."""
    from cnnscope.core.inspect import traced_graph

    x = result.input_tensor.detach()
    module = loaded.module
    stored = result.activations.tensors()
    layer = loaded.spec.cam_layer
    for begin in range(0, count, batch):
        n = min(batch, count - begin)
        if kind == "forward":
            with torch.no_grad():
                module(x.expand(n, *x.shape[1:]).contiguous())
        elif kind == "tail":
            known = {k: t.expand(n, *t.shape[1:]) for k, t in stored.items()}
            with torch.no_grad():
                traced_graph(loaded).logits_from(layer, stored[layer].repeat(n, 1, 1, 1), known,
                                                 x.expand(n, *x.shape[1:]))
        else:
            inputs = x.expand(n, *x.shape[1:]).contiguous().requires_grad_(True)
            with torch.enable_grad():
                torch.autograd.grad(module(inputs)[:, 0].sum(), inputs)


def slow_table(name: str, device: torch.device, image: np.ndarray, keys: list[str],
               repeats: int = 3) -> list[tuple[str, int, int, float, float]]:
    """Table 3's rows: (method, passes, batch, method ms, bare passes ms), the best of ``repeats``
    runs each, taking turns (exact Score-CAM: one run, it takes minutes)."""
    from cnnscope.core.passes import Runner, gradients_for_inputs_only

    torch.manual_seed(0)
    loaded = load_model(name, "random")
    loaded.module.to(device)
    result = inspect(loaded, image, device)
    rows = []
    for key in keys:
        kind = SLOW_PASSES[key]
        seen = [0]
        attribute(loaded, result, key, progress=lambda done, total: seen.__setitem__(0, total))  # warm-up
        count = seen[0]
        batch = Runner(loaded, result, None, None).batch(count, backward=kind == "backward")
        ms, bare = float("inf"), float("inf")
        with gradients_for_inputs_only(loaded.module):
            _bare_passes(loaded, result, kind, min(count, batch), batch)  # warm-up
        for _ in range(1 if key == "scorecam" else repeats):  # taking turns; the best of each counts
            ms = min(ms, once_ms(lambda k=key: attribute(loaded, result, k), device))
            with gradients_for_inputs_only(loaded.module):
                bare = min(bare, once_ms(lambda: _bare_passes(loaded, result, kind, count, batch), device))
        rows.append((METHODS[key].label, count, batch, ms, bare))
        print(f"| {name:<12} | {METHODS[key].label:<20} | {kind:<8} | {count:>6} | {batch:>5} | "
              f"{ms / 1000:>9.2f} | {bare / 1000:>9.2f} | {ms / bare:>6.2f} |", flush=True)
    return rows


def fast_scorecam_agreement(weights_file: str, device: torch.device) -> None:
    """The fast Score-CAM against the exact one on every sample photo, with real weights."""
    from cnnscope.core.cam_passes import FAST_SCORECAM_CHANNELS

    loaded = load_model("mobilenet_v2", weights_file)
    loaded.module.to(device)
    print(f"| photo          | top class            | exact s | fast s ({FAST_SCORECAM_CHANNELS} ch) | correlation |")
    print("|----------------|----------------------|---------|--------------|-------------|")
    for path in sorted(sample_images_dir().glob("*")):
        if path.suffix not in (".jpg", ".png") or path.name.startswith(("shape_", "digit_")):
            continue
        result = inspect(loaded, open_image(path), device)
        exact_ms = once_ms(lambda: attribute(loaded, result, "scorecam"), device)
        exact = attribute(loaded, result, "scorecam").heatmap
        fast_ms = once_ms(lambda: attribute(loaded, result, "scorecam_fast"), device)
        fast = attribute(loaded, result, "scorecam_fast").heatmap
        corr = float(np.corrcoef(exact.ravel(), fast.ravel())[0, 1])
        print(f"| {path.name:<14} | {result.predictions[0].label[:20]:<20} | {exact_ms / 1000:>7.1f} | "
              f"{fast_ms / 1000:>12.1f} | {corr:>11.3f} |", flush=True)


def main() -> None:
    """Print the tables asked for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--no-methods", action="store_true", help="only the Grad-CAM comparison")
    parser.add_argument("--slow", action="store_true", help="table 3: slow methods against their passes")
    parser.add_argument("--methods", default=",".join(SLOW_PASSES), help="with --slow: which")
    parser.add_argument("--fast-scorecam", action="store_true",
                        help="fast Score-CAM against the exact one (needs --weights-file)")
    parser.add_argument("--weights-file", default=None, help="MobileNetV2's ImageNet weights")
    args = parser.parse_args()
    device = pick_device(args.device)
    keep_freed_host_memory()
    image = open_image(sample_images_dir() / "chelsea.png")
    names = args.models.split(",")
    if args.fast_scorecam:
        fast_scorecam_agreement(args.weights_file, device)
        return
    if args.slow:
        print(f"device: {describe(device)}; torch {torch.__version__}; {torch.get_num_threads()} threads")
        print(f"| {'model':<12} | {'method':<20} | {'passes':<8} | {'inputs':>6} | {'batch':>5} | "
              f"{'method s':>9} | {'bare s':>9} | {'ratio':>6} |")
        print("|" + "|".join("-" * (w + 2) for w in (12, 20, 8, 6, 5, 9, 9, 6)) + "|")
        for name in names:
            slow_table(name, device, image, args.methods.split(","), min(args.repeats, 3))
        return
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
