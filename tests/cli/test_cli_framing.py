"""cnnscope render --whole-image: the whole photo instead of the centre crop, and where the crop lies."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from cnnscope.cli import main


def _red(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0] > 200) & (rgb[..., 1] < 60) & (rgb[..., 2] < 60)


def test_render_whole_image_and_the_crop_in_the_photo(tmp_path, wide_photo_file):
    image = wide_photo_file
    assert main(["render", "--image", image, "--out", str(tmp_path / "crop")]) == 0
    record = json.loads((tmp_path / "crop" / "predictions.json").read_text())["framing"]
    assert record == {"mode": "crop", "box_in_photo": [100, 0, 200, 200], "photo_in_input": [0, 0, 96, 96]}
    assert not _red(np.asarray(Image.open(tmp_path / "crop" / "input.png"))).any()
    shown = np.asarray(Image.open(tmp_path / "crop" / "crop_in_photo.png"))
    assert shown.shape == (200, 400, 3) and (shown[:, 100:300] == 255).all() and (shown[:, 300:] < 100).all()

    assert main(["render", "--image", image, "--out", str(tmp_path / "whole"), "--whole-image"]) == 0
    record = json.loads((tmp_path / "whole" / "predictions.json").read_text())["framing"]
    assert record == {"mode": "whole", "box_in_photo": [0, 0, 400, 200], "photo_in_input": [0, 24, 96, 48]}
    seen = np.asarray(Image.open(tmp_path / "whole" / "input.png"))
    assert _red(seen[44:52, 4:12]).all() and (seen[:24] == 128).all()  # padded with the mean, 0.5
    assert not (tmp_path / "whole" / "crop_in_photo.png").exists()

