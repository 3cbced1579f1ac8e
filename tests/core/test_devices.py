"""Device choice: CUDA, then MPS, then the CPU; absent devices are a clear error."""

from __future__ import annotations

import pytest
import torch

from cnnscope.core import devices
from cnnscope.core.errors import DeviceError


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.pick_device("auto").type == "cpu"
    monkeypatch.setattr(devices, "_mps_available", lambda: True)
    assert devices.pick_device("auto").type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert devices.pick_device("auto").type == "cuda"
    assert devices.available_devices() == ["cuda", "mps", "cpu"]


def test_absent_or_unknown_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="CUDA device is not available"):
        devices.pick_device("cuda")
    with pytest.raises(DeviceError, match="Unknown device 'tpu'"):
        devices.pick_device("tpu")
    assert devices.pick_device("cpu").type == "cpu"


def test_out_of_memory_is_recognised():
    assert devices.is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert devices.is_out_of_memory(RuntimeError("MPS backend out of memory"))
    assert not devices.is_out_of_memory(RuntimeError("shape mismatch"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_inspection_runs_on_the_gpu(demo_model):
    import numpy as np

    from cnnscope.core.inspect import inspect

    image = np.zeros((96, 96, 3), np.uint8)
    on_gpu = inspect(demo_model, image, torch.device("cuda"))
    on_cpu = inspect(demo_model, image, torch.device("cpu"))
    assert on_gpu.device.startswith("CUDA")
    np.testing.assert_allclose(on_gpu.probabilities, on_cpu.probabilities, atol=1e-4)
    np.testing.assert_allclose(on_gpu.activation("features.block4"),
                               on_cpu.activation("features.block4"), atol=1e-3)
