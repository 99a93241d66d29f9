"""Slaney-style mel scale and filter bank, equal to ``librosa.filters.mel`` (htk=False,
norm="slaney") and ``librosa.mel_frequencies``, in numpy only: the log-mel presets then never pay
librosa's and scipy.signal's import time (several seconds on a loaded machine)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_F_SP = 200.0 / 3  # Hz per mel in the linear part
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(freqs) -> np.ndarray:
    """Slaney mel of ``freqs`` (Hz): linear below 1 kHz, logarithmic above."""
    freqs = np.asarray(freqs, dtype=np.float64)
    mels = freqs / _F_SP
    log_part = freqs >= _MIN_LOG_HZ
    return np.where(log_part, _MIN_LOG_MEL + np.log(np.maximum(freqs, 1e-300) / _MIN_LOG_HZ) / _LOGSTEP,
                    mels)


def mel_to_hz(mels) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    return np.where(mels >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels - _MIN_LOG_MEL)),
                    _F_SP * mels)


def mel_frequencies(n_mels: int = 128, *, fmin: float = 0.0, fmax: float = 11025.0) -> np.ndarray:
    """float64 [n_mels] centre frequencies evenly spaced in mel from ``fmin`` to ``fmax``."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels))


@lru_cache(maxsize=32)
def mel_filters(*, sample_rate: int, n_fft: int, n_mels: int = 128, fmin: float = 0.0,
                fmax: float | None = None) -> np.ndarray:
    """float32 [n_mels, 1 + n_fft // 2] triangular filters with Slaney area normalisation."""
    fmax = sample_rate / 2.0 if fmax is None else fmax
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    mel_f = mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    weights = weights.astype(np.float32)
    weights.setflags(write=False)
    return weights


@lru_cache(maxsize=32)
def mel_bands(*, sample_rate: int, n_fft: int, n_mels: int = 128, fmin: float = 0.0,
              fmax: float | None = None) -> tuple[tuple[int, int, np.ndarray], ...]:
    """The non-zero part of each filter of :func:`mel_filters`: ``(start, stop, weights)``."""
    bands = []
    for row in mel_filters(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax):
        nonzero = np.flatnonzero(row)
        start, stop = (int(nonzero[0]), int(nonzero[-1]) + 1) if nonzero.size else (0, 0)
        bands.append((start, stop, np.ascontiguousarray(row[start:stop])))
    return tuple(bands)


def apply_mel(power: np.ndarray, *, sample_rate: int, n_fft: int, n_mels: int = 128,
              fmin: float = 0.0, fmax: float | None = None, out: np.ndarray | None = None
              ) -> np.ndarray:
    """float32 [n_frames, 1 + n_fft // 2] power -> float32 [n_mels, n_frames].

    Equal to ``mel_filters(...) @ power.T`` but touches only each filter's non-zero bins (about
    2 bins per FFT bin instead of n_mels): 10-20x less work than the dense product. ``out``: a
    float32 [n_mels, n_frames] array (or column slice of one) to write into.

    ``np.matmul`` rather than ``np.dot``: on these strided [n_frames, band] x [band] products it is
    2x faster, and it does not hand the small products to a multi-threaded BLAS (which on a loaded
    2-core machine cost 2-3x in spin-waiting)."""
    bands = mel_bands(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    if out is None:
        out = np.empty((n_mels, power.shape[0]), dtype=np.float32)
    for index, (start, stop, weights) in enumerate(bands):
        if stop > start:
            np.matmul(power[:, start:stop], weights, out=out[index])
        else:
            out[index] = 0.0
    return out
