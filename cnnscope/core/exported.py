"""A ``torch.export`` program (``.pt2``) as a model cnnscope can look inside.

A ``.pt2`` is read as data: its graph (ATen operations) and its tensors. torch's own reader is not
safe on a crafted file, so the archive is checked first, from the very bytes torch then reads and
with torch's own zip reader: every record must be one a plain program has (a compiled
AOTInductor library, which torch would load and run, and pickled or custom-class objects are
refused), and every text in the program's JSON that torch turns into code is checked against
what torch.export writes: shape expressions (sympy evaluates them with Python's builtins in
reach), shape guards (exec'd by ``ExportedProgram.module()``), node, tensor and module names
(written into the Python source FX generates and runs), operator names (looked up by getattr from
``torch``: only ATen operations are allowed, less those that reach files or raw memory) and pytree
specs (whose JSON can name a module to import). Anything else is refused in one sentence; the
tests craft a program for each way in and check torch's plain reader runs it and this one does
not. While torch reads, ``torch.load`` is forced to weights-only and ``pickle`` refuses, as a
second line. What remains is torch's ATen kernels running the graph's operations on its tensors.

``torch.export.unflatten`` gives back the module tree, but every module becomes an
``InterpreterModule`` running its piece of the graph, so the filters, the arithmetic and the
explanations would find no convolution. A module whose graph is one known operation (a
convolution, a linear layer, a batch norm, an activation, a pooling) is rebuilt as that ``nn``
module with the program's own tensors; a test checks the outputs stay equal.
"""

from __future__ import annotations

import io
import operator
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

from .errors import WeightsError
from .exported_check import Refused, check_ident, check_program
from .files import FileRefused, check_regular, read_bounded

_LOADING = threading.Lock()  # the guards patch torch for the whole process while they hold


class _NoPickle:
    """Stands in for the ``pickle`` module inside torch's archive reader while a program loads."""

    @staticmethod
    def loads(*_args, **_kwargs):
        raise WeightsError("it holds a pickled Python object (possibly code), which cnnscope never "
                           "loads.")

    load = loads

    def __getattr__(self, name):
        import pickle

        return getattr(pickle, name)


@contextmanager
def _tensors_only() -> Iterator[None]:
    from torch.export.pt2_archive import _package

    original_load, original_pickle = torch.load, _package.pickle

    def load(*args, **kwargs):
        kwargs["weights_only"] = True  # torch.export would retry with False: never here
        return original_load(*args, **kwargs)

    with _LOADING:
        torch.load, _package.pickle = load, _NoPickle()
        try:
            yield
        finally:
            torch.load, _package.pickle = original_load, original_pickle


# --- The archive checked before torch reads it ---------------------------------------------------
# Every string of the program's JSON that torch's reader turns into code or looks up by name is
# checked here against what torch.export writes: shape expressions (sympy evaluates them with
# Python's builtins in reach), shape guards (exec'd by ``ExportedProgram.module()``), node and
# argument names (written into the Python source FX generates and execs), operator names
# (resolved by getattr from ``torch``), pytree specs (their JSON can name a module to import) and
# the archive's records (a compiled AOTInductor library is dlopen'ed; custom objects unpickled).
# A string with no rule below is refused: a field a newer torch adds is refused until reviewed.


def load_exported(path: Path, max_bytes: int) -> tuple[nn.Module, int | None]:
    """The program at ``path`` as a module tree with real ``nn`` layers where it can, and the side
    of its example input (None when it has none)."""
    from torch.export.pt2_archive._package import load_pt2

    from .weights import _check_archive

    try:
        size = check_regular(path)
    except FileRefused as exc:
        raise WeightsError(str(exc)) from None
    _check_archive(path, size, max_bytes)
    try:
        # read once: what was checked is what torch reads (the file may change meanwhile)
        data = read_bounded(path, max_bytes, what="model")
    except FileRefused as exc:
        raise WeightsError(str(exc)) from None
    try:
        check_program(data)
        with _tensors_only():
            # load_pt2 is torch.export.load without its fallback to the pre-2.8 format
            program = load_pt2(io.BytesIO(data)).exported_programs["model"]
        kwargs = program.example_inputs[1] if program.example_inputs else {}
        for key in kwargs:  # ExportedProgram.module() (never called here) writes them into code
            check_ident(key)
    except (WeightsError, Refused) as exc:
        raise WeightsError(f"'{path.name}' was refused: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign archive fails in many ways
        raise WeightsError(f"'{path.name}' is not a torch.export program cnnscope can read "
                           f"({type(exc).__name__}: {str(exc)[:200]}).") from None
    side = None
    try:
        example = program.example_inputs[0][0] if program.example_inputs else None
        if isinstance(example, torch.Tensor) and example.dim() == 4:
            side = int(example.shape[-1])
    except (AttributeError, IndexError, TypeError):
        side = None
    module = torch.export.unflatten(program)
    # Exported for one example shape, the program refuses any other batch size; cnnscope's batched
    # methods (Score-CAM, occlusion) need more, and the rebuilt layers take any. Where an
    # operation really is fixed to the example's shape, the probe or the method says so.
    module.check_input_constraints = False
    rebuild_layers(module)
    return module, side


def rebuild_layers(root: nn.Module) -> int:
    """Replace each leaf whose graph is one known operation by that ``nn`` layer (same tensors);
    the number replaced."""
    replaced = 0
    for name, module in list(root.named_modules()):
        if not name or any(True for _ in module.children()) or not hasattr(module, "graph"):
            continue
        layer = _as_layer(module)
        if layer is not None:
            parent, _, child = name.rpartition(".")
            setattr(root.get_submodule(parent) if parent else root, child, layer)
            replaced += 1
    return replaced


def _as_layer(module) -> nn.Module | None:
    calls = [n for n in module.graph.nodes if n.op == "call_function" and n.target is not operator.getitem]
    if len(calls) != 1:
        return None
    call = calls[0]
    op = str(call.target).split(".")[1] if str(call.target).startswith("aten.") else ""
    args = list(call.args)

    def tensor(i):
        if i >= len(args) or args[i] is None:
            return None
        node = args[i]
        return getattr(module, node.target) if getattr(node, "op", None) == "get_attr" else None

    def arg(i, default):
        return args[i] if i < len(args) else default

    if op == "conv2d":
        weight, bias = tensor(1), tensor(2)
        if weight is None:
            return None
        stride, padding, dilation, groups = arg(3, [1, 1]), arg(4, [0, 0]), arg(5, [1, 1]), arg(6, 1)
        if isinstance(padding, str):
            return None
        layer = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]),
                          tuple(stride), tuple(padding), tuple(dilation), groups, bias is not None)
        return _with(layer, weight=weight, bias=bias)
    if op == "linear":
        weight, bias = tensor(1), tensor(2)
        if weight is None:
            return None
        return _with(nn.Linear(weight.shape[1], weight.shape[0], bias is not None), weight=weight, bias=bias)
    if op in ("_native_batch_norm_legit_no_training", "batch_norm"):
        weight, bias, mean, var = tensor(1), tensor(2), tensor(3), tensor(4)
        if mean is None or var is None:
            return None
        eps = args[6] if op == "_native_batch_norm_legit_no_training" else args[7]
        layer = nn.BatchNorm2d(mean.shape[0], eps=float(eps), affine=weight is not None)
        return _with(layer.eval(), weight=weight, bias=bias, running_mean=mean, running_var=var)
    simple = {"relu": nn.ReLU, "relu_": nn.ReLU, "silu": nn.SiLU, "silu_": nn.SiLU, "sigmoid": nn.Sigmoid,
              "gelu": nn.GELU, "hardswish": nn.Hardswish, "hardswish_": nn.Hardswish, "tanh": nn.Tanh}
    if op in simple:
        return simple[op]()
    if op in ("hardtanh", "hardtanh_") and list(args[1:3]) == [0.0, 6.0]:
        return nn.ReLU6()
    if op == "max_pool2d":
        kernel = args[1]
        return nn.MaxPool2d(tuple(kernel), tuple(arg(2, []) or kernel), tuple(arg(3, [0, 0])),
                            tuple(arg(4, [1, 1])), ceil_mode=bool(arg(5, False)))
    if op == "avg_pool2d":
        kernel = args[1]
        return nn.AvgPool2d(tuple(kernel), tuple(arg(2, []) or kernel), tuple(arg(3, [0, 0])),
                            ceil_mode=bool(arg(4, False)), count_include_pad=bool(arg(5, True)))
    if op == "adaptive_avg_pool2d":
        return nn.AdaptiveAvgPool2d(tuple(args[1]))
    return None


def _with(layer: nn.Module, **tensors) -> nn.Module:
    """``layer`` holding the program's tensors (None: the layer has no such tensor)."""
    for key, value in tensors.items():
        if value is None:
            continue
        if isinstance(getattr(layer, key, None), nn.Parameter):
            setattr(layer, key, nn.Parameter(value.detach().clone()))
        else:
            setattr(layer, key, value.detach().clone())
    return layer
