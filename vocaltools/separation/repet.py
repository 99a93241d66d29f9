"""The weight-free default separator: REPET-SIM (Rafii & Pardo 2012) with soft masks.

Accompaniment repeats: for every frame of the magnitude spectrogram, the median of its most similar
frames (cosine similarity, at least ``min_distance_seconds`` away) estimates the repeating
background; what exceeds it is the voice. As in librosa's vocal-separation example, the background
estimate is capped by the mixture and turned into soft masks with margins. Two extra cues follow:
percussive energy (median-filtering HPSS) is pushed to the accompaniment, and bins below
``vocal_fmin`` are never vocals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from vocaltools.errors import ConfigError
from vocaltools.separation.base import Separator, StemArrays


@dataclass(frozen=True)
class RepetConfig:
    """Settings of :class:`RepetSeparator` (defaults tuned on ``benchmarks/bench_separation.py``).

    Attributes
    ----------
    sample_rate: processing rate in Hz (the outputs have this rate); ``None`` keeps the file's rate.
    n_fft, hop_length: STFT size and hop in samples at ``sample_rate``.
    n_neighbors: similar frames whose median forms the background estimate.
    min_distance_seconds: similar frames closer than this in time are ignored.
    margin_vocals, margin_accompaniment: soft-mask margins (larger = stricter mask).
    mask_power: exponent of the soft masks.
    percussive_weight: 0..1, how much of the HPSS percussive share is taken from the vocal mask.
    hpss_kernel: median-filter size (frames, bins) of the HPSS cue.
    vocal_fmin, vocal_fmax: the vocal mask is zero outside this band (Hz).
    accompaniment: ``residual`` (mixture minus vocals, the stems sum to the mixture) or ``mask``.
    chunk_seconds, overlap_seconds: excerpt length and crossfade for long files.
    """
    sample_rate: int | None = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_neighbors: int = 10
    min_distance_seconds: float = 2.0
    margin_vocals: float = 10.0
    margin_accompaniment: float = 2.0
    mask_power: float = 2.0
    percussive_weight: float = 0.0
    hpss_kernel: int = 31
    vocal_fmin: float = 0.0
    vocal_fmax: float = 0.0
    accompaniment: str = "residual"
    chunk_seconds: float = 30.0
    overlap_seconds: float = 2.0

    def __post_init__(self) -> None:
        if self.accompaniment not in ("residual", "mask"):
            raise ConfigError(f"repet: accompaniment must be 'residual' or 'mask', "
                              f"got {self.accompaniment!r}")
        if self.n_fft <= 0 or self.hop_length <= 0 or self.hop_length > self.n_fft:
            raise ConfigError(f"repet: need 0 < hop_length <= n_fft, got n_fft={self.n_fft}, "
                              f"hop_length={self.hop_length}")
        if self.n_neighbors < 1:
            raise ConfigError(f"repet: n_neighbors must be >= 1, got {self.n_neighbors}")
        if not 0.0 <= self.percussive_weight <= 1.0:
            raise ConfigError(f"repet: percussive_weight must lie in [0, 1], "
                              f"got {self.percussive_weight}")
        if self.chunk_seconds <= 2 * self.overlap_seconds or self.overlap_seconds < 0:
            raise ConfigError(f"repet: need chunk_seconds > 2 x overlap_seconds >= 0, got "
                              f"{self.chunk_seconds} and {self.overlap_seconds}")


class RepetSeparator(Separator):
    """REPET-SIM soft-mask separation; see :class:`RepetConfig` for the knobs."""

    method = "repet"

    def __init__(self, config: RepetConfig | None = None) -> None:
        self.config = config or RepetConfig()
        self.sample_rate = self.config.sample_rate
        self.chunk_seconds = self.config.chunk_seconds
        self.overlap_seconds = self.config.overlap_seconds

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, **asdict(self.config)}

    def masks(self, magnitude: np.ndarray, *, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
        """Soft ``(vocal, accompaniment)`` masks, each ``float32 [n_bins, n_frames]`` in [0, 1], of a
        magnitude spectrogram of the same shape."""
        import librosa

        cfg = self.config
        n_frames = magnitude.shape[1]
        width = max(1, int(round(cfg.min_distance_seconds * sample_rate / cfg.hop_length)))
        # short excerpts: narrow the exclusion band so that some neighbours remain (librosa
        # needs width < (n_frames - 1) // 2)
        width = min(width, (n_frames - 1) // 2 - 1)
        n_candidates = n_frames - 2 * width - 1
        if width < 1 or n_candidates < 1:
            background = magnitude  # too short to find repetitions: all background
        else:
            background = librosa.decompose.nn_filter(
                magnitude, aggregate=np.median, metric="cosine", width=width,
                k=min(cfg.n_neighbors, n_candidates))
            background = np.minimum(magnitude, background)
        foreground = magnitude - background
        vocal = librosa.util.softmask(foreground, cfg.margin_vocals * background,
                                      power=cfg.mask_power)
        accompaniment = librosa.util.softmask(background, cfg.margin_accompaniment * foreground,
                                              power=cfg.mask_power)
        if cfg.percussive_weight > 0:
            _, percussive = librosa.decompose.hpss(magnitude, kernel_size=cfg.hpss_kernel,
                                                   mask=True)
            vocal = vocal * (1.0 - cfg.percussive_weight * percussive)
        freqs = np.fft.rfftfreq(cfg.n_fft, d=1.0 / sample_rate)
        outside = np.zeros(freqs.shape, dtype=bool)
        if cfg.vocal_fmin > 0:
            outside |= freqs < cfg.vocal_fmin
        if cfg.vocal_fmax > 0:
            outside |= freqs > cfg.vocal_fmax
        vocal[outside] = 0.0
        accompaniment[outside] = 1.0
        return vocal.astype(np.float32), accompaniment.astype(np.float32)

    def separate_array(self, mixture: np.ndarray, *, sample_rate: int) -> StemArrays:
        import librosa

        cfg = self.config
        mixture = np.asarray(mixture, dtype=np.float32)
        n = mixture.shape[0]
        if n == 0:
            empty = np.zeros(0, dtype=np.float32)
            return StemArrays(vocals=empty, accompaniment=empty.copy())
        stft = librosa.stft(mixture, n_fft=cfg.n_fft, hop_length=cfg.hop_length)
        vocal_mask, accompaniment_mask = self.masks(np.abs(stft), sample_rate=sample_rate)
        vocals = librosa.istft(stft * vocal_mask, hop_length=cfg.hop_length, length=n)
        if cfg.accompaniment == "residual":
            accompaniment = mixture - vocals
        else:
            accompaniment = librosa.istft(stft * accompaniment_mask, hop_length=cfg.hop_length,
                                          length=n)
        return StemArrays(vocals=vocals.astype(np.float32),
                          accompaniment=accompaniment.astype(np.float32))
