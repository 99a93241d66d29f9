"""S1's melody input: an f0 contour mapped to a one-hot matrix over mel centre frequencies.

The pitch tracker is ``librosa.pyin`` (probabilistic YIN with Viterbi smoothing over pitch states of
``resolution`` semitones; with resolution 0.25 it runs at tens of times real time after numba's
first compilation) or, as in the S1 code, CREPE with Viterbi decoding (``Melody(tracker="crepe")``,
:mod:`vocaltools.models.crepe`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from vocaltools.features.config import Melody


@lru_cache(maxsize=8)
def bin_frequencies(n_bins: int = 128, fmax: float = 11025.0) -> np.ndarray:
    """float64 [n_bins]: ``librosa.mel_frequencies(n_bins, fmin=0, fmax=fmax)`` (0 Hz first)."""
    from vocaltools.features.mel import mel_frequencies

    return mel_frequencies(n_bins, fmin=0.0, fmax=fmax)


def f0_to_onehot(f0: np.ndarray, *, n_bins: int = 128, fmax: float = 11025.0) -> np.ndarray:
    """float32 [n_bins, n_frames]: bin = highest centre frequency <= f0; NaN or f0 <= 0 -> bin 0."""
    f0 = np.nan_to_num(np.asarray(f0, dtype=np.float64), nan=0.0)
    centres = bin_frequencies(n_bins, fmax)
    index = np.clip(np.searchsorted(centres, np.maximum(f0, 0.0), side="right") - 1, 0, n_bins - 1)
    onehot = np.zeros((n_bins, f0.size), dtype=np.float32)
    onehot[index, np.arange(f0.size)] = 1.0
    return onehot


def track_f0(waveform: np.ndarray, *, sample_rate: int, config: Melody) -> np.ndarray:
    """float64 [n_frames] f0 in Hz (0 for unvoiced frames unless ``config.unvoiced == "estimate"``),
    centred frames: ``n_frames = 1 + n_samples // hop_length``; ``config.tracker`` chooses pYIN
    or CREPE."""
    import librosa

    if waveform.size == 0:
        return np.zeros(1)
    if config.tracker in ("crepe", "crepe-tiny"):
        from vocaltools.models.crepe import track_pitch

        track = track_pitch(waveform, sample_rate=sample_rate, hop_length=config.hop_length,
                            capacity="full" if config.tracker == "crepe" else "tiny",
                            fmin=config.fmin, fmax=config.fmax)
        f0 = track.f0_hz
        if config.unvoiced == "zero":
            f0 = np.where(track.periodicity >= config.voicing_threshold, f0, 0.0)
        return f0
    f0, voiced, _ = librosa.pyin(np.asarray(waveform, dtype=np.float32), fmin=config.fmin,
                                 fmax=config.fmax, sr=sample_rate, frame_length=config.frame_length,
                                 hop_length=config.hop_length, resolution=config.resolution,
                                 center=True, pad_mode="constant",
                                 fill_na=None if config.unvoiced == "estimate" else 0.0)
    return np.nan_to_num(f0, nan=0.0)


def melody_onehot(waveform: np.ndarray, *, sample_rate: int, config: Melody) -> np.ndarray:
    """float32 [n_bins, n_frames] one-hot melody of a mono waveform (exactly one 1 per frame)."""
    f0 = track_f0(waveform, sample_rate=sample_rate, config=config)
    return f0_to_onehot(f0, n_bins=config.n_bins_total, fmax=config.bins_fmax)
