"""The embeddings file (``vocaltools embed -o EMB.npz``, NPZ kind ``"vocaltools.embeddings/1"``).

Arrays (strings are fixed-width unicode ``<U..`` arrays, never object arrays)::

    clip_embeddings  float32 [n_clips, dim]   one row per clip window
    clip_item        int64   [n_clips]        row of the clip's item in the item arrays
    clip_start_s     float32 [n_clips]        start of the clip in its item, seconds
    item_embeddings  float32 [n_items, dim]   mean of the item's clip embeddings (the paper's
                                              "performance embedding"), L2-normalised if the
                                              meta says ``normalize: true``
    item_ids         <U      [n_items]
    labels           <U      [n_items]        the value of ``meta["label_field"]`` ("" if absent)
    field_names      <U      [n_fields]
    field_values     <U      [n_items, n_fields]  every manifest field as text ("" if absent)

``meta`` holds the producing model (or baseline), its feature config, the label field, whether the
vectors are normalised, and the software version.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from vocaltools.errors import FormatError, InputError
from vocaltools.formats.npz import load_npz, save_npz

KIND = "embeddings"


def text_array(values: Sequence[str]) -> np.ndarray:
    """A fixed-width unicode array (``<U1`` at least, so an empty list is still not object)."""
    array = np.array([str(v) for v in values])
    return array if array.size else np.zeros(0, dtype="<U1")


@dataclass(frozen=True)
class EmbeddingSet:
    """Clip and item embeddings with their ids, labels and fields (see the module docstring)."""

    clip_embeddings: np.ndarray
    clip_item: np.ndarray
    clip_start_s: np.ndarray
    item_embeddings: np.ndarray
    item_ids: tuple[str, ...]
    labels: tuple[str, ...]
    fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.item_embeddings.shape[1])

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def field(self, name: str) -> tuple[str, ...]:
        """Per-item values of ``name``: ``"label"`` is the label, ``"item_id"`` the id, anything
        else a manifest field. :class:`InputError` lists the valid names otherwise."""
        if name == "label":
            return self.labels
        if name == "item_id":
            return self.item_ids
        if name in self.fields:
            return self.fields[name]
        if name == self.meta.get("label_field"):
            return self.labels
        valid = ["label", "item_id", *self.fields]
        raise InputError(f"unknown field {name!r}; this embeddings file has: {', '.join(valid)}")

    def clip_field(self, name: str) -> tuple[str, ...]:
        """Per-clip values of ``name`` (the value of the clip's item)."""
        values = self.field(name)
        return tuple(values[i] for i in self.clip_item)


def l2_normalize(vectors: np.ndarray, *, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit L2 norm: ``float32 [n, dim] -> [n, dim]`` (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, eps)).astype(np.float32)


def center_vectors(vectors: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Subtract ``center`` (``float32 [dim]``, e.g. the mean enrolled embedding) from every row and
    L2-normalise again: ``float32 [n, dim] -> [n, dim]``. The mean and length normalisation of
    speaker verification: on unit-length embeddings it removes the direction all voices share
    (recording, language, the encoder's bias), so the distances compare what tells voices apart."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return l2_normalize(vectors - np.asarray(center, dtype=np.float32)[None, :])


def mean_vector(vectors: np.ndarray) -> np.ndarray:
    """The mean row of ``float32 [n, dim]`` (accumulated in float64): ``-> float32 [dim]``."""
    return np.asarray(vectors, dtype=np.float64).mean(axis=0).astype(np.float32)


def item_means(clip_embeddings: np.ndarray, clip_item: np.ndarray, n_items: int) -> np.ndarray:
    """Mean clip embedding of every item: ``float32 [n_clips, dim] -> [n_items, dim]``.

    Raises :class:`InputError` if an item has no clip."""
    clip_embeddings = np.asarray(clip_embeddings, dtype=np.float32)
    counts = np.bincount(clip_item, minlength=n_items)
    if (counts == 0).any():
        missing = int(np.flatnonzero(counts == 0)[0])
        raise InputError(f"item {missing} has no clip to embed; every item needs at least one clip")
    sums = np.zeros((n_items, clip_embeddings.shape[1]), dtype=np.float64)
    np.add.at(sums, clip_item, clip_embeddings)
    return (sums / counts[:, None]).astype(np.float32)


def make_embedding_set(*, clip_embeddings: np.ndarray, clip_item: np.ndarray,
                       clip_start_s: np.ndarray, item_ids: Sequence[str], labels: Sequence[str],
                       fields: Mapping[str, Sequence[str]], meta: Mapping[str, Any],
                       normalize: bool = False) -> EmbeddingSet:
    """Assemble an :class:`EmbeddingSet`; item embeddings are clip means (then L2-normalised, and
    the clips too, when ``normalize``)."""
    clip_embeddings = np.asarray(clip_embeddings, dtype=np.float32)
    clip_item = np.asarray(clip_item, dtype=np.int64)
    if normalize:
        clip_embeddings = l2_normalize(clip_embeddings)
    items = item_means(clip_embeddings, clip_item, len(item_ids))
    if normalize:
        items = l2_normalize(items)
    return EmbeddingSet(
        clip_embeddings=clip_embeddings, clip_item=clip_item,
        clip_start_s=np.asarray(clip_start_s, dtype=np.float32), item_embeddings=items,
        item_ids=tuple(map(str, item_ids)), labels=tuple(map(str, labels)),
        fields={name: tuple(map(str, values)) for name, values in fields.items()},
        meta={**dict(meta), "normalize": bool(normalize), "dim": int(items.shape[1])})


def save_embeddings(path: str | os.PathLike, embeddings: EmbeddingSet) -> None:
    """Write ``embeddings`` as an ``embeddings`` NPZ (atomic; ``-`` is stdout)."""
    names = list(embeddings.fields)
    values = np.array([[embeddings.fields[n][i] for n in names] for i in range(embeddings.n_items)],
                      dtype=str).reshape(embeddings.n_items, len(names))
    save_npz(path, {
        "clip_embeddings": embeddings.clip_embeddings.astype(np.float32),
        "clip_item": embeddings.clip_item.astype(np.int64),
        "clip_start_s": embeddings.clip_start_s.astype(np.float32),
        "item_embeddings": embeddings.item_embeddings.astype(np.float32),
        "item_ids": text_array(embeddings.item_ids),
        "labels": text_array(embeddings.labels),
        "field_names": text_array(names),
        "field_values": values,
    }, kind=KIND, meta=embeddings.meta)


def load_embeddings(path: str | os.PathLike) -> EmbeddingSet:
    """Read an embeddings NPZ written by :func:`save_embeddings` (``-`` is stdin)."""
    data = load_npz(path, kind=KIND)
    arrays = data.arrays
    required = ("clip_embeddings", "clip_item", "clip_start_s", "item_embeddings", "item_ids",
                "labels", "field_names", "field_values")
    missing = [name for name in required if name not in arrays]
    if missing:
        raise FormatError(f"{path}: embeddings file lacks {', '.join(missing)}")
    items = arrays["item_embeddings"].astype(np.float32)
    ids = tuple(str(v) for v in arrays["item_ids"])
    if items.ndim != 2 or items.shape[0] != len(ids):
        raise FormatError(f"{path}: item_embeddings has shape {items.shape}, expected "
                          f"[{len(ids)}, dim]")
    names = [str(v) for v in arrays["field_names"]]
    values = arrays["field_values"].reshape(len(ids), len(names))
    fields = {name: tuple(str(v) for v in values[:, j]) for j, name in enumerate(names)}
    return EmbeddingSet(
        clip_embeddings=arrays["clip_embeddings"].astype(np.float32),
        clip_item=arrays["clip_item"].astype(np.int64),
        clip_start_s=arrays["clip_start_s"].astype(np.float32), item_embeddings=items,
        item_ids=ids, labels=tuple(str(v) for v in arrays["labels"]), fields=fields,
        meta=data.meta)


@dataclass(frozen=True)
class VectorSet:
    """The vectors one command works on: item means (``level="item"``) or clips (``"clip"``),
    with one id, label and field values per row."""

    vectors: np.ndarray  # float32 [n, dim]
    ids: tuple[str, ...]
    labels: tuple[str, ...]
    fields: Mapping[str, tuple[str, ...]]


LEVELS = ("item", "clip")


def select_vectors(embeddings: EmbeddingSet, *, level: str = "item") -> VectorSet:
    """Item-level vectors (ids = item ids) or clip-level ones (ids = ``<item_id>@<start_s>``)."""
    if level == "item":
        return VectorSet(embeddings.item_embeddings, embeddings.item_ids, embeddings.labels,
                         dict(embeddings.fields))
    if level == "clip":
        ids = tuple(f"{embeddings.item_ids[i]}@{s:.2f}"
                    for i, s in zip(embeddings.clip_item, embeddings.clip_start_s))
        fields = {name: embeddings.clip_field(name) for name in embeddings.fields}
        return VectorSet(embeddings.clip_embeddings, ids, embeddings.clip_field("label"), fields)
    raise InputError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")


def standardize(vectors: np.ndarray) -> np.ndarray:
    """Z-score every dimension with the set's own mean and standard deviation (no labels used):
    ``float32 [n, dim] -> [n, dim]``; constant dimensions become 0."""
    vectors = np.asarray(vectors, dtype=np.float64)
    std = vectors.std(axis=0)
    return ((vectors - vectors.mean(axis=0)) / np.where(std > 0, std, 1.0)).astype(np.float32)


def parse_condition(text: str) -> tuple[str, frozenset[str]]:
    """``"field=value"`` or ``"field=a|b|c"`` (any of) -> ``(field, values)``; :class:`InputError`
    otherwise."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise InputError(f"invalid condition {text!r}; expected FIELD=VALUE (or FIELD=A|B), e.g. "
                         "singer=EN-Alto-1")
    return name.strip(), frozenset(v.strip() for v in value.split("|"))


def filter_items(embeddings: EmbeddingSet, *, where: Sequence[str] = (),
                 where_not: Sequence[str] = ()) -> EmbeddingSet:
    """The items (and their clips) that match every ``FIELD=VALUE`` of ``where`` and none of
    ``where_not`` (``FIELD=A|B`` matches either value). Raises :class:`InputError` when nothing is
    left."""
    if not where and not where_not:
        return embeddings
    keep = np.ones(embeddings.n_items, dtype=bool)
    for condition in where:
        name, values = parse_condition(condition)
        keep &= np.array([v in values for v in embeddings.field(name)])
    for condition in where_not:
        name, values = parse_condition(condition)
        keep &= np.array([v not in values for v in embeddings.field(name)])
    if not keep.any():
        raise InputError(f"no item matches the conditions {list(where)} / not {list(where_not)}")
    new_row = np.cumsum(keep) - 1
    clip_keep = keep[embeddings.clip_item]
    rows = np.flatnonzero(keep)
    return EmbeddingSet(
        clip_embeddings=embeddings.clip_embeddings[clip_keep],
        clip_item=new_row[embeddings.clip_item[clip_keep]],
        clip_start_s=embeddings.clip_start_s[clip_keep],
        item_embeddings=embeddings.item_embeddings[rows],
        item_ids=tuple(embeddings.item_ids[i] for i in rows),
        labels=tuple(embeddings.labels[i] for i in rows),
        fields={name: tuple(values[i] for i in rows) for name, values in embeddings.fields.items()},
        meta=embeddings.meta)
