"""Separating at one rate, returning stems at another: a separator that processes at 22,050 Hz
gives stems at the input's 44.1 kHz.

The mixture is resampled (soxr, quality ``HQ`` as in :mod:`vocaltools.audio`) to the separator's
rate, separated, and both estimates are resampled back. What the round trip loses (the band above
the processing rate's Nyquist frequency) is added to the accompaniment, so a separator whose stems
sum to the mixture keeps that property at the input's rate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vocaltools.separation.base import Separator, StemArrays


def _resample(audio: np.ndarray, rate_in: int, rate_out: int, n_out: int) -> np.ndarray:
    """``float32 [n]`` at ``rate_in`` -> ``float32 [n_out]`` at ``rate_out`` (cut or zero padded
    to exactly ``n_out`` samples)."""
    import soxr

    out = soxr.resample(np.ascontiguousarray(audio, dtype=np.float32), rate_in, rate_out,
                        quality="HQ").astype(np.float32)
    if len(out) >= n_out:
        return out[:n_out]
    return np.pad(out, (0, n_out - len(out)))


def separate_at_rate(separator: Separator, mixture: np.ndarray, *,
                     sample_rate: int) -> StemArrays:
    """Separate ``float32 [n]`` at ``sample_rate`` with ``separator`` at its own rate and return
    both stems as ``float32 [n]`` at ``sample_rate``."""
    mixture = np.asarray(mixture, dtype=np.float32).reshape(-1)
    rate = separator.sample_rate
    if rate is None or rate == sample_rate:
        return separator.separate_array(mixture, sample_rate=sample_rate)
    n = len(mixture)
    if n == 0:
        return StemArrays.empty()
    low = _resample(mixture, sample_rate, rate, int(round(n * rate / sample_rate)))
    stems = separator.separate_array(low, sample_rate=rate)
    vocals = _resample(stems.vocals, rate, sample_rate, n)
    if separator.residual:  # the same as below, with two resamplings fewer
        return StemArrays(vocals=vocals, accompaniment=mixture - vocals)
    lost = mixture - _resample(low, rate, sample_rate, n)  # above the processing Nyquist
    accompaniment = _resample(stems.accompaniment, rate, sample_rate, n) + lost
    return StemArrays(vocals=vocals, accompaniment=accompaniment.astype(np.float32))


class AtInputRate(Separator):
    """``separator`` seen from the input's rate: ``separate_array`` takes and returns audio at any
    rate (see :func:`separate_at_rate`); chunking settings and description are the separator's."""

    def __init__(self, separator: Separator) -> None:
        self.inner = separator
        self.method = separator.method  # type: ignore[misc]  # the inner method's name
        self.sample_rate = None
        self.chunk_seconds = separator.chunk_seconds
        self.overlap_seconds = separator.overlap_seconds
        self.residual = separator.residual

    def separate_array(self, mixture: np.ndarray, *, sample_rate: int) -> StemArrays:
        return separate_at_rate(self.inner, mixture, sample_rate=sample_rate)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()
