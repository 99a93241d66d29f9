"""Clip statistics with a linear head: a small embedding model (project model, not from a paper).

A clip of dB mel frames is summarised by the mean and standard deviation over time of its mel bands,
of their deltas, of its MFCCs and of their deltas (the MFCC-statistics baseline of
:mod:`vocaltools.baselines`, extended by the mel bands); the summary is standardised with statistics
learned from the training clips (batch normalisation without affine parameters) and mapped by one
linear layer. Trained with ``vocaltools train --objective contrastive`` (S2's siamese loss) that
layer is a learned 16-d metric on the statistics; trained with ``--objective classify`` it is a
linear classifier.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

#: frames of the delta filter (a Savitzky-Golay first derivative, as the baseline's)
DELTA_WIDTH = 9


def dct_matrix(n_mels: int, n_mfcc: int) -> torch.Tensor:
    """The orthonormal DCT-II as a matrix ``float32 [n_mfcc, n_mels]`` (``scipy.fft.dct(x,
    type=2, norm="ortho")`` along the mel axis, first ``n_mfcc`` rows)."""
    k = torch.arange(n_mfcc, dtype=torch.float64)[:, None]
    n = torch.arange(n_mels, dtype=torch.float64)[None, :]
    basis = torch.cos(math.pi * k * (2 * n + 1) / (2 * n_mels)) * math.sqrt(2.0 / n_mels)
    basis[0] /= math.sqrt(2.0)
    return basis.float()


def delta(x: torch.Tensor, *, width: int = DELTA_WIDTH) -> torch.Tensor:
    """First-order deltas over the last axis, ``float32 [..., n_frames]``, equal to
    ``scipy.signal.savgol_filter(x, width, polyorder=1, deriv=1, mode="interp")``: the slope of a
    least-squares line through ``width`` frames; the first and last ``width // 2`` frames take the
    slope of the first and last full window. Clips shorter than ``width`` get zeros."""
    half = width // 2
    if x.shape[-1] < width:
        return torch.zeros_like(x)
    taps = torch.arange(-half, half + 1, dtype=x.dtype, device=x.device)
    kernel = (taps / taps.pow(2).sum()).view(1, 1, -1)  # conv1d correlates: out[t] = sum_k w_k x[t+k]
    slopes = F.conv1d(x.reshape(-1, 1, x.shape[-1]), kernel)
    return F.pad(slopes, (half, half), mode="replicate").reshape(x.shape)


def _mean_std(x: torch.Tensor) -> torch.Tensor:
    """``[batch, n, n_frames] -> [batch, 2 n]``: mean and (population) std over time."""
    return torch.cat([x.mean(dim=-1), x.std(dim=-1, unbiased=False)], dim=1)


class ClipStats(nn.Module):
    """``float32 [batch, channels, n_mels, n_frames]`` (dB mel; channels are averaged) ->
    ``[batch, n_classes]``; ``forward_features`` gives the standardised statistics
    ``[batch, 4 n_mels + 4 n_mfcc]``."""

    def __init__(self, n_classes: int, *, n_mels: int = 96, n_mfcc: int = 20):
        super().__init__()
        self.register_buffer("dct", dct_matrix(n_mels, n_mfcc), persistent=False)
        self.feature_dim = 4 * (n_mels + n_mfcc)
        self.standardize = nn.BatchNorm1d(self.feature_dim, affine=False)
        self.classifier = nn.Linear(self.feature_dim, n_classes)

    def statistics(self, x: torch.Tensor) -> torch.Tensor:
        """The raw clip statistics ``[batch, 4 n_mels + 4 n_mfcc]``: mel mean, mel std, mel-delta
        mean, mel-delta std, then the same four for the MFCCs."""
        mel = x.mean(dim=1)
        mfcc = torch.einsum("km,bmt->bkt", self.dct, mel)
        return torch.cat([_mean_std(mel), _mean_std(delta(mel)), _mean_std(mfcc), _mean_std(delta(mfcc))], dim=1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.standardize(self.statistics(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


def build(*, n_classes: int, n_mels: int = 96, n_mfcc: int = 20) -> ClipStats:
    return ClipStats(n_classes, n_mels=n_mels, n_mfcc=n_mfcc)
