"""Clips from a feature store, without loading the whole collection.

A :class:`ClipSet` is a list of :class:`ClipRef` (item, frame window, label index). Batches are
cut from item arrays that an :class:`ItemCache` loads on demand and keeps within a byte budget
(least recently used first out), so memory stays bounded whatever the store's size.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Mapping, Sequence

import numpy as np

from vocaltools.errors import InputError, ModelError
from vocaltools.formats.store import FeatureStore, ItemRecord
from vocaltools.segments import ClipConfig, ClipWindow, clip_windows, cut_clip

if TYPE_CHECKING:
    from vocaltools.features import FeatureConfig


def frames_per_second_of(features: "FeatureConfig | Mapping") -> float:
    """Frames per second of a feature configuration: a :class:`FeatureConfig`, or one as stored
    (``FeatureConfig.to_dict()``), which is parsed here; parse it once and pass the config where
    it is needed more than once."""
    if isinstance(features, Mapping):
        from vocaltools.features import FeatureConfig

        features = FeatureConfig.from_dict(dict(features))
    return float(features.frames_per_second)


def stack_inputs(arrays: Mapping[str, np.ndarray], *, inputs: Sequence[str], where: str,
                 model: str = "", preset: str = "") -> np.ndarray:
    """Stack the arrays a model reads on the channel axis:
    ``{name: float32 [channels, n_bins, n_frames]} -> float32 [sum channels, n_bins, n_frames]``."""
    missing = [name for name in inputs if name not in arrays]
    if missing:
        hint = f"; featurize with '--preset {preset}'" if preset else ""
        raise ModelError(f"{where}: the model {model or ''} reads the feature arrays "
                         f"{list(inputs)} but {missing} are missing (the features hold "
                         f"{sorted(arrays)}){hint}")
    parts = [np.asarray(arrays[name], dtype=np.float32) for name in inputs]
    if len(parts) == 1:
        return parts[0]
    n_frames = min(p.shape[-1] for p in parts)
    return np.concatenate([p[..., :n_frames] for p in parts], axis=0)


class ItemCache:
    """Stacked model inputs of store items, loaded on demand, at most ``max_bytes`` kept."""

    def __init__(self, store: FeatureStore, *, inputs: Sequence[str], model: str = "",
                 preset: str = "", max_bytes: int = 512 * 2**20):
        self.store = store
        self.inputs = tuple(inputs)
        self.model = model
        self.preset = preset
        self.max_bytes = max_bytes
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0

    def get(self, item: ItemRecord) -> np.ndarray:
        """``float32 [channels, n_bins, n_frames]`` of ``item``."""
        if item.item_id in self._cache:
            self._cache.move_to_end(item.item_id)
            return self._cache[item.item_id]
        arrays = self.store.load_arrays(item)
        stacked = stack_inputs(arrays, inputs=self.inputs, where=f"{self.store.root}: item {item.item_id!r}",
                               model=self.model, preset=self.preset)
        self._cache[item.item_id] = stacked
        self._bytes += stacked.nbytes
        while self._bytes > self.max_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._bytes -= old.nbytes
        return stacked


@dataclass(frozen=True)
class ClipRef:
    """One clip: the item's index in :attr:`ClipSet.items`, its window and its label index."""

    item_index: int
    window: ClipWindow
    label_index: int


@dataclass(frozen=True)
class ClipSet:
    """The clips of one split."""

    items: tuple[ItemRecord, ...]
    clips: tuple[ClipRef, ...]

    def __len__(self) -> int:
        return len(self.clips)

    def label_indices(self) -> np.ndarray:
        return np.array([c.label_index for c in self.clips], dtype=np.int64)

    def batches(self, cache: ItemCache, *, batch_size: int, order: Sequence[int] | None = None
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(float32 [batch, channels, n_bins, clip_frames], int64 [batch])`` in ``order``
        (default: clip order)."""
        indices = range(len(self.clips)) if order is None else order
        batch_x: list[np.ndarray] = []
        batch_y: list[int] = []
        for i in indices:
            clip = self.clips[int(i)]
            batch_x.append(cut_clip(cache.get(self.items[clip.item_index]), clip.window))
            batch_y.append(clip.label_index)
            if len(batch_x) == batch_size:
                yield np.stack(batch_x), np.array(batch_y, dtype=np.int64)
                batch_x, batch_y = [], []
        if batch_x:
            yield np.stack(batch_x), np.array(batch_y, dtype=np.int64)


def make_clip_set(items: Sequence[ItemRecord], *, target: str, labels: Sequence[str],
                  clip: ClipConfig, frames_per_second: float) -> tuple[ClipSet, int]:
    """The clips of ``items`` whose ``target`` value is in ``labels``; returns the set and the
    number of items left out because their label is not among ``labels`` or they are too short."""
    index = {label: i for i, label in enumerate(labels)}
    kept: list[ItemRecord] = []
    clips: list[ClipRef] = []
    left_out = 0
    for item in items:
        label = item.fields.get(target)
        windows = clip_windows(n_frames=item.n_frames, frames_per_second=frames_per_second, config=clip)
        if label is None or str(label) not in index or not windows:
            left_out += 1
            continue
        item_index = len(kept)
        kept.append(item)
        clips.extend(ClipRef(item_index, w, index[str(label)]) for w in windows)
    return ClipSet(tuple(kept), tuple(clips)), left_out


def training_labels(items: Sequence[ItemRecord], *, target: str) -> tuple[str, ...]:
    """The sorted label strings of ``target`` among ``items``."""
    values = set()
    for item in items:
        if target not in item.fields or item.fields[target] in (None, ""):
            raise InputError(f"item {item.item_id!r} has no value for {target!r}; its fields are "
                             f"{sorted(item.fields)}")
        values.add(str(item.fields[target]))
    if len(values) < 2:
        raise InputError(f"the training split holds {len(values)} value(s) of {target!r}; a "
                         "classifier needs at least 2")
    return tuple(sorted(values))
