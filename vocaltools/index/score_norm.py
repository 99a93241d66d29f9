"""Adaptive symmetric score normalisation (AS-norm) of kNN scores, with the enrolled set as cohort.

The raw score of a query ``q`` against an enrolled item ``e`` is ``s = -D(q, e)`` (``D``: the
index's squared Euclidean distance; on unit vectors ``-D = 2 cos - 2``, so it orders like cosine
similarity). AS-norm, the standard score normalisation of speaker verification, rescales it by
how ``q`` and ``e`` score against voices that are neither of them:

    s_norm = 0.5 * ((s - mean_q) / std_q + (s - mean_e) / std_e)

where ``mean_q, std_q`` are the mean and (population) standard deviation of the ``top`` highest
scores of ``q`` against the *cohort*, and ``mean_e, std_e`` those of ``e``. The cohort is the
enrolled items whose label is not ``e``'s label (leave-one-label-out): a query close to every
voice gets a low normalised score, one close to ``e`` but not to the others a high one, so one
threshold fits singers whose voices lie in denser or sparser parts of the space.

Calibration trials (:func:`as_norm_trials`), leave-one-out within the enrolled items, model real
use: a *known* trial scores item ``i`` against its nearest item ``j`` of the same label (outside
``i``'s group, e.g. song, when groups are given), normalised as a query would be (cohort: other
labels); an *unknown* trial scores ``i`` against its nearest item ``j`` of another label, with
both cohorts leaving out ``i``'s label and ``j``'s (``i``'s singer is then not enrolled at all).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from vocaltools.index.evaluate import squared_distances

SCORE_NORMS = ("as-norm", "none")
DEFAULT_TOP = 20
_EPS = 1e-6
_BLOCK = 1024


def top_cohort_stats(scores: np.ndarray, exclude: np.ndarray, *,
                     top: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of the ``top`` highest ``scores`` per row, leaving out the
    entries where ``exclude`` is true: ``[b, m], bool [b, m] -> float64 [b], [b]``.

    Rows with fewer than ``top`` cohort entries use all they have; a row without any gets mean 0
    and std 1 (the score is then left as it is). The std is at least 1e-6."""
    scores = np.where(exclude, -np.inf, np.asarray(scores, dtype=np.float64))
    count = (~exclude).sum(axis=1)
    top = max(1, min(int(top), scores.shape[1]))
    best = -np.partition(-scores, top - 1, axis=1)[:, :top]  # the top set, unordered
    valid = np.isfinite(best)
    n = np.maximum(valid.sum(axis=1), 1)
    filled = np.where(valid, best, 0.0)
    mean = filled.sum(axis=1) / n
    var = (np.where(valid, (best - mean[:, None]) ** 2, 0.0)).sum(axis=1) / n
    std = np.maximum(np.sqrt(var), _EPS)
    empty = count == 0
    return np.where(empty, 0.0, mean), np.where(empty, 1.0, std)


def as_norm(score: np.ndarray, query_stats: tuple[np.ndarray, np.ndarray],
            enrolled_stats: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The symmetric normalisation of the module docstring, element-wise."""
    (mean_q, std_q), (mean_e, std_e) = query_stats, enrolled_stats
    return 0.5 * ((score - mean_q) / std_q + (score - mean_e) / std_e)


def enrolled_stats(vectors: np.ndarray, labels: Sequence[str], *, top: int,
                   rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cohort statistics of the enrolled items at ``rows`` (default: all), in that order
    (cohort: the items of other labels): ``-> float64 [len(rows)], [len(rows)]``."""
    vectors = np.asarray(vectors, dtype=np.float32)
    labels_array = np.asarray([str(label) for label in labels])
    rows = np.arange(len(vectors)) if rows is None else np.asarray(rows, dtype=int)
    means, stds = [np.zeros(0)], [np.zeros(0)]
    for start in range(0, len(rows), _BLOCK):
        block = rows[start:start + _BLOCK]
        scores = -squared_distances(vectors[block], vectors)
        mean, std = top_cohort_stats(scores, labels_array[block, None] == labels_array[None, :],
                                     top=top)
        means.append(mean)
        stds.append(std)
    return np.concatenate(means), np.concatenate(stds)


def query_scores(queries: np.ndarray, nearest_rows: np.ndarray, vectors: np.ndarray,
                 labels: Sequence[str], *, top: int) -> np.ndarray:
    """AS-norm score of every query (``float32 [n, dim]``, as the index stores vectors) against
    its nearest enrolled item (row ``nearest_rows[i]`` of ``vectors``): ``-> float64 [n]``.
    The enrolled items' statistics are computed for those rows only."""
    vectors = np.asarray(vectors, dtype=np.float32)
    labels_array = np.asarray([str(label) for label in labels])
    nearest_rows = np.asarray(nearest_rows, dtype=int)
    unique, position = np.unique(nearest_rows, return_inverse=True)
    mean_e, std_e = enrolled_stats(vectors, labels_array, top=top, rows=unique)
    out = [np.zeros(0)]
    for start in range(0, len(queries), _BLOCK):
        block = slice(start, min(len(queries), start + _BLOCK))
        rows = nearest_rows[block]
        scores = -squared_distances(np.asarray(queries[block], dtype=np.float32), vectors)
        raw = scores[np.arange(len(rows)), rows]
        q_stats = top_cohort_stats(scores, labels_array[rows][:, None] == labels_array[None, :],
                                   top=top)
        out.append(as_norm(raw, q_stats, (mean_e[position[block]], std_e[position[block]])))
    return np.concatenate(out)


def as_norm_trials(vectors: np.ndarray, labels: Sequence[str], groups: Sequence[str] | None = None,
                   *, top: int) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out AS-norm trial scores ``(known, unknown)`` of the module docstring (higher:
    more alike); with ``groups``, a known trial ignores items of the query's group."""
    vectors = np.asarray(vectors, dtype=np.float32)
    labels_array = np.asarray([str(label) for label in labels])
    group_array = None if groups is None else np.asarray([str(g) for g in groups])
    stats = enrolled_stats(vectors, labels_array, top=top)
    n = len(vectors)
    known, unknown = [], []
    for start in range(0, n, _BLOCK):
        rows = np.arange(start, min(n, start + _BLOCK))
        scores = -squared_distances(vectors[rows], vectors)
        same = labels_array[rows, None] == labels_array[None, :]
        genuine = np.where(same, scores, -np.inf)
        genuine[np.arange(len(rows)), rows] = -np.inf
        if group_array is not None:
            genuine[group_array[rows, None] == group_array[None, :]] = -np.inf
        has_known = np.isfinite(genuine).any(axis=1)
        j = genuine.argmax(axis=1)
        q_stats = top_cohort_stats(scores, same, top=top)
        normed = as_norm(scores[np.arange(len(rows)), j], q_stats, (stats[0][j], stats[1][j]))
        known.extend(normed[has_known])

        impostor = np.where(same, -np.inf, scores)
        has_unknown = np.isfinite(impostor).any(axis=1)
        j = impostor.argmax(axis=1)
        left_out = same | (labels_array[j][:, None] == labels_array[None, :])
        scores_j = -squared_distances(vectors[j], vectors)
        normed = as_norm(scores[np.arange(len(rows)), j],
                         top_cohort_stats(scores, left_out, top=top),
                         top_cohort_stats(scores_j, left_out, top=top))
        unknown.extend(normed[has_unknown])
    return np.asarray(known), np.asarray(unknown)
