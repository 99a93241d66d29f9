"""Clip predictions of a trained model for audio files, folders and feature stores.

Audio is featurized with the model's own feature configuration (read from its checkpoint, never
re-typed), one file at a time and block-wise, so files of any length stay in bounded memory; clips of
consecutive files share batches. Each clip gives one :class:`ClipPrediction`, written as a
``"vocaltools.prediction/1"`` JSONL record.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from vocaltools.checkpoint import Checkpoint, build_from_checkpoint, load_checkpoint
from vocaltools.errors import InputError, ModelError, VocaltoolsError
from vocaltools.formats.jsonl import make_record
from vocaltools.formats.store import FeatureStore
from vocaltools.segments import ClipConfig, clip_windows, cut_clip, frames_to_seconds

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".m4a")


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


def load_model(name_or_path: str | os.PathLike | None, *, device: str = "auto") -> LoadedModel:
    """Load a registered model by name, a model folder or a checkpoint file (``None``: the
    default model) onto ``device`` (``auto``, ``cpu``, ``cuda``)."""
    from vocaltools.trained import resolve_model
    from vocaltools.training.data import frames_per_second_of
    from vocaltools.training.loop import resolve_device

    path = resolve_model(name_or_path)
    checkpoint = load_checkpoint(path)
    torch_device = resolve_device(device)
    module = build_from_checkpoint(checkpoint).to(torch_device)
    name = str(checkpoint.summary.get("name") or path.parent.name) if name_or_path is None or \
        Path(str(name_or_path)).exists() else str(name_or_path)
    return LoadedModel(name=name, path=str(path), checkpoint=checkpoint, module=module, device=torch_device,
                       frames_per_second=frames_per_second_of(checkpoint.feature_config),
                       clip=ClipConfig.from_dict(checkpoint.clip_config))


@dataclass(frozen=True)
class InputItem:
    """One thing to predict: an audio file or an item of a feature store."""

    item_id: str
    source: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    store: str | None = None  # the store root for store items


def collect_inputs(paths: Sequence[str | os.PathLike]) -> list[InputItem]:
    """Audio files, folders (searched recursively for audio files, sorted) and feature stores
    (every item of the manifest), in the order given."""
    items: list[InputItem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir() and FeatureStore(path).exists():
            store = FeatureStore(path)
            items.extend(InputItem(item.item_id, str(path / item.features), dict(item.fields), str(path))
                         for item in store.items())
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
            if not files:
                raise InputError(f"{path}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in this folder")
            items.extend(InputItem(str(f.relative_to(path).with_suffix("")), str(f)) for f in files)
        elif path.is_file():
            items.append(InputItem(path.stem, str(path)))
        else:
            raise InputError(f"{path}: no such file or folder")
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
    """An input that could not be predicted, and why."""

    source: str
    message: str


def _item_arrays(model: LoadedModel, item: InputItem, stores: dict[str, FeatureStore]
                 ) -> tuple[dict[str, np.ndarray], float]:
    """The item's feature arrays and duration in seconds."""
    if item.store is not None:
        stores.setdefault(item.store, FeatureStore(item.store))
        from vocaltools.formats.npz import load_npz

        arrays = load_npz(item.source, kind="features").arrays
        n_frames = next(iter(arrays.values())).shape[-1] if arrays else 0
        return arrays, frames_to_seconds(n_frames, frames_per_second=model.frames_per_second)
    from vocaltools.features import FeatureConfig, featurize_file

    config = FeatureConfig.from_dict(dict(model.checkpoint.feature_config))
    result = featurize_file(item.source, config=config)
    return dict(result.arrays), float(result.duration_s)


def check_store_matches(model: LoadedModel, store: FeatureStore) -> None:
    """A store must hold the features the model was trained on."""
    config = store.feature_config()
    if dict(config) != dict(model.checkpoint.feature_config):
        want = model.checkpoint.feature_config.get("preset", "the model's preset")
        have = config.get("preset", "other settings")
        raise InputError(f"{store.root}: features were computed with {have!r}, but the model "
                         f"{model.name!r} was trained on {want!r}; give the audio files instead "
                         f"(predict featurizes them with the model's settings) or featurize again "
                         f"with '--preset {want}'")


def predict_items(model: LoadedModel, items: Iterable[InputItem], *, batch_size: int = 32,
                  failures: list[Failure] | None = None,
                  on_item: Callable[[InputItem], None] | None = None) -> Iterator[ClipPrediction]:
    """Clip predictions of ``items`` in input order. An item that fails (unreadable audio, a
    mismatched store) is recorded in ``failures`` and skipped when a list is given, else raised."""
    import torch

    from vocaltools.training.data import stack_inputs

    stores: dict[str, FeatureStore] = {}
    checked: set[str] = set()
    checkpoint = model.checkpoint
    pending_x: list[np.ndarray] = []
    pending_meta: list[tuple[InputItem, int, float, float]] = []
    amp = model.device.type == "cuda"

    def flush() -> Iterator[ClipPrediction]:
        x = torch.from_numpy(np.stack(pending_x)).to(model.device)
        with torch.no_grad():
            if amp:
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    logits = model.module(x)
            else:
                logits = model.module(x)
        probabilities = torch.softmax(logits.float(), dim=1).cpu().numpy()
        for (item, clip_index, start_s, end_s), row in zip(pending_meta, probabilities):
            yield ClipPrediction(item.item_id, item.source, clip_index, start_s, end_s, row, item.fields,
                                 item.store)
        pending_x.clear()
        pending_meta.clear()

    for item in items:
        if on_item:
            on_item(item)
        try:
            if item.store is not None and item.store not in checked:
                check_store_matches(model, stores.setdefault(item.store, FeatureStore(item.store)))
                checked.add(item.store)
            arrays, _ = _item_arrays(model, item, stores)
            stacked = stack_inputs(arrays, inputs=checkpoint.inputs, where=item.source,
                                   model=checkpoint.model)
            del arrays
            windows = clip_windows(n_frames=stacked.shape[-1], frames_per_second=model.frames_per_second,
                                   config=model.clip)
            if not windows:
                raise InputError(f"{item.source}: shorter than one {model.clip.clip_seconds} s clip")
        except VocaltoolsError as error:
            if failures is None:
                raise
            failures.append(Failure(item.source, str(error)))
            continue
        n_frames = stacked.shape[-1]
        for window in windows:
            pending_x.append(cut_clip(stacked, window))
            start_s = frames_to_seconds(window.start_frame, frames_per_second=model.frames_per_second)
            end_frame = min(window.end_frame, n_frames)
            end_s = frames_to_seconds(end_frame, frames_per_second=model.frames_per_second)
            pending_meta.append((item, window.clip_index, start_s, end_s))
            if len(pending_x) == batch_size:
                yield from flush()
        del stacked
    if pending_x:
        yield from flush()


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
