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
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from vocaltools.checkpoint import Checkpoint, save_checkpoint
from vocaltools.device import autocast, resolve_device, resolve_precision
from vocaltools.errors import ConfigError, ModelError
from vocaltools.formats.io import atomic_path
from vocaltools.formats.store import FeatureStore
from vocaltools.models.registry import build_model, count_params, get_spec
from vocaltools.training import distributed
from vocaltools.training.augment import augment_batch, feature_scale
from vocaltools.training.batchnorm import recalibrate_batch_norm
from vocaltools.training.config import TrainConfig
from vocaltools.training.data import ClipSet, ItemCache, make_clip_set, training_labels
from vocaltools.training.loader import EpochBatches, make_train_loader, resolve_workers
from vocaltools.training.losses import class_weights, classification_loss
from vocaltools.training.metrics import clip_metrics
from vocaltools.training.model_folder import EpochRecord, write_history, write_model_folder

if TYPE_CHECKING:
    from vocaltools.features import FeatureConfig

STATE_NAME = "train_state.pt"
#: sub-folder of a cRT run's model folder with the stage-1 model (before classifier re-training)
STAGE1_DIR = "stage1"
STATE_FORMAT = "vocaltools.train-state"


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


def check_store_inputs(features: "FeatureConfig", *, model: str, where: str) -> None:
    """The store's front ends must include every array the model reads (``spec.inputs``)."""
    spec = get_spec(model)
    missing = [name for name in spec.inputs if name not in features.names]
    if missing:
        raise ModelError(f"{where}: {model} reads the feature arrays {list(spec.inputs)}, but this "
                         f"store holds {list(features.names)} (preset {features.preset!r}); "
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
    run = _ClassifyRun(store=store, config=config, split=split, model_dir=Path(model_dir),
                       progress=progress, name=name)
    run.resume()
    run.start_loader()
    epochs_this_call = 0
    while run.loop["next_epoch"] < config.total_epochs:
        if config.max_epochs_this_call is not None and epochs_this_call >= config.max_epochs_this_call:
            break
        run.train_epoch(run.loop["next_epoch"])
        epochs_this_call += 1
    if run.loop["next_epoch"] < config.total_epochs:
        return TrainResult(run.model_dir, False, {"epochs_done": run.loop["next_epoch"]})
    summary = run.finish() if run.context.is_main else None  # rank 0 evaluates and writes
    summary = distributed.broadcast_object(summary, context=run.context)
    return TrainResult(run.model_dir, True, summary)


class _ClassifyRun:
    """One call of :func:`train_model`, in the steps it names: set-up (data, model, optimiser),
    :meth:`resume`, :meth:`start_loader`, :meth:`train_epoch` (cRT entry, the epoch's batches,
    precise BN, validation, selection, early stopping, the saved state) and :meth:`finish`
    (final evaluation, summary and the model folder)."""

    def __init__(self, *, store: FeatureStore, config: TrainConfig, split: Mapping[str, str],
                 model_dir: Path, progress: Callable[[Progress], None] | None, name: str | None):
        self.store, self.config, self.split, self.model_dir = store, config, split, model_dir
        self.name = name
        self.context = distributed.current()
        if self.context.is_main:
            model_dir.mkdir(parents=True, exist_ok=True)
        self.progress = progress if self.context.is_main else None  # one progress output: rank 0's
        self.spec = get_spec(config.model)
        if self.spec.task != "classify":
            raise ModelError(f"{config.model} is an {self.spec.task} model; 'train' fits classifiers")
        self._prepare_data()
        self._build_model()

    def _prepare_data(self) -> None:
        """The store's clips of every side of the split, and the labels of the training side."""
        from vocaltools.datasets.splits import write_split
        from vocaltools.features import FeatureConfig

        config, store, split = self.config, self.store, self.split
        self.feature_config = store.feature_config()  # as stored: what checkpoints record
        self.features = FeatureConfig.from_dict(self.feature_config)  # parsed once
        check_store_inputs(self.features, model=config.model, where=str(store.root))
        self.fps = float(self.features.frames_per_second)
        self.scale = feature_scale(self.features)
        items = store.items()
        self.n_unknown = len(set(split) - {i.item_id for i in items})
        self.by_split = {s: [i for i in items if split.get(i.item_id) == s]
                         for s in ("train", "validation", "test")}
        if not self.by_split["train"]:
            raise ConfigError(f"the split gives no item of {store.root} to training")
        self.labels = training_labels(self.by_split["train"], target=config.target)
        self.sets, self.left_out = {}, {}
        for side, members in self.by_split.items():
            self.sets[side], self.left_out[side] = make_clip_set(
                members, target=config.target, labels=self.labels, clip=config.clip,
                frames_per_second=self.fps)
        if len(self.sets["train"]) == 0:
            raise ConfigError(f"no training clip of {config.clip.clip_seconds} s: the training items "
                              "are all shorter than one clip; use a shorter --clip-seconds")
        self.cache = ItemCache(store, inputs=self.spec.inputs, model=config.model,
                               preset=self.spec.preset)
        self.cache.get(self.sets["train"].items[0])  # fail early when the store lacks the inputs
        distributed.per_rank_batch_size(config.batch_size, self.context)  # refuses an uneven batch
        if self.context.is_main:
            write_split(split, self.model_dir / "split.jsonl")

    def _build_model(self) -> None:
        """Device, precision, the seeded model, loss weights, optimiser and the fresh loop state."""
        config = self.config
        self.device = resolve_device(config.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        self.precision = resolve_precision(config.precision, self.device)
        torch.manual_seed(config.seed)
        self.model_options = {**dict(self.spec.options), **dict(config.model_options)}
        self.model = build_model(config.model, n_classes=len(self.labels),
                                 **dict(config.model_options)).to(self.device)
        self.counts = np.bincount(self.sets["train"].label_indices(), minlength=len(self.labels))
        self.weighted = torch.from_numpy(class_weights(self.counts, alpha=config.alpha)).to(self.device)
        self.has_validation = len(self.sets["validation"]) > 0
        self.select = config.select if self.has_validation else "last"
        self.identity = _state_identity(config, self.split, self.labels)
        self.state_path = self.model_dir / STATE_NAME
        self.optimizer = _optimizer(config, self.model.parameters())
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None
        self.loop: dict[str, Any] = {"next_epoch": 0, "stage": "joint", "best_value": -math.inf,
                                     "best_state": None, "best_epoch": -1, "bad_epochs": 0,
                                     "history": []}
        self.history: list[EpochRecord] = []

    def resume(self) -> None:
        """Continue from ``train_state.pt`` when it holds a run of these settings (rank 0's disk
        decides; a state of other settings is ignored and overwritten: this is a new run)."""
        saved = None
        if self.context.is_main and self.state_path.is_file():
            saved = torch.load(self.state_path, map_location="cpu", weights_only=True)
            if saved.get("format") != STATE_FORMAT or saved.get("identity") != self.identity:
                saved = None
        saved = distributed.broadcast_object(saved, context=self.context)
        if saved is not None:
            if saved["loop"]["stage"] == "crt":
                _enter_crt(self.model, reinitialise=False)
                self.optimizer = _optimizer(self.config, _classifier(self.model).parameters())
            self.model.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
            if self.scaler is not None and saved.get("scaler"):
                self.scaler.load_state_dict(saved["scaler"])
            self.loop = saved["loop"]
        self.loop = dict(self.loop)
        self.history = [EpochRecord(**r) for r in self.loop["history"]]

    def start_loader(self) -> None:
        """The training batches (this rank's share of each global batch) and what runs them."""
        self.workers = resolve_workers(self.config.workers, device=self.device)
        self.batches = EpochBatches(len(self.sets["train"]), batch_size=self.config.batch_size,
                                    context=self.context)
        self.loader = make_train_loader(self.sets["train"], self.cache, batches=self.batches,
                                        workers=self.workers, device=self.device)
        self.runner = _runner(self.model, config=self.config, device=self.device,
                              context=self.context)

    def _checkpoint(self, summary: Mapping[str, Any]) -> Checkpoint:
        """The model as it is now, with ``summary``."""
        config = self.config
        return Checkpoint(
            model=config.model, model_options=self.model_options, n_classes=len(self.labels),
            task=self.spec.task, inputs=self.spec.inputs, labels=self.labels, target=config.target,
            feature_config=self.feature_config, clip_config=config.clip.to_dict(),
            state_dict=self.model.state_dict(), summary=summary)

    def _start_crt(self, epoch: int) -> None:
        """Stage 1 is over: keep its selected model in ``stage1/`` (so that what cRT changed can be
        measured on the same run), then re-train the classifier from those weights."""
        from vocaltools.datasets.splits import write_split

        config, loop = self.config, self.loop
        if loop["best_state"] is not None:
            self.model.load_state_dict(loop["best_state"])
        if self.context.is_main:
            save_checkpoint(self.model_dir / STAGE1_DIR / "checkpoint.pt", self._checkpoint(
                {"stage": "joint", "config": config.to_dict(),
                 "best_epoch": loop["best_epoch"] + 1, "epochs_run": epoch}))
            write_split(self.split, self.model_dir / STAGE1_DIR / "split.jsonl")
        torch.manual_seed(_epoch_seed(config.seed, epoch, 3))  # the same whether resumed or not
        _enter_crt(self.model, reinitialise=True)
        self.optimizer = _optimizer(config, _classifier(self.model).parameters())
        self.runner = _runner(self.model, config=config, device=self.device, context=self.context)
        loop.update(stage="crt", best_value=-math.inf, best_state=None, best_epoch=-1, bad_epochs=0)

    def train_epoch(self, epoch: int) -> None:
        """Epoch ``epoch`` (0-based): train, recalibrate BatchNorm, validate, select, save."""
        config = self.config
        if self.loop["stage"] == "joint" and epoch >= config.epochs:
            self._start_crt(epoch)
        stage = self.loop["stage"]
        started = time.perf_counter()
        train_loss = self._fit_batches(epoch, stage)
        distributed.broadcast_buffers(self.model, context=self.context)  # every rank: rank 0's model
        # every rank alike: the same clips through the same weights. Training in train mode never
        # reads the statistics, so without validation (the last epoch kept) only the last epoch
        # of each stage needs them: its weights are the ones saved.
        stage_end = config.epochs if stage == "joint" and config.strategy != "joint" \
            else config.total_epochs
        if config.precise_bn and (self.has_validation or epoch + 1 == stage_end):
            _precise_batch_norm(self.model, self.sets["train"], self.cache, config=config,
                                epoch=epoch, stage=stage,
                                batch_size=distributed.per_rank_batch_size(config.batch_size,
                                                                           self.context),
                                device=self.device, precision=self.precision)
        val = {}
        if self.has_validation and self.context.is_main:
            val = _evaluate(self.model, self.sets["validation"], self.cache,
                            batch_size=config.batch_size, device=self.device,
                            precision=self.precision)
        val = distributed.broadcast_object(val, context=self.context)
        improved = self._update_selection(epoch, val)
        record = EpochRecord(epoch=epoch + 1, stage=stage, train_loss=train_loss,
                             val_loss=val.get("loss"), val_accuracy=val.get("accuracy"),
                             val_f1=val.get("f1_weighted"), lr=config.lr,
                             seconds=round(time.perf_counter() - started, 3), improved=improved)
        self._end_epoch(epoch, stage, record)

    def _fit_batches(self, epoch: int, stage: str) -> float:
        """One pass over this epoch's seeded clip order; the mean training loss over all ranks."""
        config, device, context = self.config, self.device, self.context
        use_weights = (config.strategy == "joint" and config.alpha > 0) or \
            (config.strategy == "crt_wfc") or (stage == "crt")
        weights = self.weighted if use_weights else None
        order = torch.randperm(len(self.sets["train"]), generator=torch.Generator().manual_seed(
            _epoch_seed(config.seed, epoch, 1)))
        self.batches.set_order(order.tolist())
        # dropout: the one-process stream on rank 0, other streams on the other ranks
        torch.manual_seed(_epoch_seed(config.seed, epoch, 2) + context.rank)
        if device.type == "cuda":
            torch.cuda.manual_seed_all(_epoch_seed(config.seed, epoch, 2) + context.rank)
        _train_mode(self.model, stage)
        # augmentation draws: seeded by (seed, epoch, rank), the same whether resumed or not
        augment_rng = np.random.default_rng(_epoch_seed(config.seed, epoch, 5) + context.rank) \
            if config.augment.enabled else None
        n_batches = len(self.batches)
        total_loss, seen = 0.0, 0
        for batch_index, (x, y) in enumerate(self.loader):
            if augment_rng is not None:
                x = augment_batch(x, config=config.augment, rng=augment_rng,
                                  frames_per_second=self.fps, scale=self.scale)
            xt = x.to(device, non_blocking=True)
            yt = y.to(device, non_blocking=True)
            self.optimizer.zero_grad(set_to_none=True)
            with autocast(device, self.precision):
                logits = _forward(self.runner, xt, compiled=config.compile and batch_index == 0)
            loss = classification_loss(self.model, logits, yt, weights=weights,
                                       label_smoothing=config.label_smoothing)
            if not torch.isfinite(loss):
                raise ModelError(f"epoch {epoch + 1}: the training loss became {loss.item()}; "
                                 "lower --lr")
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                loss.backward()
                self.optimizer.step()
            total_loss += loss.item() * len(y)
            seen += len(y)
            if self.progress:
                self.progress(Progress(epoch, config.total_epochs, stage, batch_index, n_batches,
                                       total_loss / seen))
        total_loss, seen = distributed.sum_over_ranks([total_loss, seen], context=context,
                                                      device=device)
        return total_loss / max(seen, 1)

    def _update_selection(self, epoch: int, val: Mapping[str, Any]) -> bool:
        """Keep this epoch's weights when they are the best so far; True when they are."""
        loop = self.loop
        value = _selection_value(self.select, val) if self.select != "last" else float(epoch)
        improved = value > loop["best_value"]
        if improved:
            loop.update(best_value=value, best_epoch=epoch, bad_epochs=0,
                        best_state={k: v.detach().cpu().clone()
                                    for k, v in self.model.state_dict().items()})
        else:
            loop["bad_epochs"] += 1
        return improved

    def _end_epoch(self, epoch: int, stage: str, record: EpochRecord) -> None:
        """Record the epoch, stop the stage early after ``patience`` epochs without improvement,
        and save the resumable state and the history so far."""
        config, loop = self.config, self.loop
        self.history.append(record)
        loop["history"] = [r.__dict__ for r in self.history]
        loop["next_epoch"] = epoch + 1
        stop = config.patience is not None and config.patience > 0 and self.select != "last" \
            and loop["bad_epochs"] >= config.patience
        if stop:  # early stopping ends the current stage
            loop["next_epoch"] = config.epochs if stage == "joint" and \
                config.total_epochs > config.epochs else config.total_epochs
        if self.context.is_main:
            _save_state(self.state_path, identity=self.identity, model=self.model,
                        optimizer=self.optimizer, loop=loop, scaler=self.scaler)
            write_history(self.model_dir, self.history)
        if self.progress:
            self.progress(Progress(epoch, config.total_epochs, stage, None, len(self.batches),
                                   record.train_loss, record))

    def finish(self) -> dict[str, Any]:
        """Rank 0: evaluate the selected weights (the last ones when nothing was selected) on
        validation and test, write the model folder, drop the resumable state; the summary."""
        config, loop, history = self.config, self.loop, self.history
        if loop["best_state"] is not None:
            self.model.load_state_dict(loop["best_state"])
        metrics = {side: _evaluate(self.model, self.sets[side], self.cache,
                                   batch_size=config.batch_size, device=self.device,
                                   precision=self.precision)
                   for side in ("validation", "test")}
        summary = {
            "name": self.name or self.model_dir.name, "model": config.model,
            "target": config.target, "n_classes": len(self.labels),
            "params": count_params(self.model), "config": config.to_dict(),
            "selection": self.select, "best_epoch": loop["best_epoch"] + 1,
            "epochs_run": len(history), "device": str(self.device), "precision": self.precision,
            "world_size": self.context.world_size, "workers": self.workers,
            "compiled": config.compile, "frames_per_second": self.fps,
            "clip_frames": config.clip.frames(frames_per_second=self.fps)[0],
            "n_items": {k: len(v) for k, v in self.by_split.items()},
            "n_clips": {k: len(v) for k, v in self.sets.items()},
            "items_left_out": self.left_out, "split_items_not_in_store": self.n_unknown,
            "train_class_counts": {self.labels[i]: int(c) for i, c in enumerate(self.counts)},
            "validation": metrics["validation"], "test": metrics["test"],
            "seconds": round(sum(r.seconds for r in history), 3),
        }
        write_model_folder(self.model_dir, checkpoint=self._checkpoint(summary), history=history,
                           title=f"{config.model} -> {config.target}",
                           selected_epoch=loop["best_epoch"] + 1
                           if loop["best_state"] is not None else None)
        self.state_path.unlink(missing_ok=True)
        return summary


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
