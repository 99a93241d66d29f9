"""Losses: class-weighted cross-entropy (S3's ``w_c = 1 / n_c ** alpha``) and the model's own
regularisers (the Dense regularisers of S1's CRNN_FGNL, exposed as ``model.regularization_loss``)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def class_weights(counts: np.ndarray, *, alpha: float) -> np.ndarray:
    """``w_c = 1 / n_c ** alpha`` for class counts ``n_c`` (``int [n_classes]``); a class without
    training samples gets weight 0. ``alpha = 0`` gives equal weights."""
    counts = np.asarray(counts, dtype=np.float64)
    weights = np.zeros_like(counts)
    present = counts > 0
    weights[present] = 1.0 / counts[present] ** alpha
    return weights.astype(np.float32)


def classification_loss(model: nn.Module, logits: torch.Tensor, targets: torch.Tensor, *,
                        weights: torch.Tensor | None, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy (weighted mean over the batch when ``weights`` is given, as PyTorch defines
    it, so the scale of the weights does not matter; against targets smoothed to ``(1 - e) x
    one-hot + e / n_classes`` with ``label_smoothing`` e) plus ``model.regularization_loss(logits)``
    when the model has one.

    ``logits: float32 [batch, n_classes]``, ``targets: int64 [batch]``.
    """
    loss = F.cross_entropy(logits.float(), targets, weight=weights, label_smoothing=label_smoothing)
    regularizer = getattr(model, "regularization_loss", None)
    if callable(regularizer):
        loss = loss + regularizer(logits.float())
    return loss
