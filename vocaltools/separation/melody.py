"""The predominant pitch of a mixture: the f0 contour that pitch-informed separation follows.

Harmonic summation (Klapuri 2006; Salamon & Gomez 2012) on the STFT magnitude, then a Viterbi path:

1. the magnitude is compressed (``|X|^compress``), divided by its local mean over ``whiten_bins``
   bins (spectral whitening: a loud bass or low chord does not outweigh the partials of the
   voice), and reduced to its spectral peaks;
2. the salience of a candidate f0 (a log-spaced grid, ``resolution_cents`` apart) is the sum of the
   peaks at its harmonics ``h·f0`` weighted ``decay^(h-1)``, minus ``half_harmonic_penalty`` times
   the peaks at ``(h - 1/2)·f0`` (a candidate an octave above the true f0 finds the true
   odd harmonics there);
3. per frame the salience is divided by its maximum, and the path through the grid maximises the
   sum of the log saliences minus ``jump_cost`` per semitone of change, with jumps of at most
   ``max_jump_cents`` a frame;
4. the f0 of each frame is refined by parabolic interpolation of the salience around the path.

The path is voiced in every frame (no voicing decision): the tracker follows the most salient
harmonic source, which in a song is mostly the voice. Plain numpy; the salience weights are a
matrix built once per configuration.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from vocaltools.errors import ConfigError


@dataclass(frozen=True)
class MelodyConfig:
    """Settings of :func:`track_melody` (see the module docstring for what each one does)."""
    f0_min: float = 70.0
    f0_max: float = 1000.0
    resolution_cents: float = 20.0
    n_harmonics: int = 20
    decay: float = 0.7
    half_harmonic_penalty: float = 0.5
    salience_fmax: float = 5000.0
    compress: float = 0.5
    whiten_bins: int = 31
    jump_cost: float = 0.1
    max_jump_cents: float = 300.0

    def __post_init__(self) -> None:
        if not 0 < self.f0_min < self.f0_max:
            raise ConfigError(f"melody: need 0 < f0_min < f0_max, got {self.f0_min} and "
                              f"{self.f0_max}")
        if self.resolution_cents <= 0 or self.n_harmonics < 1 or self.whiten_bins < 1:
            raise ConfigError("melody: resolution_cents, n_harmonics and whiten_bins must be "
                              "positive")
        if not 0 < self.decay <= 1 or self.half_harmonic_penalty < 0 or self.compress <= 0:
            raise ConfigError(f"melody: need 0 < decay <= 1, half_harmonic_penalty >= 0 and "
                              f"compress > 0, got {self.decay}, {self.half_harmonic_penalty}, "
                              f"{self.compress}")


def f0_grid(config: MelodyConfig) -> np.ndarray:
    """The candidate f0s in Hz, ``float64 [n_candidates]``, log-spaced from ``f0_min``."""
    n = int(np.floor(1200 * np.log2(config.f0_max / config.f0_min) / config.resolution_cents)) + 1
    return config.f0_min * 2.0 ** (np.arange(n) * config.resolution_cents / 1200)


@functools.lru_cache(maxsize=8)
def salience_weights(config: MelodyConfig, *, sample_rate: int, n_fft: int) -> np.ndarray:
    """``float32 [n_candidates, n_fft // 2 + 1]``: row ``i`` sums the (linearly interpolated)
    bins at the harmonics of candidate ``i`` and subtracts those between them."""
    grid = f0_grid(config)
    n_bins = n_fft // 2 + 1
    bin_hz = sample_rate / n_fft
    weights = np.zeros((len(grid), n_bins), dtype=np.float64)
    rows = np.arange(len(grid))
    for harmonic in range(1, config.n_harmonics + 1):
        gain = config.decay ** (harmonic - 1)
        for multiple, sign in ((harmonic, 1.0), (harmonic - 0.5, -config.half_harmonic_penalty)):
            freqs = multiple * grid
            use = (freqs <= config.salience_fmax) & (freqs / bin_hz < n_bins - 1)
            if sign == 0 or not use.any():
                continue
            position = freqs[use] / bin_hz
            low = np.floor(position).astype(int)
            frac = position - low
            np.add.at(weights, (rows[use], low), sign * gain * (1 - frac))
            np.add.at(weights, (rows[use], low + 1), sign * gain * frac)
    return weights.astype(np.float32)


def _peaks(values: np.ndarray) -> np.ndarray:
    """``values`` where a bin is a local maximum along frequency (axis 0), zero elsewhere."""
    out = np.zeros_like(values)
    inner = values[1:-1]
    is_peak = (inner > values[:-2]) & (inner >= values[2:])
    out[1:-1][is_peak] = inner[is_peak]
    return out


def _viterbi(score: np.ndarray, *, max_jump: int, cost_per_step: float) -> np.ndarray:
    """The path ``int [n_frames]`` through ``score`` ``[n_states, n_frames]`` (higher is better)
    that maximises the summed score minus ``cost_per_step`` per state of change, moving at most
    ``max_jump`` states a frame."""
    n_states, n_frames = score.shape
    if n_frames == 0:
        return np.zeros(0, dtype=np.int64)
    steps = np.abs(np.arange(n_states)[:, None] - np.arange(n_states)[None, :])
    transition = np.where(steps <= max_jump, -cost_per_step * steps, -np.inf).astype(np.float32)
    total = score[:, 0].astype(np.float32)
    back = np.zeros((n_frames, n_states), dtype=np.int32)
    states = np.arange(n_states)
    for frame in range(1, n_frames):
        candidates = total[None, :] + transition  # [to, from]
        best = np.argmax(candidates, axis=1)
        back[frame] = best
        total = candidates[states, best] + score[:, frame]
    path = np.zeros(n_frames, dtype=np.int64)
    path[-1] = int(np.argmax(total))
    for frame in range(n_frames - 1, 0, -1):
        path[frame - 1] = back[frame, path[frame]]
    return path


def track_melody(magnitude: np.ndarray, *, sample_rate: int, n_fft: int,
                 config: MelodyConfig = MelodyConfig()) -> np.ndarray:
    """The predominant f0 in Hz of every frame of an STFT magnitude.

    ``float [n_fft // 2 + 1, n_frames] -> float64 [n_frames]`` (within ``f0_min``..``f0_max``).
    """
    from scipy.ndimage import uniform_filter1d

    grid = f0_grid(config)
    compressed = np.asarray(magnitude, dtype=np.float32) ** config.compress
    whitened = compressed / (uniform_filter1d(compressed, size=config.whiten_bins, axis=0,
                                              mode="nearest") + 1e-6)
    weights = salience_weights(config, sample_rate=sample_rate, n_fft=n_fft)
    salience = np.maximum(weights @ _peaks(whitened), 0.0)  # [n_candidates, n_frames]
    normalised = salience / (salience.max(axis=0, keepdims=True) + 1e-9)
    step_cents = config.resolution_cents
    path = _viterbi(np.log(normalised + 1e-3), max_jump=int(config.max_jump_cents // step_cents),
                    cost_per_step=config.jump_cost * step_cents / 100.0)
    # parabolic refinement of the salience peak around the path, within half a grid step
    inner = np.clip(path, 1, len(grid) - 2)
    frames = np.arange(salience.shape[1])
    below, centre, above = (salience[inner - 1, frames], salience[inner, frames],
                            salience[inner + 1, frames])
    curvature = below - 2 * centre + above
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(np.abs(curvature) > 1e-12, 0.5 * (below - above) / curvature, 0.0)
    offset = np.clip(np.nan_to_num(offset), -0.5, 0.5)
    offset[path != inner] = 0.0  # at the ends of the grid
    return grid[path] * 2.0 ** (offset * step_cents / 1200)
