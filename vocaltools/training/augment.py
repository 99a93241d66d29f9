"""Training-time augmentation of feature clips: random gain, time shift, pitch shift, mixed noise.

The store holds features, not audio, so every transform works in the feature domain on a batch
``float32 [batch, channels, n_bins, n_frames]`` of dB spectrogram clips (each channel one front-end
resolution, bins on a linear frequency axis, as S3's multi-resolution STFT):

Values are ``k x log10(power)`` (:class:`FeatureScale`: ``k`` = 10 for the dB of a magnitude or
power spectrum, as S3's ``amplitude_to_db`` of STFT magnitudes; 20 for S1's ``amplitude_to_db`` of
a power mel), with a fixed reference and a ``top_db`` floor below each item's maximum.

- **gain**: audio scaled by ``10^(g/20)``, ``g ~ U(-gain_db, gain_db)`` per clip, adds
  ``g x k / 10`` to every value (exact; the floor, relative to the maximum, moves with it).
- **time shift**: the clip's frames rolled circularly by ``n ~ U{-m, m}`` frames, ``m`` =
  ``shift_seconds`` x frames per second.
- **pitch shift**: the frequency axis resampled by ``r = 2^(s/12)``, ``s ~ U(-pitch_semitones,
  pitch_semitones)``: bin ``f`` takes the value at bin ``f / r`` (linear interpolation), bins
  whose source lies above the top take the clip's minimum. On a linear-frequency STFT this moves
  every partial (and formant) by ``s`` semitones, as a resampling pitch shift of the audio does
  (the hop, and so the time axis, is unchanged).
- **noise**: white noise mixed in at an SNR ``~ U(noise_snr_db, noise_snr_db + 20)`` dB per clip
  and channel, added in power (``|X + N|^2 ~ |X|^2 + |N|^2`` in expectation):
  ``k log10(10^(v/k) + p_n)`` with a flat noise power ``p_n`` = the channel's mean power /
  ``10^(snr/10)``; the ``top_db`` floor is re-applied.

Each enabled transform is applied to a clip with probability ``probability``. Draws come from a
NumPy generator that the training loop seeds per epoch, so a run is reproducible and a resumed run
draws the same values. :class:`AugmentConfig` is written into the checkpoint with the training
settings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Mapping

from vocaltools.errors import ConfigError

if TYPE_CHECKING:  # numpy and torch are imported where the transforms run: the settings stay light
    import numpy as np
    import torch

    from vocaltools.features.config import FeatureConfig


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations run and how strong they are (all off by default).

    Parameters
    ----------
    gain_db : maximum random gain in dB (0 = off).
    shift_seconds : maximum circular time shift in seconds (0 = off).
    pitch_semitones : maximum pitch shift in semitones (0 = off).
    noise_snr_db : lowest SNR in dB of the mixed white noise, drawn up to 20 dB above it
        (None = off).
    probability : chance that each enabled transform is applied to a clip.
    """

    gain_db: float = 0.0
    shift_seconds: float = 0.0
    pitch_semitones: float = 0.0
    noise_snr_db: float | None = None
    probability: float = 0.5

    def __post_init__(self) -> None:
        for name in ("gain_db", "shift_seconds", "pitch_semitones"):
            if getattr(self, name) < 0:
                raise ConfigError(f"augment {name} must be >= 0, got {getattr(self, name)}")
        if self.pitch_semitones > 12:
            raise ConfigError(f"augment pitch_semitones must be at most 12, got {self.pitch_semitones}")
        if not 0.0 < self.probability <= 1.0:
            raise ConfigError(f"augment probability must be in (0, 1], got {self.probability}")

    @property
    def enabled(self) -> bool:
        return bool(self.gain_db or self.shift_seconds or self.pitch_semitones
                    or self.noise_snr_db is not None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "AugmentConfig":
        return cls(**dict(data or {}))


@dataclass(frozen=True)
class FeatureScale:
    """How a store's values relate to signal power: ``value = db_factor x log10(power)`` (10 for
    dB of a magnitude or power spectrum, 20 for S1's ``amplitude_to_db`` of a power mel; None for
    linear-scale features) and the ``top_db`` floor below each item's maximum (None: no floor)."""

    db_factor: float | None
    top_db: float | None


def feature_scale(features: "FeatureConfig | Mapping[str, Any]") -> FeatureScale:
    """The :class:`FeatureScale` of a store's first front end, read from that front end's own dB
    rule (its ``db_scale``); a stored config (``FeatureConfig.to_dict()``) is parsed here.

    ``db_scale.factor`` applies to the front end's linear values: powers for the log-mel (20 with
    S1's ``amplitude_to_db`` of a power mel, 10 with ``power_to_db``), magnitudes for the STFT, CQT
    and multi-resolution STFT, whose ``20 log10 |X|`` is ``10 log10 |X|^2``. No dB rule (linear
    values, the linear power mel, the melody) gives ``FeatureScale(None, None)``."""
    from vocaltools.features.config import FeatureConfig, LogMel

    if not isinstance(features, FeatureConfig):
        features = FeatureConfig.from_dict(dict(features))
    front_end = features.front_ends[0]
    db = front_end.db_scale
    if db is None:
        return FeatureScale(None, None)
    factor = db.factor if isinstance(front_end, LogMel) else db.factor / 2.0
    return FeatureScale(float(factor), db.top_db)


def _pitch_shift(clip: torch.Tensor, ratio: float) -> torch.Tensor:
    """``[channels, n_bins, n_frames]``: bin ``f`` <- bin ``f / ratio`` (linear interpolation);
    bins whose source lies above the top bin take the clip's minimum."""
    import torch

    n_bins = clip.shape[-2]
    source = torch.arange(n_bins, dtype=torch.float32) / ratio
    low = source.floor().long().clamp(max=n_bins - 1)
    high = (low + 1).clamp(max=n_bins - 1)
    weight = (source - low.float()).clamp(0.0, 1.0).view(1, -1, 1)
    shifted = clip[:, low, :] * (1 - weight) + clip[:, high, :] * weight
    beyond = (source > n_bins - 1).view(1, -1, 1)
    floor = clip.amin(dim=(-2, -1), keepdim=True)
    return torch.where(beyond, floor.expand_as(shifted), shifted)


def _mix_noise(clip: torch.Tensor, snr_db: np.ndarray, scale: FeatureScale) -> torch.Tensor:
    """``[channels, n_bins, n_frames]`` values with flat-spectrum noise added in power at
    ``snr_db`` (``[channels]``) below each channel's mean power; the ``top_db`` floor re-applied."""
    import torch

    factor = float(scale.db_factor)
    power = torch.pow(10.0, clip / factor)
    snr = torch.as_tensor(snr_db, dtype=clip.dtype).view(-1, 1, 1)
    noise_power = power.mean(dim=(-2, -1), keepdim=True) / torch.pow(10.0, snr / 10.0)
    mixed = factor * torch.log10(power + noise_power)
    if scale.top_db is not None:
        mixed = torch.maximum(mixed, mixed.amax(dim=(-2, -1), keepdim=True) - scale.top_db)
    return mixed


def augment_batch(x: torch.Tensor, *, config: AugmentConfig, rng: np.random.Generator,
                  frames_per_second: float, scale: FeatureScale) -> torch.Tensor:
    """An augmented copy of ``x``: ``float32 [batch, channels, n_bins, n_frames]`` (same shape).

    Draws every random value from ``rng`` in a fixed order (clip by clip, transform by transform,
    whether or not a transform is applied), so the values of one clip do not depend on which
    transforms the others took."""
    import torch

    if not config.enabled or len(x) == 0:
        return x
    if scale.db_factor is None and (config.gain_db or config.noise_snr_db is not None):
        raise ConfigError("gain and noise augmentation need dB features (log-mel, the "
                          "multi-resolution STFT, or STFT/CQT with scale db)")
    max_shift = int(round(config.shift_seconds * frames_per_second))
    out = x.detach().clone().float()
    for index in range(len(out)):
        draws = rng.random(4) < config.probability
        gain = rng.uniform(-config.gain_db, config.gain_db)
        shift = int(rng.integers(-max_shift, max_shift + 1)) if max_shift else 0
        semitones = rng.uniform(-config.pitch_semitones, config.pitch_semitones)
        snr = (config.noise_snr_db or 0.0) + rng.uniform(0.0, 20.0, size=out.shape[1])
        clip = out[index]
        if config.pitch_semitones and draws[2]:
            clip = _pitch_shift(clip, 2.0 ** (semitones / 12.0))
        if max_shift and draws[1] and shift:
            clip = torch.roll(clip, shifts=shift, dims=-1)
        if config.noise_snr_db is not None and draws[3]:
            clip = _mix_noise(clip, snr, scale)
        if config.gain_db and draws[0]:
            clip = clip + gain * float(scale.db_factor) / 10.0  # audio x 10^(g/20)
        out[index] = clip
    return out.to(x.dtype)
