"""cnnscope: see inside convolutional neural networks.

The Python API (see :mod:`cnnscope.api`): ``cnnscope.inspect(model, image)``,
``cnnscope.explain(model, image, method="gradcam")``, ``cnnscope.show(model, image)``,
``cnnscope.open_model(model, classes=...)``. They load torch on first use, so ``import cnnscope``
stays instant.
"""

__version__ = "0.1.0"
__all__ = ["explain", "inspect", "open_model", "show"]


def __getattr__(name: str):
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'cnnscope' has no attribute '{name}'")
