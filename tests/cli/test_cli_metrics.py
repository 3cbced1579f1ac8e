"""cnnscope render --cam METHOD --metrics / --box: the curves PNG, their numbers, the box scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnscope.cli import main

SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


def test_metrics_and_box_are_written_and_printed(tmp_path, capsys, monkeypatch):
    from cnnscope.core import faithfulness

    monkeypatch.setattr(faithfulness, "STEPS", 4)  # 20 passes instead of 92: the same code path
    out = tmp_path / "out"
    assert main(["render", "--image", str(SAMPLES / "shape_star.png"), "--out", str(out),
                 "--cam", "gradcam", "--metrics", "--box", "10,20,60,70"]) == 0
    printed = capsys.readouterr().out.splitlines()
    record = json.loads((out / "predictions.json").read_text())["attribution"]
    curves = record["faithfulness"]["curves"]
    assert list(curves) == ["Grad-CAM", "random map", "centre blob"]
    assert record["faithfulness"]["fractions"] == [0, 0.25, 0.5, 0.75, 1]
    for name, kinds in curves.items():
        for kind, curve in kinds.items():
            assert len(curve["scores"]) == 5
            assert curve["area"] == pytest.approx(np.trapezoid(curve["scores"], dx=0.25), abs=1e-4)
            assert sum(line.startswith(kind) and name in line for line in printed) == 1
    # deletion starts at the photo's probability, insertion ends there
    assert curves["Grad-CAM"]["deletion"]["scores"][0] == pytest.approx(record["probability"], abs=1e-5)
    assert curves["random map"]["insertion"]["scores"][-1] == pytest.approx(record["probability"], abs=1e-5)
    picture = out / f"cam_gradcam_{record['label']}_faithfulness.png"
    assert picture.name in record["files"] and np.asarray(Image.open(picture)).shape == (340, 900, 3)
    box = record["box"]
    assert box["box"] == [10, 20, 60, 70] and isinstance(box["pointing_game_hit"], bool)
    assert box["box_share_of_image"] == pytest.approx(50 * 50 / 96 ** 2)
    assert 0 <= box["share_inside"] <= 1
    assert any(line.startswith("box 10,20,60,70: Pointing game: a") for line in printed)


@pytest.mark.parametrize("args, code, message", [
    (["--cam", "gradcam", "--box", "10,10,5,50"], 1, "empty box"),
    (["--cam", "gradcam", "--box", "1,2,3"], 1, "not a box"),
    (["--cam", "gradcam", "--box", "0,0,97,50"], 1, "inside the 96 x 96 crop"),
    (["--metrics"], 2, "add --cam METHOD"),
    (["--cam", "all", "--box", "0,0,10,10"], 2, "add --cam METHOD"),
])
def test_bad_box_or_missing_method_is_one_line(tmp_path, capsys, args, code, message):
    out = tmp_path / "out"
    try:  # argparse's refusals exit; a box outside the crop is refused once the crop is known
        returned = main(["render", "--image", str(SAMPLES / "shape_star.png"), "--out", str(out), *args])
    except SystemExit as exc:
        returned = exc.code
    assert returned == code
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()  # refused before anything was written


def test_a_box_on_the_whole_images_padding_is_refused(tmp_path, capsys, wide_photo_file):
    """The 2:1 photo fills rows 24..72 of the demo's 96 px whole-image input: a box in the band
    above it scores nothing of the photo."""
    out = tmp_path / "out"
    assert main(["render", "--image", wide_photo_file, "--out", str(out), "--whole-image",
                 "--cam", "gradcam", "--box", "0,0,96,10"]) == 1
    err = capsys.readouterr().err.strip()
    assert "must lie on the photo, which fills x 0 to 96 and y 24 to 72" in err
    assert len(err.splitlines()) == 1 and not out.exists()
