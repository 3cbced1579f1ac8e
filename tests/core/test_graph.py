"""The architecture graph: real topology (shortcuts, branches), shapes, blocks, layout, files."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

import pytest
from torch import nn

from cnnscope.core.errors import OptionError
from cnnscope.core.graph import build_graph
from cnnscope.core.graph_layout import lay_out
from cnnscope.core.graph_svg import drawing_to_svg, write_drawing
from cnnscope.core.weights import LoadedModel, load_model


@pytest.fixture(scope="module")
def resnet18_graph():
    return build_graph(load_model("resnet18", "random"))


def _sources(graph, node_id):
    return {a for a, b in graph.edges if b == node_id}


def _by_layer(graph, layer, kind=None):
    found = [n for n in graph.nodes if n.layer == layer and (kind is None or n.kind == kind)]
    assert len(found) == 1, (layer, found)
    return found[0]


def test_resnet_sum_has_the_block_and_its_shortcut_as_inputs(resnet18_graph):
    g = resnet18_graph
    first_add = _by_layer(g, "layer1.0", "add")
    assert {g.node(i).layer for i in _sources(g, first_add.id)} == {"layer1.0.bn2", "maxpool"}
    down_add = _by_layer(g, "layer2.0", "add")  # the shortcut goes through the 1x1 downsampling conv
    assert {g.node(i).layer for i in _sources(g, down_add.id)} == {"layer2.0.bn2", "layer2.0.downsample.1"}
    assert _by_layer(g, "conv1").shape == (64, 112, 112) and _by_layer(g, "conv1").title == "Conv 7×7 /2"
    assert _by_layer(g, "fc").shape == (1000,) and _by_layer(g, "fc").title == "Linear 512→1000"
    assert _by_layer(g, "layer1.0.conv1").block == "layer1.0"


def test_a_click_selects_only_a_layer_whose_recorded_output_the_node_is(resnet18_graph):
    """The maps the window shows for a layer are its recorded output: a ResNet block's is the ReLU
    after the sum, so the sum (and the block's first call of that ReLU module) selects nothing."""
    g = resnet18_graph
    assert _by_layer(g, "layer1.0", "add").selects is None
    relus = [n for n in g.nodes if n.layer == "layer1.0.relu"]
    assert [r.selects for r in relus] == [None, "layer1.0.relu"]
    assert set(relus[1].outputs) == {"layer1.0", "layer1.0.relu"}  # the block's output too
    assert _by_layer(g, "conv1").selects == "conv1" and _by_layer(g, "fc").selects == "fc"


def test_collapsed_resnet_is_a_chain_of_blocks_with_their_output_shapes(resnet18_graph):
    c = resnet18_graph.collapsed()
    assert [n.kind for n in c.nodes].count("block") == 8
    ids = [n.id for n in c.nodes]
    assert c.edges == list(zip(ids, ids[1:]))  # collapsed, ResNet-18 is one straight line
    block = c.node("block:layer2.0")
    assert block.title == "BasicBlock" and block.layer == "layer2.0" and block.shape == (128, 28, 28)
    one = resnet18_graph.collapsed({"layer3.1"})  # collapse one block: the rest stays expanded
    assert [n.kind for n in one.nodes].count("block") == 1
    assert len(one.nodes) == len(resnet18_graph.nodes) - 7 + 1  # its 7 nodes became one


def test_inception_concatenation_gathers_four_parallel_branches(inception_random):
    g = build_graph(inception_random)
    concat = _by_layer(g, "Mixed_5b", "concat")
    branches = {g.node(i).layer for i in _sources(g, concat.id)}
    assert branches == {"Mixed_5b.branch1x1", "Mixed_5b.branch5x5_2", "Mixed_5b.branch3x3dbl_3",
                        "Mixed_5b.branch_pool"}
    assert concat.shape == (256, 35, 35) and concat.selects == "Mixed_5b"
    branch_pool = [n for n in g.nodes if n.layer == "Mixed_5b" and n.kind == "pool"]
    assert [(p.shape, p.selects) for p in branch_pool] == [((192, 35, 35), None)]  # not the concat's maps
    assert _by_layer(g, "Mixed_5b.branch1x1.conv").block == "Mixed_5b"


def test_mobilenet_inverted_residual_adds_its_input_back():
    g = build_graph(load_model("mobilenet_v2", "random"))
    adds = [n for n in g.nodes if n.kind == "add"]
    assert len(adds) == 10  # the stride-1 blocks whose channels stay the same
    first = adds[0]
    assert first.layer == "features.3"
    assert {g.node(i).layer for i in _sources(g, first.id)} == {"features.3.conv.3", "features.2.conv.3"}
    assert "depthwise" in _by_layer(g, "features.3.conv.1.0").title


def test_untraceable_model_is_drawn_as_a_chain_and_says_so(demo_model):
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 6)  # declared first, runs last
            self.conv = nn.Conv2d(3, 4, 3)
            self.aux = nn.Linear(4, 6)  # never runs in eval mode

        def forward(self, x):
            y = self.conv(x)
            if y.mean() > 0:  # data-dependent control flow: torch.fx cannot trace it
                y = -y
            if self.training:
                self.aux(y.mean((2, 3)))
            return self.fc(y.mean((2, 3)))

    loaded = LoadedModel(**{**demo_model.__dict__, "module": Branchy().eval(), "graph": None,
                            "graph_key": None})
    g = build_graph(loaded)
    assert not g.traced
    assert [n.layer for n in g.nodes] == [None, "conv", "fc"]  # in the order they run
    assert g.edges == [("input", "conv"), ("conv", "fc")]
    assert [n.shape for n in g.nodes] == [(3, 96, 96), (4, 94, 94), (6,)]


def test_a_transfer_runs_cut_backbone_keeps_its_blocks():
    """An early-features model holds the backbone as a traced GraphModule, which loses its
    modules' types and runs every F.relu and sum in its own code: the blocks are still the
    backbone's blocks, and each sum stays in its own block (not the whole backbone as one box,
    nor a sum pointing back into the block before)."""
    from cnnscope.core.training import cut_network

    cases = (("resnet18", "layer2", ["body.layer1.0", "body.layer1.1", "body.layer2.0", "body.layer2.1"]),
             ("mobilenet_v2", "features.6", ["body.features.3", "body.features.5", "body.features.6"]))
    for name, cut, residual_blocks in cases:  # the blocks with a sum, by hand
        base = load_model(name, "random")
        net = cut_network(base.module, cut, base.spec.input_size, 3)
        g = build_graph(LoadedModel(**{**base.__dict__, "module": net, "graph": None, "graph_key": None}))
        assert "body" not in g.blocks and set(residual_blocks) <= set(g.blocks)
        assert [n.block for n in g.nodes if n.kind == "add"] == residual_blocks
        c = g.collapsed()
        ids = [n.id for n in c.nodes]
        assert all(ids.index(a) < ids.index(b) for a, b in c.edges), name  # no edge runs backwards


def test_layout_goes_top_down_without_overlaps(resnet18_graph):
    d = lay_out(resnet18_graph)
    boxes = {p.node.id: p for p in d.nodes}
    assert len(boxes) == len(resnet18_graph.nodes)
    for edge in d.edges:
        src, dst = boxes[edge.source], boxes[edge.target]
        assert dst.y > src.y + src.h  # inputs above
        assert edge.points[0] == pytest.approx((src.x + src.w / 2, src.y + src.h))
        assert edge.points[-1] == pytest.approx((dst.x + dst.w / 2, dst.y))
    placed = list(boxes.values())
    for i, a in enumerate(placed):
        for b in placed[i + 1:]:
            apart = a.x + a.w <= b.x or b.x + b.w <= a.x or a.y + a.h <= b.y or b.y + b.h <= a.y
            assert apart, (a.node.id, b.node.id)
    shortcut = d.edges[[(e.source, e.target) for e in d.edges].index(
        (_by_layer(resnet18_graph, "maxpool").id, _by_layer(resnet18_graph, "layer1.0", "add").id))]
    assert len(shortcut.points) > 2  # a long edge bends around the block instead of crossing it
    probe = boxes[_by_layer(resnet18_graph, "fc").id]
    assert d.node_at(probe.x + 3, probe.y + 3) is probe and d.node_at(-5, -5) is None


def test_svg_names_every_node_and_layer_and_png_is_written(tmp_path, resnet18_graph):
    drawing = lay_out(resnet18_graph.collapsed())
    root = ET.fromstring(drawing_to_svg(drawing))
    groups = {g.get("id"): g.get("data-layer") for g in root.iter("{http://www.w3.org/2000/svg}g")
              if g.get("id")}
    assert groups["block:layer4.1"] == "layer4.1" and groups["fc"] == "fc"
    assert len(groups) == len(drawing.nodes)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "BasicBlock" in texts and "512 × 7 × 7" in texts and "block (collapsed)" in texts
    png = write_drawing(drawing, tmp_path / "g.png")
    from PIL import Image

    with Image.open(png) as image:
        assert image.width == pytest.approx(drawing.width, abs=2) and image.height > drawing.height
    with pytest.raises(OptionError, match=r"\.svg or \.png"):
        write_drawing(drawing, tmp_path / "g.pdf")


def test_a_replaced_head_shows_in_the_graph(demo_model):
    """The graph follows the module the user has now (a transfer run's new head), not a cached one."""
    module = copy.deepcopy(demo_model.module)
    module.fc = nn.Linear(module.fc.in_features, 3)
    loaded = LoadedModel(**{**demo_model.__dict__, "module": module, "graph": None, "graph_key": None})
    assert _by_layer(build_graph(loaded), "fc").shape == (3,)


def test_a_graph_is_never_written_into_a_named_pipe(tmp_path, resnet18_graph):
    """Opening a FIFO for writing blocks until someone reads it: the command hung."""
    import os

    pipe = tmp_path / "graph.svg"
    os.mkfifo(pipe)
    with pytest.raises(OptionError, match="not a regular file"):
        write_drawing(lay_out(resnet18_graph.collapsed()), pipe)
