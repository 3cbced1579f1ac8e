"""Small fine-tuning runs: a new head, a freeze plan, a folder of images, callbacks for the views.

:func:`build_for_training` turns a loaded model into the network to train (new head, or the
network cut after an early block with a new head there) with the plan applied; :func:`train` runs
the epochs. When only the head learns and augmentation is off, the backbone's output is computed
once and later epochs train the head on those cached features (the "bottleneck features" method).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import make_checkpoint, save_atomic
from .datasets import Augmentation, FolderDataset, batch_transform
from .devices import describe, is_out_of_memory, release_cached_memory
from .errors import DatasetError, ModelError, OptionError, TrainingError, WeightsError
from .freeze import FreezePlan, apply_plan, head_name, replace_head, set_train_mode
from .models import ModelSpec
from .preprocess import Preprocessing
from .tracing import trace_until


@dataclass
class TrainingConfig:
    """What the user chooses for a run."""

    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 1e-3
    optimizer: str = "adam"  # "adam" or "sgd" (with momentum 0.9)
    augmentation: Augmentation = field(default_factory=Augmentation)
    mixed_precision: bool = True  # on CUDA only
    cache_features: bool = True  # when only the head learns and nothing is augmented
    seed: int = 0

    def validate(self) -> None:
        """OptionError for a setting no run can use (zero epochs, a NaN learning rate...)."""
        if not 1 <= self.epochs <= 1000:
            raise OptionError(f"Epochs must be between 1 and 1000, not {self.epochs}.")
        if not 1 <= self.batch_size <= 4096:
            raise OptionError(f"The batch size must be between 1 and 4096, not {self.batch_size}.")
        if not 0 < self.learning_rate <= 10:  # also refuses NaN
            raise OptionError(f"The learning rate must be above 0 and at most 10 (0.001 is usual), "
                              f"not {self.learning_rate}.")
        if self.optimizer not in ("adam", "sgd"):
            raise OptionError(f"The optimizer is adam or sgd, not '{self.optimizer}'.")

    def as_dict(self) -> dict:
        """Plain data for a checkpoint."""
        return {"epochs": self.epochs, "batch_size": self.batch_size,
                "learning_rate": self.learning_rate, "optimizer": self.optimizer,
                "augmentation": self.augmentation.as_dict(), "mixed_precision": self.mixed_precision,
                "cache_features": self.cache_features, "seed": self.seed}


@dataclass(frozen=True)
class PresetDefaults:
    """A textbook case's starting settings, and why they suit it (the panel shows ``why``)."""

    epochs: int
    learning_rate: float
    batch_size: int
    why: str
    frozen_share: float | None = None  # freeze-first: the share of blocks kept frozen
    cut_share: float | None = None  # early-features: how deep the cut block sits

    def plan_arguments(self, block_names: list[str], map_blocks: list[str] | None = None) -> dict:
        """``n`` and ``cut_after`` for :func:`~cnnscope.core.freeze.make_plan` on these blocks.
        The cut is chosen among ``map_blocks`` (those whose output is feature maps; default: all):
        a network is cut after a convolutional block, never inside its classifier (LeNet's
        fully connected layers are blocks too)."""
        count = len(block_names)
        n = round(self.frozen_share * count) if self.frozen_share is not None else count // 2
        cuts = [b for b in block_names if map_blocks is None or b in map_blocks] or block_names
        cut_index = round(self.cut_share * len(cuts)) - 1 if self.cut_share is not None else len(cuts) // 2 - 1
        return {"n": min(max(n, 0), count),
                "cut_after": cuts[min(max(cut_index, 0), len(cuts) - 1)] if cuts else None}


# Chosen on `cnnscope make-dataset`'s data from the demo model (benchmarks/presets.py measures them
# over seeds); each keeps to what its case is about.
PRESET_DEFAULTS: dict[str, PresetDefaults] = {
    "feature-extractor": PresetDefaults(
        10, 0.03, 32, "Only the small new head learns, from features that stay fixed: a large step "
        "(0.03) settles it in ten quick epochs, and nothing pretrained can be spoiled."),
    "fine-tune-all": PresetDefaults(
        5, 0.001, 16, "Every layer learns: a small step (0.001) adjusts what the pretrained layers "
        "know without wiping it out; small batches give more steps on a small dataset."),
    "freeze-first": PresetDefaults(
        5, 0.003, 32, "The early three quarters of the blocks stay as they are (edges and textures "
        "every image shares); the last blocks and the head learn, with a medium step (0.003).",
        frozen_share=0.75),
    "early-features": PresetDefaults(
        40, 0.03, 32, "Only a new head after a middle block learns, from the strongest response of "
        "each of its maps (simple, general patterns: edges, corners, curves): a large step (0.03) "
        "and many epochs, each under a second as the features are computed once.",
        cut_share=0.75),
}


@dataclass(frozen=True)
class BatchProgress:
    """Sent after every training batch."""

    epoch: int  # 1-based
    epochs: int
    batch: int  # 1-based, within the epoch
    batches: int
    loss: float
    eta_seconds: float  # for the whole run, from the pace so far


@dataclass(frozen=True)
class EpochRecord:
    """Metrics after one epoch."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    seconds: float
    cached_features: bool


@dataclass
class TrainingResult:
    """The trained network (its best epoch's weights) and what the run measured."""

    model: nn.Module
    classes: list[str]
    plan: FreezePlan
    config: TrainingConfig
    history: list[EpochRecord]
    best_epoch: int | None  # None when cancelled before the first epoch ended
    confusion: np.ndarray  # (classes, classes): rows are true classes, columns predictions
    per_class_accuracy: list[float | None]
    cancelled: bool
    notes: list[str] = field(default_factory=list)
    val_predictions: list[int] = field(default_factory=list)  # per validation image, kept weights
    seconds: float = 0.0  # the whole run

    def mistakes(self, val_labels: list[int]) -> list[tuple[int, int, int]]:
        """(validation image index, true class, predicted class) for every image it gets wrong."""
        return [(i, t, p) for i, (t, p) in enumerate(zip(val_labels, self.val_predictions)) if t != p]

    @property
    def val_accuracy(self) -> float | None:
        """Accuracy on the validation images with the kept weights."""
        total = self.confusion.sum()
        return float(np.trace(self.confusion) / total) if total else None


HEAD_POOLS = ("max", "avg")


class EarlyFeaturesNet(nn.Module):
    """The first blocks of a network (up to ``cut_after``), global pooling, a new linear head.

    The pooling is max by default: early maps answer "is this edge, corner or curve here", and a
    shape is told by which of them appear anywhere, which their average blurs (on the sample
    dataset, 86 % with max against 60 % with the average, at the same cut). Checkpoints from
    before this choice say nothing and were trained with the average (``pool="avg"``)."""

    def __init__(self, body: nn.Module, channels: int, num_classes: int, pool: str = "max") -> None:
        super().__init__()
        if pool not in HEAD_POOLS:
            raise ModelError(f"The new head pools with max or avg, not '{pool}'.")
        self.body, self.pool = body, pool
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores for a batch."""
        features = self.body(x)
        pooled = F.adaptive_max_pool2d(features, 1) if self.pool == "max" else \
            F.adaptive_avg_pool2d(features, 1)
        return self.head(torch.flatten(pooled, 1))


def cut_network(module: nn.Module, cut_after: str, input_size: int, num_classes: int,
                pool: str = "max", channels: int = 3) -> EarlyFeaturesNet:
    """``module`` up to block ``cut_after``, then global ``pool`` pooling and a new head.

    The body is our own traced graph (core/tracing.py), not torchvision's feature extractor: its
    tracer would also catch the engine thread's model running an inspection meanwhile."""
    try:
        body = trace_until(module, cut_after)
    except KeyError:
        raise ModelError(f"Cannot cut this network after '{cut_after}': no such block runs.") from None
    except Exception as exc:  # noqa: BLE001 - torch.fx reports untraceable code in many ways
        raise ModelError(f"Cannot cut this network after '{cut_after}': {exc}") from None
    was_training = body.training
    with torch.no_grad():
        probe = body.eval()(torch.zeros(1, channels, input_size, input_size,
                                        device=next(module.parameters()).device))
    body.train(was_training)
    if probe.dim() != 4:
        raise ModelError(f"'{cut_after}' does not output feature maps; cut after a convolutional block.")
    net = EarlyFeaturesNet(body, probe.shape[1], num_classes, pool)
    return net.to(probe.device)


def trained_cut(content: dict, file_name: str) -> tuple[str, str] | None:
    """(block cut after, head pooling) of a checkpoint trained on early features, else None;
    the file's values checked."""
    cut_after = content["meta"].get("cut_after") if content["arch"] else None
    if cut_after is None or cut_after == "":
        return None
    if not isinstance(cut_after, str):
        raise WeightsError(f"'{file_name}' is a damaged cnnscope checkpoint: the block its network "
                           "was cut after is not a layer name.")
    pool = content["meta"].get("head_pool") or "avg"  # checkpoints before the choice: average
    if pool not in HEAD_POOLS:
        raise WeightsError(f"'{file_name}' is a damaged cnnscope checkpoint: its head pools "
                           "with something cnnscope does not know.")
    return cut_after, pool


def cut_as_trained(module: nn.Module, spec: ModelSpec, cut: tuple[str, str],
                   num_classes: int) -> tuple[nn.Module, ModelSpec]:
    """``module`` cut as a checkpoint's network was (``trained_cut``), and its spec."""
    cut_after, pool = cut
    net = cut_network(module, cut_after, spec.input_size, num_classes, pool, spec.preprocessing.channels)
    return net, early_features_spec(spec, cut_after, pool)


def early_features_spec(spec: ModelSpec, cut_after: str, pool: str = "max") -> ModelSpec:
    """The registry spec adjusted to a cut network: heatmaps at the cut block; CAM only when the
    new head reads the maps' average (it is defined for global average pooling)."""
    if pool == "avg":
        return replace(spec, cam_layer=f"body.{cut_after}", cam_head="head", head_note="")
    return replace(spec, cam_layer=f"body.{cut_after}", cam_head=None,
                   head_note=f"(cut after {cut_after}) the new head reads each map's strongest "
                   "response (global max pooling), not its average.")


def build_for_training(module: nn.Module, spec: ModelSpec, plan: FreezePlan,
                       num_classes: int, seed: int = 0) -> nn.Module:
    """A copy of ``module`` ready to train on ``num_classes``: new head (or cut), plan applied.

    The new head's starting weights come from ``seed``, so a run is repeatable (without it the
    same command gave 69 to 97 % on the sample dataset); the caller's random state is untouched."""
    model = copy.deepcopy(module)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if plan.cut_after is not None:
            model = cut_network(model, plan.cut_after, spec.input_size, num_classes,
                                channels=spec.preprocessing.channels)
        else:
            replace_head(model, num_classes)
    apply_plan(model, plan)
    return model


def _only_head_learns(model: nn.Module) -> str | None:
    """The head's name when it holds every trainable parameter, else None."""
    head = head_name(model)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    return head if trainable and all(n.startswith(head + ".") for n in trainable) else None


def _stack(images: list[torch.Tensor], indices, transform, device) -> torch.Tensor:
    return torch.stack([transform(images[i]) for i in indices]).to(device)


def _features(model: nn.Module, head: str, images: list[torch.Tensor], transform, device,
              batch_size: int) -> tuple[torch.Tensor, bool]:
    """The head's input for every image (eval mode), and whether the head alone makes the logits."""
    module = model.get_submodule(head)
    seen: dict[str, torch.Tensor] = {}

    def keep_input(_m, args) -> None:
        seen["in"] = args[0].detach()

    def keep_output(_m, _args, out) -> None:
        seen["out"] = out.detach()
    handles = [module.register_forward_pre_hook(keep_input), module.register_forward_hook(keep_output)]
    chunks, direct = [], True
    try:
        model.eval()
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                logits = model(_stack(images, range(start, min(start + batch_size, len(images))),
                                      transform, device))
                direct = direct and torch.equal(seen["out"], logits)
                chunks.append(seen["in"])
    finally:
        for handle in handles:
            handle.remove()
    return torch.cat(chunks), direct


def train(model: nn.Module, plan: FreezePlan, data: FolderDataset, preprocessing: Preprocessing,
          config: TrainingConfig, device: torch.device,
          on_batch: Callable[[BatchProgress], None] | None = None,
          on_epoch: Callable[[EpochRecord], None] | None = None,
          should_cancel: Callable[[], bool] | None = None) -> TrainingResult:
    """Train ``model`` (from :func:`build_for_training`) on ``data``; keep the best epoch's weights.

    Cancel is checked before every batch; the best weights so far (or the current ones, before the
    first epoch ends) stay in the returned model. CUDA out-of-memory halves the batch and says so.
    """
    config.validate()
    if not data.train_labels:
        raise DatasetError("There are no training images.")
    torch.manual_seed(config.seed)
    model.to(device)
    notes: list[str] = []
    eval_transform = batch_transform(preprocessing)
    train_transform = batch_transform(preprocessing, config.augmentation)
    head = _only_head_learns(model)  # then the backbone runs in eval mode, cached or not
    cached = head is not None and not config.augmentation.any and config.cache_features
    train_x = val_x = None
    if cached:
        train_x, direct = _features(model, head, data.train_images, eval_transform, device, config.batch_size)
        if direct:
            val_x = _features(model, head, data.val_images, eval_transform, device,
                              config.batch_size)[0] if data.val_images else None
        else:  # something follows the head before the logits (SqueezeNet's ReLU + pooling)
            cached, train_x = False, None
            notes.append("Features are not cached: this network's head is not its last step.")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ModelError("Every layer is frozen: nothing would learn. Make at least the head trainable.")
    if config.optimizer == "sgd":
        optimizer: torch.optim.Optimizer = torch.optim.SGD(params, lr=config.learning_rate, momentum=0.9)
    else:
        optimizer = torch.optim.Adam(params, lr=config.learning_rate)
    amp = config.mixed_precision and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    head_module = model.get_submodule(head) if head is not None else None
    train_labels = torch.tensor(data.train_labels, device=device)
    val_labels = torch.tensor(data.val_labels, device=device)
    generator = torch.Generator().manual_seed(config.seed)
    batch_size = config.batch_size
    history: list[EpochRecord] = []
    best: tuple[float, float, int, dict] | None = None
    cancelled = False
    diverged: tuple[int, int] | None = None  # (epoch, batch) where the loss stopped being a number
    start_run = time.perf_counter()
    batches_done = 0

    def forward(indices: torch.Tensor, training: bool) -> torch.Tensor:
        if cached:
            features = (train_x if training else val_x)[indices.to(train_x.device)]
            return head_module(features)
        images = data.train_images if training else data.val_images
        return model(_stack(images, indices.tolist(), train_transform if training else eval_transform,
                            device))

    epoch = 0
    while epoch < config.epochs and not cancelled and diverged is None:
        epoch_start = time.perf_counter()
        order = torch.randperm(len(data.train_labels), generator=generator)
        batches = (len(order) + batch_size - 1) // batch_size
        if head_module is not None:  # a frozen backbone computes features as at inference
            model.eval()
            head_module.train()
        else:
            set_train_mode(model)
        total_loss, correct, seen = 0.0, 0, 0
        try:
            for b in range(batches):
                if should_cancel is not None and should_cancel():
                    cancelled = True
                    break
                idx = order[b * batch_size:(b + 1) * batch_size]
                with torch.autocast(device.type, enabled=amp):
                    logits = forward(idx, True)
                    loss = F.cross_entropy(logits.float(), train_labels[idx.to(device)])
                if not bool(torch.isfinite(loss.detach())):  # one more step would ruin the weights
                    diverged = (epoch + 1, b + 1)
                    break
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                total_loss += float(loss.detach()) * len(idx)
                correct += int((logits.argmax(1) == train_labels[idx.to(device)]).sum())
                seen += len(idx)
                batches_done += 1
                if on_batch is not None:
                    pace = (time.perf_counter() - start_run) / batches_done
                    remaining = (batches - b - 1) + (config.epochs - epoch - 1) * batches
                    on_batch(BatchProgress(epoch + 1, config.epochs, b + 1, batches, float(loss.detach()),
                                           pace * remaining))
        except Exception as exc:
            if not is_out_of_memory(exc) or batch_size == 1:
                raise
            release_cached_memory(device)
            batch_size = max(1, batch_size // 2)
            notes.append(f"{describe(device)} ran out of memory; the batch size is now {batch_size}.")
            continue  # the same epoch again, with smaller batches
        if (cancelled or diverged) and seen == 0:
            break
        model.eval()  # validation measures the network as it will be used: BN statistics, no dropout
        val_loss, val_acc, _ = _evaluate(forward, val_labels, batch_size) if len(val_labels) else (None, None, None)
        record = EpochRecord(epoch + 1, total_loss / max(1, seen), correct / max(1, seen), val_loss,
                             val_acc, time.perf_counter() - epoch_start, cached)
        if not cancelled and diverged is None:  # a cut-short epoch is not a complete measurement
            history.append(record)
            if on_epoch is not None:
                on_epoch(record)
            score = (val_acc if val_acc is not None else record.train_accuracy,
                     -(val_loss if val_loss is not None else record.train_loss))
            if best is None or score > best[:2]:
                best = (*score, epoch + 1, copy.deepcopy(model.state_dict()))
        epoch += 1
    if diverged is not None:
        where = f"at epoch {diverged[0]}, batch {diverged[1]}"
        advice = (f"The learning rate ({config.learning_rate:g}) is probably too high; try "
                  f"{min(config.learning_rate / 10, 1e-3):g}.")
        if best is None:
            raise TrainingError(f"Training stopped {where}: the loss became NaN or infinite (not a "
                                f"number), so the weights were being destroyed. {advice} Nothing "
                                "was saved.")
        notes.append(f"Training stopped {where}: the loss became NaN or infinite. The model keeps "
                     f"epoch {best[2]}, its best before that. {advice}")
    if best is not None:
        model.load_state_dict(best[3])
    confusion = np.zeros((len(data.classes), len(data.classes)), np.int64)
    predicted = np.zeros(0, np.int64)
    if len(val_labels):
        model.eval()
        _, _, predicted = _evaluate(forward, val_labels, batch_size)
        np.add.at(confusion, (val_labels.cpu().numpy(), predicted), 1)
    per_class = [float(confusion[i, i] / confusion[i].sum()) if confusion[i].sum() else None
                 for i in range(len(data.classes))]
    if cancelled:
        notes.append("Training was cancelled; the model keeps its best epoch so far"
                     if best is not None else "Training was cancelled before the first epoch ended; "
                     "the model keeps its weights at that moment")
    model.eval()
    return TrainingResult(model, list(data.classes), plan, config, history,
                          best[2] if best is not None else None, confusion, per_class, cancelled, notes,
                          [int(p) for p in predicted], time.perf_counter() - start_run)


def _evaluate(forward, labels: torch.Tensor, batch_size: int) -> tuple[float, float, np.ndarray]:
    """(mean loss, accuracy, predicted classes) over the validation images; the caller puts the
    model in eval mode first."""
    total, predictions = 0.0, []
    with torch.no_grad():
        for start in range(0, len(labels), batch_size):
            idx = torch.arange(start, min(start + batch_size, len(labels)))
            logits = forward(idx, False).float()
            total += float(F.cross_entropy(logits, labels[idx.to(labels.device)], reduction="sum"))
            predictions.append(logits.argmax(1).cpu())
    predicted = torch.cat(predictions).numpy()
    return total / len(labels), float((predicted == labels.cpu().numpy()).mean()), predicted


def mistake_pictures(result: TrainingResult, data: FolderDataset,
                     limit: int) -> list[tuple[np.ndarray, str, str]]:
    """(uint8 RGB picture, true class, predicted class) for the first ``limit`` validation images
    the run gets wrong: plain data for a gallery."""
    return [(data.val_images[i].permute(1, 2, 0).contiguous().numpy(), result.classes[t],
             result.classes[p]) for i, t, p in result.mistakes(data.val_labels)[:limit]]


def save_trained(result: TrainingResult, spec: ModelSpec, path: str | Path) -> Path:
    """Write a cnnscope checkpoint (weights, architecture, classes, plan, metrics), atomically."""
    broken = [n for n, t in result.model.state_dict().items()
              if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if broken:
        raise TrainingError(f"The trained weights are not numbers (NaN or infinity) in "
                            f"{', '.join(broken[:3])}; they were not saved.")
    last = result.history[-1] if result.history else None
    meta = {
        "freeze_plan": result.plan.as_dict(),
        "cut_after": result.plan.cut_after,
        "head_pool": getattr(result.model, "pool", None),  # a cut network's pooling
        "training": result.config.as_dict(),
        "best_epoch": result.best_epoch,
        "val_accuracy": result.val_accuracy,
        "per_class_accuracy": dict(zip(result.classes, result.per_class_accuracy)),
        "confusion": result.confusion.tolist(),
        "history": [vars(r) for r in result.history],
        "cancelled": result.cancelled,
        "final_train_accuracy": last.train_accuracy if last else None,
    }
    prep = spec.preprocessing
    meta["preprocessing"] = {"resize": prep.resize_size, "crop_size": prep.crop_size,
                             "mean": list(prep.mean), "std": list(prep.std), "channels": prep.channels}
    if spec.user_model:  # named so that it is opened again from the same file, timm name or object
        meta["user_model"] = spec.name
    arch = spec.opened_as or spec.name
    return save_atomic(make_checkpoint(arch, result.model.state_dict(), result.classes, meta), path)
