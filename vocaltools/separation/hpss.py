"""A weight-free baseline: two-stage harmonic/percussive separation (FitzGerald & Gainza 2010).

Stage 1, with a long window, keeps the stable harmonic partials of the accompaniment; the rest
(voice and drums) goes to stage 2, where a short window makes the voice look harmonic and the drums
percussive. Vocals = harmonic part of stage 2; accompaniment = mixture minus vocals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vocaltools.errors import ConfigError
from vocaltools.separation.base import ConfiguredSeparator, StemArrays, check_chunking


@dataclass(frozen=True)
class HpssConfig:
    """Settings of :class:`HpssSeparator`: STFT sizes of the two stages, median-filter kernel
    (frames, bins), soft-mask margin, processing rate (``None`` = the file's), chunking."""
    sample_rate: int | None = 22050
    n_fft_long: int = 4096
    n_fft_short: int = 512
    kernel_size: int = 17
    margin: float = 1.0
    chunk_seconds: float = 30.0
    overlap_seconds: float = 1.0

    def __post_init__(self) -> None:
        if self.n_fft_long <= 0 or self.n_fft_short <= 0 or self.kernel_size < 1:
            raise ConfigError(f"hpss: n_fft_long, n_fft_short and kernel_size must be positive, "
                              f"got {self.n_fft_long}, {self.n_fft_short}, {self.kernel_size}")
        check_chunking("hpss", chunk_seconds=self.chunk_seconds,
                       overlap_seconds=self.overlap_seconds)


class HpssSeparator(ConfiguredSeparator):
    """Two-stage HPSS; see :class:`HpssConfig`."""

    method = "hpss"
    config_class = HpssConfig
    residual = True  # accompaniment = mixture - vocals

    def separate_array(self, mixture: np.ndarray, *, sample_rate: int) -> StemArrays:
        import librosa

        cfg = self.config
        mixture = np.asarray(mixture, dtype=np.float32)
        n = mixture.shape[0]
        if n == 0:
            return StemArrays.empty()
        # stage 1: long window, harmonic = sustained accompaniment
        stft = librosa.stft(mixture, n_fft=cfg.n_fft_long, hop_length=cfg.n_fft_long // 4)
        harmonic, _ = librosa.decompose.hpss(stft, kernel_size=cfg.kernel_size, margin=cfg.margin)
        rest = mixture - librosa.istft(harmonic, hop_length=cfg.n_fft_long // 4, length=n)
        # stage 2: short window, harmonic = voice
        stft = librosa.stft(rest, n_fft=cfg.n_fft_short, hop_length=cfg.n_fft_short // 4)
        voice, _ = librosa.decompose.hpss(stft, kernel_size=cfg.kernel_size, margin=cfg.margin)
        vocals = librosa.istft(voice, hop_length=cfg.n_fft_short // 4, length=n).astype(np.float32)
        return StemArrays(vocals=vocals, accompaniment=(mixture - vocals).astype(np.float32))
