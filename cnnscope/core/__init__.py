"""The engine: plain torch + numpy + PIL. It never imports Qt (a test guards this)."""

from .errors import CnnscopeError, DatasetError, DeviceError, ImageError, ModelError, WeightsError

__all__ = ["CnnscopeError", "DatasetError", "DeviceError", "ImageError", "ModelError", "WeightsError"]
