"""What the user is looking at, in one place: the evented model every part of the window shares.

Each field has a signal that fires when the field changes (not when it is set to the same value), so
a view listens to the fields it shows instead of reading another part's private state. The session
knows no widgets and holds only plain data from the engine (no tensors).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal


def _field(name: str, doc: str) -> property:
    """A session field: reading returns it, writing sets it and signals a change."""
    return property(lambda self: self._values[name], lambda self, value: self._set(name, value),
                    doc=doc)


class Session(QObject):
    """The image, model, inspection, layer, channel and explained class the views show."""

    image_changed = Signal(object)  # dict: {"path": ...} or {"data": ..., "name": ...}, or None
    model_changed = Signal(object)  # dict from Engine.model_loaded (name, weights, labels...)
    inspection_changed = Signal(object)  # engine.InspectionResult
    layer_changed = Signal(object)  # str: the selected layer's full name
    channel_changed = Signal(object)  # int: the clicked channel of that layer, or None
    explained_class_changed = Signal(object)  # str: the class the heatmaps explain

    def __init__(self, layer: str | None = None) -> None:
        super().__init__()
        self._values: dict[str, Any] = {"image": None, "model": None, "inspection": None,
                                        "layer": layer, "channel": None, "explained_class": None}

    def _set(self, field: str, value: Any) -> None:
        current = self._values[field]
        # plain values compare by value; results (which hold arrays) by identity
        same = current is value or (isinstance(value, (str, int, float, dict))
                                    and type(current) is type(value) and current == value)
        if same:
            return
        self._values[field] = value
        getattr(self, f"{field}_changed").emit(value)

    image = _field("image", "The image the views show (what was inspected last).")
    model = _field("model", "The model the views show; None until one loads.")
    inspection = _field("inspection", "The latest inspection of the image by the model.")
    layer = _field("layer", "The selected layer.")
    channel = _field("channel", "The clicked channel of the selected layer, or None.")
    explained_class = _field("explained_class", "The class the heatmaps explain.")
