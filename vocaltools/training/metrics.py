"""Clip-level metrics computed during training (validation) and at its end (test).

Plain numpy (sklearn's definitions: support-weighted F1, macro F1 over the classes present in the
true or predicted labels, balanced accuracy over the true classes), so that a training run does not
pay sklearn's import time every epoch's first call.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _per_class_f1(true: np.ndarray, predicted: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(f1, support, present)`` per class; ``present``: the class occurs in true or predicted."""
    true_count = np.bincount(true, minlength=n_classes).astype(np.float64)
    pred_count = np.bincount(predicted, minlength=n_classes).astype(np.float64)
    hits = np.bincount(true[true == predicted], minlength=n_classes).astype(np.float64)
    denominator = true_count + pred_count
    f1 = np.divide(2 * hits, denominator, out=np.zeros(n_classes), where=denominator > 0)
    return f1, true_count, denominator > 0


def clip_metrics(*, true_indices: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """Accuracy, weighted / macro F1, balanced accuracy and top-2/3 accuracy of clip predictions.

    ``true_indices: int [n_clips]``, ``probabilities: float32 [n_clips, n_classes]``.

    >>> m = clip_metrics(true_indices=np.array([0, 1, 1]),
    ...                  probabilities=np.array([[.9, .1], [.2, .8], [.6, .4]]))
    >>> round(m["accuracy"], 3), round(m["f1_weighted"], 3)
    (0.667, 0.667)
    """
    true_indices = np.asarray(true_indices, dtype=np.int64)
    if probabilities.ndim != 2 or probabilities.shape[0] == 0:
        return {"n_clips": 0}
    n_clips, n_classes = probabilities.shape
    predicted = probabilities.argmax(axis=1)
    f1, support, present = _per_class_f1(true_indices, predicted, n_classes)
    recall = np.divide(np.bincount(true_indices[true_indices == predicted], minlength=n_classes),
                       support, out=np.zeros(n_classes), where=support > 0)
    ranked = np.argsort(-probabilities, axis=1, kind="stable")
    result: dict[str, Any] = {
        "n_clips": int(n_clips),
        "accuracy": float((predicted == true_indices).mean()),
        "f1_weighted": float((f1 * support).sum() / support.sum()),
        "f1_macro": float(f1[present].mean()),
        "balanced_accuracy": float(recall[support > 0].mean()),
    }
    for k in (2, 3):
        if n_classes > k:
            result[f"top{k}_accuracy"] = float((ranked[:, :k] == true_indices[:, None]).any(axis=1).mean())
    return result
