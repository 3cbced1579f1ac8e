"""CAM methods that weigh a layer's channels by sending many variants through the network.

- **Score-CAM** (Wang et al. 2020) shows the photo through each channel's map and weighs the
  channel by the class probability that keeps: one whole forward per channel, in batches. The fast
  option scores only the channels with the highest peaks (the others get weight 0): a channel's
  share of the map is its weight (a probability, at most 1) times its activation, so at any
  position it adds at most its peak. On the sample photos with MobileNetV2's real weights the 100
  highest peaks of 1,280 give maps correlating 0.958-0.995 with all channels'; the 100 most
  *varied* channels (the selection first tried) gave 0.932 on one of them
  (benchmarks/attribution.py --fast-scorecam).
- **Ablation-CAM** (Desai & Ramaswamy 2020) switches each channel off *at the layer* and weighs it by
  the fraction of the class score lost. Only the part of the network after the layer runs again,
  fed from the inspection's stored outputs (core/tracing.py), in batches of ablated copies.
- **Smooth Grad-CAM++** (Omeiza et al. 2019) averages Grad-CAM++'s derivatives over noisy copies of
  the photo, in batches.

Every batch is sized to the device (core/batching.py), and the (C, S, S) masks of Score-CAM are
made one batch at a time (2048 channels at 224 px would be 411 MB at once).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .cam_maps import weighted_by_alphas
from .passes import Runner, logits_of, upsample

FAST_SCORECAM_CHANNELS = 100  # ResNet-50 on the 2-core reference CPU: ~7 s (benchmarks/attribution.py)
SMOOTH_CAM_SAMPLES = 16
SMOOTH_NOISE = 0.15  # noise std as a share of the input's range (as SmoothGrad's)


def scorecam(runner: Runner, layer: str, target: int, channels: int | None = None) -> torch.Tensor:
    """Score-CAM's (h, w) map at ``layer`` for class ``target``; ``channels``: score only that many
    channels, those with the highest peaks (None: all)."""
    inspection = runner.inspection
    activation = inspection.activations.tensors()[layer][0].detach().float()  # (C, h, w)
    x = inspection.input_tensor.detach()
    flat = activation.flatten(1)
    live = (flat.amax(dim=1) > flat.amin(dim=1)).nonzero().flatten()  # a flat map masks nothing
    if channels is not None and channels < len(live):
        peaks = flat[live].amax(dim=1)
        live = live[torch.topk(peaks, channels).indices.sort().values]
    weights = torch.zeros(activation.shape[0], device=activation.device)
    runner.expect(len(live))
    step = runner.batch(len(live))
    with torch.no_grad():
        for begin in range(0, len(live), step):
            chosen = live[begin:begin + step]
            masks = upsample(activation[chosen], x.shape[-2:])  # (B, S, S)
            lo = masks.amin(dim=(1, 2), keepdim=True)
            masks = (masks - lo) / (masks.amax(dim=(1, 2), keepdim=True) - lo).clamp_min(1e-12)
            batch = (masks[:, None] * x.float()).to(x.dtype)
            scores = torch.softmax(runner.forward(batch).float(), dim=1)[:, target]
            weights[chosen] = scores
    return F.relu(torch.einsum("c,chw->hw", weights, activation))


def ablationcam(runner: Runner, layer: str, target: int) -> torch.Tensor:
    """Ablation-CAM's (h, w) map at ``layer``: w_k = (y - y_k) / |y|, y the class score and y_k
    the score with channel k set to zero (the paper divides by y, which assumes y > 0: for a class
    with a negative score that would turn every weight's sign, so its size is used)."""
    inspection, loaded = runner.inspection, runner.loaded
    stored = inspection.activations.tensors()
    activation = stored[layer].detach()  # (1, C, h, w)
    channels = activation.shape[1]
    score = float(inspection.logits[0, target].detach())
    ablated = torch.empty(channels, device=activation.device)
    tail = _tail(runner, layer, stored)
    runner.expect(channels)
    step = runner.batch(channels)
    with torch.no_grad():
        for begin in range(0, channels, step):
            count = min(step, channels - begin)
            batch = activation.repeat(count, 1, 1, 1)
            batch[torch.arange(count), torch.arange(begin, begin + count)] = 0
            runner.tick(count)
            ablated[begin:begin + count] = tail(batch).float()[:, target]
    weights = (score - ablated) / max(abs(score), 1e-7)
    return F.relu(torch.einsum("c,chw->hw", weights, activation[0].float()))


def _tail(runner: Runner, layer: str, stored: dict[str, torch.Tensor]):
    """batch of ``layer`` outputs -> logits: the traced graph's part after the layer (values from
    before it, a ResNet shortcut say, taken from the stored pass), else a whole forward with the
    layer's output replaced."""
    from .inspect import traced_graph

    loaded, x = runner.loaded, runner.inspection.input_tensor
    graph = traced_graph(loaded)
    if graph is not None and layer in graph.recorded_nodes():
        def run_tail(batch: torch.Tensor) -> torch.Tensor:
            known = {name: t.expand(batch.shape[0], *t.shape[1:]) for name, t in stored.items()}
            return logits_of(graph.logits_from(layer, batch, known, x.expand(batch.shape[0], *x.shape[1:])))
        return run_tail
    module = loaded.module.get_submodule(layer)

    def run_whole(batch: torch.Tensor) -> torch.Tensor:
        handle = module.register_forward_hook(lambda _m, _i, _o: batch)
        try:
            return logits_of(loaded.module(x.expand(batch.shape[0], *x.shape[1:])))
        finally:
            handle.remove()
    return run_whole


def smooth_gradcam_pp(runner: Runner, layer: str, target: int,
                      noise: torch.Tensor | None = None) -> torch.Tensor:
    """Smooth Grad-CAM++'s (h, w) map: Grad-CAM++'s first, second and third derivatives at
    ``layer`` averaged over copies of the input with Gaussian noise added (``noise``, (n, C, S, S):
    drawn from a fixed seed when None, so the same photo gives the same map), applied to the
    photo's own feature maps."""
    inspection, loaded = runner.inspection, runner.loaded
    x = inspection.input_tensor.detach()
    if noise is None:
        spread = float(x.max() - x.min())
        generator = torch.Generator(device="cpu").manual_seed(0)
        noise = torch.randn((SMOOTH_CAM_SAMPLES, *x.shape[1:]), generator=generator) * SMOOTH_NOISE * spread
    noise = noise.to(device=x.device, dtype=x.dtype)
    activation = inspection.activations.tensors()[layer].detach().float()
    sums = [torch.zeros_like(activation) for _ in range(3)]
    module = loaded.module.get_submodule(layer)
    kept: dict[str, torch.Tensor] = {}

    def keep(_m, _i, output):
        kept["out"] = output
    runner.expect(len(noise))
    step = runner.batch(len(noise), backward=True)
    handle = module.register_forward_hook(keep)
    try:
        for begin in range(0, len(noise), step):
            batch = (x + noise[begin:begin + step]).requires_grad_(True)
            with torch.enable_grad():
                logits = runner.forward(batch)
                (gradient,) = torch.autograd.grad(logits[:, target].sum(), kept["out"])
            gradient = gradient.detach().float()
            for power, total in enumerate(sums, start=1):
                total += gradient.pow(power).sum(dim=0, keepdim=True)
    finally:
        handle.remove()
    first, second, third = (total / len(noise) for total in sums)
    return weighted_by_alphas(activation, first, second, third)
