"""``cnnscope sanity``: the grid as PNG and the correlation table; bad input is one sentence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnscope.cli import main

SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


def test_sanity_writes_the_grid_and_prints_the_correlations(tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["sanity", "--image", str(SAMPLES / "shape_star.png"), "--methods",
                 "gradcam,guided_backprop", "--steps", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    table = printed[printed.index(next(line for line in printed if line.startswith("randomised"))):]
    assert table[0].split() == ["randomised", "Grad-CAM", "Guided", "Backprop"]
    assert table[1].split() == ["original", "1.00", "1.00"]
    assert table[2].startswith("+ fc") and table[3].startswith("+ features.block1..block4")
    assert "'star'" in printed[0] and printed[-1].startswith(f"wrote {out}")
    picture = np.asarray(Image.open(out).convert("RGB"))
    # two rows of maps under three column titles, the photo at the left: wider than tall
    assert picture.shape[1] > picture.shape[0] > 300
    assert (picture < 250).any(axis=2).mean() > 0.1  # not a blank page


def test_a_bad_method_exits_1_with_one_sentence(tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["sanity", "--image", str(SAMPLES / "shape_star.png"), "--methods", "gradcam,nope",
                 "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Unknown attribution method 'nope'" in err[0] and "Traceback" not in err[0]
    assert not out.exists()
    with pytest.raises(SystemExit) as exit_:  # a value out of range: exit 1 at parse time
        main(["sanity", "--image", str(SAMPLES / "shape_star.png"), "--steps", "0", "--out", str(out)])
    assert exit_.value.code == 1 and "--steps: must be from 1 to 24" in capsys.readouterr().err


def test_an_out_path_that_is_a_named_pipe_is_refused_before_any_work(tmp_path, capsys):
    """A FIFO no one reads (or a folder) named as --out: one sentence at once, not minutes of
    randomisation followed by Pillow's 'File or stream is not seekable'."""
    import os

    fifo = tmp_path / "grid.png"
    os.mkfifo(fifo)
    assert main(["sanity", "--image", str(SAMPLES / "shape_star.png"), "--out", str(fifo)]) == 1
    err = capsys.readouterr().err
    assert "named pipe (FIFO), not a regular file" in err and "maps" not in err  # no progress: nothing ran
