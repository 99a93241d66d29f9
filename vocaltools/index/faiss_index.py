"""A FAISS index of embeddings with its id map, labels, fields and meta, saved as one NPZ file.

Distances are squared Euclidean (the siamese loss's ``D``), so a distance read from the index is
directly comparable with the contrastive margin ``m = 1`` and with the open-set threshold of
:mod:`vocaltools.index.identify`.

Kinds:

- ``exact``: ``IndexFlatL2``, brute force, the reference (default).
- ``ivf``: ``IndexIVFFlat`` with ``nlist`` k-means cells (default ``4 * sqrt(n)``, at most ``n``),
  searched with ``nprobe`` cells; trained on the vectors given to :func:`build_index`.
- ``hnsw``: ``IndexHNSWFlat`` graph with ``hnsw_m`` links per node, built with
  ``ef_construction`` and searched with ``ef_search``.

File (NPZ kind ``"vocaltools.index/1"``)::

    faiss         uint8 [n_bytes]          faiss.serialize_index of the index
    item_ids      <U    [n]                id of FAISS row i (FAISS ids are 0..n-1)
    labels        <U    [n]
    field_names   <U    [n_fields]
    field_values  <U    [n, n_fields]
    center        float32 [dim]            optional: the centre of :func:`center_vectors`

With a ``center`` every vector is centred and L2-normalised (:func:`center_vectors`) before it is
added or searched: :meth:`EmbeddingIndex.add` and :meth:`EmbeddingIndex.search` take the
embeddings as ``vocaltools embed`` wrote them and apply the stored transform themselves, so the
enrolled items and the queries always go through the same one. Files without ``center`` (older
indexes, ``knn build --no-center``) use the vectors as they are.

``meta`` holds the :class:`IndexConfig`, the dimension, the embeddings' producing meta (model,
normalisation), where the centre came from (``center``: null or ``{"source", "n_vectors"}``), the
score normalisation (``score_norm``: null, or ``{"method": "as-norm", "top", "cohort"}``, see
:mod:`vocaltools.index.score_norm`; absent in older indexes, which score by distance) and the
open-set threshold calibration (or null).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from vocaltools.errors import ConfigError, FormatError, InputError, did_you_mean
from vocaltools.formats.npz import load_npz, save_npz
from vocaltools.index.embeddings import center_vectors, text_array

KINDS = ("exact", "ivf", "hnsw")
KIND = "index"


@dataclass(frozen=True)
class IndexConfig:
    """How to build the index. ``nlist=None`` picks ``round(4 * sqrt(n))`` cells (at most n)."""

    kind: str = "exact"
    nlist: int | None = None
    nprobe: int = 16
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 64

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown index kind {self.kind!r}; valid kinds: "
                              f"{', '.join(KINDS)}{did_you_mean(self.kind, KINDS)}")
        for name in ("nprobe", "hnsw_m", "ef_construction", "ef_search"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.nlist is not None and self.nlist < 1:
            raise ConfigError(f"nlist must be >= 1, got {self.nlist}")


@dataclass(frozen=True)
class Neighbor:
    """One search result: the enrolled item, its label, and its squared Euclidean distance."""

    rank: int
    item_id: str
    label: str
    distance: float


def _as_matrix(vectors: np.ndarray, *, dim: int | None = None, what: str = "vectors") -> np.ndarray:
    matrix = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if matrix.ndim != 2:
        raise InputError(f"{what}: expected a float32 [n, dim] matrix, got shape {matrix.shape}")
    if dim is not None and matrix.shape[1] != dim:
        raise InputError(f"{what}: dimension {matrix.shape[1]} does not match the index's {dim}; "
                         "embed with the same model that built the index")
    if not np.isfinite(matrix).all():
        raise InputError(f"{what}: contains NaN or infinite values")
    return matrix


def default_nlist(n: int) -> int:
    """``round(4 * sqrt(n))`` cells, at least 1 and at most ``n``."""
    return max(1, min(n, int(round(4 * math.sqrt(max(n, 1))))))


def _make_faiss(config: IndexConfig, vectors: np.ndarray):
    import faiss

    dim = vectors.shape[1]
    if config.kind == "exact":
        return faiss.IndexFlatL2(dim)
    if config.kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, config.hnsw_m)
        index.hnsw.efConstruction = config.ef_construction
        index.hnsw.efSearch = config.ef_search
        return index
    nlist = config.nlist or default_nlist(len(vectors))
    if len(vectors) < nlist:
        raise InputError(f"an IVF index with {nlist} cells needs at least {nlist} training vectors, "
                         f"got {len(vectors)}; lower --nlist or use --kind exact")
    quantizer = faiss.IndexFlatL2(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_L2)
    index.train(vectors)
    index.nprobe = min(config.nprobe, nlist)
    return index


class EmbeddingIndex:
    """A FAISS index plus the id map (FAISS row -> item id), labels and fields of its items."""

    def __init__(self, *, faiss_index, config: IndexConfig, item_ids: Sequence[str],
                 labels: Sequence[str], fields: Mapping[str, Sequence[str]],
                 meta: Mapping[str, Any] | None = None, center: np.ndarray | None = None):
        self.faiss_index = faiss_index
        self.config = config
        self.item_ids: list[str] = list(item_ids)
        self.labels: list[str] = list(labels)
        self.fields: dict[str, list[str]] = {k: list(v) for k, v in fields.items()}
        self.meta: dict[str, Any] = dict(meta or {})
        self.center = None if center is None else np.asarray(center, dtype=np.float32).reshape(-1)

    def prepare(self, vectors: np.ndarray, *, what: str = "vectors") -> np.ndarray:
        """The vectors as the index stores and searches them: ``float32 [n, dim] -> [n, dim]``,
        centred and L2-normalised when the index has a centre, unchanged otherwise."""
        matrix = _as_matrix(vectors, dim=self.dim, what=what)
        return matrix if self.center is None else center_vectors(matrix, self.center)

    def enrolled_vectors(self) -> np.ndarray:
        """The stored vectors (centred and normalised when the index centres), in row order:
        ``-> float32 [n, dim]``; used as the cohort of score normalisation."""
        import faiss

        if len(self) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.config.kind == "ivf":
            faiss.extract_index_ivf(self.faiss_index).make_direct_map()
        return np.asarray(self.faiss_index.reconstruct_n(0, len(self)), dtype=np.float32)

    @property
    def dim(self) -> int:
        return int(self.faiss_index.d)

    def __len__(self) -> int:
        return int(self.faiss_index.ntotal)

    @property
    def threshold(self) -> float | None:
        """The calibrated open-set threshold stored with the index, or None."""
        calibration = self.meta.get("calibration")
        return None if not calibration else float(calibration["threshold"])

    def add(self, vectors: np.ndarray, *, item_ids: Sequence[str], labels: Sequence[str],
            fields: Mapping[str, Sequence[str]] | None = None) -> None:
        """Enrol more vectors (``float32 [n, dim]``). Fields the index lacks are dropped; fields
        the new items lack are stored as ``""``."""
        matrix = self.prepare(vectors, what="vectors to add")
        if not (len(item_ids) == len(labels) == len(matrix)):
            raise InputError(f"add: {len(matrix)} vectors but {len(item_ids)} ids and "
                             f"{len(labels)} labels")
        self.faiss_index.add(matrix)
        self.item_ids.extend(map(str, item_ids))
        self.labels.extend(map(str, labels))
        fields = fields or {}
        for name, values in self.fields.items():
            values.extend(map(str, fields.get(name, [""] * len(matrix))))

    def search(self, queries: np.ndarray, *, k: int) -> list[list[Neighbor]]:
        """The ``k`` nearest enrolled items of every query (``float32 [n, dim]``), nearest first;
        fewer when the index holds fewer than ``k`` items."""
        if k < 1:
            raise InputError(f"k must be >= 1, got {k}")
        matrix = self.prepare(queries, what="queries")
        if len(self) == 0:
            raise InputError("the index is empty; enrol embeddings with 'vocaltools knn add'")
        distances, rows = self.faiss_index.search(matrix, min(k, len(self)))
        results = []
        for row_d, row_i in zip(distances, rows):
            neighbors = [Neighbor(rank=r, item_id=self.item_ids[i], label=self.labels[i],
                                  distance=max(0.0, float(d)))
                         for r, (d, i) in enumerate(((d, i) for d, i in zip(row_d, row_i) if i >= 0),
                                                    start=1)]
            results.append(neighbors)
        return results

    def save(self, path: str | os.PathLike) -> None:
        """Write the index, its id map, centre and meta as one NPZ (atomic)."""
        import faiss

        names = list(self.fields)
        values = np.array([[self.fields[name][i] for name in names] for i in range(len(self))],
                          dtype=str).reshape(len(self), len(names))
        arrays = {
            "faiss": faiss.serialize_index(self.faiss_index),
            "item_ids": text_array(self.item_ids),
            "labels": text_array(self.labels),
            "field_names": text_array(names),
            "field_values": values,
        }
        if self.center is not None:
            arrays["center"] = self.center
        save_npz(path, arrays, kind=KIND, meta={**self.meta, "config": asdict(self.config), "dim": self.dim,
                            "count": len(self)})


def build_index(vectors: np.ndarray, *, item_ids: Sequence[str], labels: Sequence[str],
                fields: Mapping[str, Sequence[str]] | None = None,
                config: IndexConfig = IndexConfig(),
                meta: Mapping[str, Any] | None = None,
                center: np.ndarray | None = None) -> EmbeddingIndex:
    """Build an index over ``vectors`` (``float32 [n, dim]``; IVF cells are trained on them).

    ``center`` (``float32 [dim]``): centre and L2-normalise these vectors and every later one
    (:meth:`EmbeddingIndex.prepare`); None keeps them as they are."""
    matrix = _as_matrix(vectors, what="vectors")
    if len(matrix) == 0:
        raise InputError("no vectors to index")
    if not (len(item_ids) == len(labels) == len(matrix)):
        raise InputError(f"{len(matrix)} vectors but {len(item_ids)} ids and {len(labels)} labels")
    if center is not None:
        center = _as_matrix(np.asarray(center).reshape(1, -1), dim=matrix.shape[1],
                            what="center")[0]
        matrix = center_vectors(matrix, center)
    faiss_index = _make_faiss(config, matrix)
    faiss_index.add(matrix)
    return EmbeddingIndex(faiss_index=faiss_index, config=config, item_ids=item_ids, labels=labels,
                          fields=fields or {}, meta=meta, center=center)


def load_index(path: str | os.PathLike) -> EmbeddingIndex:
    """Read an index written by :meth:`EmbeddingIndex.save`."""
    import faiss

    data = load_npz(path, kind=KIND)
    arrays, meta = data.arrays, dict(data.meta)
    try:
        faiss_index = faiss.deserialize_index(arrays["faiss"])
        config = IndexConfig(**meta.pop("config"))
    except (KeyError, TypeError, RuntimeError) as error:
        raise FormatError(f"{path}: not a readable vocaltools index ({error})") from error
    ids = [str(v) for v in arrays["item_ids"]]
    if len(ids) != faiss_index.ntotal:
        raise FormatError(f"{path}: id map has {len(ids)} entries but the index {faiss_index.ntotal}")
    names = [str(v) for v in arrays["field_names"]]
    values = arrays["field_values"].reshape(len(ids), len(names))
    fields = {name: [str(v) for v in values[:, j]] for j, name in enumerate(names)}
    center = arrays.get("center")
    if center is not None and center.shape != (faiss_index.d,):
        raise FormatError(f"{path}: center has shape {center.shape}, expected ({faiss_index.d},)")
    for key in ("dim", "count", "schema", "software"):
        meta.pop(key, None)
    return EmbeddingIndex(faiss_index=faiss_index, config=config, item_ids=ids,
                          labels=[str(v) for v in arrays["labels"]], fields=fields, meta=meta,
                          center=center)
