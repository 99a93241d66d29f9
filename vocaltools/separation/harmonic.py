"""Pitch-informed harmonic masking with a repetition cue: the weight-free default separator.

1. REPET-SIM's background (:func:`~vocaltools.separation.repet.repeating_background`: the median
   of the ``n_neighbors`` most similar frames at least ``min_distance_seconds`` away) estimates
   what in each frame repeats elsewhere, i.e. accompaniment. It is computed only below
   ``max(mask_fmax, salience_fmax)``, the band the next steps use.
2. The predominant f0 (:mod:`vocaltools.separation.melody`) is tracked on the magnitude minus
   ``background_subtraction`` times that background, so that a repeating instrument loses the
   melody to the voice.
3. The comb mask of each frame has Gaussian teeth at the harmonics ``h·f0`` up to ``mask_fmax``,
   each as wide as ``max(mask_width_bins · bin width, mask_width_ratio · h·f0)`` (standard
   deviation; higher harmonics wander more with vibrato and jitter), and is zero below f0 / 2.
4. The vocal mask is ``comb^(1 - repet_weight) · repet^repet_weight``, where ``repet`` is
   REPET-SIM's soft vocal mask (margin ``margin_vocals``, power 2, zero below ``vocal_fmin``):
   inside a tooth, energy that repeats is given back to the accompaniment.

The vocals are the masked STFT; the accompaniment is the mixture minus the vocals, so the stems sum
to the mixture. ``repet_weight=0 background_subtraction=0`` skips REPET entirely (the comb alone,
about 1.5x faster). Chosen on ``benchmarks/bench_separation.py`` (see docs/results-separation.md): on
accompaniments that change chord every bar it gains far more than REPET-SIM, and on looped ones it
stays close to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vocaltools.errors import ConfigError
from vocaltools.separation.base import (ConfiguredSeparator, StemArrays, check_chunking,
                                        check_stft, masked_stems)
from vocaltools.separation.melody import MelodyConfig, track_melody
from vocaltools.separation.repet import RepetConfig, repeating_background, softmask


@dataclass(frozen=True)
class HarmonicConfig:
    """Settings of :class:`HarmonicSeparator`.

    Attributes
    ----------
    sample_rate: processing rate in Hz; ``None`` keeps the file's rate.
    n_fft, hop_length: STFT size and hop in samples at ``sample_rate``.
    mask_fmax: no vocal mask above this frequency (Hz).
    mask_width_bins, mask_width_ratio: width of the comb teeth (see the module docstring).
    repet_weight: exponent of REPET-SIM's vocal mask in the product (0: the comb alone).
    background_subtraction: share of the repeating background taken off before tracking.
    n_neighbors, min_distance_seconds, margin_vocals, vocal_fmin: REPET-SIM's settings
        (:class:`~vocaltools.separation.repet.RepetConfig`).
    f0_min .. max_jump_cents: the melody tracker's settings (:class:`MelodyConfig`).
    chunk_seconds, overlap_seconds: excerpt length and crossfade for long files.
    """
    sample_rate: int | None = 22050
    n_fft: int = 2048
    hop_length: int = 512
    mask_fmax: float = 8000.0
    mask_width_bins: float = 1.0
    mask_width_ratio: float = 0.01
    repet_weight: float = 0.3
    background_subtraction: float = 0.6
    n_neighbors: int = RepetConfig.n_neighbors
    min_distance_seconds: float = RepetConfig.min_distance_seconds
    margin_vocals: float = RepetConfig.margin_vocals
    vocal_fmin: float = RepetConfig.vocal_fmin
    f0_min: float = MelodyConfig.f0_min
    f0_max: float = MelodyConfig.f0_max
    resolution_cents: float = MelodyConfig.resolution_cents
    n_harmonics: int = MelodyConfig.n_harmonics
    decay: float = MelodyConfig.decay
    half_harmonic_penalty: float = MelodyConfig.half_harmonic_penalty
    salience_fmax: float = MelodyConfig.salience_fmax
    compress: float = MelodyConfig.compress
    whiten_bins: int = MelodyConfig.whiten_bins
    jump_cost: float = MelodyConfig.jump_cost
    max_jump_cents: float = MelodyConfig.max_jump_cents
    chunk_seconds: float = 30.0
    overlap_seconds: float = 2.0

    def __post_init__(self) -> None:
        check_stft("harmonic", n_fft=self.n_fft, hop_length=self.hop_length)
        if self.mask_width_bins <= 0 or self.mask_width_ratio < 0 or self.mask_fmax <= 0:
            raise ConfigError(f"harmonic: need mask_width_bins > 0, mask_width_ratio >= 0 and "
                              f"mask_fmax > 0, got {self.mask_width_bins}, "
                              f"{self.mask_width_ratio}, {self.mask_fmax}")
        if not 0 <= self.repet_weight <= 1 or not 0 <= self.background_subtraction <= 1:
            raise ConfigError(f"harmonic: repet_weight and background_subtraction must lie in "
                              f"[0, 1], got {self.repet_weight} and {self.background_subtraction}")
        if self.n_neighbors < 1:
            raise ConfigError(f"harmonic: n_neighbors must be >= 1, got {self.n_neighbors}")
        check_chunking("harmonic", chunk_seconds=self.chunk_seconds,
                       overlap_seconds=self.overlap_seconds)
        self.melody  # noqa: B018  # validates the tracker's settings

    @property
    def melody(self) -> MelodyConfig:
        """The melody tracker's settings (the fields of the same names)."""
        return MelodyConfig(**{name: getattr(self, name)
                               for name in MelodyConfig.__dataclass_fields__})


def comb_mask(f0: np.ndarray, *, sample_rate: int, n_fft: int, fmax: float, width_bins: float,
              width_ratio: float) -> np.ndarray:
    """Harmonic comb masks ``float32 [n_fft // 2 + 1, n_frames]`` in [0, 1] for ``f0`` in Hz,
    ``float [n_frames]`` (frames with a non-finite or non-positive f0 get an all-zero mask)."""
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)[:, None]  # [n_bins, 1]
    f0 = np.asarray(f0, dtype=np.float64)[None, :]
    voiced = np.isfinite(f0) & (f0 > 0)
    f0 = np.where(voiced, f0, 1.0)
    harmonic = np.maximum(np.round(freqs / f0), 1.0)  # nearest harmonic of every bin
    centre = harmonic * f0
    width = np.maximum(width_bins * sample_rate / n_fft, width_ratio * centre)
    mask = np.exp(-0.5 * ((freqs - centre) / width) ** 2)
    mask[(freqs < 0.5 * f0) | (freqs > fmax) | ~voiced] = 0.0
    return mask.astype(np.float32)


class HarmonicSeparator(ConfiguredSeparator):
    """Pitch-informed harmonic masking; see :class:`HarmonicConfig`."""

    method = "harmonic"
    config_class = HarmonicConfig
    residual = True  # accompaniment = mixture - vocals

    def vocal_mask(self, magnitude: np.ndarray, *, sample_rate: int) -> np.ndarray:
        """The soft vocal mask ``float32 [n_bins, n_frames]`` of an STFT magnitude."""
        cfg = self.config
        freqs = np.fft.rfftfreq(cfg.n_fft, d=1.0 / sample_rate)
        tracked = magnitude
        if cfg.repet_weight > 0 or cfg.background_subtraction > 0:
            top = int(np.searchsorted(freqs, max(cfg.mask_fmax, cfg.salience_fmax))) + 1
            band = magnitude[:top]
            background = repeating_background(
                band, n_neighbors=cfg.n_neighbors,
                min_distance_frames=cfg.min_distance_seconds * sample_rate / cfg.hop_length)
            tracked = magnitude.copy()
            tracked[:top] -= cfg.background_subtraction * background
        f0 = track_melody(tracked, sample_rate=sample_rate, n_fft=cfg.n_fft, config=cfg.melody)
        mask = comb_mask(f0, sample_rate=sample_rate, n_fft=cfg.n_fft, fmax=cfg.mask_fmax,
                         width_bins=cfg.mask_width_bins, width_ratio=cfg.mask_width_ratio)
        if cfg.repet_weight > 0:
            repet = softmask(band - background, cfg.margin_vocals * background, power=2.0)
            repet[freqs[:top] < cfg.vocal_fmin] = 0.0
            mask[:top] = mask[:top] ** (1 - cfg.repet_weight) * repet ** cfg.repet_weight
            mask[top:] = 0.0
        return mask.astype(np.float32)

    def separate_array(self, mixture: np.ndarray, *, sample_rate: int) -> StemArrays:
        cfg = self.config
        return masked_stems(mixture, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                            masks=lambda magnitude: (self.vocal_mask(magnitude,
                                                                     sample_rate=sample_rate), None))
