"""Handcrafted baseline embeddings (no model): MFCC statistics.

S2 compares its learned embedding with handcrafted audio features (its classification baseline is
an SVM on MFCC / chroma / spectral statistics). :func:`mfcc_statistics` is the MFCC part, computed
from the same log-mel clips the networks read, so baseline and network see identical input:

- MFCC = DCT-II (orthonormal) of the dB mel spectrogram over the mel axis, first ``n_mfcc``
  coefficients (exactly ``librosa.feature.mfcc(S=mel_db, n_mfcc=n_mfcc)``; c0 included);
- deltas = Savitzky-Golay first derivative over 9 frames (``librosa.feature.delta``'s method);
- the embedding = ``[mean(MFCC), std(MFCC), mean(delta), std(delta)]`` over time, ``4 * n_mfcc``
  values (80 with the default 20).

Its dimensions have very different scales (c0 dominates Euclidean distances), so compare it with
``knn evaluate --standardize`` as well as raw.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from vocaltools.errors import ConfigError, InputError

BASELINES = ("mfcc",)


@dataclass(frozen=True)
class MfccStatsConfig:
    """MFCC-statistics baseline settings."""

    n_mfcc: int = 20
    delta_width: int = 9

    def __post_init__(self) -> None:
        if self.n_mfcc < 1:
            raise ConfigError(f"n_mfcc must be >= 1, got {self.n_mfcc}")
        if self.delta_width < 3 or self.delta_width % 2 == 0:
            raise ConfigError(f"delta_width must be odd and >= 3, got {self.delta_width}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mfcc_from_mel_db(mel_db: np.ndarray, *, n_mfcc: int = 20) -> np.ndarray:
    """``float32 [n_mels, n_frames] -> [n_mfcc, n_frames]`` (DCT-II, orthonormal, over mels)."""
    from scipy.fft import dct

    mel_db = np.asarray(mel_db, dtype=np.float32)
    if mel_db.ndim != 2:
        raise InputError(f"expected a dB mel spectrogram [n_mels, n_frames], got {mel_db.shape}")
    if n_mfcc > mel_db.shape[0]:
        raise ConfigError(f"n_mfcc {n_mfcc} exceeds the {mel_db.shape[0]} mel bands")
    return dct(mel_db, type=2, axis=0, norm="ortho")[:n_mfcc].astype(np.float32)


def delta(features: np.ndarray, *, width: int = 9) -> np.ndarray:
    """First-order deltas over time (``[n, n_frames] -> [n, n_frames]``): a Savitzky-Golay
    derivative of ``width`` frames; shorter inputs use ``numpy.gradient``."""
    from scipy.signal import savgol_filter

    if features.shape[-1] < width:
        if features.shape[-1] < 2:
            return np.zeros_like(features)
        return np.gradient(features, axis=-1).astype(np.float32)
    return savgol_filter(features, window_length=width, polyorder=1, deriv=1, axis=-1,
                         mode="interp").astype(np.float32)


def mfcc_statistics(clip: np.ndarray, *, config: MfccStatsConfig = MfccStatsConfig()) -> np.ndarray:
    """The baseline embedding of one clip.

    ``float32 [channels, n_mels, n_frames]`` (channels are averaged) or ``[n_mels, n_frames]``
    (dB mel) ``-> float32 [4 * n_mfcc]``."""
    clip = np.asarray(clip, dtype=np.float32)
    mel_db = clip.mean(axis=0) if clip.ndim == 3 else clip
    mfcc = mfcc_from_mel_db(mel_db, n_mfcc=config.n_mfcc)
    d = delta(mfcc, width=config.delta_width)
    return np.concatenate([mfcc.mean(1), mfcc.std(1), d.mean(1), d.std(1)]).astype(np.float32)


def embed_clips_mfcc(clips: np.ndarray, *, config: MfccStatsConfig = MfccStatsConfig()) -> np.ndarray:
    """``float32 [n_clips, channels, n_mels, n_frames] -> [n_clips, 4 * n_mfcc]``."""
    return np.stack([mfcc_statistics(c, config=config) for c in clips]) if len(clips) else \
        np.zeros((0, 4 * config.n_mfcc), dtype=np.float32)
