"""Siamese training of a singer embedding with the contrastive loss (S2, seed 001, section 3.5).

The twin network ``G`` is any registry model whose ``forward`` gives the embedding (S2:
``build_model("cnn_shallow", head="embed")``, a linear 16-d output). For a pair ``(x1, x2)`` with
``y = 1`` when both clips are sung by the same singer and ``y = 0`` otherwise::

    D = ||G(x1) - G(x2)||_2^2                      (squared Euclidean distance)
    L = 1/2 * y * D + 1/2 * (1 - y) * max(0, m - D),   m = 1

as written in the paper (note: ``max(0, m - D)`` on the squared distance, not Hadsell et al.'s
``max(0, m - sqrt(D))^2``). Pairs are drawn 1:1 same/different singer from the clips, fresh every
epoch; the validation loss uses one fixed draw so that epochs compare. Adam (lr 1e-4) with L2 1e-6
on all weights (Adam's ``weight_decay``, which adds ``1e-6 * w`` to the gradient, i.e. an L2 term),
as in the paper; the epoch with the lowest validation loss is kept.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from vocaltools.errors import InputError
from vocaltools.training.config import EMBEDDING_DIM, SiameseConfig


@dataclass(frozen=True)
class PairBatch:
    """Row indices of the two clips of every pair and ``same`` (1.0 same singer, 0.0 not)."""

    first: np.ndarray  # int64 [n_pairs]
    second: np.ndarray  # int64 [n_pairs]
    same: np.ndarray  # float32 [n_pairs]


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    train_loss: float
    valid_loss: float | None
    seconds: float = 0.0  # wall time of the epoch (training and validation)


@dataclass(frozen=True)
class SiameseResult:
    """The training history and the epoch whose weights the model was left with."""

    history: tuple[EpochStats, ...]
    best_epoch: int
    best_valid_loss: float | None
    config: SiameseConfig
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"objective": "contrastive", "config": asdict(self.config),
                "best_epoch": self.best_epoch, "best_valid_loss": self.best_valid_loss,
                "epochs_run": len(self.history),
                "final_train_loss": self.history[-1].train_loss if self.history else None}


def contrastive_loss(first, second, same, *, margin: float = 1.0):
    """Mean contrastive loss of a batch of embedding pairs.

    ``float32 [batch, dim], [batch, dim], [batch] -> scalar``; ``same`` is 1 for a same-singer
    pair, 0 otherwise."""
    import torch

    distance = (first - second).pow(2).sum(dim=1)
    loss = 0.5 * same * distance + 0.5 * (1 - same) * torch.clamp(margin - distance, min=0)
    return loss.mean()


def sample_pairs(label_index: np.ndarray, *, n_pairs: int, rng: np.random.Generator) -> PairBatch:
    """``n_pairs`` pairs of rows, half same-label and half different-label (1:1).

    A same pair takes a uniform clip among labels with >= 2 clips and a different clip of its
    label; a different pair takes a uniform clip and a uniform clip of another label."""
    label_index = np.asarray(label_index)
    labels, counts = np.unique(label_index, return_counts=True)
    if len(labels) < 2:
        raise InputError(f"siamese training needs clips of at least 2 singers, got {len(labels)}")
    if counts.max() < 2:
        raise InputError("siamese training needs a singer with at least 2 clips for same pairs")
    rows_of = {label: np.flatnonzero(label_index == label) for label in labels}
    eligible = np.concatenate([rows_of[label] for label, c in zip(labels, counts) if c >= 2])
    n_same = n_pairs // 2
    first = np.empty(n_pairs, dtype=np.int64)
    second = np.empty(n_pairs, dtype=np.int64)
    anchors = rng.choice(eligible, size=n_same)
    for i, anchor in enumerate(anchors):
        rows = rows_of[label_index[anchor]]
        partner = rows[rng.integers(len(rows) - 1)]
        if partner == anchor:  # skip the anchor itself: the last row takes its place
            partner = rows[-1]
        first[i], second[i] = anchor, partner
    other_rows_of = {label: np.flatnonzero(label_index != label) for label in labels}
    for i in range(n_same, n_pairs):
        anchor = int(rng.integers(len(label_index)))
        other_rows = other_rows_of[label_index[anchor]]
        first[i], second[i] = anchor, other_rows[rng.integers(len(other_rows))]
    same = np.concatenate([np.ones(n_same), np.zeros(n_pairs - n_same)]).astype(np.float32)
    order = rng.permutation(n_pairs)
    return PairBatch(first[order], second[order], same[order])


def _pair_loss(model, clips, pairs: PairBatch, *, margin: float, batch_size: int,
               train: bool, optimizer=None, device=None) -> float:
    import torch

    total, count = 0.0, 0
    for start in range(0, len(pairs.same), batch_size):
        rows = slice(start, start + batch_size)
        a = torch.as_tensor(np.asarray(clips[pairs.first[rows]], dtype=np.float32), device=device)
        b = torch.as_tensor(np.asarray(clips[pairs.second[rows]], dtype=np.float32), device=device)
        y = torch.as_tensor(pairs.same[rows], device=device)
        # both twins in one forward pass: shared weights, and BatchNorm sees one batch
        embeddings = model(torch.cat([a, b]))
        loss = contrastive_loss(embeddings[: len(y)], embeddings[len(y):], y, margin=margin)
        if train:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        total += float(loss.detach()) * len(y)
        count += len(y)
    return total / count


def train_siamese(model, *, clips: np.ndarray, label_index: np.ndarray,
                  valid_clips: np.ndarray | None = None, valid_label_index: np.ndarray | None = None,
                  config: SiameseConfig = SiameseConfig(),
                  on_epoch: Callable[[EpochStats], None] | None = None,
                  device: str = "cpu") -> SiameseResult:
    """Train ``model`` as a siamese twin; the model is left with its best weights.

    Parameters
    ----------
    model : torch module, ``float32 [batch, channels, n_bins, n_frames] -> [batch, dim]``.
    clips : float32 [n_clips, channels, n_bins, n_frames], the training clips, or any object
        with ``len`` whose ``clips[rows]`` (an int array) returns those clips as such an array
        (:class:`StoreClips` cuts them from a feature store on demand).
    label_index : int [n_clips], the singer of every clip.
    valid_clips, valid_label_index : the validation clips (singers may differ from training);
        without them the training loss selects the epoch.
    config : :class:`SiameseConfig`.
    on_epoch : called with every epoch's :class:`EpochStats` (progress display).
    device : ``cpu``, ``cuda`` or ``auto``; the model is left on the CPU.
    """
    import torch

    from vocaltools.device import resolve_device

    label_index = np.asarray(label_index, dtype=np.int64)
    if isinstance(clips, np.ndarray):
        clips = np.ascontiguousarray(clips, dtype=np.float32)
        if clips.ndim != 4:
            raise InputError(f"clips must be float32 [n, channels, n_bins, n_frames], got shape "
                             f"{clips.shape}")
    if len(clips) != len(label_index):
        raise InputError(f"clips need one label each; got {len(clips)} clips and "
                         f"{len(label_index)} labels")
    torch.manual_seed(config.seed)
    target = resolve_device(device)
    model.to(target)
    rng = np.random.default_rng(config.seed)
    valid_pairs = None
    if valid_clips is not None:
        valid_pairs = sample_pairs(np.asarray(valid_label_index), n_pairs=config.valid_pairs,
                                   rng=np.random.default_rng(config.seed + 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate,
                                 weight_decay=config.weight_decay)
    history: list[EpochStats] = []
    best_loss, best_epoch, best_state, stale = math.inf, 0, None, 0
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        model.train()
        pairs = sample_pairs(label_index, n_pairs=config.pairs_per_epoch, rng=rng)
        train_loss = _pair_loss(model, clips, pairs, margin=config.margin,
                                batch_size=config.batch_size, train=True, optimizer=optimizer,
                                device=target)
        valid_loss = None
        if valid_pairs is not None:
            model.eval()
            with torch.no_grad():
                valid_loss = _pair_loss(model, valid_clips, valid_pairs, margin=config.margin,
                                        batch_size=max(config.batch_size, 64), train=False,
                                        device=target)
        stats = EpochStats(epoch, train_loss, valid_loss,
                           round(time.perf_counter() - started, 3))
        history.append(stats)
        if on_epoch is not None:
            on_epoch(stats)
        score = valid_loss if valid_loss is not None else train_loss
        if score < best_loss:
            best_loss, best_epoch, stale = score, epoch, 0
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if config.patience is not None and stale >= config.patience:
                break
    model.cpu()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return SiameseResult(tuple(history), best_epoch,
                         best_loss if valid_pairs is not None else None, config)


def encode_labels(labels: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """String labels -> ``(label_index int64 [n], sorted label names)``."""
    names = tuple(sorted(set(map(str, labels))))
    lookup = {name: i for i, name in enumerate(names)}
    return np.array([lookup[str(label)] for label in labels], dtype=np.int64), names


# ---------------------------------------------------------------------------------------------
# From a feature store to a model folder, with the classifier's clip sets (vocaltools.training.data,
# vocaltools.segments) and checkpoints (vocaltools.checkpoint).

class StoreClips:
    """Clips of a training ``ClipSet``, cut on demand: ``clips[rows] -> float32 [n, channels,
    n_bins, clip_frames]`` (items are cached by the ``ItemCache``, within its byte budget)."""

    def __init__(self, clip_set, cache):
        self.clip_set = clip_set
        self.cache = cache

    def __len__(self) -> int:
        return len(self.clip_set)

    def __getitem__(self, rows) -> np.ndarray:
        from vocaltools.segments import cut_clip

        refs = [self.clip_set.clips[int(r)] for r in np.atleast_1d(rows)]
        return np.stack([cut_clip(self.cache.get(self.clip_set.items[c.item_index]), c.window)
                         for c in refs])

    def label_index(self) -> np.ndarray:
        return self.clip_set.label_indices()


@dataclass(frozen=True)
class SiameseRun:
    """A finished siamese run: its model folder and summary."""

    model_dir: str
    summary: dict[str, Any]


def embedding_model_options(model: str, *,
                            embedding_dim: int = EMBEDDING_DIM) -> tuple[int, dict[str, Any]]:
    """``(n_classes, options)`` that make ``model`` an embedding twin: S2 networks get their
    ``head="embed"`` (linear ``embedding_dim``-d output); any other registry model gets a linear
    output of ``embedding_dim`` units as its embedding."""
    from vocaltools.models.registry import get_spec

    spec = get_spec(model)
    if spec.family == "cnn":
        return embedding_dim, {"head": "embed", "embedding_dim": embedding_dim}
    return embedding_dim, {}


def train_siamese_store(*, store, model: str, target: str = "singer", clip=None,
                        split: Mapping[str, str] | None = None, model_dir: str | os.PathLike,
                        config: SiameseConfig = SiameseConfig(), embedding_dim: int = EMBEDDING_DIM,
                        model_options: Mapping[str, Any] | None = None, threads: int = 0,
                        on_epoch: Callable[[EpochStats], None] | None = None,
                        device: str = "cpu") -> SiameseRun:
    """Train ``model`` as a siamese embedding on a feature store and write a model folder.

    ``split`` maps item ids to ``train`` / ``validation`` (others ignored; ``None``: every item
    trains); validation singers may be other singers (S2's splits are singer-disjoint). ``clip``
    is a ``ClipConfig`` (default: the model's seed setting, S2: 6 s = 256 frames, hop 51).
    The folder gets ``checkpoint.pt`` (task ``embed``: ``vocaltools embed --model DIR`` uses its
    output), ``history.jsonl``, ``labels.txt`` (the training singers), ``split.jsonl`` (with a
    ``split``), ``training-curve.png`` and ``summary.json``. ``device``: where it trains
    (``cpu``, ``cuda``, ``auto``)."""
    import torch

    from vocaltools.checkpoint import Checkpoint
    from vocaltools.datasets.splits import write_split
    from vocaltools.device import resolve_device
    from vocaltools.features import FeatureConfig
    from vocaltools.models.registry import build_model, count_params, get_spec
    from vocaltools.segments import SEED_CLIPS
    from vocaltools.training.data import ItemCache, make_clip_set, training_labels
    from vocaltools.training.model_folder import EpochRecord, write_model_folder

    spec = get_spec(model)
    clip = clip if clip is not None else SEED_CLIPS.get(spec.seed, SEED_CLIPS[""])
    feature_config = store.feature_config()  # as stored: what the checkpoint records
    fps = float(FeatureConfig.from_dict(feature_config).frames_per_second)
    items = store.items()
    default = "train" if split is None else None
    chosen = {name: [i for i in items if (split or {}).get(i.item_id, default) == name]
              for name in ("train", "validation")}
    if not chosen["train"]:
        raise InputError(f"{store.root}: no training item (check the split)")
    cache = ItemCache(store, inputs=spec.inputs, model=model, preset=spec.preset)
    sets = {}
    for name, members in chosen.items():
        if members:
            labels = training_labels(members, target=target)
            sets[name] = (make_clip_set(members, target=target, labels=labels, clip=clip,
                                        frames_per_second=fps)[0], labels)
    train_set, train_labels = sets["train"]
    model_dir = Path(model_dir)
    if split is not None:
        model_dir.mkdir(parents=True, exist_ok=True)
        write_split(split, model_dir / "split.jsonl")
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(config.seed)
    n_out, options = embedding_model_options(model, embedding_dim=embedding_dim)
    options = {**options, **dict(model_options or {})}
    network = build_model(model, n_classes=n_out, **options)
    train_clips = StoreClips(train_set, cache)
    valid = sets.get("validation")
    started = time.perf_counter()
    result = train_siamese(network, clips=train_clips, label_index=train_clips.label_index(),
                           valid_clips=StoreClips(valid[0], cache) if valid else None,
                           valid_label_index=valid[0].label_indices() if valid else None,
                           config=config, on_epoch=on_epoch, device=device)
    summary = {**result.summary(), "model": model, "target": target, "embedding_dim": n_out,
               "params": count_params(network), "frames_per_second": fps,
               "clip": clip.to_dict(), "n_items": {k: len(v) for k, v in chosen.items()},
               "n_clips": {k: len(v[0]) for k, v in sets.items()},
               "train_singers": list(train_labels), "device": str(resolve_device(device)),
               "seconds": round(time.perf_counter() - started, 3)}
    merged_options = {**dict(spec.options), **options}
    checkpoint = Checkpoint(
        model=model, model_options=merged_options, n_classes=n_out, task="embed",
        inputs=spec.inputs, labels=tuple(train_labels), target=target,
        feature_config=feature_config, clip_config=clip.to_dict(),
        state_dict=network.state_dict(), summary=summary)
    history = [EpochRecord(epoch=h.epoch, stage="siamese", train_loss=h.train_loss,
                           val_loss=h.valid_loss, val_accuracy=None, val_f1=None,
                           lr=config.learning_rate, seconds=h.seconds,
                           improved=h.epoch == result.best_epoch) for h in result.history]
    write_model_folder(model_dir, checkpoint=checkpoint, history=history,
                       title=f"{model} siamese -> {target}",
                       selected_epoch=result.best_epoch or None)
    return SiameseRun(str(model_dir), summary)
