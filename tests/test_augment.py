"""vocaltools.augment: each step does what it says, and a seed reproduces the result."""

import numpy as np
import pytest

from vocaltools.augment import (CLEAN, ROOM, AugmentConfig, augment, band_gain, coloured_noise,
                                impulse_response)
from vocaltools.errors import ConfigError

SR = 22050


def _tone(seconds=1.0, f0=440.0):
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


def _band_energy(x, low, high):
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / SR)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


def test_seed_reproduces_and_length_and_dtype_are_kept():
    x = _tone()
    a = augment(x, sample_rate=SR, config=ROOM, rng=np.random.default_rng(3))
    b = augment(x, sample_rate=SR, config=ROOM, rng=np.random.default_rng(3))
    c = augment(x, sample_rate=SR, config=ROOM, rng=np.random.default_rng(4))
    assert a.dtype == np.float32 and a.shape == x.shape
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c, atol=1e-3)


def test_clean_config_only_changes_the_gain():
    x = _tone()
    y = augment(x, sample_rate=SR, config=CLEAN, rng=np.random.default_rng(0))
    ratio = y[np.abs(x) > 0.1] / x[np.abs(x) > 0.1]
    assert np.allclose(ratio, ratio[0], rtol=1e-4)  # one gain for every sample


def test_impulse_response_decays_at_its_rt60():
    rng = np.random.default_rng(0)
    ir = impulse_response(sample_rate=SR, rt60_s=0.8, drr_db=0.0, rng=rng)
    assert ir[0] == pytest.approx(1.0)
    # the tail energy after 0.8 s is about 60 dB below that in its first 50 ms
    early = float(np.sum(ir[int(0.03 * SR):int(0.08 * SR)] ** 2)) / 0.05
    late = float(np.sum(ir[int(0.8 * SR):int(0.85 * SR)] ** 2)) / 0.05
    assert 45 < 10 * np.log10(early / late) < 75
    # direct-to-reverberant ratio as asked (the reflections add a little to the tail)
    tail = float(np.sum(ir[1:] ** 2))
    assert 10 * np.log10(1.0 / tail) == pytest.approx(0.0, abs=4.0)


def test_reverb_spreads_a_click_and_band_limits_cut():
    click = np.zeros(SR, dtype=np.float32)
    click[100] = 1.0
    only_reverb = AugmentConfig(p_reverb=1.0, p_eq=0.0, p_band_limit=0.0, p_noise=0.0,
                                rt60_s=(1.0, 1.0), drr_db=(0.0, 0.0))
    wet = augment(click, sample_rate=SR, config=only_reverb, rng=np.random.default_rng(1))
    # half the energy is in the tail (DRR 0 dB); 70 ms later a good part of it is still there
    assert np.sum(wet[1600:] ** 2) > 0.05 * np.sum(wet ** 2)
    assert np.sum(click[1600:] ** 2) == 0.0
    freqs = np.array([100.0, 1000.0, 8000.0, 16000.0])
    gain = band_gain(freqs, highpass_hz=300.0, lowpass_hz=4000.0)
    assert gain[1] > 0.9 and gain[0] < 0.2 and gain[2] < 0.01 and gain[3] < 1e-4


def test_noise_meets_its_snr_and_its_slope():
    rng = np.random.default_rng(0)
    white, brown = coloured_noise(SR, slope=0.0, rng=rng), coloured_noise(SR, slope=-2.0, rng=rng)
    assert np.sqrt(np.mean(white ** 2)) == pytest.approx(1.0, rel=1e-3)
    # brown noise: far more energy below 500 Hz than above 5 kHz; white: the opposite (wider band)
    assert _band_energy(brown, 20, 500) > 100 * _band_energy(brown, 5000, 10000)
    assert _band_energy(white, 20, 500) < _band_energy(white, 5000, 10000)
    only_noise = AugmentConfig(p_reverb=0.0, p_eq=0.0, p_band_limit=0.0, p_noise=1.0,
                               snr_db=(20.0, 20.0), gain_db=(0.0, 0.0))
    x = _tone()
    y = augment(x, sample_rate=SR, config=only_noise, rng=np.random.default_rng(2))
    # undo the peak normalisation by projecting on the tone, then measure the residual
    scale = float(np.dot(y, x) / np.dot(x, x))
    residual = y - scale * x
    snr = 10 * np.log10(np.sum((scale * x) ** 2) / np.sum(residual ** 2))
    assert snr == pytest.approx(20.0, abs=1.0)


def test_bad_configs_are_refused():
    with pytest.raises(ConfigError, match="p_noise"):
        AugmentConfig(p_noise=1.5)
    with pytest.raises(ConfigError, match="above high"):
        AugmentConfig(snr_db=(30.0, 10.0))
    with pytest.raises(ConfigError, match="unknown augmentation steps"):
        ROOM.without("echo")
    assert ROOM.without("reverb").p_reverb == 0.0 and ROOM.without("reverb").p_eq == ROOM.p_eq
