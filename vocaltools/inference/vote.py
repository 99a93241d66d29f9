"""Song-level voting: clip predictions -> one answer per item.

Rules (``method``):

- ``"s1"`` (default, the FGNL code's rule): keep the clips whose maximum probability is > 0.5
  (strict); if none remain, keep all; the item's label is the most frequent clip label, ties going
  to the lowest class index.
- ``"majority"``: the most frequent clip label over all clips (ties to the lowest class index).
- ``"mean"``: the label of the highest mean probability over all clips.

Every vote also carries the mean probability vector of the clips it kept, so that top-k figures can
be computed at item level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from vocaltools.errors import FormatError, InputError

VOTE_METHODS = ("s1", "majority", "mean")


@dataclass(frozen=True)
class SongVote:
    """One item's answer."""

    item_id: str
    label: str
    label_index: int
    confidence: float
    n_clips: int
    n_kept: int
    method: str
    probabilities: list[float]
    labels: list[str]
    target: str | None = None
    true_label: Any = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    model: str | None = None

    def to_record(self) -> dict[str, Any]:
        from vocaltools.formats.jsonl import make_record

        order = np.argsort(-np.asarray(self.probabilities), kind="stable")[:5]
        top = [{"label": self.labels[i], "label_index": int(i),
                "probability": float(self.probabilities[i])} for i in order]
        return make_record("vote", item_id=self.item_id, label=self.label,
                           label_index=self.label_index, confidence=self.confidence,
                           n_clips=self.n_clips, n_kept=self.n_kept, method=self.method, top=top,
                           probabilities=self.probabilities, labels=self.labels, target=self.target,
                           true_label=self.true_label, fields=dict(self.fields), model=self.model)


def vote_probabilities(probabilities: np.ndarray, *, method: str = "s1",
                       threshold: float = 0.5) -> tuple[int, np.ndarray, int]:
    """Vote over one item's clips.

    ``float [n_clips, n_classes] -> (label_index, mean probabilities of kept clips, n_kept)``.
    """
    if method not in VOTE_METHODS:
        raise InputError(f"unknown vote method {method!r}; valid: {', '.join(VOTE_METHODS)}")
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[0] == 0:
        raise InputError("an item needs at least one clip probability vector to vote")
    n_classes = probabilities.shape[1]
    if method == "mean":
        mean = probabilities.mean(axis=0)
        return int(np.argmax(mean)), mean, len(probabilities)
    kept = probabilities
    if method == "s1":
        confident = probabilities.max(axis=1) > threshold
        if confident.any():
            kept = probabilities[confident]
    counts = np.bincount(kept.argmax(axis=1), minlength=n_classes)
    # argmax returns the first maximum: ties go to the lowest class index
    return int(np.argmax(counts)), kept.mean(axis=0), len(kept)


def _group_by_item(records: Iterable[Mapping[str, Any]]) -> Iterator[list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault(str(record["item_id"]), []).append(record)
    yield from groups.values()


def vote_items(records: Iterable[Mapping[str, Any]], *, method: str = "s1",
               threshold: float = 0.5) -> list[SongVote]:
    """Group ``vocaltools.prediction`` records by item (in order of first appearance) and vote."""
    votes = []
    for clips in _group_by_item(records):
        first = clips[0]
        labels = list(first.get("labels") or [])
        try:
            matrix = np.array([clip["probabilities"] for clip in clips], dtype=np.float64)
        except (KeyError, ValueError) as error:
            raise FormatError(f"item {first['item_id']}: prediction records need equal-length "
                              "'probabilities' lists") from error
        if not labels or matrix.shape[1] != len(labels):
            raise FormatError(f"item {first['item_id']}: 'labels' must list one name per "
                              "probability")
        index, mean, n_kept = vote_probabilities(matrix, method=method, threshold=threshold)
        votes.append(SongVote(
            item_id=str(first["item_id"]), label=labels[index], label_index=index,
            confidence=float(mean[index]), n_clips=len(clips), n_kept=n_kept, method=method,
            probabilities=[float(p) for p in mean], labels=labels, target=first.get("target"),
            true_label=first.get("true_label"), fields=first.get("fields") or {},
            model=first.get("model")))
    return votes
