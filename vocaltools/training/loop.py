"""The training loop: epochs over shuffled clips, validation, checkpoint selection, early stopping,
classifier re-training (cRT) and resumable state.

Determinism: the clip order and the dropout stream of epoch ``e`` are seeded from ``(seed, e)``
alone, and the whole loop state (weights, optimiser, selection, history) is saved atomically after
every epoch in ``MODEL_DIR/train_state.pt``. A run stopped after any epoch and started again with the
same settings therefore ends with the same weights as an uninterrupted run (on CPU).

Under torchrun (:mod:`vocaltools.training.distributed`) every rank trains the model wrapped in
DistributedDataParallel on its share of each global batch; rank 0 evaluates, decides, and alone
writes the model folder and the state, which it hands to the other ranks when a run resumes.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from vocaltools.checkpoint import Checkpoint, save_checkpoint
from vocaltools.device import autocast, resolve_device, resolve_precision
from vocaltools.errors import ConfigError, ModelError
from vocaltools.formats.io import atomic_path
from vocaltools.formats.jsonl import make_record, write_jsonl
from vocaltools.formats.store import FeatureStore
from vocaltools.models.registry import build_model, count_params, get_spec
from vocaltools.training import distributed
from vocaltools.training.augment import augment_batch, feature_scale
from vocaltools.training.batchnorm import recalibrate_batch_norm
from vocaltools.training.config import TrainConfig
from vocaltools.training.data import (ClipSet, ItemCache, frames_per_second_of, make_clip_set,
                                      training_labels)
from vocaltools.training.loader import EpochBatches, make_train_loader, resolve_workers
from vocaltools.training.losses import class_weights, classification_loss
from vocaltools.training.metrics import clip_metrics

STATE_NAME = "train_state.pt"
#: sub-folder of a cRT run's model folder with the stage-1 model (before classifier re-training)
STAGE1_DIR = "stage1"
STATE_FORMAT = "vocaltools.train-state"


@dataclass(frozen=True)
class EpochRecord:
    """One line of ``history.jsonl`` (``vocaltools.history/1``)."""

    epoch: int
    stage: str
    train_loss: float
    val_loss: float | None
    val_accuracy: float | None
    val_f1: float | None
    lr: float
    seconds: float
    improved: bool

    def to_record(self) -> dict[str, Any]:
        return make_record("history", **self.__dict__)


@dataclass(frozen=True)
class Progress:
    """What a progress callback receives: once per batch (``batch`` set) and once per epoch."""

    epoch: int
    total_epochs: int
    stage: str
    batch: int | None
    n_batches: int
    loss: float
    record: EpochRecord | None = None


@dataclass(frozen=True)
class TrainResult:
    """``finished`` is False when the call stopped early on ``max_epochs_this_call`` (resume by
    calling again with the same settings)."""

    model_dir: Path
    finished: bool
    summary: dict[str, Any]


def _optimizer(config: TrainConfig, parameters) -> torch.optim.Optimizer:
    parameters = [p for p in parameters if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adagrad":
        return torch.optim.Adagrad(parameters, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(parameters, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)


def _classifier(model: nn.Module) -> nn.Module:
    classifier = getattr(model, "classifier", None)
    if not isinstance(classifier, nn.Module):
        raise ModelError("classifier re-training needs a model with a '.classifier' sub-module")
    return classifier


def _enter_crt(model: nn.Module, *, reinitialise: bool) -> None:
    """Freeze everything but ``model.classifier`` (cRT, Kang et al. 2020); re-initialise it."""
    classifier = _classifier(model)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for module in classifier.modules():
        for parameter in module.parameters(recurse=False):
            parameter.requires_grad_(True)
        if reinitialise and hasattr(module, "reset_parameters"):
            module.reset_parameters()


def _train_mode(model: nn.Module, stage: str) -> None:
    if stage == "crt":  # frozen feature extractor: BatchNorm statistics and dropout fixed
        model.eval()
        _classifier(model).train()
    else:
        model.train()


def _epoch_seed(seed: int, epoch: int, stream: int) -> int:
    return (seed * 1_000_003 + epoch * 7_919 + stream) % (2**63 - 1)


@torch.no_grad()
def predict_clip_set(model: nn.Module, clip_set: ClipSet, cache: ItemCache, *, batch_size: int,
                     device: torch.device, precision: str = "fp32") -> np.ndarray:
    """Softmax probabilities ``float32 [n_clips, n_classes]`` of every clip, in clip order
    (``precision``: ``fp32``, ``bf16`` or ``fp16`` autocast)."""
    model.eval()
    outputs = []
    for x, _ in clip_set.batches(cache, batch_size=batch_size):
        with autocast(device, precision):
            logits = model(torch.from_numpy(x).to(device))
        outputs.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    if not outputs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(outputs)


def _evaluate(model, clip_set, cache, *, batch_size, device, precision) -> dict[str, Any]:
    if len(clip_set) == 0:
        return {"n_clips": 0}
    probabilities = predict_clip_set(model, clip_set, cache, batch_size=batch_size, device=device,
                                     precision=precision)
    true = clip_set.label_indices()
    metrics = clip_metrics(true_indices=true, probabilities=probabilities)
    picked = probabilities[np.arange(len(true)), true]
    metrics["loss"] = float(-np.log(np.clip(picked, 1e-12, None)).mean())
    return metrics


def _precise_batch_norm(model: nn.Module, clip_set: ClipSet, cache: ItemCache, *, config: TrainConfig,
                        batch_size: int, epoch: int, stage: str, device: torch.device,
                        precision: str) -> None:
    """BatchNorm statistics of the trainable layers averaged over up to ``config.precise_bn``
    training clips, drawn by a seeded permutation (the same whether a run was resumed or not)."""
    order = torch.randperm(len(clip_set), generator=torch.Generator().manual_seed(
        _epoch_seed(config.seed, epoch, 4)))[:config.precise_bn]
    batches = (torch.from_numpy(x).to(device)
               for x, _ in clip_set.batches(cache, batch_size=batch_size, order=order.tolist()))
    with autocast(device, precision):
        recalibrate_batch_norm(model, batches, set_train_mode=lambda m: _train_mode(m, stage))


def _selection_value(select: str, metrics: Mapping[str, Any]) -> float:
    """A value to maximise."""
    if select == "val_loss":
        return -metrics["loss"]
    if select == "val_f1":
        return metrics["f1_weighted"]
    return metrics["accuracy"]


def _state_identity(config: TrainConfig, split: Mapping[str, str], labels) -> dict[str, Any]:
    """What must match for a saved state to be resumed."""
    identity = config.to_dict()
    identity.pop("device")
    identity.pop("precision")
    return {"config": json.dumps(identity, sort_keys=True),
            "split": json.dumps(sorted(split.items())), "labels": list(labels)}


def check_store_inputs(feature_config: Mapping[str, Any], *, model: str, where: str) -> None:
    """The store's front ends must include every array the model reads (``spec.inputs``)."""
    from vocaltools.features import FeatureConfig

    spec = get_spec(model)
    names = FeatureConfig.from_dict(dict(feature_config)).names
    missing = [name for name in spec.inputs if name not in names]
    if missing:
        raise ModelError(f"{where}: {model} reads the feature arrays {list(spec.inputs)}, but this "
                         f"store holds {list(names)} (preset {feature_config.get('preset')!r}); "
                         f"featurize with '--preset {spec.preset}'")


def train_model(*, store: FeatureStore, config: TrainConfig, split: Mapping[str, str],
                model_dir: str | Path, progress: Callable[[Progress], None] | None = None,
                name: str | None = None) -> TrainResult:
    """Train ``config.model`` on the ``train`` items of ``split``, select on ``validation``, report
    clip-level metrics on ``test``, and write the model folder.

    ``MODEL_DIR`` receives ``checkpoint.pt``, ``labels.txt``, ``split.jsonl``, ``history.jsonl``,
    ``training-curve.png`` and ``summary.json``; while a run is unfinished also ``train_state.pt``,
    from which a later call with the same settings resumes. A cRT strategy also writes
    ``stage1/checkpoint.pt`` and ``stage1/split.jsonl``: the stage-1 model it re-trained the
    classifier of (``predict --model MODEL_DIR/stage1``).
    """
    from vocaltools.datasets.splits import write_split

    model_dir = Path(model_dir)
    context = distributed.current()
    if context.is_main:
        model_dir.mkdir(parents=True, exist_ok=True)
    else:
        progress = None  # one progress output: rank 0's
    spec = get_spec(config.model)
    if spec.task != "classify":
        raise ModelError(f"{config.model} is an {spec.task} model; 'train' fits classifiers")
    feature_config = store.feature_config()
    check_store_inputs(feature_config, model=config.model, where=str(store.root))
    fps = frames_per_second_of(feature_config)
    scale = feature_scale(feature_config)
    items = store.items()
    unknown = sorted(set(split) - {i.item_id for i in items})
    by_split = {s: [i for i in items if split.get(i.item_id) == s] for s in ("train", "validation", "test")}
    if not by_split["train"]:
        raise ConfigError(f"the split gives no item of {store.root} to training")
    labels = training_labels(by_split["train"], target=config.target)
    sets, left_out = {}, {}
    for name_, members in by_split.items():
        sets[name_], left_out[name_] = make_clip_set(members, target=config.target, labels=labels,
                                                     clip=config.clip, frames_per_second=fps)
    if len(sets["train"]) == 0:
        raise ConfigError(f"no training clip of {config.clip.clip_seconds} s: the training items are "
                          "all shorter than one clip; use a shorter --clip-seconds")
    cache = ItemCache(store, inputs=spec.inputs, model=config.model, preset=spec.preset)
    cache.get(sets["train"].items[0])  # fail early when the store lacks the model's inputs
    distributed.per_rank_batch_size(config.batch_size, context)  # refuses a batch that does not divide
    if context.is_main:
        write_split(split, model_dir / "split.jsonl")

    device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    precision = resolve_precision(config.precision, device)
    torch.manual_seed(config.seed)
    model_options = {**dict(spec.options), **dict(config.model_options)}
    model = build_model(config.model, n_classes=len(labels), **dict(config.model_options)).to(device)

    counts = np.bincount(sets["train"].label_indices(), minlength=len(labels))
    weighted = torch.from_numpy(class_weights(counts, alpha=config.alpha)).to(device)
    has_validation = len(sets["validation"]) > 0
    select = config.select if has_validation else "last"

    identity = _state_identity(config, split, labels)
    state_path = model_dir / STATE_NAME
    optimizer = _optimizer(config, model.parameters())
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    start = {"next_epoch": 0, "stage": "joint", "best_value": -math.inf, "best_state": None,
             "best_epoch": -1, "bad_epochs": 0, "history": []}
    saved = None
    if context.is_main and state_path.is_file():
        saved = torch.load(state_path, map_location="cpu", weights_only=True)
        if saved.get("format") != STATE_FORMAT or saved.get("identity") != identity:
            saved = None  # a state of other settings is ignored and overwritten: this is a new run
    saved = distributed.broadcast_object(saved, context=context)  # rank 0's disk decides
    if saved is not None:
        if saved["loop"]["stage"] == "crt":
            _enter_crt(model, reinitialise=False)
            optimizer = _optimizer(config, _classifier(model).parameters())
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if scaler is not None and saved.get("scaler"):
            scaler.load_state_dict(saved["scaler"])
        start = saved["loop"]
    loop = dict(start)
    history = [EpochRecord(**r) for r in loop["history"]]
    total_epochs = config.total_epochs
    epochs_this_call = 0

    workers = resolve_workers(config.workers, device=device)
    batches = EpochBatches(len(sets["train"]), batch_size=config.batch_size, context=context)
    loader = make_train_loader(sets["train"], cache, batches=batches, workers=workers, device=device)
    n_batches = len(batches)
    runner = _runner(model, config=config, device=device, context=context)

    while loop["next_epoch"] < total_epochs:
        epoch = loop["next_epoch"]
        if config.max_epochs_this_call is not None and epochs_this_call >= config.max_epochs_this_call:
            break
        if loop["stage"] == "joint" and epoch >= config.epochs:
            # stage 1 over: continue from its selected weights with classifier re-training
            if loop["best_state"] is not None:
                model.load_state_dict(loop["best_state"])
            if context.is_main:  # kept so that what cRT changed can be measured on the same run
                save_checkpoint(model_dir / STAGE1_DIR / "checkpoint.pt", Checkpoint(
                    model=config.model, model_options=model_options, n_classes=len(labels),
                    task=spec.task, inputs=spec.inputs, labels=labels, target=config.target,
                    feature_config=feature_config, clip_config=config.clip.to_dict(),
                    state_dict=model.state_dict(),
                    summary={"stage": "joint", "config": config.to_dict(),
                             "best_epoch": loop["best_epoch"] + 1, "epochs_run": epoch}))
                write_split(split, model_dir / STAGE1_DIR / "split.jsonl")
            torch.manual_seed(_epoch_seed(config.seed, epoch, 3))  # the same whether resumed or not
            _enter_crt(model, reinitialise=True)
            optimizer = _optimizer(config, _classifier(model).parameters())
            runner = _runner(model, config=config, device=device, context=context)
            loop.update(stage="crt", best_value=-math.inf, best_state=None, best_epoch=-1, bad_epochs=0)
        stage = loop["stage"]
        use_weights = (config.strategy == "joint" and config.alpha > 0) or \
            (config.strategy == "crt_wfc") or (stage == "crt")
        weights = weighted if use_weights else None

        started = time.perf_counter()
        order = torch.randperm(len(sets["train"]),
                               generator=torch.Generator().manual_seed(_epoch_seed(config.seed, epoch, 1)))
        batches.set_order(order.tolist())
        # dropout: the one-process stream on rank 0, other streams on the other ranks
        torch.manual_seed(_epoch_seed(config.seed, epoch, 2) + context.rank)
        if device.type == "cuda":
            torch.cuda.manual_seed_all(_epoch_seed(config.seed, epoch, 2) + context.rank)
        _train_mode(model, stage)
        # augmentation draws: seeded by (seed, epoch, rank), the same whether resumed or not
        augment_rng = np.random.default_rng(_epoch_seed(config.seed, epoch, 5) + context.rank) \
            if config.augment.enabled else None
        total_loss, seen = 0.0, 0
        for batch_index, (x, y) in enumerate(loader):
            if augment_rng is not None:
                x = augment_batch(x, config=config.augment, rng=augment_rng,
                                  frames_per_second=fps, scale=scale)
            xt = x.to(device, non_blocking=True)
            yt = y.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with autocast(device, precision):
                logits = _forward(runner, xt, compiled=config.compile and batch_index == 0)
            loss = classification_loss(model, logits, yt, weights=weights,
                                       label_smoothing=config.label_smoothing)
            if not torch.isfinite(loss):
                raise ModelError(f"epoch {epoch + 1}: the training loss became {loss.item()}; "
                                 "lower --lr")
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            total_loss += loss.item() * len(y)
            seen += len(y)
            if progress:
                progress(Progress(epoch, total_epochs, stage, batch_index, n_batches, total_loss / seen))
        total_loss, seen = distributed.sum_over_ranks([total_loss, seen], context=context, device=device)
        train_loss = total_loss / max(seen, 1)
        distributed.broadcast_buffers(model, context=context)  # every rank: rank 0's model
        # every rank alike: the same clips through the same weights. Training in train mode never
        # reads the statistics, so without validation (the last epoch kept) only the last epoch
        # of each stage needs them: its weights are the ones saved.
        stage_end = config.epochs if stage == "joint" and config.strategy != "joint" else total_epochs
        if config.precise_bn and (has_validation or epoch + 1 == stage_end):
            _precise_batch_norm(model, sets["train"], cache, config=config, epoch=epoch, stage=stage,
                                batch_size=distributed.per_rank_batch_size(config.batch_size, context),
                                device=device, precision=precision)

        val = {}
        if has_validation and context.is_main:
            val = _evaluate(model, sets["validation"], cache, batch_size=config.batch_size,
                            device=device, precision=precision)
        val = distributed.broadcast_object(val, context=context)
        value = _selection_value(select, val) if select != "last" else float(epoch)
        improved = value > loop["best_value"]
        if improved:
            loop.update(best_value=value, best_epoch=epoch, bad_epochs=0,
                        best_state={k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        else:
            loop["bad_epochs"] += 1
        record = EpochRecord(epoch=epoch + 1, stage=stage, train_loss=train_loss,
                             val_loss=val.get("loss"), val_accuracy=val.get("accuracy"),
                             val_f1=val.get("f1_weighted"), lr=config.lr,
                             seconds=round(time.perf_counter() - started, 3), improved=improved)
        history.append(record)
        loop["history"] = [r.__dict__ for r in history]
        loop["next_epoch"] = epoch + 1
        stop = config.patience is not None and config.patience > 0 and select != "last" \
            and loop["bad_epochs"] >= config.patience
        if stop:  # early stopping ends the current stage
            loop["next_epoch"] = config.epochs if stage == "joint" and config.total_epochs > config.epochs \
                else total_epochs
        epochs_this_call += 1
        if context.is_main:
            _save_state(state_path, identity=identity, model=model, optimizer=optimizer, loop=loop,
                        scaler=scaler)
            write_jsonl(model_dir / "history.jsonl", (r.to_record() for r in history))
        if progress:
            progress(Progress(epoch, total_epochs, stage, None, n_batches, train_loss, record))

    if loop["next_epoch"] < total_epochs:
        return TrainResult(model_dir, False, {"epochs_done": loop["next_epoch"]})
    summary = None
    if context.is_main:  # rank 0 evaluates the selection and writes the folder
        # the selected weights (or the last ones when nothing was selected)
        if loop["best_state"] is not None:
            model.load_state_dict(loop["best_state"])
        metrics = {split_name: _evaluate(model, sets[split_name], cache, batch_size=config.batch_size,
                                         device=device, precision=precision)
                   for split_name in ("validation", "test")}
        summary = {
            "name": name or model_dir.name, "model": config.model, "target": config.target,
            "n_classes": len(labels), "params": count_params(model),
            "config": config.to_dict(), "selection": select, "best_epoch": loop["best_epoch"] + 1,
            "epochs_run": len(history), "device": str(device), "precision": precision,
            "world_size": context.world_size, "workers": workers, "compiled": config.compile,
            "frames_per_second": fps, "clip_frames": config.clip.frames(frames_per_second=fps)[0],
            "n_items": {k: len(v) for k, v in by_split.items()},
            "n_clips": {k: len(v) for k, v in sets.items()},
            "items_left_out": left_out, "split_items_not_in_store": len(unknown),
            "train_class_counts": {labels[i]: int(c) for i, c in enumerate(counts)},
            "validation": metrics["validation"], "test": metrics["test"],
            "seconds": round(sum(r.seconds for r in history), 3),
        }
        checkpoint = Checkpoint(
            model=config.model, model_options=model_options, n_classes=len(labels), task=spec.task,
            inputs=spec.inputs, labels=labels, target=config.target, feature_config=feature_config,
            clip_config=config.clip.to_dict(), state_dict=model.state_dict(), summary=summary)
        save_checkpoint(model_dir, checkpoint)
        with atomic_path(model_dir / "labels.txt") as tmp:
            tmp.write_text("".join(f"{label}\n" for label in labels), encoding="utf-8")
        with atomic_path(model_dir / "summary.json") as tmp:
            tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
        plot_history(history, model_dir / "training-curve.png", title=f"{config.model} -> {config.target}",
                     selected_epoch=loop["best_epoch"] + 1 if loop["best_state"] is not None else None)
        (model_dir / STATE_NAME).unlink(missing_ok=True)
    summary = distributed.broadcast_object(summary, context=context)
    return TrainResult(model_dir, True, summary)


def _runner(model: nn.Module, *, config: TrainConfig, device: torch.device,
            context: distributed.DistributedContext) -> nn.Module:
    """What the training steps call: ``model``, in DistributedDataParallel under torchrun, through
    ``torch.compile`` with ``config.compile``. Weights are saved from ``model`` itself."""
    runner = distributed.wrap_model(model, device=device, context=context)
    if config.compile:
        runner = torch.compile(runner)
    return runner


def _forward(runner: nn.Module, x: torch.Tensor, *, compiled: bool) -> torch.Tensor:
    """``runner(x)``; a failure of the first compiled step is a :class:`ModelError` naming --compile."""
    if not compiled:
        return runner(x)
    try:
        return runner(x)
    except Exception as error:  # torch.compile fails in many ways (no compiler, unsupported op)
        raise ModelError(f"torch.compile failed on the first training step ({type(error).__name__}: "
                         f"{str(error).strip().splitlines()[0] if str(error).strip() else ''}); "
                         "train without --compile") from error


def _save_state(path: Path, *, identity, model: nn.Module, optimizer, loop: Mapping[str, Any],
                scaler=None) -> None:
    data = {"format": STATE_FORMAT, "identity": identity,
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "optimizer": optimizer.state_dict(), "loop": copy.copy(dict(loop)),
            "scaler": scaler.state_dict() if scaler is not None else {}}
    with atomic_path(path) as tmp:
        torch.save(data, tmp)


def plot_history(history, path: Path, *, title: str, selected_epoch: int | None = None) -> None:
    """Training and validation loss (left) and validation accuracy / F1 (right) per epoch; a dashed
    line marks the selected epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r.epoch for r in history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [r.train_loss for r in history], label="train loss")
    if any(r.val_loss is not None for r in history):
        left.plot(epochs, [r.val_loss if r.val_loss is not None else np.nan for r in history],
                  label="validation loss")
    if any(r.val_accuracy is not None for r in history):  # the contrastive objective has none
        right.plot(epochs, [r.val_accuracy if r.val_accuracy is not None else np.nan for r in history],
                   label="validation accuracy")
        right.plot(epochs, [r.val_f1 if r.val_f1 is not None else np.nan for r in history],
                   label="validation weighted F1")
    if selected_epoch is not None:
        for axis in (left, right):
            axis.axvline(selected_epoch, color="grey", linestyle="--", linewidth=1,
                         label="selected" if axis is left else None)
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.legend()
    right.set_xlabel("epoch")
    right.set_ylim(0, 1)
    if right.get_legend_handles_labels()[0]:
        right.legend()
    else:
        right.set_visible(False)
    figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=80)
    plt.close(figure)
