"""The architecture summary against numbers worked out by hand, and the PDF handout."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from cnnscope.core.inspect import inspect
from cnnscope.core.summary import summarize
from cnnscope.core.weights import load_model


@pytest.fixture(scope="module")
def resnet18_summary():
    loaded = load_model("resnet18", "random")
    return summarize(loaded, inspect(loaded, np.zeros((224, 224, 3), np.uint8)))


def test_resnet18_numbers_by_hand(resnet18_summary):
    rows = {r.name: r for r in resnet18_summary.rows}
    # conv1: 7x7, 3 -> 64, stride 2, no bias: 7*7*3*64 weights; 112x112 outputs, each 7*7*3 mult-adds
    assert rows["conv1"].output_shape == (64, 112, 112)
    assert rows["conv1"].params == 7 * 7 * 3 * 64
    assert rows["conv1"].macs == 112 * 112 * 64 * (7 * 7 * 3)
    # layer1: two BasicBlocks of two 3x3 64 -> 64 convs (no bias) + two BatchNorms (64 + 64 each)
    assert rows["layer1"].params == 2 * (2 * 3 * 3 * 64 * 64 + 2 * 2 * 64)
    assert rows["layer1"].output_shape == (64, 56, 56)
    assert rows["fc"].params == 512 * 1000 + 1000 and rows["fc"].output_shape == (1000,)
    assert resnet18_summary.total_params == 11_689_512
    # receptive fields: conv1 sees 7 px; max-pool 3x3 on a grid 2 px apart adds (3-1)*2 = 4 -> 11,
    # and the jump becomes 4; layer1's four 3x3 convs add (3-1)*4 each -> 11 + 32 = 43
    assert rows["conv1"].receptive_field == 7
    assert rows["maxpool"].receptive_field == 11
    assert rows["layer1"].receptive_field == 43
    assert rows["fc"].receptive_field is None
    assert [side for side, _, _ in resnet18_summary.stages()] == [112, 56, 28, 14, 7]
    assert resnet18_summary.stages()[1] == (56, 64, "layer1")


def test_receptive_fields_follow_branches_and_grow(resnet18_summary):
    loaded = load_model("googlenet", "random")
    table = summarize(loaded, inspect(loaded, np.zeros((224, 224, 3), np.uint8)))
    rows = {r.name: r for r in table.rows}
    # an Inception module's field is its widest branch's: more than its 1x1 branch alone
    assert rows["inception3a"].receptive_field > rows["inception3a.branch1"].receptive_field
    chain = [rows[n].receptive_field for n in ("conv1", "maxpool1", "conv3", "inception3b",
                                                "inception4e", "inception5b")]
    assert chain == sorted(chain) and len(set(chain)) == len(chain)


def test_csv_has_every_layer_and_the_totals(resnet18_summary, tmp_path):
    path = resnet18_summary.write_csv(tmp_path / "r18.csv")
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["layer", "type", "output shape", "parameters", "multiply-adds", "receptive field"]
    assert len(rows) == len(resnet18_summary.rows) + 2
    assert rows[1][:4] == ["conv1", "Conv2d", "64x112x112", "9408"]
    assert rows[-1][0] == "total" and int(rows[-1][3]) == 11_689_512


def test_report_pdf_has_its_pages(tmp_path, capsys):
    from cnnscope.cli import main

    samples = Path(__file__).resolve().parents[2] / "sample_images"
    out = tmp_path / "handout.pdf"
    assert main(["report", "--image", str(samples / "shape_star.png"), "--out", str(out),
                 "--layers", "features.block2,features.block4.relu2"]) == 0
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", data)) == 1 + 2 + 1  # prediction, 2 layers, stages
    assert "2 of feature maps" in capsys.readouterr().out
    assert main(["report", "--image", str(samples / "shape_star.png"), "--out", str(out),
                 "--layers", "nope"]) == 1


def test_layer_count_is_one_definition_everywhere(capsys):
    """'Layers' is counted once, in core, as network names count them: convolutions and fully
    connected layers. Compare, the summary, its CLI line and the report all use it."""
    import torch
    import torch.nn as nn
    from torchvision.models import resnet18, vgg16

    from cnnscope.cli import main
    from cnnscope.core.compare import _sizes
    from cnnscope.core.layers import weight_layers

    with torch.device("meta"):  # only the layers are counted: no 138M weights to initialise (1 s)
        assert weight_layers(vgg16()) == 16  # 13 convolutions + 3 fully connected: the "16"
        assert weight_layers(resnet18()) == 21  # 17 + 3 shortcut convolutions + the fc
    assert weight_layers(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())) == 1
    loaded = load_model("resnet18", "random")
    table = summarize(loaded, inspect(loaded, np.zeros((224, 224, 3), np.uint8)))
    assert table.weight_layers == _sizes(loaded.module)[1] == 21
    assert main(["summary", "--model", "resnet18", "--depth", "0"]) == 0
    assert "21 weight layers" in capsys.readouterr().out


def test_each_output_position_maps_to_its_patch_of_the_photo(demo_model):
    """Worked by hand for the demo: block1's 7x7 conv (stride 2, padding 3) centres output y at
    input row 2y and sees rows 2y-3 .. 2y+3; its 2x2 pool covers conv rows 2y, 2y+1, so input rows
    4y-3 .. 4y+5; block2's 3x3 conv (padding 1) at jump 4 adds a pool cell on each side."""
    from cnnscope.core.images import open_image
    from cnnscope.core.inspect import inspect
    from cnnscope.core.resources import sample_images
    from cnnscope.core.summary import field_geometry

    photo = open_image(next(p for p in sample_images() if p.name == "shape_star.png"))
    geometry = field_geometry(demo_model, inspect(demo_model, photo))
    conv = geometry["features.block1.conv"]
    assert (conv.size, conv.jump) == (7, 2)
    assert conv.box(10, 5, 96) == (17, 7, 23, 13)
    assert conv.box(0, 0, 96) == (0, 0, 3, 3)  # clipped at the border
    pool = geometry["features.block1.pool"]
    assert (pool.size, pool.jump) == (9, 4) and pool.box(3, 3, 96) == (9, 9, 17, 17)
    block2 = geometry["features.block2.conv"]
    assert (block2.size, block2.jump) == (17, 4) and block2.box(3, 3, 96) == (5, 5, 21, 21)


def test_a_one_by_seven_convolution_widens_only_the_columns(inception_random):
    """Inception v3's Mixed_6b.branch7x7_2 is a 1x7 conv: its field is wider than tall. The box
    is checked against the pixels that really move the output (its gradient, random weights)."""

    from cnnscope.core.inspect import inspect
    from cnnscope.core.summary import field_geometry
    inception = inception_random
    photo = np.random.default_rng(0).integers(0, 256, (299, 299, 3), dtype=np.uint8)
    result = inspect(inception, photo)
    layer = "Mixed_6b.branch7x7_2"
    box = field_geometry(inception, result)[layer].box(8, 8, 299)
    x = result.input_tensor.clone().requires_grad_(True)
    kept = {}
    handle = inception.module.get_submodule(layer).register_forward_hook(
        lambda _m, _i, output: kept.setdefault("output", output))
    try:
        inception.module(x)
    finally:
        handle.remove()
    kept["output"][0, :, 8, 8].sum().backward()
    rows, cols = np.nonzero(x.grad[0].abs().sum(0).numpy())
    assert box == (rows.min(), cols.min(), rows.max(), cols.max())
    assert box[3] - box[1] > box[2] - box[0]  # wider than tall


def test_after_a_squeeze_and_excitation_block_every_output_sees_the_whole_image():
    """An SE block multiplies each map by a summary of the whole image: from there on, any
    output's field is the whole photo, wherever it sits (it was a box that slid off the image)."""
    from cnnscope.core.inspect import inspect
    from cnnscope.core.summary import field_geometry, receptive_fields
    from cnnscope.core.weights import load_model

    model = load_model("efficientnet_b0", "random")
    result = inspect(model, np.zeros((224, 224, 3), np.uint8))
    fields = field_geometry(model, result)
    before, after = fields["features.1.0.block.0"], fields["features.1.0.block.2"]  # SE is block.1
    assert not before.whole and before.box(28, 28, 224) == (53, 53, 59, 59)  # 7 px, stride 2, by hand
    for y, x in ((0, 0), (28, 28), (111, 111)):
        assert after.box(y, x, 224) == (0, 0, 223, 223)
    assert receptive_fields(model, result)["features.1.0.block.2"] == 224
    assert receptive_fields(model, result)["features.1.0.block.0"] == 7
