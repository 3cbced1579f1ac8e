"""The session: one signal per field, fired on a change only."""

from __future__ import annotations

import numpy as np

from cnnscope.gui.services.base import ImageSource
from cnnscope.gui.session import Session


def test_each_field_signals_its_changes_and_only_its_changes(qtbot):
    session = Session(layer="features.0")
    seen: list[tuple[str, object]] = []
    for field in ("image", "model", "inspection", "layer", "channel", "explained_class"):
        getattr(session, f"{field}_changed").connect(lambda value, f=field: seen.append((f, value)))
    session.layer = "features.0"  # the same value: nothing fires
    session.channel = 3
    session.channel = 3
    session.image = ImageSource(path="a.png")
    session.image = ImageSource(path="a.png")  # an equal frozen value: nothing fires
    model = type("Loaded", (), {"name": "demo_shapes"})()
    session.model = model
    result = type("Result", (), {"input_rgb": np.zeros((2, 2, 3), np.uint8)})()
    session.inspection = result
    session.inspection = result  # the same result object
    session.explained_class = "star"
    session.layer = "features.1"
    assert seen == [("channel", 3), ("image", ImageSource(path="a.png")), ("model", model), ("inspection", result),
                    ("explained_class", "star"), ("layer", "features.1")]
    assert session.layer == "features.1" and session.channel == 3 and session.grid is None


def test_an_image_is_the_same_image_whatever_name_it_is_shown_under():
    """The start image and the same sample clicked in the strip are one image (a second
    comparison of it ran before)."""
    assert ImageSource(path="a.png", name="/full/a.png") == ImageSource(path="a.png", name="a.png")
    assert ImageSource(path="a.png") != ImageSource(path="b.png")
