"""The Python API for scripts and notebooks: any CNN, any image, the same results as the window.

    import cnnscope
    result = cnnscope.inspect(model, "cat.jpg")          # predictions and every feature map
    heat = cnnscope.explain(model, "cat.jpg", method="gradcam")
    cnnscope.show(model, "cat.jpg")                       # the window, on your model

``model`` is an ``nn.Module`` (yours, or from timm or torchvision), a registry name
(as ``cnnscope models`` lists them), ``"path/to/net.py:build"`` or ``"timm:NAME"``. What cnnscope needs to know about an
unknown model (input size, channels, normalisation, class names, CAM layer) is worked out once per
model object and can be stated instead with the keyword arguments.
"""

from __future__ import annotations

import os
import weakref
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import numpy as np

from .core.attribution import Attribution, attribute
from .core.errors import ImageError, ModelError
from .core.inspect import Inspection
from .core.inspect import inspect as _inspect
from .core.labels import read_labels
from .core.user_models import ModelHints, from_module
from .core.weights import LoadedModel, load_model

# Per model object, what was worked out about it (never the model itself: a cache entry must not
# keep the caller's model alive, or it would never be freed)
_opened: "weakref.WeakKeyDictionary[Any, tuple[ModelHints, Any, tuple, list]]" = weakref.WeakKeyDictionary()


def open_model(model: Any, *, classes: Sequence[str] | str | os.PathLike | None = None,
               input_size: int | None = None, channels: int | None = None,
               mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
               cam_layer: str | None = None, weights: str | None = None) -> LoadedModel:
    """The model ready to inspect. ``classes``: a list of names or a labels file (one name per
    line, or a JSON list); ``weights``: for a name, "pretrained", "random" or a file; for a model
    object, a weights file or a checkpoint trained from it, loaded into a copy of the object."""
    if isinstance(model, LoadedModel):
        return model
    hints = ModelHints.checked(input_size=input_size, channels=channels, mean=mean, std=std,
                               labels=read_labels(classes) if classes is not None else None,
                               cam_layer=cam_layer)
    if isinstance(model, (str, os.PathLike)):
        return load_model(str(model), weights or "pretrained", hints=hints if hints.stated else None)
    from torch import nn

    if not isinstance(model, nn.Module):
        raise ModelError(f"Expected a torch nn.Module or a model name, not a {type(model).__name__}.")
    if weights not in (None, "given", "pretrained", "random"):
        return _with_weights(model, hints, weights)
    known = _opened.get(model)
    if known is not None and known[0] == hints:
        _hints, spec, labels, notes = known
        from .core.weights import prepare_for_inspection

        return LoadedModel(spec, prepare_for_inspection(model), labels, "given", "its own weights", {},
                           list(notes))
    loaded = from_module(model, type(model).__name__, hints)
    _opened[model] = (hints, loaded.spec, loaded.labels, loaded.notes)
    return loaded


def _with_weights(model: Any, hints: ModelHints, weights: str | os.PathLike) -> LoadedModel:
    """A copy of ``model`` (the caller's stays as it is) with a weights file or a checkpoint
    trained from it (new head, class names)."""
    import copy
    from pathlib import Path

    from .core.user_models import apply_weights
    from .core.weights import read_weights_file

    from dataclasses import replace

    path = Path(weights).expanduser()
    content = read_weights_file(path)
    loaded = from_module(copy.deepcopy(model), type(model).__name__, replace(hints, labels=None))
    apply_weights(loaded, content, path.name, hints.labels)  # the names are the weights' outputs'
    return loaded


def as_image(image: Any) -> np.ndarray:
    """An image as uint8 (H, W, 3): a file path (through cnnscope's safe loader), a PIL image,
    or an array (H, W), (H, W, 3) or (H, W, 4), uint8 or floats in 0..1."""
    if isinstance(image, (str, os.PathLike)):
        from .core.images import open_image

        return open_image(image)
    try:
        from PIL import Image

        if isinstance(image, Image.Image):
            return as_image(np.array(image.convert("RGB")))  # writable; the same limits
    except ImportError:  # pragma: no cover - Pillow is a dependency
        pass
    array = np.asarray(image)
    if array.ndim in (2, 3) and min(array.shape[:2]) >= 1:
        from .core.images import MAX_ASPECT, MAX_PIXELS

        height, width = array.shape[:2]
        if height * width > MAX_PIXELS or max(height, width) > MAX_ASPECT * min(height, width):
            raise ImageError(f"An image of {width}x{height} pixels is refused, as a file of that "
                             f"size would be: at most {MAX_PIXELS / 1e6:.0f} megapixels, and the long "
                             f"side at most {MAX_ASPECT} times the short one.")
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or min(array.shape[:2]) < 1:
        raise ImageError(f"An image array must be (H, W), (H, W, 3) or (H, W, 4), not {array.shape}.")
    array = array[:, :, :3]
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.floating) or not np.isfinite(array).all():
            raise ImageError("An image array must be uint8, or floats in 0..1 without NaN.")
        array = (np.clip(array, 0, 1) * 255).round().astype(np.uint8)
    return np.ascontiguousarray(array)


def inspect(model: Any, image: Any, *, top_k: int = 5, whole_image: bool = False,
            **options: Any) -> Inspection:
    """One pass of ``image`` through ``model``: ``.predictions`` (label, probability, index),
    ``.activation(layer)`` and ``.activations`` (every layer's maps as numpy), ``.input_rgb``
    (what the network saw: the model's centre crop, or with ``whole_image=True`` the whole photo
    shrunk and padded to a square), ``.framing`` (where that sits in the photo). ``options`` as
    for :func:`open_model`. The model runs in eval mode and is left in the mode it came in."""
    with _mode_kept(model):
        loaded = open_model(model, **options)
        return _inspect(loaded, as_image(image), top_k=top_k, framing=_framing(whole_image))


def explain(model: Any, image: Any, method: str = "gradcam", target: int | str | None = None,
            layer: str | None = None, *, whole_image: bool = False, **options: Any) -> Attribution:
    """Where the network looked: ``.heatmap`` (S, S) in 0..1 over what it saw (the crop, or the
    whole photo with ``whole_image=True``), for ``target`` (a class index or name; default the
    top prediction), by ``method`` (gradcam, gradcam++, cam, scorecam, saliency, smoothgrad,
    integrated_gradients, occlusion, guided_backprop, guided_gradcam)."""
    with _mode_kept(model):
        loaded = open_model(model, **options)
        inspection = _inspect(loaded, as_image(image), framing=_framing(whole_image))
        return attribute(loaded, inspection, method, target, layer)


def _framing(whole_image: bool) -> str:
    return "whole" if whole_image else "crop"


@contextmanager
def _mode_kept(model: Any) -> Iterator[None]:
    """A caller's model in training mode (mid-training in a notebook) goes back to it afterwards."""
    training = getattr(model, "training", None)
    try:
        yield
    finally:
        if training is True:
            model.train()


def show(model: Any = None, image: Any = None, **options: Any):
    """Open the window on ``model`` (and ``image``). In Jupyter it returns at once and the window
    lives beside the notebook (Qt's event loop integration); from a script it returns when the
    window is closed. ``options`` as for :func:`open_model`."""
    loaded = open_model(model, **options) if model is not None else None
    if image is not None and not isinstance(image, (str, os.PathLike)):
        image = as_image(image)
    from .gui.app import show_window

    return show_window(loaded, image)
