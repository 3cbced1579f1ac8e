"""Which device runs the models: CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

import ctypes
import sys
from functools import lru_cache

import torch

from .errors import DeviceError

CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def available_devices() -> list[str]:
    """The device kinds present on this machine, best first ("cpu" is always last)."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    if _mps_available():
        found.append("mps")
    return found + ["cpu"]


def pick_device(preference: str = "auto") -> torch.device:
    """Resolve "auto" / "cpu" / "cuda" / "mps" to a device, or raise DeviceError if it is absent."""
    preference = (preference or "auto").lower()
    if preference not in CHOICES:
        raise DeviceError(f"Unknown device '{preference}': choose one of {', '.join(CHOICES)}.")
    present = available_devices()
    if preference == "auto":
        return concrete(torch.device(present[0]))
    if preference not in present:
        raise DeviceError(f"The {preference.upper()} device is not available on this machine; "
                          f"available: {', '.join(present)}.")
    return concrete(torch.device(preference))


def concrete(device: torch.device) -> torch.device:
    """'cuda' -> 'cuda:N' (the current device), so it compares equal to a tensor's own device."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def describe(device: torch.device) -> str:
    """A short human name, e.g. 'CUDA (NVIDIA H100 80GB HBM3)' or 'CPU'."""
    if device.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(device)})"
    return device.type.upper()


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a CUDA or MPS out-of-memory error."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def release_cached_memory(device: torch.device) -> None:
    """Give the allocator's cached blocks back after an out-of-memory error."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


@lru_cache(maxsize=1)
def keep_freed_host_memory() -> bool:
    """Ask glibc to keep freed heap memory mapped (Linux only; elsewhere a no-op, returns False).

    An inspection keeps every layer's output alive (100-300 MB for big models). By default glibc
    returns that memory to the OS afterwards, so the next inspection page-faults on fresh pages,
    which cost ResNet-50 as much again as its convolutions (benchmarks/inspect.py). With these two
    documented mallopt settings, allocations up to 32 MB come from the heap and the heap is not
    trimmed, so each inspection reuses the pages of the previous one.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (e.g. musl)
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)
                and libc.mallopt(m_trim_threshold, 1 << 30))


def borrowed_on(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` on ``device`` without moving the caller's object: itself when it is already
    there, else a copy there (a notebook's model must stay where its owner put it)."""
    import copy

    where = next((t.device for t in module.parameters()), None) or \
        next((t.device for t in module.buffers()), torch.device("cpu"))
    if concrete(where) == concrete(device):
        return module
    return copy.deepcopy(module).to(device)
