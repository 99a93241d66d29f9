"""vocaltools.features.fft: block-wise STFT power and mel power equal the whole-array forms and
librosa."""

from __future__ import annotations

import numpy as np
import pytest

from vocaltools.features.fft import frame_view, hann_window, mel_power, stft_power
from vocaltools.features.mel import apply_mel, mel_filters


def _signal(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    return (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)


def _whole_array_power(y, *, n_fft, win_length, hop, n_frames):
    frames = np.stack([y[j * hop:j * hop + n_fft] for j in range(n_frames)])
    import scipy.fft

    spectrum = scipy.fft.rfft(frames * hann_window(n_fft, win_length), axis=-1)
    return (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float32)


@pytest.mark.parametrize("n_frames", [1, 255, 256, 257, 700])  # around the block size
def test_blockwise_power_equals_the_whole_array(n_frames):
    y = _signal((n_frames - 1) * 512 + 2048)
    expected = _whole_array_power(y, n_fft=2048, win_length=2048, hop=512, n_frames=n_frames)
    ours = stft_power(y, offset=0, n_fft=2048, win_length=2048, hop=512, n_frames=n_frames)
    assert ours.shape == (n_frames, 1025) and ours.dtype == np.float32
    # the FFT of a frame may round differently (1 ulp) with the SIMD grouping of the rows
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-6 * expected.max())
    mel = mel_power(y, offset=0, n_fft=2048, hop=512, n_frames=n_frames, sample_rate=16000)
    np.testing.assert_allclose(mel, apply_mel(expected, sample_rate=16000, n_fft=2048), rtol=1e-6)
    magnitude = stft_power(y, offset=0, n_fft=2048, win_length=1024, hop=512, n_frames=n_frames,
                           magnitude=True)
    np.testing.assert_allclose(magnitude, np.sqrt(_whole_array_power(
        y, n_fft=2048, win_length=1024, hop=512, n_frames=n_frames)), rtol=1e-6)


def test_mel_power_matches_librosa_melspectrogram():
    import librosa

    y = _signal(3 * 16000 + 123)
    n_frames = 1 + y.size // 512
    padded = np.pad(y, 1024)
    ours = mel_power(padded, offset=0, n_fft=2048, hop=512, n_frames=n_frames, sample_rate=16000)
    ref = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=2048, hop_length=512, n_mels=128,
                                         pad_mode="constant")
    assert ours.shape == ref.shape
    np.testing.assert_allclose(librosa.amplitude_to_db(ours), librosa.amplitude_to_db(ref),
                               rtol=1e-4, atol=1e-4)


def test_apply_mel_writes_into_out_and_equals_the_dense_product():
    power = np.random.default_rng(1).random((40, 1025), dtype=np.float32)
    out = np.full((128, 50), np.nan, dtype=np.float32)
    apply_mel(power, sample_rate=16000, n_fft=2048, out=out[:, 5:45])
    dense = mel_filters(sample_rate=16000, n_fft=2048) @ power.T
    np.testing.assert_allclose(out[:, 5:45], dense, rtol=1e-5, atol=1e-7)
    assert np.isnan(out[:, :5]).all() and np.isnan(out[:, 45:]).all()


def test_frame_view_rejects_frames_past_the_signal():
    y = np.zeros(4096, np.float32)
    assert frame_view(y, offset=0, n_fft=2048, hop=512, n_frames=5).shape == (5, 2048)
    with pytest.raises(ValueError, match="do not fit"):
        frame_view(y, offset=0, n_fft=2048, hop=512, n_frames=6)


def test_mel_power_is_a_drop_in_for_the_engines_logmel():
    """The proposed call in compute._linear (LogMel): mel_power at offset context - n_fft // 2."""
    from vocaltools.features import compute_features, get_preset

    y = _signal(5 * 16000 + 77, seed=3)
    expected = compute_features(y, sample_rate=16000, config=get_preset("fgnl"))["logmel"][0]
    power = mel_power(np.pad(y, 1024), offset=0, n_fft=2048, hop=512, n_frames=1 + y.size // 512,
                      sample_rate=16000)
    ours = 20.0 * np.log10(np.maximum(power, np.float32(1e-5)))
    ours = np.maximum(ours, ours.max() - 80.0)  # the preset's top_db
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-4)
