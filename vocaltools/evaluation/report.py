"""Evaluation reports: predictions or votes (with their true labels) -> metrics at clip and item
level, several runs aggregated as mean, std and best, or the folds of a cross-validation
aggregated as mean and std with all folds' predictions also scored together (pooled)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from vocaltools.errors import InputError
from vocaltools.evaluation.metrics import Scores, aggregate, score
from vocaltools.formats.schema import parse_schema
from vocaltools.inference.vote import vote_items


@dataclass(frozen=True)
class RunReport:
    """One run (one input file): clip-level scores (None for votes) and item-level scores."""

    source: str
    clip: Scores | None
    item: Scores
    vote_method: str | None

    def to_dict(self) -> dict[str, Any]:
        def scores(s: Scores | None) -> dict[str, Any] | None:
            if s is None:
                return None
            return {**s.summary(), "per_class": s.per_class, "labels": s.labels,
                    "confusion": s.confusion}

        return {"source": self.source, "vote_method": self.vote_method,
                "clip": scores(self.clip), "item": scores(self.item)}


def _score_records(records: Sequence[Mapping[str, Any]], *, what: str, source: str) -> Scores:
    labeled = [r for r in records if r.get("true_label") is not None]
    if not labeled:
        raise InputError(f"{source}: no {what} record has a true_label; predict items whose "
                         "fields include the model's target (e.g. from a feature store)")
    labels = list(labeled[0]["labels"])
    if "top" in labeled[0] and what == "clip":
        predicted = [r["top"][0]["label"] for r in labeled]
    else:
        predicted = [r["label"] for r in labeled]
    probabilities = np.array([r["probabilities"] for r in labeled], dtype=np.float64)
    return score(true_labels=[str(r["true_label"]) for r in labeled], predicted_labels=predicted,
                 labels=labels, probabilities=probabilities)


def evaluate_records(records: Sequence[Mapping[str, Any]], *, source: str,
                     vote_method: str = "s1") -> RunReport:
    """Score one run: ``vocaltools.prediction`` records (clip level, and item level after voting
    with ``vote_method``) or ``vocaltools.vote`` records (item level)."""
    if not records:
        raise InputError(f"{source}: no records to evaluate")
    kinds = {parse_schema(r.get("schema"), where=source)[0] for r in records}
    if kinds == {"prediction"}:
        votes = [v.to_record() for v in vote_items(records, method=vote_method)]
        return RunReport(source=source, vote_method=vote_method,
                         clip=_score_records(records, what="clip", source=source),
                         item=_score_records(votes, what="item", source=source))
    if kinds == {"vote"}:
        return RunReport(source=source, vote_method=records[0].get("method"), clip=None,
                         item=_score_records(records, what="item", source=source))
    raise InputError(f"{source}: expected prediction or vote records, got {sorted(kinds)}")


def summarize_runs(reports: Sequence[RunReport]) -> dict[str, Any]:
    """The report JSON: every run, and mean/std/best over runs at clip and item level."""
    clip_runs = [r.clip.summary() for r in reports if r.clip is not None]
    return {"runs": [r.to_dict() for r in reports],
            "aggregate": {"clip": aggregate(clip_runs) if clip_runs else None,
                          "item": aggregate([r.item.summary() for r in reports])}}


def pool_folds(records_per_fold: Sequence[Sequence[Mapping[str, Any]]], *, sources: Sequence[str],
               vote_method: str = "s1") -> RunReport:
    """All folds' records scored as one run. Folds must share the model's label list (in order)
    and test disjoint items, as the folds of one cross-validation do."""
    label_lists = {tuple(r["labels"]) for records in records_per_fold for r in records
                   if "labels" in r}
    if len(label_lists) > 1:
        raise InputError(f"the folds ({', '.join(sources)}) were predicted by models with different "
                         "label lists; pooling needs the same classes in the same order (every "
                         "fold's training side must hold every class)")
    seen: dict[str, str] = {}
    for records, source in zip(records_per_fold, sources):
        for item_id in {str(r.get("item_id")) for r in records}:
            if item_id in seen and seen[item_id] != source:
                raise InputError(f"item {item_id!r} is in two folds ({seen[item_id]}, {source}); the "
                                 "folds of a cross-validation test disjoint items")
            seen[item_id] = source
    pooled = [r for records in records_per_fold for r in records]
    return evaluate_records(pooled, source="pooled", vote_method=vote_method)


def summarize_folds(reports: Sequence[RunReport], pooled: RunReport) -> dict[str, Any]:
    """The report JSON of a cross-validation: every fold (``fold`` = its position, 0-based),
    mean/std/best over folds, and the pooled scores of all folds' predictions together."""
    summary = summarize_runs(reports)
    for index, run in enumerate(summary["runs"]):
        run["fold"] = index
    summary["n_folds"] = len(reports)
    summary["pooled"] = pooled.to_dict()
    return summary
