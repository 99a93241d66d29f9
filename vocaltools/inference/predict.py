"""Clip predictions of a trained model for audio files, folders and feature stores.

Audio is featurized with the model's own feature configuration (read from its checkpoint, never
re-typed), one file at a time and block by block; clips are cut from the blocks as they arrive, so
files of any length stay in bounded memory. Clips of consecutive files share batches. Each clip
gives one :class:`ClipPrediction`, written as a ``"vocaltools.prediction/1"`` JSONL record.
"""

from __future__ import annotations

import math
import os
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence, TextIO

import numpy as np

from vocaltools.checkpoint import Checkpoint, build_from_checkpoint, load_checkpoint
from vocaltools.errors import InputError, ModelError, VocaltoolsError, describe_os_error
from vocaltools.formats.jsonl import make_record
from vocaltools.formats.store import FeatureStore
from vocaltools.segments import ClipConfig, ClipWindow, clip_windows, cut_clip, frames_to_seconds

if TYPE_CHECKING:
    from vocaltools.features.config import FeatureConfig


@dataclass(frozen=True)
class LoadedModel:
    """A checkpoint with its model built, on ``device``, in eval mode."""

    name: str
    path: str  # the checkpoint file
    checkpoint: Checkpoint
    module: Any  # torch.nn.Module
    device: Any  # torch.device
    frames_per_second: float
    clip: ClipConfig

    @property
    def labels(self) -> tuple[str, ...]:
        return self.checkpoint.labels

    @property
    def features(self) -> FeatureConfig:
        """The feature settings the model was trained on (audio is featurized with them)."""
        return self.checkpoint.features


def load_model(name_or_path: str | os.PathLike | None, *, device: str = "auto") -> LoadedModel:
    """Load a registered model by name, a model folder or a checkpoint file (``None``: the
    default model) onto ``device`` (``auto``, ``cpu``, ``cuda``)."""
    from vocaltools.device import resolve_device
    from vocaltools.trained import resolve_model

    path = resolve_model(name_or_path)
    checkpoint = load_checkpoint(path)
    torch_device = resolve_device(device)
    module = build_from_checkpoint(checkpoint, where=path).to(torch_device)
    name = str(checkpoint.summary.get("name") or path.parent.name) if name_or_path is None or \
        Path(str(name_or_path)).exists() else str(name_or_path)
    return LoadedModel(name=name, path=str(path), checkpoint=checkpoint, module=module, device=torch_device,
                       frames_per_second=checkpoint.features.frames_per_second,
                       clip=checkpoint.clip)


@dataclass(frozen=True)
class InputItem:
    """One thing to predict: an audio file or an item of a feature store."""

    item_id: str
    source: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    store: str | None = None  # the store root for store items


def collect_inputs(paths: Sequence[str | os.PathLike], *, failures: list[Failure] | None = None,
                   stdin: TextIO | None = None) -> list[InputItem]:
    """The items of feature stores (every item of each manifest) and of audio files, folders,
    glob patterns and ``-`` (as :func:`~vocaltools.datasets.inputs.resolve_inputs` finds them,
    with its item ids), stores first, each in input order. An input that yields nothing (a missing
    path, a folder without audio) is recorded in ``failures`` when a list is given, else raised."""
    from vocaltools.datasets.inputs import resolve_inputs

    resolved = resolve_inputs(paths, labels="none", stdin=stdin, stores=True)
    if resolved.failures and failures is None:
        raise InputError(resolved.failures[0].message)
    if failures is not None:
        failures.extend(Failure(failure.path, failure.message) for failure in resolved.failures)
    items: list[InputItem] = []
    for store in resolved.stores:
        items.extend(InputItem(item.item_id, str(store.root / item.features), dict(item.fields),
                               str(store.root)) for item in store.items())
    items.extend(InputItem(item.item_id, str(item.audio_path)) for item in resolved.items)
    return items


@dataclass(frozen=True)
class ClipPrediction:
    """Probabilities of one clip: ``float32 [n_classes]``."""

    item_id: str
    source: str
    clip_index: int
    start_s: float
    end_s: float
    probabilities: np.ndarray
    fields: Mapping[str, Any]
    store: str | None = None  # the feature store of a store item

    @property
    def display_name(self) -> str:
        """How a person names the item: the audio file, or ``STORE:item_id``."""
        return f"{self.store}:{self.item_id}" if self.store else self.source

    def to_record(self, *, labels: Sequence[str], target: str, model: str, top_k: int = 3) -> dict[str, Any]:
        order = np.argsort(-self.probabilities, kind="stable")[:max(1, top_k)]
        true_label = self.fields.get(target)
        return make_record(
            "prediction", item_id=self.item_id, clip_index=self.clip_index,
            start_s=round(self.start_s, 4), end_s=round(self.end_s, 4),
            top=[{"label": labels[i], "label_index": int(i),
                  "probability": round(float(self.probabilities[i]), 6)} for i in order],
            probabilities=[round(float(p), 6) for p in self.probabilities],
            labels=list(labels), target=target,
            true_label=None if true_label is None else str(true_label),
            fields=dict(self.fields), model=model, source=self.source)


@dataclass(frozen=True)
class Failure:
    """An input that could not be predicted, and why (``n_items``: the items it stands for, all
    of a store whose features do not fit the model)."""

    source: str
    message: str
    n_items: int = 1


def _item_blocks(model: LoadedModel, item: InputItem, *, block_seconds: float
                 ) -> Iterator[dict[str, np.ndarray]]:
    """The item's feature arrays ``{name: float32 [channels, n_bins, n_frames]}`` as blocks of
    consecutive frames: a store item in one block, audio featurized block by block with the
    model's feature settings (:func:`~vocaltools.features.compute.iter_feature_blocks`)."""
    if item.store is not None:
        from vocaltools.formats.npz import load_npz

        yield load_npz(item.source, kind="features").arrays
        return
    from vocaltools.audio import DEFAULT_MIN_PEAK_DB, DEFAULT_MIN_SECONDS
    from vocaltools.features.compute import iter_feature_blocks

    # featurize's checks: a file too short or silent has no answer (and would get a confident one)
    for block in iter_feature_blocks(item.source, config=model.features,
                                     block_seconds=block_seconds,
                                     min_seconds=DEFAULT_MIN_SECONDS,
                                     min_peak_db=DEFAULT_MIN_PEAK_DB):
        yield block.arrays


class ClipCutter:
    """Cuts the clips of one item from its frames as they arrive, keeping only the frames that a
    clip still to come may need.

    The clips are those of :func:`~vocaltools.segments.clip_windows` on the whole item, cut as
    :func:`~vocaltools.segments.cut_clip` cuts them: :meth:`add` yields each clip as soon as its
    frames are there and no later frame can remove it (with ``drop_last``, once the next clip is
    complete too); :meth:`finish` yields the rest, once the item's length is known (a short item
    is then still whole, for padding).
    """

    def __init__(self, *, clip: ClipConfig, frames_per_second: float):
        self.clip = clip
        self.frames_per_second = frames_per_second
        self.clip_frames, self.hop_frames = clip.frames(frames_per_second=frames_per_second)
        self.n_frames = 0  # frames seen
        self.n_clips = 0  # clips yielded
        self._kept: np.ndarray | None = None  # float32 [channels, n_bins, frames] from _kept_start
        self._kept_start = 0

    def add(self, frames: np.ndarray) -> Iterator[tuple[ClipWindow, np.ndarray]]:
        """``frames``: float32 [channels, n_bins, n] following the frames added before; yields
        ``(window, clip float32 [channels, n_bins, clip_frames])``."""
        self._kept = frames if self._kept is None else np.concatenate([self._kept, frames], axis=-1)
        self.n_frames += frames.shape[-1]
        lookahead = self.hop_frames if self.clip.drop_last else 0
        while self.n_clips * self.hop_frames + self.clip_frames + lookahead <= self.n_frames:
            start = self.n_clips * self.hop_frames
            yield self._cut(ClipWindow(self.n_clips, start, start + self.clip_frames))
        keep_from = min(self.n_clips * self.hop_frames, self.n_frames)
        if keep_from > self._kept_start:  # a copy, so that the caller's block can be freed
            self._kept = np.array(self._kept[..., keep_from - self._kept_start:], copy=True)
            self._kept_start = keep_from

    def finish(self) -> Iterator[tuple[ClipWindow, np.ndarray]]:
        """The clips not yielded yet, now that the item's length is known."""
        windows = clip_windows(n_frames=self.n_frames, frames_per_second=self.frames_per_second,
                               config=self.clip)
        for window in windows[self.n_clips:]:
            yield self._cut(window)

    def _cut(self, window: ClipWindow) -> tuple[ClipWindow, np.ndarray]:
        shifted = ClipWindow(window.clip_index, window.start_frame - self._kept_start,
                             window.end_frame - self._kept_start)
        self.n_clips += 1
        return window, cut_clip(self._kept, shifted)


def predict_items(model: LoadedModel, items: Iterable[InputItem], *, batch_size: int = 32,
                  failures: list[Failure] | None = None,
                  on_item: Callable[[InputItem], None] | None = None,
                  block_seconds: float = 60.0) -> Iterator[ClipPrediction]:
    """Clip predictions of ``items`` in input order. An item that fails (unreadable audio, a
    mismatched store) is recorded in ``failures`` and skipped when a list is given, else raised.

    Audio is featurized ``block_seconds`` at a time and its clips are cut as the blocks arrive
    (:class:`ClipCutter`), so a file of any length takes bounded memory; clips of consecutive items
    share batches. An item's predictions are yielded once the whole item has succeeded.
    """
    import torch

    from vocaltools.datasets.inputs import check_store_matches
    from vocaltools.device import autocast, resolve_precision
    from vocaltools.training.data import stack_inputs

    stores: dict[str, FeatureStore] = {}
    checked: set[str] = set()
    refused: dict[str, int] = {}  # stores of other features -> their one failure, items skipped
    checkpoint = model.checkpoint
    pending_x: list[np.ndarray] = []
    pending_meta: list[tuple[int, InputItem, int, float, float]] = []  # (serial, item, clip, start, end)
    done: deque[tuple[int, ClipPrediction]] = deque()  # predicted, waiting for their item to succeed
    precision = resolve_precision("auto", model.device)  # bf16 autocast on CUDA, fp32 on the CPU
    fps = model.frames_per_second

    def flush() -> None:
        x = torch.from_numpy(np.stack(pending_x)).to(model.device)
        with torch.no_grad(), autocast(model.device, precision):
            logits = model.module(x)
        probabilities = torch.softmax(logits.float(), dim=1).cpu().numpy()
        for (serial, item, clip_index, start_s, end_s), row in zip(pending_meta, probabilities):
            done.append((serial, ClipPrediction(item.item_id, item.source, clip_index, start_s, end_s,
                                                row, item.fields, item.store)))
        pending_x.clear()
        pending_meta.clear()

    def finished(up_to: int) -> Iterator[ClipPrediction]:
        while done and done[0][0] <= up_to:
            yield done.popleft()[1]

    for serial, item in enumerate(items):
        if on_item:
            on_item(item)
        if item.store in refused:
            index = refused[item.store]
            failures[index] = replace(failures[index], n_items=failures[index].n_items + 1)
            continue
        cutter = ClipCutter(clip=model.clip, frames_per_second=fps)

        def queue(clips: Iterable[tuple[ClipWindow, np.ndarray]]) -> Iterator[ClipPrediction]:
            for window, x in clips:
                pending_x.append(x)
                end_frame = min(window.end_frame, cutter.n_frames)
                pending_meta.append((serial, item, window.clip_index,
                                     frames_to_seconds(window.start_frame, frames_per_second=fps),
                                     frames_to_seconds(end_frame, frames_per_second=fps)))
                if len(pending_x) == batch_size:
                    flush()
                    yield from finished(serial - 1)

        try:
            if item.store is not None and item.store not in checked:
                try:
                    check_store_matches(stores.setdefault(item.store, FeatureStore(item.store)),
                                        features=model.features, model=model.name)
                except InputError as error:
                    if failures is None:
                        raise
                    refused[item.store] = len(failures)
                    failures.append(Failure(item.store, f"{error} (none of its items predicted)"))
                    continue
                checked.add(item.store)
            for arrays in _item_blocks(model, item, block_seconds=block_seconds):
                stacked = stack_inputs(arrays, inputs=checkpoint.inputs, where=item.source,
                                       model=checkpoint.model)
                del arrays
                yield from queue(cutter.add(stacked))
                del stacked
            yield from queue(cutter.finish())
            if cutter.n_clips == 0:
                raise InputError(f"{item.source}: shorter than one {model.clip.clip_seconds} s clip")
        except (VocaltoolsError, OSError) as error:
            if failures is None:
                raise
            failures.append(Failure(item.source, describe_os_error(error)
                                    if isinstance(error, OSError) else str(error)))
            # forget the item's clips (those already computed shared a batch with other items)
            kept = [i for i, meta in enumerate(pending_meta) if meta[0] != serial]
            pending_x[:] = [pending_x[i] for i in kept]
            pending_meta[:] = [pending_meta[i] for i in kept]
            while done and done[-1][0] == serial:
                done.pop()
            continue
        yield from finished(serial)
    if pending_x:
        flush()
    yield from finished(math.inf)


@dataclass(frozen=True)
class ItemAnswer:
    """A one-line answer for an item: mean clip probabilities, their best label."""

    item_id: str
    name: str  # the audio file, or STORE:item_id
    label: str
    confidence: float
    n_clips: int


def summarise_items(predictions: Iterable[ClipPrediction], *, labels: Sequence[str]) -> Iterator[ItemAnswer]:
    """Mean-probability vote per item over consecutive clip predictions (input order)."""
    current: list[ClipPrediction] = []

    def answer() -> ItemAnswer:
        mean = np.mean([p.probabilities for p in current], axis=0)
        best = int(np.argmax(mean))
        return ItemAnswer(current[0].item_id, current[0].display_name, labels[best], float(mean[best]),
                          len(current))

    for prediction in predictions:
        if current and (prediction.item_id, prediction.source) != (current[0].item_id, current[0].source):
            yield answer()
            current = []
        current.append(prediction)
    if current:
        yield answer()


def model_summary(model: LoadedModel) -> dict[str, Any]:
    """What a user may want to know about a loaded model."""
    checkpoint = model.checkpoint
    if checkpoint.task != "classify":
        raise ModelError(f"{model.name}: a {checkpoint.task} model cannot predict labels")
    return {"name": model.name, "model": checkpoint.model, "target": checkpoint.target,
            "labels": list(checkpoint.labels), "clip": dict(checkpoint.clip_config)}
