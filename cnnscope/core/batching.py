"""How many perturbed copies of one input go through the network at once.

Score-CAM, Ablation-CAM, occlusion, Integrated Gradients and the faithfulness curves send hundreds
of variants of one photo through the network. Batches amortise the per-call cost, but only up to a
point: on a GPU the limit is its free memory; on a CPU big batches of a big network are *slower*
(on this project's 2-core reference machine ResNet-50 runs 14 images/s in batches of 8 and 10 in
batches of 32, MobileNetV2 69 and 28: the activations leave the caches), while a small network
gains from big ones. So the CPU's batch holds about CPU_BATCH_BYTES of activations (ResNet-50: 6
images, MobileNetV2: 9, ResNet-18: 31, the demo model: 64), and the GPU's its free memory's share.
"""

from __future__ import annotations

import os

import torch

CPU_BATCH_BYTES = 1 << 30  # activations per CPU batch (see above)
CPU_BATCH = 64  # at most, however small the network
GPU_BATCH = 256
MEMORY_SHARE = 0.4  # of the free memory one batch may take: the rest is the model's and the system's


def free_memory(device: torch.device) -> int | None:
    """Bytes free on ``device`` (CUDA: the driver's figure; CPU: MemAvailable), or None if unknown."""
    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except RuntimeError:
            return None
    if device.type == "cpu":
        try:
            with open("/proc/meminfo", encoding="ascii") as info:
                for line in info:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    return None


def per_sample_bytes(tensors, backward: bool = False) -> int:
    """Memory one input takes in a pass, estimated from one pass's recorded outputs (``tensors``:
    the inspection's feature maps, batch of one); a backward pass keeps them all and as much again."""
    total = sum(t[0].numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))
    return max(1, total * (2 if backward else 1))


def batch_size(device: torch.device, sample_bytes: int, wanted: int | None = None) -> int:
    """Inputs per pass on ``device`` for samples of ``sample_bytes`` each: the device's cap, lowered
    to what fits in MEMORY_SHARE of its free memory, and to ``wanted`` (the samples there are)."""
    cap = GPU_BATCH
    if device.type == "cpu":
        cap = min(CPU_BATCH, max(1, CPU_BATCH_BYTES // max(1, sample_bytes)))
    free = free_memory(device)
    if free is not None:
        cap = min(cap, max(1, int(free * MEMORY_SHARE) // max(1, sample_bytes)))
    if wanted is not None:
        cap = min(cap, max(1, wanted))
    return max(1, cap)
