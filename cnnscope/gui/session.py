"""What the user is looking at, in one place: the evented model every part of the window shares.

Each field has a signal that fires when the field changes (not when it is set to the same value), so
a view listens to the fields it shows instead of reading another part's private state. The session
knows no widgets and holds only plain data from the engine (no tensors).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import QObject, Signal


def _field(name: str, doc: str) -> property:
    """A session field: reading returns it, writing sets it and signals a change."""
    return property(lambda self: self._values[name], lambda self, value: self._set(name, value),
                    doc=doc)


class Session(QObject):
    """The image, model, inspection, layer, channel and explained class the views show."""

    image_changed = Signal(object)  # services.base.ImageSource of the inspection shown
    model_changed = Signal(object)  # services.model.ModelLoaded (name, weights, labels...)
    inspection_changed = Signal(object)  # services.model.InspectionResult
    layer_changed = Signal(object)  # str: the selected layer's full name
    channel_changed = Signal(object)  # int: the clicked channel of that layer, or None
    explained_class_changed = Signal(object)  # str: the class the heatmaps explain (or are asked to)
    grid_changed = Signal(object)  # services.maps.GridResult: the feature grid on screen
    heatmap_changed = Signal(object)  # services.attribution.AttributionResult on screen
    live_predictions_changed = Signal(object)  # a live frame's top-5 while live input runs, or None
    position_changed = Signal(object)  # services.arithmetic.MapPosition: a clicked map value, or None
    field_box_changed = Signal(object)  # services.arithmetic.FieldBox: the patch it sees, or None
    arithmetic_changed = Signal(object)  # services.arithmetic.PositionExplained on screen, or None
    scan_changed = Signal(object)  # services.dataset.ScanInfo: the dataset scan open, or None

    def __init__(self, layer: str | None = None) -> None:
        super().__init__()
        self._values: dict[str, Any] = {"image": None, "model": None, "inspection": None,
                                        "layer": layer, "channel": None, "explained_class": None,
                                        "grid": None, "heatmap": None, "live_predictions": None,
                                        "position": None, "field_box": None, "arithmetic": None,
                                        "scan": None}

    def _set(self, field: str, value: Any) -> None:
        current = self._values[field]
        # plain values and frozen dataclasses compare by value; results (which hold arrays) by
        # identity: a new model or inspection is news even when it equals the last one
        by_value = isinstance(value, (str, int, float)) or (
            dataclasses.is_dataclass(value) and value.__dataclass_params__.frozen)
        same = current is value or (by_value and type(current) is type(value) and current == value)
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
    grid = _field("grid", "The feature grid on screen (presentation mode mirrors it).")
    heatmap = _field("heatmap", "The heatmap on screen (presentation mode mirrors it).")
    live_predictions = _field("live_predictions", "The live frame's top-5 while live input runs.")
    position = _field("position", "The clicked value of a feature map (layer, channel, row, column).")
    field_box = _field("field_box", "The patch of the photo the clicked value sees, outlined on it.")
    arithmetic = _field("arithmetic", "How the clicked value was computed, as the Arithmetic tab shows it.")
    scan = _field("scan", "The dataset scan open (its top images per unit and its map), or None.")
