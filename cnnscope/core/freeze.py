"""Which layers learn: freeze plans for transfer learning, and the four textbook cases as presets.

A network is seen as an ordered list of *blocks* (the units a learner freezes: ResNet's stem and
``layer1``..``layer4``, each of VGG's convolutions, MobileNet's inverted residual blocks...) and a
*head* (the last layer that outputs class scores, replaced to fit a new dataset). A
:class:`FreezePlan` names the modules whose parameters train; everything else is frozen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from .errors import ModelError

# The four cases, as the preset keys the panel and the CLI use.
PRESETS: dict[str, tuple[str, str]] = {
    "feature-extractor": (
        "Feature extractor: train only the new head",
        "Small dataset, similar to ImageNet: the pretrained features already fit, and too little "
        "data would only overfit the rest. Fast: the backbone's features can be computed once."),
    "fine-tune-all": (
        "Fine-tune everything",
        "Large dataset, similar to ImageNet: enough data to adjust every layer a little (use a "
        "small learning rate) without losing what was learned."),
    "freeze-first": (
        "Freeze the first N blocks",
        "Medium dataset: early blocks detect edges and textures that every image shares, so keep "
        "them; let the later, more specific blocks adapt."),
    "early-features": (
        "Train on early features",
        "Small dataset, different from ImageNet (X-rays, drawings...): late blocks are too specific "
        "to ImageNet, so cut the network after an early block and put a new head there."),
}
BATCHNORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_EXPANDED = ("features", "classifier")  # containers whose children are the blocks


@dataclass(frozen=True)
class FreezePlan:
    """Module names whose parameters train (a module named here trains with all its children)."""

    trainable: frozenset[str]
    preset: str = "custom"
    cut_after: str | None = None  # "early-features": the block the new head follows
    blocks_frozen: int | None = None  # "freeze-first": N

    def is_trainable(self, parameter_name: str) -> bool:
        """Whether the parameter ``parameter_name`` (``model.named_parameters()``) trains."""
        parts = parameter_name.split(".")
        return any(".".join(parts[:i]) in self.trainable for i in range(1, len(parts)))

    def as_dict(self) -> dict:
        """Plain data for a checkpoint's metadata."""
        return {"preset": self.preset, "trainable": sorted(self.trainable),
                "cut_after": self.cut_after, "blocks_frozen": self.blocks_frozen}

    @classmethod
    def from_dict(cls, data: dict) -> FreezePlan:
        """The inverse of :meth:`as_dict`."""
        return cls(frozenset(data.get("trainable", ())), data.get("preset", "custom"),
                   data.get("cut_after"), data.get("blocks_frozen"))


@dataclass
class ParameterCounts:
    """Trainable and frozen parameter totals of a model under a plan."""

    trainable: int = 0
    frozen: int = 0
    per_module: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (trainable, frozen)


def head_name(module: nn.Module) -> str:
    """The layer that outputs class scores: the last Linear (or 1x1 Conv2d, SqueezeNet) in the model."""
    last = None
    for name, m in module.named_modules():
        if isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)
                                        and name.startswith("classifier")):
            last = name
    if last is None:
        raise ModelError("This model has no linear layer to replace with a new head.")
    return last


def blocks(module: nn.Module) -> list[str]:
    """The backbone's blocks, input to output, as module names (the head excluded).

    Top-level children with parameters, with ``features`` / ``classifier`` containers opened into
    their children; a bare BatchNorm joins the block before it (it normalises that block's output).
    """
    return list(block_members(module))


def block_members(module: nn.Module) -> dict[str, list[str]]:
    """Each block (see :func:`blocks`) and the modules it stands for (a conv and its BatchNorm)."""
    head = head_name(module)
    members: dict[str, list[str]] = {}
    current = None
    for name, child in module.named_children():
        inner = list(child.named_children()) if name in _EXPANDED and isinstance(child, nn.Sequential) else []
        for full, m in ([(f"{name}.{n}", c) for n, c in inner] if inner else [(name, child)]):
            if full == head or not any(True for _ in m.parameters()):
                continue
            if current is not None and isinstance(m, BATCHNORM_TYPES):
                members[current].append(full)
                continue
            current = full
            members[current] = [full]
    return members


def make_plan(module: nn.Module, preset: str, n: int | None = None,
              cut_after: str | None = None) -> FreezePlan:
    """The plan for ``preset`` (a key of PRESETS) on ``module``; ``n`` for freeze-first, ``cut_after``
    (a block name) for early-features."""
    head = head_name(module)
    members = block_members(module)
    names = list(members)
    if preset == "feature-extractor":
        return FreezePlan(frozenset({head}), preset)
    if preset == "fine-tune-all":
        return FreezePlan(frozenset(sum(members.values(), [])) | {head}, preset)
    if preset == "freeze-first":
        if n is None or not 0 <= n <= len(names):
            raise ModelError(f"Freeze the first N blocks: N must be 0 to {len(names)}.")
        learning = sum((members[b] for b in names[n:]), [])
        return FreezePlan(frozenset(learning) | {head}, preset, blocks_frozen=n)
    if preset == "early-features":
        if cut_after not in members:
            raise ModelError(f"Cut after one of the blocks: {', '.join(names)}.")
        return FreezePlan(frozenset({"head"}), preset, cut_after=cut_after)
    raise ModelError(f"Unknown preset '{preset}'. Choose one of: {', '.join(PRESETS)}.")


def apply_plan(module: nn.Module, plan: FreezePlan) -> ParameterCounts:
    """Set ``requires_grad`` on every parameter as the plan says; return the counts."""
    for name, p in module.named_parameters():
        p.requires_grad_(plan.is_trainable(name))
    return count_parameters(module, plan)


def count_parameters(module: nn.Module, plan: FreezePlan) -> ParameterCounts:
    """Trainable / frozen totals, and per module, without changing the model."""
    counts = ParameterCounts()
    for name, p in module.named_parameters():
        trains = plan.is_trainable(name)
        if trains:
            counts.trainable += p.numel()
        else:
            counts.frozen += p.numel()
        parts = name.split(".")
        for i in range(1, len(parts)):
            owner = ".".join(parts[:i])
            t, f = counts.per_module.get(owner, (0, 0))
            counts.per_module[owner] = (t + p.numel(), f) if trains else (t, f + p.numel())
    return counts


def replace_head(module: nn.Module, num_classes: int) -> str:
    """Put a freshly initialised head with ``num_classes`` outputs in place of the old one."""
    name = head_name(module)
    old = module.get_submodule(name)
    if isinstance(old, nn.Conv2d):
        new: nn.Module = nn.Conv2d(old.in_channels, num_classes, kernel_size=1)
    else:
        new = nn.Linear(old.in_features, num_classes)
    new.to(old.weight.device)
    parent, _, attr = name.rpartition(".")
    setattr(module.get_submodule(parent) if parent else module, attr, new)
    return name


def set_train_mode(module: nn.Module) -> nn.Module:
    """Train mode, except BatchNorm layers whose parameters are all frozen: they keep eval mode,
    so their running statistics (from the pretraining) are used and not overwritten."""
    module.train()
    for m in module.modules():
        if isinstance(m, BATCHNORM_TYPES):
            params = list(m.parameters())
            if params and not any(p.requires_grad for p in params):
                m.eval()
    return module
