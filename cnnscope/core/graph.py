"""The architecture as a graph: every layer call and every merge (a ResNet sum, an Inception
concatenation) as a node, wired as data flows, with blocks that can be drawn as one node.

Built from the traced graph the inspections already use (``inspect.traced_graph``), so the topology
is the model's real one: shortcuts and parallel branches appear as they run, not as the module tree
nests. A model that cannot be traced is drawn as the chain of its layers, and says so.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, replace

import torch
from torch import fx, nn

from .inspect import traced_graph
from .tracing import grad_boundary
from .weights import LoadedModel

MAX_LEAF_BLOCK = 8  # a Sequential of more layers than this (VGG's features) is a stage, not a block

_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.GELU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid,
                nn.Tanh, nn.LeakyReLU, nn.ELU, nn.PReLU, nn.Softmax, nn.Mish)
_POOLS = (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
          nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)
_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)
_FUNCTIONS = {
    operator.add: ("Add", "add"), torch.add: ("Add", "add"),
    torch.cat: ("Concat", "concat"), torch.concat: ("Concat", "concat"),
    operator.mul: ("Multiply", "multiply"), torch.mul: ("Multiply", "multiply"),
    torch.flatten: ("Flatten", "reshape"), torch.relu: ("ReLU", "activation"),
    nn.functional.relu: ("ReLU", "activation"), nn.functional.relu6: ("ReLU6", "activation"),
    nn.functional.silu: ("SiLU", "activation"), nn.functional.hardswish: ("Hardswish", "activation"),
    torch.sigmoid: ("Sigmoid", "activation"), nn.functional.max_pool2d: ("MaxPool", "pool"),
    nn.functional.avg_pool2d: ("AvgPool", "pool"),
    nn.functional.adaptive_avg_pool2d: ("AdaptiveAvgPool", "pool"),
    nn.functional.adaptive_max_pool2d: ("AdaptiveMaxPool", "pool"),
    nn.functional.dropout: ("Dropout", "other"), torch.mean: ("Mean", "pool"),
}
_METHODS = {"view": "View", "reshape": "Reshape", "flatten": "Flatten", "mean": "Mean",
            "relu": "ReLU", "sigmoid": "Sigmoid", "add": "Add", "mul": "Multiply"}
_METHOD_KINDS = {"Mean": "pool", "ReLU": "activation", "Sigmoid": "activation", "Add": "add",
                 "Multiply": "multiply"}


@dataclass(frozen=True)
class GraphNode:
    """One layer call, merge or block of the drawing."""

    id: str
    title: str  # what it does, e.g. "Conv 3×3 /2" or "Bottleneck"
    layer: str | None  # the module it belongs to, as its box names it (None: the model itself)
    kind: str  # a key of graph_style.KIND_COLOURS: conv, pool, add, concat, block...
    shape: tuple[int, ...] | None  # output shape without the batch, e.g. (64, 56, 56)
    block: str | None = None  # the block it belongs to (None: drawn on its own)
    # The layer whose recorded output (the maps the window shows) is this node's output, which a
    # click selects; None when no layer's is (a ResNet sum: its block's output is the ReLU after
    # it; a block's first call of a ReLU module it calls again later).
    selects: str | None = None
    outputs: tuple[str, ...] = ()  # every layer whose recorded output this is (framed for any)

    @property
    def shape_text(self) -> str:
        """The output shape as "64 × 56 × 56" (empty when unknown)."""
        return " × ".join(map(str, self.shape)) if self.shape else ""


@dataclass
class ArchitectureGraph:
    """Nodes in execution order and (source id, target id) edges; ``blocks`` are the module names
    that can be drawn as one node, in model order."""

    model: str
    nodes: list[GraphNode]
    edges: list[tuple[str, str]]
    blocks: list[str] = field(default_factory=list)
    block_types: dict[str, str] = field(default_factory=dict)
    traced: bool = True

    def collapsed(self, blocks: set[str] | None = None) -> "ArchitectureGraph":
        """The graph with each block in ``blocks`` (all of them when None) drawn as one node,
        which takes the output shape of the block's last node and the edges that cross its border."""
        fold = set(self.blocks) if blocks is None else set(blocks) & set(self.blocks)
        if not fold:
            return self
        owner: dict[str, str] = {}  # node id -> the id that draws it
        last_shape: dict[str, tuple | None] = {}
        nodes: list[GraphNode] = []
        for node in self.nodes:
            if node.block in fold:
                block_id = f"block:{node.block}"
                owner[node.id] = block_id
                if block_id not in last_shape:
                    nodes.append(GraphNode(block_id, self.block_types.get(node.block, "Block"),
                                           node.block, "block", None, node.block, node.block,
                                           (node.block,)))
                last_shape[block_id] = node.shape
            else:
                owner[node.id] = node.id
                nodes.append(node)
        nodes = [replace(n, shape=last_shape[n.id]) if n.id in last_shape else n for n in nodes]
        edges, seen = [], set()
        for a, b in self.edges:
            edge = (owner[a], owner[b])
            if edge[0] != edge[1] and edge not in seen:
                seen.add(edge)
                edges.append(edge)
        return ArchitectureGraph(self.model, nodes, edges, self.blocks, self.block_types, self.traced)

    def node(self, node_id: str) -> GraphNode:
        """The node with id ``node_id`` (KeyError if none)."""
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)


def _is_block(module: nn.Module) -> bool:
    """A module drawn as one node when blocks collapse: anything with layers inside, except plain
    containers of blocks (ResNet's ``layer1``) and long runs of plain layers (VGG's ``features``)."""
    children = list(module.named_children())
    if not children or isinstance(module, fx.GraphModule):
        return False  # a leaf, or a cut backbone (a transfer run's body): its modules are the blocks
    plain = type(module) in (nn.Sequential, nn.ModuleList, nn.ModuleDict) or isinstance(module, nn.ModuleDict)
    if type(module) is nn.Module:  # a path holder torch.fx made in a cut backbone: its type is
        plain = all(name.isdigit() for name, _ in children)  # lost, a Sequential's names are not
    if plain:
        if all(any(True for _ in c.children()) for _, c in children):
            return False  # a container of blocks: its children are the blocks
        return len(children) <= MAX_LEAF_BLOCK
    return True


def find_blocks(module: nn.Module) -> dict[str, str]:
    """Outermost blocks (see ``_is_block``) by module name -> their type name, in model order."""
    blocks: dict[str, str] = {}
    for name, sub in module.named_modules():
        if not name or any(name.startswith(b + ".") for b in blocks):
            continue
        if _is_block(sub):
            blocks[name] = type(sub).__name__ if type(sub) is not nn.Module else "Block"
    return blocks


def _block_of(scope: str, blocks: dict[str, str]) -> str | None:
    for name in blocks:
        if scope == name or scope.startswith(name + "."):
            return name
    return None


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)[:2]


def describe_module(module: nn.Module) -> tuple[str, str]:
    """(title, kind) of one layer, e.g. ("Conv 3×3 /2", "conv") or ("Linear 2048→1000", "linear")."""
    if isinstance(module, nn.Conv2d):
        kh, kw = _pair(module.kernel_size)
        title = f"Conv {kh}×{kw}"
        stride = _pair(module.stride)
        if stride != (1, 1):
            title += f" /{stride[0]}" if stride[0] == stride[1] else f" /{stride[0]}×{stride[1]}"
        if module.groups > 1:
            depthwise = module.groups == module.in_channels
            title += " depthwise" if depthwise else f" groups {module.groups}"
        return title, "conv"
    if isinstance(module, nn.modules.conv._ConvNd):
        return type(module).__name__, "conv"
    if isinstance(module, nn.Linear):
        return f"Linear {module.in_features}→{module.out_features}", "linear"
    if isinstance(module, _NORMS):
        return type(module).__name__, "norm"
    if isinstance(module, _ACTIVATIONS):
        return type(module).__name__, "activation"
    if isinstance(module, _POOLS):
        name = type(module).__name__.replace("2d", "")
        kernel = getattr(module, "kernel_size", None)
        if kernel is not None:
            kh, kw = _pair(kernel)
            stride = _pair(module.stride if module.stride is not None else kernel)
            name += f" {kh}×{kw}" + (f" /{stride[0]}" if stride != (1, 1) else "")
        return name, "pool"
    if isinstance(module, nn.Flatten):
        return "Flatten", "reshape"
    return type(module).__name__, "other"


def _describe_node(node: fx.Node, modules: dict[str, nn.Module]) -> tuple[str, str] | None:
    """(title, kind) of a traced node worth drawing; None for pass-through plumbing."""
    if node.op == "placeholder":
        return "Input", "input"
    if node.op == "call_module":
        return describe_module(modules[node.target])
    if node.op == "call_function":
        if node.target is grad_boundary or node.target in (operator.getitem, getattr):
            return None
        if node.target in _FUNCTIONS:
            return _FUNCTIONS[node.target]
        return getattr(node.target, "__name__", str(node.target)), "other"
    if node.op == "call_method":
        if node.target in ("size", "dim", "contiguous", "clone", "detach", "to"):
            return None
        title = _METHODS.get(node.target, node.target)
        return title, _METHOD_KINDS.get(title, "reshape" if title in ("View", "Reshape", "Flatten")
                                        else "other")
    return None


class _Shapes(fx.Interpreter):
    """Runs the graph once and keeps every tensor-valued node's output shape (batch left out)."""

    def __init__(self, module: fx.GraphModule) -> None:
        super().__init__(module)
        self.shapes: dict[fx.Node, tuple[int, ...]] = {}

    def run_node(self, n: fx.Node):
        out = super().run_node(n)
        if isinstance(out, torch.Tensor):
            self.shapes[n] = tuple(out.shape[1:])
        return out


def _shapes(graph_module: fx.GraphModule, loaded: LoadedModel) -> dict[fx.Node, tuple[int, ...]]:
    try:
        device = next(loaded.module.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    runner = _Shapes(graph_module)
    with torch.inference_mode():
        runner.run(torch.zeros(1, *loaded.spec.preprocessing.input_shape, device=device))
    return runner.shapes


def build_graph(loaded: LoadedModel) -> ArchitectureGraph:
    """The model's graph, every layer shown (collapse blocks with ``ArchitectureGraph.collapsed``)."""
    module = loaded.module
    blocks = find_blocks(module)
    traced = traced_graph(loaded)
    if traced is None:
        return _chain_graph(loaded, blocks)
    graph_module = traced.graph_module
    modules = dict(module.named_modules())
    shapes = _shapes(graph_module, loaded)
    recorded = _recorded_layers(traced)
    shown: dict[fx.Node, str] = {}  # drawn node -> its id
    cut_scopes = _CutScopes(modules)
    feeds: dict[fx.Node, set[str]] = {}  # any node -> the ids of the drawn nodes that produce it
    nodes: list[GraphNode] = []
    edges: list[tuple[str, str]] = []
    for node in graph_module.graph.nodes:
        if node.op == "output":
            continue
        sources: set[str] = set()
        for arg in node.all_input_nodes:
            sources |= feeds.get(arg, set())
        described = _describe_node(node, modules) if node in shapes else None
        if described is None:
            feeds[node] = sources  # plumbing: its consumers hang off whatever fed it
            continue
        title, kind = described
        scope = node.target if node.op == "call_module" else node.meta.get("cnnscope_module", "")
        layer = scope if scope in modules and scope else None
        names = recorded.get(node, [])
        selects = layer if layer in names else (max(names, key=len) if names else None)
        if node.op != "call_module":
            scope = cut_scopes.scope(node, scope)
        nodes.append(GraphNode(node.name, title, layer, kind, shapes.get(node),
                               _block_of(scope, blocks) if scope else None, selects, tuple(names)))
        shown[node] = node.name
        feeds[node] = {node.name}
        edges.extend((s, node.name) for s in sorted(sources))
    used = {n.block for n in nodes if n.block}
    kept = [b for b in blocks if b in used]
    return ArchitectureGraph(loaded.name, nodes, edges, kept, {b: blocks[b] for b in kept})


class _CutScopes:
    """Where each function call of a cut backbone (a transfer run's traced ``body``) really ran.

    Tracing the model again walks the body's generated code, where every F.relu, sum and
    concatenation seems to run in ``body`` itself. The body's own graph still knows each call's
    module (recorded when it was cut), and its code makes the calls in that graph's order, so the
    n-th call of a target in the new trace is the n-th call of that target in the body's graph."""

    def __init__(self, modules: dict[str, nn.Module]) -> None:
        self._queues: dict[str, dict[tuple, list[str]]] = {}
        for path, module in modules.items():
            if path and isinstance(module, fx.GraphModule):
                queues: dict[tuple, list[str]] = {}
                for n in module.graph.nodes:
                    if n.op in ("call_function", "call_method"):
                        queues.setdefault((n.op, n.target), []).append(n.meta.get("cnnscope_module", ""))
                self._queues[path] = queues

    def scope(self, node: fx.Node, scope: str) -> str:
        """The full module path ``node`` ran in: ``scope`` itself unless that is a cut backbone."""
        queue = self._queues.get(scope, {}).get((node.op, node.target))
        if not queue:
            return scope
        inner = queue.pop(0)
        return f"{scope}.{inner}" if inner else scope


def _recorded_layers(traced) -> dict[fx.Node, list[str]]:
    """Per graph node, the layers whose recorded output it is (a block and its last ReLU share one)."""
    out: dict[fx.Node, list[str]] = {}
    for name, node in traced.recorded_nodes().items():
        out.setdefault(node, []).append(name)
    return out


def _chain_graph(loaded: LoadedModel, blocks: dict[str, str]) -> ArchitectureGraph:
    """For a model that cannot be traced: its layers in the order one forward pass calls them
    (a layer that never runs, such as an auxiliary head in eval mode, is left out), one after
    another, with their output shapes."""
    calls: list[tuple[str, tuple[int, ...] | None]] = []

    def record(name: str):
        def hook(_module, _inputs, output) -> None:
            shape = tuple(output.shape[1:]) if isinstance(output, torch.Tensor) else None
            calls.append((name, shape))
        return hook

    leaves = [(n, m) for n, m in loaded.module.named_modules() if n and not any(True for _ in m.children())]
    handles = [m.register_forward_hook(record(n)) for n, m in leaves]
    try:
        device = next(loaded.module.parameters()).device
        with torch.inference_mode():
            loaded.module(torch.zeros(1, *loaded.spec.preprocessing.input_shape, device=device))
    finally:
        for handle in handles:
            handle.remove()
    modules = dict(leaves)
    nodes = [GraphNode("input", "Input", None, "input", loaded.spec.preprocessing.input_shape)]
    seen: dict[str, int] = {}
    for name, shape in calls:
        seen[name] = seen.get(name, 0) + 1
        node_id = name if seen[name] == 1 else f"{name}#{seen[name]}"  # a module called again
        title, kind = describe_module(modules[name])
        nodes.append(GraphNode(node_id, title, name, kind, shape, _block_of(name, blocks), name, (name,)))
    edges = [(a.id, b.id) for a, b in zip(nodes, nodes[1:])]
    used = {n.block for n in nodes if n.block}
    kept = [b for b in blocks if b in used]
    return ArchitectureGraph(loaded.name, nodes, edges, kept, {b: blocks[b] for b in kept}, traced=False)
