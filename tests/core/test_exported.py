"""torch.export programs (.pt2): read as data, with real layers where the graph allows."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnscope.core.errors import WeightsError
from cnnscope.core.exported import load_exported
from cnnscope.core.exported_check import Refused, _check_expr, _check_guard
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


# --- Programs crafted to run code through torch's reader -----------------------------------------

class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(torch.relu(self.conv(x)), 1), 1))


@pytest.fixture(scope="module")
def dynamic(tmp_path_factory):
    """A program exported with a dynamic batch: its JSON holds sympy shape expressions."""
    torch.manual_seed(0)
    net = TinyNet().eval()
    path = tmp_path_factory.mktemp("dynamic") / "tiny.pt2"
    program = torch.export.export(net, (torch.zeros(2, 3, 8, 8),),
                                  dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
    torch.export.save(program, str(path))
    return net, path


def _craft(source, target, edit=None, records=None, configs=None):
    """``source`` rewritten as ``target``: ``edit`` changes the program's JSON, ``records`` adds
    files, ``configs`` changes the weight / constant configs (name -> function)."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as out:
        root = src.infolist()[0].filename.split("/")[0]
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("models/model.json") and edit is not None:
                program = json.loads(data)
                edit(program)
                data = json.dumps(program).encode()
            for name, change in (configs or {}).items():
                if info.filename.endswith(name):
                    config = json.loads(data)
                    change(config)
                    data = json.dumps(config).encode()
            out.writestr(info, data)
        for name, data in (records or {}).items():
            out.writestr(f"{root}/{name}", data)
    return target


def _values(program):
    return program["graph_module"]["graph"]["tensor_values"]


def _first_dynamic(program, skip=("x",)):
    """The first tensor (not ``skip``) whose batch size is a sympy expression."""
    return next(v for k, v in _values(program).items() if k not in skip and "as_expr" in v["sizes"][0])


def _set_expr(size_of, text):
    def edit(program):
        meta = _values(program)["x"] if size_of == "x" else _first_dynamic(program)
        meta["sizes"][0]["as_expr"]["expr_str"] = text
    return edit


def _stride_expr(text):
    def edit(program):
        _values(program)["p_fc_weight"]["strides"][0] = {"as_expr": {"expr_str": text,
                                                                     "hint": {"as_int": 4}}}
    return edit


def _renamed_input(new):
    def edit(program):  # every use of the input's name "x", as FX will write it into Python
        text = json.dumps(program).replace('"name": "x"', f'"name": {json.dumps(new)}')
        program.clear()
        program.update(json.loads(text.replace('"x":', f"{json.dumps(new)}:")))
    return edit


def _in_spec_context(context):
    def edit(program):
        signature = program["graph_module"]["module_call_graph"][0]["signature"]
        spec = json.loads(signature["in_spec"])
        spec[1]["children_spec"][1]["context"] = json.dumps(context)
        signature["in_spec"] = json.dumps(spec)
    return edit


def _guard(text):
    def edit(program):
        program["guards_code"] = [text]
    return edit


def _extra_node(target, text):
    def edit(program):
        program["verifiers"] = []
        program["graph_module"]["graph"]["nodes"].insert(0, {
            "target": target, "inputs": [{"name": "", "arg": {"as_string": text}, "kind": 1}],
            "outputs": [{"as_none": True}], "metadata": {}, "name": "extra"})
    return edit


def _custom_object(config):
    config["config"]["obj"] = {"path_name": "custom_obj_0", "is_param": False, "use_pickle": False,
                               "tensor_meta": None}


#: name -> (how to craft it from the marker's path, whether plain torch runs its code).
CRAFTED = {
    # sympify evaluates the text with Python's builtins in reach
    "builtin in a size expression": (lambda m: {"edit": _set_expr("x", f"open('{m}', 'w')")}, True),
    "import and attribute in a stride expression": (lambda m: {"edit": _stride_expr(
        f"getattr(__import__('pathlib'), 'Path')('{m}').touch()")}, True),
    "lambda in a size expression": (lambda m: {"edit": _set_expr(
        "node", f"(lambda: open('{m}', 'w'))()")}, True),
    "keyword expansion in a symbol": (lambda m: {"edit": _set_expr(
        "node", f"Symbol('s0', **{{'positive': open('{m}', 'w')}})")}, True),
    "unicode look-alike name": (lambda m: {"edit": _set_expr("x", f"ｏｐｅｎ('{m}', 'w')")}, False),
    # FX writes node names into the Python source it execs: here a default argument
    "node name": (lambda m: {"edit": _renamed_input(f"x=open('{m}', 'w')")}, True),
    # ExportedProgram.module() execs the guards
    "shape guard": (lambda m: {"edit": _guard(f"open('{m}', 'w') is not None")}, True),
    # the pytree reader imports the module a JSON object names (here one that prints, harmlessly)
    "pytree spec naming a module": (lambda m: {"edit": _in_spec_context(
        [{"__enum__": 1, "fqn": "this:x", "name": "y"}])}, True),
    # torch resolves any 'torch.…' name by getattr (its verifier then refuses a non-operator)
    "operator by name": (lambda m: {"edit": _extra_node("torch.os.system", f"touch {m}")}, False),
    "file-reading operation": (lambda m: {"edit": _extra_node("torch.ops.aten.from_file.default",
                                                              str(m))}, False),
    # a compiled AOTInductor library would be dlopen'ed; a custom object unpickled
    "compiled library": (lambda m: {"records": {"data/aotinductor/model/model.so": b"\x7fELF"}}, False),
    "custom class object": (lambda m: {"configs": {"model_constants_config.json": _custom_object},
                                       "records": {"data/constants/custom_obj_0": b"x"}}, False),
}


#: Whether to prove, in a separate process, that torch's plain reader runs each payload: worth
#: doing after a torch upgrade (a payload torch no longer runs would make its refusal test moot).
LIVE_PAYLOADS = os.environ.get("CNNSCOPE_LIVE_PAYLOADS") == "1"

PLAIN_LOAD = textwrap.dedent("""
    import sys, torch
    for path in sys.argv[1:]:
        try:
            torch.export.load(path).module()(torch.zeros(2, 3, 8, 8))
        except Exception:
            pass
""")


@pytest.fixture(scope="module")
def crafted(dynamic, tmp_path_factory):
    """Each crafted program for cnnscope to refuse; with LIVE_PAYLOADS, a second copy of each (its
    own marker) that torch's plain reader loads in a separate process, started now and awaited by
    the last test so that its start-up (importing torch, some 3 s) overlaps the other tests."""
    folder = tmp_path_factory.mktemp("crafted")
    made, live = {}, {}
    for i, (name, (recipe, runs)) in enumerate(CRAFTED.items()):
        marker = folder / f"ran_{i}"
        made[name] = (_craft(dynamic[1], folder / f"crafted_{i}.pt2", **recipe(marker)), marker)
        if runs and LIVE_PAYLOADS:
            marker = folder / f"plain_ran_{i}"
            live[name] = (_craft(dynamic[1], folder / f"plain_{i}.pt2", **recipe(marker)), marker)
    plain = None
    if live:
        plain = subprocess.Popen([sys.executable, "-c", PLAIN_LOAD, *(str(p) for p, _m in live.values())],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    yield made, live, plain
    if plain is not None:
        if plain.poll() is None:
            plain.kill()
        plain.communicate()


@pytest.mark.parametrize("name", list(CRAFTED))
def test_a_crafted_program_is_refused_before_torch_reads_it(crafted, name):
    path, marker = crafted[0][name]
    imported = "this" in sys.modules
    with pytest.raises(WeightsError, match=rf"^'{path.name}' was refused: ") as refused:
        load_model(str(path), "pretrained")
    message = str(refused.value)
    assert message.endswith(".") and message.count(". ") == 0 and len(message) < 300
    assert not marker.exists()
    assert ("this" in sys.modules) == imported
    assert torch.load is torch.serialization.load


class InceptionLike(nn.Module):
    """Parallel branches joined by a concat, and torch.nn.functional throughout."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.b1 = nn.Conv2d(8, 4, 1)
        self.b2 = nn.Sequential(nn.Conv2d(8, 4, 1), nn.Conv2d(4, 4, 3, padding=1))
        self.b3 = nn.Conv2d(8, 4, 1)
        self.fc = nn.Linear(12, 3)

    def forward(self, x):
        x = self.stem(x)
        x = torch.cat([self.b1(x), self.b2(x), self.b3(F.max_pool2d(x, 3, 1, 1))], 1)
        x = F.interpolate(F.silu(x), scale_factor=2, mode="bilinear", align_corners=False)
        x = F.avg_pool2d(x, 2) * torch.sigmoid(x.mean((2, 3), keepdim=True))
        return F.softmax(self.fc(F.gelu(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))), -1)


@pytest.mark.parametrize("shapes", ["static", "dynamic batch", "dynamic size"])
def test_an_inception_like_program_loads_with_the_same_outputs(tmp_path, shapes):
    torch.manual_seed(0)
    net = InceptionLike().eval()
    dims = {"static": None, "dynamic batch": {"x": {0: torch.export.Dim("batch")}},
            "dynamic size": {"x": {0: torch.export.Dim("batch"),
                                   2: 2 * torch.export.Dim("h", min=2, max=32),
                                   3: 2 * torch.export.Dim("w", min=2, max=32)}}}[shapes]
    path = tmp_path / "inception.pt2"
    torch.export.save(torch.export.export(net, (torch.randn(2, 3, 8, 8),), dynamic_shapes=dims),
                      str(path))
    loaded = load_model(str(path), "pretrained")
    assert type(loaded.module.get_submodule("b2.1")).__name__ == "Conv2d"
    x = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x), net(x))


def test_a_program_with_shape_guards_loads(tmp_path):
    class Guarded(nn.Module):
        def forward(self, x, y):
            return x[:, :4] + y if x.shape[0] > 2 else x[:, :4] - y

    batch = torch.export.Dim("b", min=3, max=64)
    program = torch.export.export(Guarded(), (torch.zeros(4, 8), torch.zeros(4, 4)),
                                  dynamic_shapes=({0: batch, 1: 2 * torch.export.Dim("h", min=2,
                                                                                     max=32)},
                                                  {0: batch}))
    assert program._guards_code  # torch writes guards here: they must pass the check
    path = tmp_path / "guarded.pt2"
    torch.export.save(program, str(path))
    module, side = load_exported(path, 1 << 24)  # two inputs: not an image model for load_model
    x, y = torch.randn(5, 8), torch.randn(5, 4)
    torch.testing.assert_close(module(x, y), x[:, :4] + y)
    assert side is None


def test_the_expression_grammar_is_what_torch_writes():
    for text in ["Symbol('s77', positive=True, integer=True)", "Integer(-3)", "Rational(1, 2)",
                 "Mul(Integer(3), Symbol('s0', positive=True, integer=True), Symbol('s53'))",
                 "FloorDiv(Add(Symbol('s0'), Integer(-1)), Integer(2))", "Float('0.5', precision=53)",
                 "Max(Integer(1), Symbol('u3', integer=True))", "Equality(Symbol('s0'), Integer(2))",
                 "Pow(Symbol('s0'), Integer(-1))", "-oo", "true", "2*s0 + 1", "s0 // 2 % 3", "s0**2"]:
        _check_expr(text)
    for text in ["__import__('os')", "Symbol('s0').name", "Integer(1)[0]", "Symbol('x y')",
                 "Integer('1')", "Symbol('s0', **{})", "eval('1')", "Pow(Integer(2), Integer(10**9))",
                 "PowByNatural(Symbol('s0'), Symbol('s1'))", "Integer(1) if 1 else 0", "[Integer(1)]",
                 "s0 # comment", "Symbol('s0')\nInteger(1)", "Integer(1); 1", "Function('f')(s0)"]:
        with pytest.raises(Refused):
            _check_expr(text)
    for text in ["L['x'].size()[1] != 4", "L['x'].size()[0] == L['y'].size()[0]",
                 "L['flat_args'][0].size()[0] <= 64 and 2 <= L['flat_args'][0].size()[0]",
                 "torch.sym_max(L['x'].size()[0], 2) == math.floor(L['x'].size()[1] / 2)"]:
        _check_guard(text)
    for text in ["L['x'].__class__", "L['x'].size()[0] == __import__('os')", "getattr(L, 'x')",
                 "L[\"x'\"].size()[0] == 1", "L['x'].size()[0] == 1 # x", "L['x'].numpy()",
                 "math.os", "(lambda: 1)()"]:
        with pytest.raises(Refused):
            _check_guard(text)


@pytest.mark.skipif(not LIVE_PAYLOADS, reason="CNNSCOPE_LIVE_PAYLOADS=1 proves each payload live "
                                              "in torch's plain reader (a fresh process: ~3 s)")
def test_plain_torch_runs_the_code_of_the_crafted_programs(crafted):
    """The payloads are live: torch's own reader, in the process the fixture started, runs each
    one (last in this file, so that the process had the other tests' time to start)."""
    _made, live, plain = crafted
    out, _ = plain.communicate(timeout=120)
    assert "Beautiful is better than ugly" in out  # `import this`, named by the pytree spec
    for name, (_path, marker) in live.items():
        assert name == "pytree spec naming a module" or marker.exists(), name
