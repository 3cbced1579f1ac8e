"""Trace a model once into a graph that returns every module's output, with no hooks at all.

Forward hooks put every module call on PyTorch's slow path; on a GPU, where a batch-of-one forward
is bound by Python and kernel launches, that made an inspection 1.4-1.6x a bare forward, while a
traced graph returning the same outputs runs at 1.02-1.09x (benchmarks/inspect.py).

Why torch.fx directly rather than torchvision's ``create_feature_extractor``: that tool always
treats ``torchvision.ops`` modules (Conv2dNormActivation, SqueezeExcitation) as opaque leaves, which
hides the convolution, norm and activation inside every MobileNet and EfficientNet block.

Tracing and threads: while torch.fx traces, it swaps ``nn.Module.__call__`` and ``__getattr__`` for
the whole process, so a model running on another thread (the trainer's, while the engine traces a
newly loaded model) would be traced by mistake and fail. Our tracer passes other threads' calls
straight through, and one lock keeps two traces from patching over each other. Every trace in
cnnscope goes through this tracer, the training cut included (:func:`trace_until`).
"""

from __future__ import annotations

import math
import operator
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torchvision
from torch import fx, nn

_OUT_OF_PLACE = {operator.iadd: operator.add, operator.isub: operator.sub,
                 operator.imul: operator.mul, operator.itruediv: operator.truediv}


_TRACING = threading.Lock()  # one trace at a time: each patches nn.Module for the whole process


class _ScopeTracer(fx.Tracer):
    """Records, on every node, the qualified name of the module whose forward created it."""

    def __init__(self) -> None:
        super().__init__(autowrap_modules=(math, torchvision.ops))
        self.module_path = ""
        self._thread: int | None = None

    def trace(self, root, concrete_args=None):
        """Trace ``root`` on this thread (see the module docstring on threads)."""
        with _TRACING:
            self._thread = threading.get_ident()
            try:
                return super().trace(root, concrete_args)
            finally:
                self._thread = None

    def getattr(self, attr, attr_val, parameter_proxy_cache):
        if threading.get_ident() != self._thread:
            return attr_val  # another thread's model reading its own attribute
        return super().getattr(attr, attr_val, parameter_proxy_cache)

    def call_module(self, m, forward, args, kwargs):
        if threading.get_ident() != self._thread:
            return forward(*args, **kwargs)  # another thread's model: run it, do not trace it
        outer, self.module_path = self.module_path, self.path_of_module(m)
        try:
            return super().call_module(m, forward, args, kwargs)
        finally:
            self.module_path = outer

    def create_node(self, *args, **kwargs):
        node = super().create_node(*args, **kwargs)
        node.meta["cnnscope_module"] = self.module_path
        return node


_through = threading.local()  # per thread: a pass whose gradients must reach the input


@contextmanager
def gradients_to_the_input() -> Iterator[None]:
    """Within the block, the traced graph's gradient boundary lets gradients through: the pass
    records history from the input itself (optimising an image needs it)."""
    _through.on = True
    try:
        yield
    finally:
        _through.on = False


def grad_boundary(x: torch.Tensor) -> torch.Tensor:
    """Graph node placed after one layer by :meth:`TracedModel.record_gradients_after`: from here on
    the pass records autograd history, starting from this layer's output as a leaf."""
    if torch.is_inference_mode_enabled() or getattr(_through, "on", False):
        return x  # no history can be recorded (inference mode), or it runs from the input already
    torch._C._set_grad_enabled(True)  # the caller's no_grad block restores the mode on exit
    return x.detach().requires_grad_(True)


class TracedModel(nn.Module):
    """The traced graph: ``forward(x)`` -> (logits, {module name: output}); shares parameters."""

    def __init__(self, graph_module: fx.GraphModule, names: list[str]) -> None:
        super().__init__()
        self.graph_module = graph_module
        self.names = names  # module names, in the order the graph returns their outputs
        returned = next(n for n in graph_module.graph.nodes if n.op == "output").args[0]
        logits = returned[0]
        while isinstance(logits, (tuple, list)):  # (logits, aux): the class scores come first
            logits = logits[0]
        self._logits_node = logits
        self._node_of = dict(zip(names, returned[1:]))  # module name -> the node of its output
        self._plans: dict[tuple[str, frozenset[str]], list[fx.Node]] = {}
        self._name_of: dict[fx.Node, str] | None = None
        self.grad_layer: str | None = None
        # Per output, the version counter it is born with: some kernels write their own output in
        # place while making it (adaptive pooling of a channels-last map, as in ConvNeXt), which
        # is no overwrite. Learned on the first pass that shows a bumped counter.
        self.versions_at_birth: dict[str, int] | None = None

    def learn_versions_at_birth(self, x: torch.Tensor) -> dict[str, int]:
        """Run the graph once node by node (slow; once per model) and note each output's version
        counter as it is made."""
        wanted = {node: name for name, node in self._node_of.items()}
        born: dict[str, int] = {}

        class Watch(fx.Interpreter):
            def run_node(self, n):
                out = super().run_node(n)
                if n in wanted and isinstance(out, torch.Tensor):
                    born[wanted[n]] = out._version
                return out

        with torch.no_grad():
            Watch(self.graph_module).run(x)
        self.versions_at_birth = born
        return born

    def recorded_nodes(self) -> dict[str, fx.Node]:
        """Per layer, the graph node whose value a pass returns as that layer's output (several
        layers may share one: a ResNet block and its last ReLU)."""
        return {name: node.args[0] if node.op == "call_function" and node.target is grad_boundary
                else node for name, node in self._node_of.items()}

    def record_gradients_after(self, layer: str) -> None:
        """Make every pass keep the autograd history from ``layer``'s output to the logits.

        Everything before the layer still runs without it. The gradient of any logit with respect
        to that layer (Grad-CAM at the default CAM layer) is then one backward through the short
        tail, with no second forward at all: for VGG's three big linear layers that halves it.
        """
        if layer not in self._node_of or self.grad_layer is not None:
            return
        graph = self.graph_module.graph
        node = self._node_of[layer]
        with graph.inserting_after(node):
            boundary = graph.call_function(grad_boundary, (node,))
        node.replace_all_uses_with(boundary, delete_user_cb=lambda user: user is not boundary)
        self._node_of = {n: boundary if v is node else v for n, v in self._node_of.items()}
        if self._logits_node is node:
            self._logits_node = boundary
        graph.lint()
        self.graph_module.recompile()
        self._plans.clear()
        self._name_of = None
        self.grad_layer = layer

    def forward(self, x):
        """Run the graph once."""
        logits, *outputs = self.graph_module(x)
        return logits, dict(zip(self.names, outputs))

    def logits_from(self, layer: str, value: torch.Tensor, known: dict[str, torch.Tensor],
                    x: torch.Tensor) -> torch.Tensor:
        """The logits recomputed from ``layer``'s output ``value`` (which may require grad).

        Only what lies between the layer and the logits runs again: any other value the tail needs
        (a ResNet shortcut from before the layer, say) is taken from ``known``, the outputs of an
        earlier full pass on input ``x``, or recomputed from them. For the last conv block of a
        GAP-linear network that is a pooling and one matrix product.
        """
        start = self._node_of[layer]
        env: dict[fx.Node, torch.Tensor] = {start: value}
        for name, tensor in known.items():
            node = self._node_of.get(name)
            if node is not None and node not in env:
                env[node] = tensor
        plan = self._plan(layer, frozenset(n for n in known if n in self._node_of))
        for node in plan:
            env[node] = self._run_node(node, env, x)
        return env[self._logits_node]

    def activation_input(self, layer: str, outputs: dict[str, torch.Tensor],
                         x: torch.Tensor) -> torch.Tensor | None:
        """What went into ``layer``'s final ReLU (a module, ReLU6 included, or ``F.relu`` as
        Inception's convolutions call it), from a pass's ``outputs`` on input ``x``; None when ``layer`` does not end in such an activation or its input cannot be had
        from the outputs (see :meth:`module_input`)."""
        node = self._node_of.get(layer)
        if node is not None and node.op == "call_function" and node.target is grad_boundary:
            node = node.args[0]
        if node is None:
            return None
        is_relu = (node.op == "call_function" and node.target in (torch.relu, nn.functional.relu)) or (
            node.op == "call_module" and isinstance(self.graph_module.get_submodule(node.target),
                                                    (nn.ReLU, nn.ReLU6)))
        return self._input_of(node, outputs, x) if is_relu else None

    def module_input(self, layer: str, outputs: dict[str, torch.Tensor],
                     x: torch.Tensor) -> torch.Tensor | None:
        """The tensor module ``layer`` was called with in the pass that gave ``outputs`` on input
        ``x``: the recorded output feeding it, the input itself, or the one op in between (a
        ResNet block's sum) run again on recorded values. None when ``layer`` is not a module
        called once in the graph, or its input cannot be had that way."""
        calls = [n for n in self.graph_module.graph.nodes if n.op == "call_module" and n.target == layer]
        return self._input_of(calls[0], outputs, x) if len(calls) == 1 else None

    def _input_of(self, node: fx.Node, outputs: dict[str, torch.Tensor],
                  x: torch.Tensor) -> torch.Tensor | None:
        if not node.args or not isinstance(node.args[0], fx.Node):
            return None
        source = node.args[0]
        if source.op == "call_function" and source.target is grad_boundary:
            source = source.args[0]
        if source.op == "placeholder":
            return x
        name_of = self._names_by_node()
        if name_of.get(source) in outputs:
            return outputs[name_of[source]]
        env: dict[fx.Node, torch.Tensor] = {}
        for arg in source.all_input_nodes:
            if arg.op == "placeholder":
                env[arg] = x
            elif name_of.get(arg) in outputs:
                env[arg] = outputs[name_of[arg]]
            else:
                return None
        return self._run_node(source, env, x)

    def _names_by_node(self) -> dict[fx.Node, str]:
        """Module name per output node (a gradient boundary's own input counts as the layer's),
        built once per graph: the optimisation asks for it every step."""
        if self._name_of is None:
            self._name_of = {v: k for k, v in self._node_of.items()}
            self._name_of.update({v.args[0]: k for k, v in self._node_of.items()
                                  if v.op == "call_function" and v.target is grad_boundary})
        return self._name_of

    def _plan(self, layer: str, known: frozenset[str]) -> list[fx.Node]:
        """Nodes to execute, in order, to get the logits from ``layer`` given ``known`` outputs."""
        key = (layer, known)
        if key not in self._plans:
            start = self._node_of[layer]
            downstream = {start}
            for node in self.graph_module.graph.nodes:  # topological order
                if any(arg in downstream for arg in node.all_input_nodes):
                    downstream.add(node)
            have = {self._node_of[name] for name in known}
            needed: set[fx.Node] = set()
            stack = [self._logits_node]
            while stack:
                node = stack.pop()
                if node is start or node in needed or (node in have and node not in downstream):
                    continue
                needed.add(node)
                stack.extend(node.all_input_nodes)
            self._plans[key] = [n for n in self.graph_module.graph.nodes if n in needed]
        return self._plans[key]

    def _run_node(self, node: fx.Node, env: dict, x: torch.Tensor):
        if node.op == "placeholder":
            return x
        args, kwargs = fx.node.map_arg((node.args, node.kwargs), env.__getitem__)
        if node.op == "get_attr":
            value = self.graph_module
            for part in node.target.split("."):
                value = getattr(value, part)
            return value
        if node.op == "call_module":
            return self.graph_module.get_submodule(node.target)(*args, **kwargs)
        if node.op == "call_function":
            if node.target is grad_boundary:  # a tail run keeps the gradient flowing through
                return args[0]
            return node.target(*args, **kwargs)
        if node.op == "call_method":
            return getattr(args[0], node.target)(*args[1:], **kwargs)
        raise RuntimeError(f"Unexpected graph node {node.op}")


def remove_in_place_ops(graph: fx.Graph) -> None:
    """Rewrite ``x += y``, ``x.relu_()``, ``F.relu(x, inplace=True)`` as out-of-place ops, so no
    value the graph returns is overwritten later in the same pass."""
    for node in graph.nodes:
        if node.op == "call_function" and node.target in _OUT_OF_PLACE:
            node.target = _OUT_OF_PLACE[node.target]
        elif node.op == "call_method" and node.target.endswith("_") and not node.target.endswith("__"):
            node.target = node.target[:-1]
        if node.kwargs.get("inplace") is True:
            node.kwargs = {**node.kwargs, "inplace": False}


def _trace_module_outputs(module: nn.Module) -> tuple[fx.Graph, dict[str, fx.Node]]:
    """``module``'s graph (traced in eval mode) and, per submodule name, the node of its output."""
    graph = _ScopeTracer().trace(module.eval())
    modules = {name for name, _ in module.named_modules() if name}
    last: dict[str, fx.Node] = {}
    for node in graph.nodes:  # execution order: a module's last node is its output
        scope = node.meta.get("cnnscope_module", "")
        while scope:
            if scope in modules:
                last[scope] = node
            scope = scope.rpartition(".")[0]
    return graph, last


def trace_every_output(module: nn.Module) -> TracedModel | None:
    """A traced twin of ``module`` (eval mode) returning every submodule's output, or None when the
    model cannot be traced symbolically (the caller then uses hooks)."""
    try:
        graph, last = _trace_module_outputs(module)
        output = next(n for n in graph.nodes if n.op == "output")
        names = [n for n, _ in module.named_modules() if n in last]
        output.args = ((output.args[0], *(last[n] for n in names)),)
        remove_in_place_ops(graph)
        graph.lint()
        return TracedModel(fx.GraphModule(module, graph), names)
    except Exception:  # any tracing failure: fall back to hooks
        return None


def trace_until(module: nn.Module, layer: str) -> fx.GraphModule:
    """``module`` up to submodule ``layer``: a graph module returning that layer's output, holding
    only the submodules that run before it (their names, so state_dict keys, unchanged).

    Raises KeyError when ``layer`` is not a submodule that runs, and whatever torch.fx raises when
    the model cannot be traced."""
    was_training = module.training
    try:
        graph, last = _trace_module_outputs(module)
    finally:
        module.train(was_training)
    output = next(n for n in graph.nodes if n.op == "output")
    output.args = (last[layer],)
    remove_in_place_ops(graph)
    body = fx.GraphModule(module, graph)
    body.graph.eliminate_dead_code()  # needs the owning module: it asks modules if calls are pure
    body.delete_all_unused_submodules()
    body.graph.lint()
    body.recompile()
    return body.train(was_training)


# Elementwise activations and poolings DeepLIFT's rules treat as nonlinear (see core/pixel_methods.py).
_FUNCTIONAL_ACTIVATIONS = {torch.relu: nn.ReLU, nn.functional.relu: nn.ReLU, nn.functional.relu6: nn.ReLU6,
                           torch.sigmoid: nn.Sigmoid, nn.functional.silu: nn.SiLU,
                           nn.functional.gelu: nn.GELU, nn.functional.hardswish: nn.Hardswish,
                           torch.tanh: nn.Tanh}
_METHOD_ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def one_module_per_activation(module: nn.Module, kinds: tuple[type, ...]) -> fx.GraphModule:
    """A traced copy of ``module`` (sharing its parameters) in which every call of an activation
    or pooling of ``kinds`` goes through a module of its own, out of place: ResNet's blocks call one
    ``nn.ReLU`` three times and Inception calls ``F.relu``, and rules that keep state per module
    (DeepLIFT's) need one module per call. Raises what torch.fx raises for untraceable models."""
    was_training = module.training
    try:
        graph = _ScopeTracer().trace(module.eval())
    finally:
        module.train(was_training)
    remove_in_place_ops(graph)
    copy = fx.GraphModule(module, graph)
    for number, node in enumerate(list(copy.graph.nodes)):
        made: nn.Module | None = None
        if node.op == "call_module" and isinstance(copy.get_submodule(node.target), kinds):
            made = _fresh(copy.get_submodule(node.target))
        elif set(node.kwargs) - {"inplace"} or len(node.args) != 1:
            continue  # F.gelu(x, approximate="tanh") and the like: left as they are
        elif node.op == "call_function" and node.target in _FUNCTIONAL_ACTIVATIONS:
            made = _FUNCTIONAL_ACTIVATIONS[node.target]()
        elif node.op == "call_method" and node.target in _METHOD_ACTIVATIONS:
            made = _METHOD_ACTIVATIONS[node.target]()
        if made is None or not isinstance(made, kinds):
            continue
        name = f"cnnscope_activation_{number}"
        copy.add_submodule(name, made)
        node.op, node.target, node.args, node.kwargs = "call_module", name, node.args[:1], {}
    copy.graph.lint()
    copy.recompile()
    return copy


def _fresh(module: nn.Module) -> nn.Module:
    """A new module doing what ``module`` does (no parameters to share), never in place."""
    import copy as copying

    made = copying.deepcopy(module)
    if hasattr(made, "inplace"):
        made.inplace = False
    return made
