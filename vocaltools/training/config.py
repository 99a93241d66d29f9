"""Training settings: the frozen dataclasses whose fields the ``train`` command's flags map onto
(:class:`TrainConfig`; :class:`SiameseConfig` for the contrastive objective, made from a
``TrainConfig`` by :meth:`SiameseConfig.from_train_config`). The command reads its defaults from
these fields. Light imports only (no numpy, no torch): the command line imports this module.

Per-seed defaults (optimiser, learning rate, batch size, weight decay, clip length) come from the
model's catalog seed (:data:`SEED_DEFAULTS`); any field given explicitly overrides them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping

from vocaltools.device import PRECISIONS
from vocaltools.errors import ConfigError
from vocaltools.segments import SEED_CLIPS, ClipConfig
from vocaltools.training.augment import AugmentConfig

OPTIMIZERS = ("adam", "adagrad", "sgd")
SELECT = ("val_loss", "val_f1", "val_accuracy", "last")
STRATEGIES = ("joint", "crt_wc", "crt_wfc")


@dataclass(frozen=True)
class SeedDefaults:
    """The training recipe of one seed paper."""

    optimizer: str
    lr: float
    batch_size: int
    weight_decay: float
    clip: ClipConfig
    epochs: int
    patience: int | None


# S1 Adam 1e-4 batch 16; S2 Adam 1e-4 batch 32 with L2 1e-6 (as weight decay); S3 Adam 1e-4 batch 64;
# S4 Adagrad batch 16 (Keras' Adagrad default lr 1e-3), early stopping patience 30.
SEED_DEFAULTS: dict[str, SeedDefaults] = {
    "S1": SeedDefaults("adam", 1e-4, 16, 0.0, SEED_CLIPS["S1"], 100, 10),
    "S2": SeedDefaults("adam", 1e-4, 32, 1e-6, SEED_CLIPS["S2"], 200, 50),
    "S3": SeedDefaults("adam", 1e-4, 64, 0.0, SEED_CLIPS["S3"], 200, None),
    "S4": SeedDefaults("adagrad", 1e-3, 16, 0.0, SEED_CLIPS["S4"], 400, 30),
    "": SeedDefaults("adam", 1e-3, 16, 0.0, SEED_CLIPS[""], 30, 10),
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (written into the checkpoint and summary).

    Parameters
    ----------
    model : registry name; ``model_options`` override its catalog options.
    target : the item field to predict (e.g. ``singer``).
    clip : how items are cut into clips.
    optimizer, lr, batch_size, weight_decay : the optimiser (weight decay = L2 on all weights).
        Under torchrun ``batch_size`` is the global batch, divided evenly among the processes.
    epochs : maximum epochs of the (first) stage; ``patience``: early stopping after this many
        epochs without improvement of the selection metric (``None`` = off).
    select : checkpoint selection on the validation split (``val_loss``, ``val_f1``,
        ``val_accuracy``) or ``last``; never on test.
    alpha : class weights ``w_c = 1 / n_c ** alpha`` (``n_c`` training clips of class ``c``).
    strategy : ``joint`` (weighted CE throughout), ``crt_wfc`` (weighted, then classifier
        re-training weighted), ``crt_wc`` (unweighted, then classifier re-training weighted).
    crt_epochs : epochs of the classifier re-training stage.
    seed : seeds data order, initialisation and dropout; a run is deterministic on CPU.
    device : ``auto``, ``cpu`` or ``cuda``.
    precision : ``fp32``; ``bf16`` (autocast to bfloat16, CPU and CUDA); ``fp16`` (autocast to
        float16 with a gradient scaler, CUDA only); ``auto``: bf16 on CUDA, fp32 on CPU.
    max_epochs_this_call : stop after this many epochs in this call, keeping a resumable state
        (used to split a run into several calls, and by tests to simulate an interruption).
    threads : CPU threads for torch (``None``: torch's default). One thread is much faster than
        several on a machine whose cores are busy with other work.
    workers : DataLoader worker processes cutting training clips (``None``: 0 on CPU, up to 4 on
        CUDA); the batches and results do not depend on it.
    compile : run the training forward and backward through ``torch.compile``.
    precise_bn : after every epoch, BatchNorm statistics are recomputed as averages over this many
        training clips (a seeded sample) before validation and saving
        (:mod:`vocaltools.training.batchnorm`); 0 keeps the running averages of training. Without
        a validation set only the last epoch of each stage recomputes them (the saved weights).
    augment : training-clip augmentation (:mod:`vocaltools.training.augment`; off by default).
    label_smoothing : cross-entropy against ``(1 - e) x one-hot + e / n_classes`` (0 = off).
    """

    model: str
    target: str
    clip: ClipConfig
    optimizer: str = "adam"
    lr: float = 1e-4
    batch_size: int = 16
    weight_decay: float = 0.0
    epochs: int = 100
    patience: int | None = 10
    select: str = "val_loss"
    alpha: float = 0.0
    strategy: str = "joint"
    crt_epochs: int = 0
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    model_options: Mapping[str, Any] = field(default_factory=dict)
    max_epochs_this_call: int | None = None
    threads: int | None = None
    workers: int | None = None
    compile: bool = False
    precise_bn: int = 8192
    augment: AugmentConfig = AugmentConfig()
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; choose one of {OPTIMIZERS}")
        if self.select not in SELECT:
            raise ConfigError(f"unknown selection {self.select!r}; choose one of {SELECT}")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"unknown strategy {self.strategy!r}; choose one of {STRATEGIES}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"unknown device {self.device!r}; choose auto, cpu or cuda")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}; choose one of {PRECISIONS}")
        if self.precise_bn < 0:
            raise ConfigError(f"precise_bn must be >= 0 clips, got {self.precise_bn}")
        if self.workers is not None and self.workers < 0:
            raise ConfigError(f"workers must be >= 0, got {self.workers}")
        if self.batch_size < 1 or self.epochs < 1 or self.lr <= 0:
            raise ConfigError("batch_size and epochs must be >= 1 and lr > 0")
        if self.strategy != "joint" and self.crt_epochs < 1:
            raise ConfigError(f"strategy {self.strategy} needs crt_epochs >= 1")
        if self.alpha < 0:
            raise ConfigError(f"alpha must be >= 0, got {self.alpha}")

    @property
    def total_epochs(self) -> int:
        return self.epochs + (self.crt_epochs if self.strategy != "joint" else 0)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["clip"] = self.clip.to_dict()
        data["model_options"] = dict(self.model_options)
        data.pop("max_epochs_this_call")
        for logistics in ("threads", "workers", "compile"):  # how, not what, is trained
            data.pop(logistics)
        return data

    def with_seed(self, seed: int) -> "TrainConfig":
        return replace(self, seed=seed)


def make_train_config(*, model: str, target: str, **overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` with the defaults of ``model``'s seed paper; ``overrides`` whose value
    is ``None`` are ignored (unset CLI flags). Clip fields may be given as ``clip_seconds``,
    ``hop_seconds``, ``drop_last``, ``pad_short``."""
    from vocaltools.models.registry import get_spec

    spec = get_spec(model)
    defaults = SEED_DEFAULTS.get(spec.seed, SEED_DEFAULTS[""])
    given = {k: v for k, v in overrides.items() if v is not None}
    clip = defaults.clip
    clip_fields = {k: given.pop(k) for k in ("clip_seconds", "hop_seconds", "drop_last", "pad_short")
                   if k in given}
    if clip_fields:
        changed_length = "clip_seconds" in clip_fields or "hop_seconds" in clip_fields
        clip = replace(clip, **clip_fields,
                       **({"clip_frames": None, "hop_frames": None} if changed_length else {}))
        if "clip_seconds" in clip_fields and "hop_seconds" not in clip_fields and defaults.clip.hop_seconds:
            # keep the seed's hop as a fraction of the clip (S2: 20 %)
            fraction = defaults.clip.hop_seconds / defaults.clip.clip_seconds
            clip = replace(clip, hop_seconds=clip.clip_seconds * fraction)
    base = dict(optimizer=defaults.optimizer, lr=defaults.lr, batch_size=defaults.batch_size,
                weight_decay=defaults.weight_decay, epochs=defaults.epochs,
                patience=defaults.patience)
    base.update(given)
    return TrainConfig(model=model, target=target, clip=clip, **base)


#: width of the linear embedding output of a siamese twin (S2: 16)
EMBEDDING_DIM = 16


@dataclass(frozen=True)
class SiameseConfig:
    """Siamese training settings (defaults: the paper's, except the epoch budget)."""

    margin: float = 1.0
    learning_rate: float = 1e-4
    weight_decay: float = 1e-6
    batch_size: int = 32  # pairs per step
    pairs_per_epoch: int = 1024
    valid_pairs: int = 512
    epochs: int = 50
    patience: int | None = None  # epochs without a better validation loss before stopping
    seed: int = 0

    def __post_init__(self) -> None:
        if self.margin <= 0:
            raise ConfigError(f"margin must be > 0, got {self.margin}")
        for name in ("batch_size", "pairs_per_epoch", "valid_pairs", "epochs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.pairs_per_epoch % 2 or self.valid_pairs % 2:
            raise ConfigError("pairs_per_epoch and valid_pairs must be even (1:1 same/different)")

    @classmethod
    def from_train_config(cls, config: TrainConfig, **fields: Any) -> "SiameseConfig":
        """The siamese settings of a ``train --objective contrastive`` run: ``config``'s learning
        rate, weight decay, batch size (pairs per step), epochs, patience (0 or ``None``: never
        stop early) and seed; ``fields`` set the siamese-only ones (``pairs_per_epoch``,
        ``valid_pairs``, ``margin``)."""
        return cls(learning_rate=config.lr, weight_decay=config.weight_decay,
                   batch_size=config.batch_size, epochs=config.epochs,
                   patience=config.patience or None, seed=config.seed, **fields)
