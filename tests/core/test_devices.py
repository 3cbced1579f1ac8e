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
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    # a concrete index, so it compares equal to the device a tensor reports
    assert devices.pick_device("auto") == torch.device("cuda", 0)
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
    """Same answers as on the CPU, up to TF32 convolution rounding; maps reach the host on demand."""
    import numpy as np

    from pathlib import Path

    from cnnscope.core.images import open_image
    from cnnscope.core.inspect import inspect

    samples = Path(__file__).resolve().parents[2] / "sample_images"
    image = open_image(samples / "shape_cross.png")
    on_gpu = inspect(demo_model, image, torch.device("cuda"))
    on_cpu = inspect(demo_model, image, torch.device("cpu"))
    assert on_gpu.device.startswith("CUDA") and on_cpu.device == "CPU"
    assert on_gpu.predictions[0].label == on_cpu.predictions[0].label == "cross"
    np.testing.assert_allclose(on_gpu.probabilities, on_cpu.probabilities, atol=2e-3)
    gpu_maps, cpu_maps = on_gpu.activation("features.block4"), on_cpu.activation("features.block4")
    assert gpu_maps.shape == on_gpu.activations.shape("features.block4") == (128, 12, 12)
    np.testing.assert_allclose(gpu_maps, cpu_maps, atol=1e-2 * float(np.abs(cpu_maps).max()))
