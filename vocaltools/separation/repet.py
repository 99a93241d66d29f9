"""The weight-free default separator: REPET-SIM (Rafii & Pardo 2012) with soft masks.

Accompaniment repeats: for every frame of the magnitude spectrogram, the element-wise median of its
``n_neighbors`` most similar frames (cosine similarity, at least ``min_distance_seconds`` away;
shorter for excerpts under three times that) estimates the repeating background; what exceeds it is
the voice. As in librosa's vocal-separation example, the background estimate is capped by the
mixture and turned into soft masks with margins. Bins below ``vocal_fmin`` are never vocals; an
optional cue (``percussive_weight``, off by default because its median filters cost more than the
rest) pushes percussive energy (HPSS) to the accompaniment. Defaults were tuned on
``benchmarks/bench_separation.py`` (see docs/results-separation.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vocaltools.errors import ConfigError
from vocaltools.separation.base import (ConfiguredSeparator, StemArrays, check_chunking,
                                        check_stft, masked_stems)


@dataclass(frozen=True)
class RepetConfig:
    """Settings of :class:`RepetSeparator` (defaults tuned on ``benchmarks/bench_separation.py``).

    Attributes
    ----------
    sample_rate: processing rate in Hz (the outputs have this rate); ``None`` keeps the file's rate.
    n_fft, hop_length: STFT size and hop in samples at ``sample_rate``.
    n_neighbors: similar frames whose median forms the background estimate.
    min_distance_seconds: similar frames closer than this in time are ignored.
    search: ``distant`` or ``local-first`` (close to librosa's nn_filter); see
        :func:`similarity_median`.
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
    n_neighbors: int = 80
    min_distance_seconds: float = 3.0
    search: str = "distant"
    margin_vocals: float = 1.5
    margin_accompaniment: float = 2.0
    mask_power: float = 2.0
    percussive_weight: float = 0.0
    hpss_kernel: int = 31
    vocal_fmin: float = 100.0
    vocal_fmax: float = 0.0
    accompaniment: str = "residual"
    chunk_seconds: float = 30.0
    overlap_seconds: float = 2.0

    def __post_init__(self) -> None:
        if self.accompaniment not in ("residual", "mask"):
            raise ConfigError(f"repet: accompaniment must be 'residual' or 'mask', "
                              f"got {self.accompaniment!r}")
        check_stft("repet", n_fft=self.n_fft, hop_length=self.hop_length)
        if self.search not in ("local-first", "distant"):
            raise ConfigError(f"repet: search must be 'local-first' or 'distant', "
                              f"got {self.search!r}")
        if self.n_neighbors < 1:
            raise ConfigError(f"repet: n_neighbors must be >= 1, got {self.n_neighbors}")
        if not 0.0 <= self.percussive_weight <= 1.0:
            raise ConfigError(f"repet: percussive_weight must lie in [0, 1], "
                              f"got {self.percussive_weight}")
        check_chunking("repet", chunk_seconds=self.chunk_seconds,
                       overlap_seconds=self.overlap_seconds)


def softmask(x: np.ndarray, reference: np.ndarray, *, power: float) -> np.ndarray:
    """``x^p / (x^p + reference^p)`` element-wise, 0 where both are (near) zero; librosa's
    ``util.softmask`` without its numba start-up cost."""
    z = np.maximum(x, reference)
    silent = z < np.finfo(np.float32).tiny
    z = np.where(silent, 1.0, z)
    mask = (x / z) ** power
    ref = (reference / z) ** power
    return np.where(silent, 0.0, mask / np.maximum(mask + ref, np.finfo(np.float32).tiny))


def _median_last_axis(values: np.ndarray) -> np.ndarray:
    """``np.median(values, axis=-1)`` from one partition (several times faster than np.median,
    which here sorts more than it needs): the middle value, or the mean of the two middle ones."""
    count = values.shape[-1]
    half = count // 2
    parted = np.partition(values, half, axis=-1)
    upper = parted[..., half]
    if count % 2:
        return upper
    lower = parted[..., :half].max(axis=-1)  # the largest of the lower half
    return (lower + upper) / 2


def similarity_median(magnitude: np.ndarray, *, n_neighbors: int, min_distance: int,
                      search: str = "local-first", block_frames: int = 256) -> np.ndarray:
    """REPET-SIM background: each frame replaced by the element-wise median of its most
    cosine-similar frames that lie at least ``min_distance`` frames away.

    ``float32 [n_bins, n_frames] -> [n_bins, n_frames]``. With ``search="local-first"`` the
    neighbours are those among the ``n_neighbors + 2·min_distance`` most similar frames overall that
    survive the distance rule (close to librosa's ``nn_filter(aggregate=np.median,
    metric="cosine")``, which however keeps the earliest rather than the most similar ones): a
    frame that is mostly similar to its own surroundings (a held vocal note) gets few or no
    neighbours and is then kept whole as background. With ``search="distant"`` every frame gets
    ``n_neighbors`` neighbours from outside its band. Plain numpy; blocks of frames bound the
    memory.
    """
    n_frames = magnitude.shape[1]
    norms = np.linalg.norm(magnitude, axis=0)
    unit = magnitude / np.maximum(norms, 1e-10)
    frames = np.arange(n_frames)
    out = magnitude.copy()
    if search == "distant":
        n_search = min(n_neighbors, n_frames - 2 * min_distance + 1)
    else:
        n_search = min(n_neighbors + 2 * min_distance, n_frames - 1)
    if n_search < 1:
        return out  # too short for any repetition: all background
    for start in range(0, n_frames, block_frames):
        rows = frames[start:start + block_frames]
        similarity = unit[:, rows].T @ unit  # [block, n_frames], cosine similarity
        band = np.abs(rows[:, None] - frames[None, :]) < min_distance
        similarity[rows - start, rows] = -np.inf  # never a frame itself
        if search == "distant":
            similarity[band] = -np.inf
        candidates = np.argpartition(-similarity, n_search - 1, axis=1)[:, :n_search]
        if search != "distant":
            # drop the candidates inside the band; keep the n_neighbors most similar of the rest
            cand_sim = np.take_along_axis(similarity, candidates, axis=1)
            cand_sim[np.abs(rows[:, None] - candidates) < min_distance] = -np.inf
            order = np.argsort(-cand_sim, axis=1)[:, :n_neighbors]
            candidates = np.take_along_axis(candidates, order, axis=1)
            valid = np.take_along_axis(cand_sim, order, axis=1) > -np.inf  # [block, k]
        else:
            valid = np.take_along_axis(similarity, candidates, axis=1) > -np.inf
        gathered = magnitude[:, candidates]  # [n_bins, block, k]
        gathered = np.where(valid[None], gathered, np.nan)
        if valid.all():
            median = _median_last_axis(gathered)
        else:
            with np.errstate(all="ignore"):
                median = np.nanmedian(gathered, axis=2)
        none = ~valid.any(axis=1)  # no neighbour at all: keep the frame
        median[:, none] = magnitude[:, rows[none]]
        out[:, rows] = median
    return out


def repeating_background(magnitude: np.ndarray, *, n_neighbors: int, min_distance_frames: float,
                         search: str = "distant") -> np.ndarray:
    """REPET-SIM's background estimate, capped by the mixture: :func:`similarity_median` with
    neighbours at least ``min_distance_frames`` away (at most a third of the excerpt, so that a
    short excerpt keeps candidates for every frame). ``float32 [n_bins, n_frames]`` -> same."""
    width = max(1, int(round(min_distance_frames)))
    width = max(1, min(width, magnitude.shape[1] // 3))
    return np.minimum(magnitude, similarity_median(magnitude, n_neighbors=n_neighbors,
                                                   min_distance=width, search=search))


class RepetSeparator(ConfiguredSeparator):
    """REPET-SIM soft-mask separation; see :class:`RepetConfig` for the knobs."""

    method = "repet"
    config_class = RepetConfig

    def __init__(self, config: RepetConfig | None = None) -> None:
        super().__init__(config)
        self.residual = self.config.accompaniment == "residual"

    def masks(self, magnitude: np.ndarray, *, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
        """Soft ``(vocal, accompaniment)`` masks, each ``float32 [n_bins, n_frames]`` in [0, 1],
        of a magnitude spectrogram of the same shape."""
        cfg = self.config
        background = repeating_background(
            magnitude, n_neighbors=cfg.n_neighbors, search=cfg.search,
            min_distance_frames=cfg.min_distance_seconds * sample_rate / cfg.hop_length)
        foreground = magnitude - background
        vocal = softmask(foreground, cfg.margin_vocals * background, power=cfg.mask_power)
        accompaniment = softmask(background, cfg.margin_accompaniment * foreground,
                                 power=cfg.mask_power)
        if cfg.percussive_weight > 0:
            import librosa

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
        cfg = self.config

        def masks(magnitude: np.ndarray):
            vocal, accompaniment = self.masks(magnitude, sample_rate=sample_rate)
            return vocal, None if cfg.accompaniment == "residual" else accompaniment

        return masked_stems(mixture, n_fft=cfg.n_fft, hop_length=cfg.hop_length, masks=masks)
