"""Leave-one-out k-nearest-neighbour classification of embeddings (S2's quantitative check).

Every vector is classified once by a majority vote of its ``k`` nearest other vectors (squared
Euclidean distance); ties go to the tied label whose nearest member is closest. Accuracy is the
mean over all vectors, for every ``k``.

The paper runs it "by singer" and "by song" to expose the song effect: an embedding that mostly
encodes the song scores high by song and lower by singer. ``exclude_same`` makes the song effect
visible on data where a singer's takes of one song sit next to each other (e.g. GTSinger's Control
/ technique / Speech takes): neighbours that share the query's value of every listed field are
left out, so ``by="singer", exclude_same=("singer", "song")`` asks "which singer is this, judged
from that singer's *other* songs?". Queries with no candidate left of their own label still count
(as errors, since their label cannot win); ``n_answerable`` says how many had one and
``accuracy_answerable`` is the accuracy over those alone.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from vocaltools.errors import InputError

BLOCK = 1024  # query rows per distance block (memory: BLOCK x n float32)


@dataclass(frozen=True)
class KnnAccuracy:
    """Leave-one-out kNN accuracy of one labelling at one ``k``."""

    by: str
    k: int
    accuracy: float
    n: int
    n_answerable: int
    exclude_same: tuple[str, ...] = ()
    accuracy_answerable: float = 0.0  # correct / n_answerable (queries whose label could win)


def vote(labels: Sequence[str]) -> tuple[str, int]:
    """Majority label of neighbours given nearest first; ties go to the one seen first.

    Returns ``(label, votes)``."""
    if not labels:
        raise InputError("no neighbours to vote with")
    counts = Counter(labels)
    best = max(counts.values())
    for label in labels:
        if counts[label] == best:
            return label, best
    raise AssertionError("unreachable")


def squared_distances(queries: np.ndarray, base: np.ndarray) -> np.ndarray:
    """``float32 [n, dim], [m, dim] -> [n, m]`` squared Euclidean distances (clipped at 0)."""
    q = queries.astype(np.float64)
    b = base.astype(np.float64)
    d = (q * q).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * q @ b.T
    return np.maximum(d, 0.0)


def _group_keys(fields: dict[str, Sequence[str]], names: Sequence[str], n: int) -> np.ndarray:
    """One integer per row identifying its combination of values of ``names``."""
    if not names:
        return np.arange(n)
    combos = list(zip(*(fields[name] for name in names)))
    index: dict[tuple, int] = {}
    return np.array([index.setdefault(c, len(index)) for c in combos], dtype=np.int64)


def neighbor_order(vectors: np.ndarray, *, k_max: int, exclude: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out nearest neighbours of every row: ``(rows, distances)`` as ``[n, k_max]``
    (row -1 / distance inf where fewer candidates remain).

    ``exclude``: an integer group key per row; rows sharing the query's key are no candidates
    (the query itself is always excluded)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    n = len(vectors)
    k_max = min(k_max, max(n - 1, 1))
    rows = np.full((n, k_max), -1, dtype=np.int64)
    dists = np.full((n, k_max), np.inf)
    for start in range(0, n, BLOCK):
        stop = min(n, start + BLOCK)
        d = squared_distances(vectors[start:stop], vectors)
        d[np.arange(stop - start), np.arange(start, stop)] = np.inf
        if exclude is not None:
            d[exclude[start:stop, None] == exclude[None, :]] = np.inf
        top = np.argpartition(d, kth=k_max - 1, axis=1)[:, :k_max] if k_max < n else \
            np.tile(np.arange(n), (stop - start, 1))
        top_d = np.take_along_axis(d, top, axis=1)
        order = np.argsort(top_d, axis=1, kind="stable")
        top, top_d = np.take_along_axis(top, order, 1)[:, :k_max], np.take_along_axis(top_d, order, 1)[:, :k_max]
        top[~np.isfinite(top_d)] = -1
        rows[start:stop], dists[start:stop] = top, top_d
    return rows, dists


def loo_knn_accuracy(vectors: np.ndarray, *, labels: Sequence[str], ks: Sequence[int],
                     by: str = "label", fields: dict[str, Sequence[str]] | None = None,
                     exclude_same: Sequence[str] = ()) -> list[KnnAccuracy]:
    """Leave-one-out kNN accuracy of ``labels`` for every ``k`` in ``ks``.

    Parameters
    ----------
    vectors : float32 [n, dim]
    labels : the n labels to predict (e.g. the singer of every item).
    ks : neighbour counts, each >= 1.
    by : the name reported with the result.
    fields : per-row field values, needed by ``exclude_same``.
    exclude_same : field names; candidates that share all of them with the query are excluded.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    n = len(vectors)
    if n < 2:
        raise InputError(f"leave-one-out kNN needs at least 2 vectors, got {n}")
    if len(labels) != n:
        raise InputError(f"{n} vectors but {len(labels)} labels")
    if not ks or min(ks) < 1:
        raise InputError(f"k values must be >= 1, got {list(ks)}")
    fields = dict(fields or {})
    missing = [name for name in exclude_same if name not in fields]
    if missing:
        raise InputError(f"cannot exclude by unknown field(s) {', '.join(missing)}; "
                         f"known: {', '.join(fields) or 'none'}")
    exclude = _group_keys(fields, list(exclude_same), n) if exclude_same else None
    rows, _ = neighbor_order(vectors, k_max=max(ks), exclude=exclude)
    labels = [str(label) for label in labels]
    label_array = np.array(labels)
    # a query is answerable when some candidate carries its label
    label_counts = Counter(labels)
    if exclude is None:
        answerable = np.array([label_counts[label] > 1 for label in labels])
    else:
        pair_counts = Counter(zip(labels, exclude.tolist()))
        answerable = np.array([label_counts[label] > pair_counts[(label, key)]
                               for label, key in zip(labels, exclude.tolist())])
    results = []
    n_answerable = int(answerable.sum())
    for k in ks:
        correct = 0
        for i in range(n):
            candidates = [labels[j] for j in rows[i, :k] if j >= 0]
            if candidates and vote(candidates)[0] == label_array[i]:
                correct += 1
        results.append(KnnAccuracy(by=by, k=int(k), accuracy=correct / n, n=n,
                                   n_answerable=n_answerable, exclude_same=tuple(exclude_same),
                                   accuracy_answerable=correct / n_answerable if n_answerable
                                   else 0.0))
    return results
