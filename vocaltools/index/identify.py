"""Open-set identification: kNN vote over an index, "unknown" below a score threshold.

Rule (one query vector ``q``, its ``k`` nearest enrolled items, nearest first):

1. ``d1`` = squared Euclidean distance from ``q`` to its nearest enrolled item ``e``; when the
   index normalises scores (``meta["score_norm"]``, ``knn build --score-norm as-norm``, the
   default), also ``s1`` = the AS-norm score of ``q`` against ``e``
   (:mod:`vocaltools.index.score_norm`).
2. If a threshold ``t`` is set and ``s1 < t`` (with score normalisation) or ``d1 > t`` (without):
   the label is ``"unknown"`` (the voice is farther from every enrolled voice than enrolled voices
   are from their own kind). Its confidence is ``min(1, t - s1)`` or the relative margin
   ``min(1, (d1 - t) / t)``.
3. Otherwise the label is the majority label of the ``k`` neighbours (ties: the tied label met
   first, i.e. nearest), and its confidence is its share of the ``k`` votes.

With AS-norm the calibration trials below are AS-norm scores and the threshold lies midway
between the balanced-accuracy optimum and the equal-error point of those trials
(:func:`operating_point`); on squared distances it is the balanced-accuracy optimum. Indexes
without ``score_norm`` in their meta (written before it existed, or ``--score-norm none``) score
by distance.

The threshold lives on the scale of the embedding, so it has to be calibrated per embedding model:
:func:`calibrate_threshold` does it from the enrolled items alone, by leave-one-out:

- a *known* trial per item: the distance to its nearest other item of the same label (what an
  enrolled singer's new recording looks like); with ``groups`` (``knn build --calibrate-by
  song_key``) items of the query's own group (its other takes of the same song) are ignored,
  which models a *new song* of an enrolled singer and gives a looser threshold;
- an *unknown* trial per item: the distance to its nearest item of any other label (what a voice
  looks like when its singer is not in the index: leave-one-label-out);
- on distances the threshold maximises the balanced accuracy ``(known accepted + unknown
  rejected) / 2``; it is the midpoint between the two neighbouring trial distances.

``vocaltools knn build`` runs it when the embeddings carry labels (at least two labels, one with
two items) and stores the result in the index, by default with ``groups`` = the first song field
of :data:`SONG_FIELDS` the embeddings carry (clip level: the item, when there is none), and warns
when no enrolled label has two groups (:func:`calibrate_open_set`); ``knn identify --threshold T`` overrides it. For a
siamese embedding trained with margin ``m = 1`` on L2-normalised vectors, thresholds fall below 1
(different singers are pushed to ``D >= m``); 0.5 is the natural a-priori value there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from vocaltools.errors import InputError, did_you_mean
from vocaltools.index.evaluate import squared_distances, vote
from vocaltools.index.faiss_index import EmbeddingIndex, Neighbor
from vocaltools.index.score_norm import DEFAULT_TOP, SCORE_NORMS, as_norm_trials, query_scores

UNKNOWN = "unknown"


@dataclass(frozen=True)
class ThresholdCalibration:
    """An open-set threshold and how it did on the leave-one-out trials it was chosen on."""

    threshold: float
    known_accept_rate: float
    unknown_reject_rate: float
    n_known: int
    n_unknown: int
    method: str = "loo-balanced-accuracy"
    groups: str | None = None  # the field whose groups known trials ignored

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Identity:
    """The decision for one query."""

    query_id: str
    label: str  # an enrolled label or "unknown"
    confidence: float
    candidate: str  # the best enrolled label (even when the decision is "unknown")
    nearest_distance: float
    threshold: float | None
    neighbors: tuple[Neighbor, ...]
    score: float | None = None  # AS-norm score of the nearest item, when the index normalises


def calibration_trials(vectors: np.ndarray, labels: Sequence[str],
                       groups: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out trial distances ``(known, unknown)`` of the module docstring; with
    ``groups`` (e.g. the song of every item), a known trial ignores items of the query's group."""
    vectors = np.asarray(vectors, dtype=np.float32)
    labels_array = np.asarray([str(label) for label in labels])
    group_array = None if groups is None else np.asarray([str(g) for g in groups])
    known, unknown = [], []
    for start in range(0, len(vectors), 1024):
        block = slice(start, min(len(vectors), start + 1024))
        d = squared_distances(vectors[block], vectors)
        same = labels_array[block, None] == labels_array[None, :]
        d_self = d.copy()
        d_self[np.arange(d.shape[0]), np.arange(start, start + d.shape[0])] = np.inf
        if group_array is not None:
            d_self[group_array[block, None] == group_array[None, :]] = np.inf
        genuine = np.where(same, d_self, np.inf).min(axis=1)
        other = np.where(same, np.inf, d).min(axis=1)
        known.extend(genuine[np.isfinite(genuine)])
        unknown.extend(other[np.isfinite(other)])
    return np.asarray(known), np.asarray(unknown)


def _candidates(known: np.ndarray,
                unknown: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate thresholds on dissimilarities (accept when ``value <= t``): midpoints between
    consecutive trial values plus both ends, with the known-accept and unknown-reject rates."""
    values = np.unique(np.concatenate([known, unknown]))
    candidates = np.concatenate([[values[0] - 0.5 * abs(values[0])],
                                 (values[:-1] + values[1:]) / 2,
                                 [values[-1] + 0.5 * abs(values[-1]) + 1e-6]])
    accept = (known[None, :] <= candidates[:, None]).mean(axis=1)
    reject = (unknown[None, :] > candidates[:, None]).mean(axis=1)
    return candidates, accept, reject


def operating_point(known: np.ndarray, unknown: np.ndarray, *, rule: str) -> float:
    """The threshold on dissimilarities (accept when ``value <= t``) that ``rule`` picks:
    ``balanced``: the largest balanced accuracy; ``midway``: halfway between that threshold and
    the equal-error point (where the two rates are closest)."""
    candidates, accept, reject = _candidates(known, unknown)
    balanced = float(candidates[int(np.argmax(accept + reject))])
    if rule == "balanced":
        return balanced
    if rule != "midway":
        raise ValueError(f"unknown operating point rule {rule!r}")
    equal = float(candidates[int(np.argmin(np.abs(accept - reject) - 1e-9 * (accept + reject)))])
    return 0.5 * (balanced + equal)


def calibrate_threshold(vectors: np.ndarray, *, labels: Sequence[str],
                        groups: Sequence[str] | None = None, score_norm: str = "none",
                        cohort_top: int = DEFAULT_TOP) -> ThresholdCalibration:
    """Choose the open-set threshold on the enrolled items (see the module docstring).

    ``groups``: a known trial ignores the query's own group (e.g. ``song_key``: a new recording of
    an enrolled singer is a new *song*, not another take of the same song, which would make the
    threshold too tight). ``score_norm="as-norm"``: the trials are AS-norm scores
    (:mod:`vocaltools.index.score_norm`, cohort of the ``cohort_top`` best other-label scores) and
    the threshold, a minimum normalised score, lies midway between the balanced-accuracy optimum
    and the equal-error point; ``"none"``: squared distances, the balanced-accuracy optimum.
    Raises :class:`InputError` when there are no known or no unknown trials (fewer than two
    labels, or no label with two items / groups)."""
    if score_norm == "as-norm":
        known, unknown = as_norm_trials(vectors, labels, groups, top=cohort_top)
    elif score_norm == "none":
        known, unknown = calibration_trials(vectors, labels, groups)
    else:
        raise InputError(f"unknown score normalisation {score_norm!r}; valid: "
                         f"{', '.join(SCORE_NORMS)}{did_you_mean(score_norm, SCORE_NORMS)}")
    if len(known) == 0 or len(unknown) == 0:
        raise InputError("calibrating an open-set threshold needs at least two labels and a label "
                         "with two or more items; give --threshold explicitly instead")
    if score_norm == "as-norm":
        threshold = -operating_point(-known, -unknown, rule="midway")
        accept, reject = (known >= threshold).mean(), (unknown < threshold).mean()
        method = "loo-as-norm-midway-eer-balanced"
    else:
        threshold = operating_point(known, unknown, rule="balanced")
        accept, reject = (known <= threshold).mean(), (unknown > threshold).mean()
        method = "loo-balanced-accuracy"
    return ThresholdCalibration(threshold=float(threshold), known_accept_rate=float(accept),
                                unknown_reject_rate=float(reject), n_known=int(len(known)),
                                n_unknown=int(len(unknown)), method=method)


#: item fields that name a recording's song, in the order ``--calibrate-by auto`` looks for them
SONG_FIELDS = ("song_key", "song_id", "song")


@dataclass(frozen=True)
class OpenSetCalibration:
    """A threshold calibrated on trials that resemble real use, and what to warn about.

    ``calibration.groups`` names the field whose groups known trials ignored (``None``: other
    takes or clips of the same recording were allowed, which lie closer than new recordings).
    ``n_labels_with_trials`` counts the labels that gave at least one known trial."""

    calibration: ThresholdCalibration
    warnings: tuple[str, ...]
    n_labels: int
    n_labels_with_trials: int


def calibrate_open_set(vectors: np.ndarray, *, labels: Sequence[str],
                       groups: Sequence[str] | None = None,
                       group_field: str | None = None, score_norm: str = "none",
                       cohort_top: int = DEFAULT_TOP) -> OpenSetCalibration:
    """:func:`calibrate_threshold` on known trials across ``groups`` (e.g. another song of the
    singer), with warnings: some labels have a single group (no such trial of theirs), or none
    has two groups, in which case the threshold falls back to trials within groups (other takes of
    the same song, a tighter threshold that rejects more new songs of enrolled singers).
    ``score_norm``, ``cohort_top``: as :func:`calibrate_threshold`."""
    from collections import defaultdict

    label_list = [str(label) for label in labels]
    scoring = {"score_norm": score_norm, "cohort_top": cohort_top}
    warnings: list[str] = []
    n_labels = len(set(label_list))
    if groups is None:
        calibration = calibrate_threshold(vectors, labels=label_list, **scoring)
        counts = defaultdict(int)
        for label in label_list:
            counts[label] += 1
        return OpenSetCalibration(calibration, (), n_labels, sum(c > 1 for c in counts.values()))
    group_list = [str(g) for g in groups]
    per_label: dict[str, set[str]] = defaultdict(set)
    for label, group in zip(label_list, group_list):
        per_label[label].add(group)
    crossing = sum(len(g) > 1 for g in per_label.values())
    name = group_field or "group"
    if crossing == 0:
        warnings.append(f"no enrolled label has two or more {name} values, so no trial resembles "
                        f"a new {name} of an enrolled label; calibrated on other items of the same "
                        f"{name} instead, a tighter threshold: expect new {name}s of enrolled "
                        f"labels to be answered 'unknown' more often than the rates say")
        calibration = calibrate_threshold(vectors, labels=label_list, **scoring)
        return OpenSetCalibration(calibration, tuple(warnings), n_labels, 0)
    if crossing < n_labels:
        warnings.append(f"{n_labels - crossing} of {n_labels} enrolled labels have a single {name}; "
                        f"the known trials (a new {name} of an enrolled label) come from the other "
                        f"{crossing}")
    calibration = calibrate_threshold(vectors, labels=label_list, groups=group_list, **scoring)
    calibration = ThresholdCalibration(**{**calibration.to_dict(), "groups": group_field})
    return OpenSetCalibration(calibration, tuple(warnings), n_labels, crossing)


def decide(neighbors: Sequence[Neighbor], *, threshold: float | None, query_id: str,
           score: float | None = None) -> Identity:
    """Apply the open-set rule to one query's neighbours (nearest first).

    ``score``: the AS-norm score of the nearest neighbour; with it, ``threshold`` is a minimum
    normalised score (below it: "unknown", confidence ``min(1, threshold - score)``, the shortfall
    in cohort standard deviations); without it, a maximum squared distance."""
    if not neighbors:
        raise InputError(f"{query_id}: no neighbours; is the index empty?")
    candidate, votes = vote([n.label for n in neighbors])
    nearest = neighbors[0].distance
    if threshold is not None:
        if score is not None:
            rejected, margin = score < threshold, threshold - score
        else:
            rejected = nearest > threshold
            margin = (nearest - threshold) / threshold if threshold > 0 else 1.0
        if rejected:
            return Identity(query_id, UNKNOWN, float(min(1.0, margin)), candidate, nearest,
                            threshold, tuple(neighbors), score)
    return Identity(query_id, candidate, votes / len(neighbors), candidate, nearest, threshold,
                    tuple(neighbors), score)


def nearest_scores(index: EmbeddingIndex, queries: np.ndarray,
                   results: Sequence[Sequence[Neighbor]]) -> np.ndarray | None:
    """The AS-norm score of every query against its nearest enrolled item (``float64 [n]``), or
    None when the index does not normalise scores (``meta["score_norm"]`` is null or absent, as
    in indexes written before score normalisation)."""
    setting = index.meta.get("score_norm")
    if not setting or setting.get("method") in (None, "none"):
        return None
    top = int(setting.get("top", DEFAULT_TOP))
    enrolled = index.enrolled_vectors()
    rows = {}
    for row, item_id in enumerate(index.item_ids):
        rows.setdefault(item_id, row)
    nearest = np.array([rows[neighbors[0].item_id] for neighbors in results], dtype=int)
    return query_scores(index.prepare(queries, what="queries"), nearest, enrolled, index.labels,
                        top=top)


def identify(index: EmbeddingIndex, queries: np.ndarray, *, query_ids: Sequence[str], k: int = 5,
             threshold: float | None = None) -> list[Identity]:
    """Identify every query vector (``float32 [n, dim]``) against ``index``.

    ``threshold=None`` is closed-set identification (never "unknown"). When the index normalises
    scores (``knn build --score-norm as-norm``) the threshold is a minimum AS-norm score of the
    nearest enrolled item, otherwise a maximum squared distance to it."""
    if len(query_ids) != len(queries):
        raise InputError(f"{len(queries)} queries but {len(query_ids)} ids")
    results = index.search(queries, k=k)
    scores = nearest_scores(index, queries, results) if all(results) else None
    if threshold is not None and threshold < 0 and scores is None:
        raise InputError(f"the threshold is a squared distance and must be >= 0, got {threshold}")
    return [decide(neighbors, threshold=threshold, query_id=str(query_id),
                   score=None if scores is None else float(scores[i]))
            for i, (query_id, neighbors) in enumerate(zip(query_ids, results))]
