"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import statistics
import time

import torch


def once_ms(fn, device: torch.device) -> float:
    """Milliseconds of one call, waiting for the GPU to finish when there is one."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1000


def median_ms(fns: list, device: torch.device, repeats: int) -> list[float]:
    """Median ms of each function after two warm-up rounds; the functions take turns, so a slow
    spell of a shared machine hits them alike."""
    for _ in range(2):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, bucket in zip(fns, times):
            bucket.append(once_ms(fn, device))
    return [statistics.median(bucket) for bucket in times]
