"""Audio augmentation that moves clean rendered audio towards real rooms and microphones.

Each step is applied with its own probability, in this order:

1. reverberation: convolution with a generated impulse response (a direct path, a few early
   reflections within 30 ms, then exponentially decaying noise whose high band decays faster than
   its low band; RT60 and direct-to-reverberant ratio drawn per call);
2. EQ: a smooth random gain curve (a tilt in dB per octave plus a few bell-shaped boosts and cuts
   on a log-frequency axis), applied without phase change;
3. band limits: a high-pass (small microphones, rumble filters) and a low-pass (the 11-16 kHz
   cut-off of mp3 encoders, or a telephone-like 4 kHz), with smooth roll-offs;
4. noise: coloured noise (spectral slope 0 to -2: white to brown) at a signal-to-noise ratio drawn
   in dB;
5. gain.

Every draw comes from the ``rng`` given, so a seed reproduces the result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from vocaltools.errors import ConfigError


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities (``p_*``) and ranges of each step; a probability of 0 turns a step off."""

    p_reverb: float = 0.8
    rt60_s: tuple[float, float] = (0.15, 1.6)
    drr_db: tuple[float, float] = (-6.0, 15.0)
    p_eq: float = 0.8
    eq_db: float = 8.0
    tilt_db_per_octave: float = 3.0
    p_band_limit: float = 0.6
    lowpass_hz: tuple[float, float] = (3500.0, 16000.0)
    highpass_hz: tuple[float, float] = (30.0, 300.0)
    p_noise: float = 0.7
    snr_db: tuple[float, float] = (5.0, 40.0)
    gain_db: tuple[float, float] = (-24.0, 0.0)

    def __post_init__(self) -> None:
        for name in ("p_reverb", "p_eq", "p_band_limit", "p_noise"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"augment {name} must lie in [0, 1], got {value}")
        for name in ("rt60_s", "drr_db", "lowpass_hz", "highpass_hz", "snr_db", "gain_db"):
            low, high = getattr(self, name)
            if low > high:
                raise ConfigError(f"augment {name}: low {low} is above high {high}")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def without(self, *steps: str) -> "AugmentConfig":
        """This config with ``steps`` (``reverb``, ``eq``, ``band_limit``, ``noise``) off."""
        unknown = sorted(set(steps) - set(STEPS))
        if unknown:
            raise ConfigError(f"unknown augmentation steps {unknown}; steps: {', '.join(STEPS)}")
        return replace(self, **{f"p_{step}": 0.0 for step in steps})


STEPS = ("reverb", "eq", "band_limit", "noise")
#: every step on, at the defaults
ROOM = AugmentConfig()
#: no step at all: only the gain is drawn
CLEAN = ROOM.without(*STEPS)


def impulse_response(*, sample_rate: int, rt60_s: float, drr_db: float,
                     rng: np.random.Generator) -> np.ndarray:
    """float32 [n]: a synthetic room response whose direct path is sample 0 with amplitude 1."""
    n = max(int(min(2.5, 1.2 * rt60_s) * sample_rate), 16)
    t = np.arange(n) / sample_rate
    noise = rng.standard_normal(n)
    # two bands of the tail: the high band dies out faster (air and wall absorption)
    spectrum = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    crossover = float(rng.uniform(1500.0, 4000.0))
    low_gain = 1.0 / (1.0 + (freqs / crossover) ** 4)
    low = np.fft.irfft(spectrum * low_gain, n)
    high = np.fft.irfft(spectrum * (1.0 - low_gain), n)
    high_rt60 = rt60_s * float(rng.uniform(0.35, 0.8))
    tail = low * np.exp(-6.908 * t / rt60_s) + high * np.exp(-6.908 * t / high_rt60)
    onset = int(float(rng.uniform(0.002, 0.02)) * sample_rate)  # gap before the diffuse tail
    tail[:onset] = 0.0
    ir = np.zeros(n)
    for _ in range(int(rng.integers(2, 7))):  # early reflections
        delay = int(float(rng.uniform(0.001, 0.03)) * sample_rate)
        ir[min(delay, n - 1)] += float(rng.uniform(0.1, 0.6)) * float(rng.choice([-1.0, 1.0]))
    tail_energy = float(np.sum(tail ** 2)) + 1e-12
    tail *= np.sqrt(10.0 ** (-drr_db / 10.0) / tail_energy)
    ir += tail
    ir[0] = 1.0
    return ir.astype(np.float32)


def random_eq_db(freqs_hz: np.ndarray, *, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """A smooth random gain curve in dB at ``freqs_hz``."""
    octaves = np.log2(np.maximum(freqs_hz, 20.0) / 1000.0)
    curve = float(rng.uniform(-1, 1)) * config.tilt_db_per_octave * octaves
    for _ in range(int(rng.integers(1, 5))):
        centre = float(rng.uniform(np.log2(60 / 1000), np.log2(12000 / 1000)))
        width = float(rng.uniform(0.3, 1.5))
        curve += float(rng.uniform(-config.eq_db, config.eq_db)) * np.exp(-0.5 * ((octaves - centre) / width) ** 2)
    return curve


def band_gain(freqs_hz: np.ndarray, *, highpass_hz: float | None, lowpass_hz: float | None) -> np.ndarray:
    """Linear gains of a smooth high-pass (12 dB/octave) and low-pass (about 48 dB/octave)."""
    gain = np.ones_like(freqs_hz, dtype=np.float64)
    if highpass_hz:
        ratio = np.maximum(freqs_hz, 1e-3) / highpass_hz
        gain *= ratio ** 2 / np.sqrt(1.0 + ratio ** 4)
    if lowpass_hz:
        gain /= np.sqrt(1.0 + (freqs_hz / lowpass_hz) ** 16)
    return gain


def coloured_noise(n: int, *, slope: float, rng: np.random.Generator) -> np.ndarray:
    """Noise whose power falls as ``f ** slope`` (0 white, -1 pink, -2 brown), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.arange(spectrum.size, dtype=np.float64)
    freqs[0] = 1.0
    noise = np.fft.irfft(spectrum * freqs ** (slope / 2.0), n)
    return noise / (np.sqrt(np.mean(noise ** 2)) + 1e-12)


def augment(audio: np.ndarray, *, sample_rate: int, config: AugmentConfig = ROOM,
            rng: np.random.Generator) -> np.ndarray:
    """float32 [n] -> float32 [n]: ``audio`` through the steps of ``config``."""
    from scipy.signal import fftconvolve

    x = np.asarray(audio, dtype=np.float64)
    n = x.size
    if n == 0:
        return x.astype(np.float32)
    if rng.random() < config.p_reverb:
        ir = impulse_response(sample_rate=sample_rate, rt60_s=float(rng.uniform(*config.rt60_s)),
                              drr_db=float(rng.uniform(*config.drr_db)), rng=rng)
        x = fftconvolve(x, ir)[:n]
    freqs_hz = np.fft.rfftfreq(n, 1.0 / sample_rate)
    gain = np.ones_like(freqs_hz)
    if rng.random() < config.p_eq:
        gain *= 10.0 ** (random_eq_db(freqs_hz, config=config, rng=rng) / 20.0)
    if rng.random() < config.p_band_limit:
        low, high = config.lowpass_hz
        lowpass = float(np.exp(rng.uniform(np.log(low), np.log(high)))) if rng.random() < 0.8 else None
        highpass = float(np.exp(rng.uniform(*np.log(config.highpass_hz)))) if rng.random() < 0.6 else None
        gain *= band_gain(freqs_hz, highpass_hz=highpass, lowpass_hz=lowpass)
    if not np.allclose(gain, 1.0):
        x = np.fft.irfft(np.fft.rfft(x) * gain, n)
    if rng.random() < config.p_noise:
        active = x[np.abs(x) > 1e-4]
        level = float(np.sqrt(np.mean(active ** 2))) if active.size else 0.0
        snr = float(rng.uniform(*config.snr_db))
        x = x + level * 10.0 ** (-snr / 20.0) * coloured_noise(n, slope=float(rng.uniform(-2.0, 0.0)),
                                                              rng=rng)
    peak = float(np.max(np.abs(x))) or 1.0
    x = x / peak * 10.0 ** (float(rng.uniform(*config.gain_db)) / 20.0)
    return x.astype(np.float32)
