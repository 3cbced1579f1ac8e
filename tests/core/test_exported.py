"""torch.export programs (.pt2): read as data, with real layers where the graph allows."""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

from cnnscope.core.errors import WeightsError
from cnnscope.core.inspect import inspect
from cnnscope.core.weights import load_model


class SmallNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6),
                                      nn.ReLU6(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3, stride=2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(torch.relu(self.features(x))), 1))


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    torch.manual_seed(0)
    net = SmallNet().eval()
    with torch.no_grad():
        net.features[1].running_mean.uniform_(-1, 1)
        net.features[1].running_var.uniform_(0.5, 2)
    path = tmp_path_factory.mktemp("pt2") / "small.pt2"
    torch.export.save(torch.export.export(net, (torch.zeros(1, 3, 40, 40),)), str(path))
    return net, path


def test_a_program_loads_with_real_layers_and_the_same_outputs(program):
    net, path = program
    loaded = load_model(str(path), "pretrained")
    types = {name: type(m).__name__ for name, m in loaded.module.named_modules()}
    assert [types[f"features.{i}"] for i in range(5)] == ["Conv2d", "BatchNorm2d", "ReLU6", "MaxPool2d", "Conv2d"]
    assert types["fc"] == "Linear" and loaded.spec.input_size == 40  # the size it was exported at
    layer = loaded.module.get_submodule
    assert layer("features.4").stride == (2, 2) and layer("features.0").bias is None
    x = torch.randn(2, 3, 40, 40)
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x), net(x))
    photo = np.random.default_rng(0).integers(0, 256, (50, 60, 3), dtype=np.uint8)
    result = inspect(loaded, photo)
    with torch.no_grad():
        expected = net.features[:2](result.input_tensor.cpu())[0].numpy()  # the original's own layers
    np.testing.assert_allclose(result.activation("features.1"), expected, rtol=1e-5, atol=1e-5)
    assert loaded.spec.cam_layer == "features.4"


def test_a_program_carrying_a_pickled_object_is_refused_and_runs_nothing(program, tmp_path):
    _net, path = program
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    hostile = tmp_path / "hostile.pt2"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(hostile, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if "/data/weights/" in info.filename and not info.filename.endswith(".json"):
                data = pickle.dumps(Payload())  # torch.export's reader would unpickle this
            target.writestr(info, data)
    with pytest.raises(WeightsError, match="hostile.pt2"):
        load_model(str(hostile), "pretrained")
    assert not marker.exists()
    assert torch.load is torch.serialization.load  # the guard put torch back
