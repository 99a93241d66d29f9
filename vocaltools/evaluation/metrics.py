"""Classification metrics of the seed papers, from scikit-learn.

S1 reports support-weighted F1; S3 macro F1, accuracy, balanced accuracy, top-2/top-3; S4 accuracy,
macro precision/recall, micro and macro F1. All of them are computed for every evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


@dataclass(frozen=True)
class Scores:
    """Metrics of one set of predictions. ``per_class`` maps label -> precision/recall/f1/support."""

    n: int
    accuracy: float
    f1_weighted: float
    f1_macro: float
    f1_micro: float
    balanced_accuracy: float
    precision_macro: float
    recall_macro: float
    top2: float | None
    top3: float | None
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]
    labels: list[str]

    def summary(self) -> dict[str, Any]:
        """The scalar metrics only."""
        return {k: v for k, v in self.__dict__.items()
                if k not in ("per_class", "confusion", "labels")}


SCALARS = ("accuracy", "f1_weighted", "f1_macro", "f1_micro", "balanced_accuracy",
           "precision_macro", "recall_macro", "top2", "top3")


def score(*, true_labels: Sequence[str], predicted_labels: Sequence[str], labels: Sequence[str],
          probabilities: np.ndarray | None = None) -> Scores:
    """Metrics over ``labels`` (the model's classes, in index order).

    ``probabilities``: ``float [n, len(labels)]`` for top-k accuracy (None to skip). True labels
    outside ``labels`` (classes the model never saw) count as errors and are added to the per-class
    table.
    """
    from sklearn.metrics import (balanced_accuracy_score, confusion_matrix,
                                 precision_recall_fscore_support)

    import warnings

    warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
    true = [str(t) for t in true_labels]
    pred = [str(p) for p in predicted_labels]
    all_labels = list(labels) + sorted({t for t in true if t not in set(labels)})
    present = [lab for lab in all_labels if lab in set(true) | set(pred)]
    precision, recall, f1, support = precision_recall_fscore_support(
        true, pred, labels=present, zero_division=0)
    per_class = {lab: {"precision": float(p), "recall": float(r), "f1": float(f),
                       "support": int(s)}
                 for lab, p, r, f, s in zip(present, precision, recall, f1, support)}
    # averages over the classes present in either list, as scikit-learn does by default
    averaged = {avg: precision_recall_fscore_support(true, pred, average=avg, zero_division=0)
                for avg in ("weighted", "macro", "micro")}
    topk: dict[int, float | None] = {2: None, 3: None}
    if probabilities is not None and len(true):
        index = {lab: i for i, lab in enumerate(labels)}
        order = np.argsort(-np.asarray(probabilities), axis=1, kind="stable")
        for k in topk:
            if len(labels) >= k:
                hits = [t in index and index[t] in order[i, :k] for i, t in enumerate(true)]
                topk[k] = float(np.mean(hits))
    return Scores(
        n=len(true),
        accuracy=float(np.mean([t == p for t, p in zip(true, pred)])) if true else 0.0,
        f1_weighted=float(averaged["weighted"][2]),
        f1_macro=float(averaged["macro"][2]),
        f1_micro=float(averaged["micro"][2]),
        balanced_accuracy=float(balanced_accuracy_score(true, pred)) if true else 0.0,
        precision_macro=float(averaged["macro"][0]),
        recall_macro=float(averaged["macro"][1]),
        top2=topk[2], top3=topk[3], per_class=per_class,
        confusion=confusion_matrix(true, pred, labels=all_labels).tolist() if true else [],
        labels=all_labels)


def aggregate(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean, std (population) and best of each scalar metric over several runs' summaries."""
    result = {}
    for name in SCALARS:
        values = [run[name] for run in runs if run.get(name) is not None]
        if values:
            result[name] = {"mean": float(np.mean(values)), "std": float(np.std(values)),
                            "best": float(np.max(values)), "n_runs": len(values)}
    return result
