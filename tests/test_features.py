"""vocaltools.features: configs and presets, agreement with librosa, shapes, melody, block-wise."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

from vocaltools.errors import ConfigError
from vocaltools.features import (PRESETS, FeatureConfig, LogMel, Melody, Stft, compute_features,
                                 featurize_file, get_preset)


def _noisy_chord(seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    y = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((220, 330, 550, 1210), start=1))
    return (0.2 * y + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_round_trip_through_json(name):
    config = get_preset(name)
    data = json.loads(json.dumps(config.to_dict()))
    assert FeatureConfig.from_dict(data) == config
    assert FeatureConfig.from_dict(data).to_dict() == config.to_dict()


def test_unknown_preset_lists_names_and_suggests():
    with pytest.raises(ConfigError, match=r"unknown feature preset 'fgln'.*fgnl-melody.*did you mean 'fgnl'"):
        get_preset("fgln")


def test_config_validation():
    with pytest.raises(ConfigError, match="share one hop_length"):
        FeatureConfig(16000, (LogMel(hop_length=512), Stft(hop_length=256)))
    with pytest.raises(ConfigError, match="db must be one of amplitude, power"):
        LogMel(db="decibel")
    with pytest.raises(ConfigError, match="unknown front end 'logmell'.*did you mean 'logmel'"):
        FeatureConfig.from_dict({"sample_rate": 16000, "front_ends": [{"name": "logmell"}]})
    config = get_preset("fgnl")
    assert (config.hop_length, config.frames_per_second) == (512, 31.25)
    with pytest.raises(ConfigError, match="expects 16000 Hz"):
        compute_features(np.zeros(1000, np.float32), sample_rate=22050, config=config)


@pytest.mark.parametrize("db", ["amplitude", "power"])
def test_logmel_matches_librosa(db):
    import librosa

    y = _noisy_chord(3.3, 16000)
    config = get_preset("fgnl" if db == "amplitude" else "nasrullah")
    ours = compute_features(y, sample_rate=16000, config=config)["logmel"]
    mel = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=2048, hop_length=512, n_mels=128)
    ref = librosa.amplitude_to_db(mel) if db == "amplitude" else librosa.power_to_db(mel)
    assert ours.shape == (1, 128, ref.shape[1]) and ours.dtype == np.float32
    np.testing.assert_allclose(ours[0], ref, rtol=1e-4, atol=1e-4)


def test_stft_and_cqt_match_librosa():
    import librosa

    y = _noisy_chord(1.0, 22050)
    stft = compute_features(y, sample_rate=22050, config=get_preset("wise-stft"))["stft"]
    ref = np.abs(librosa.stft(y, n_fft=2048, hop_length=256))
    assert stft.shape == (1, 1025, 87)
    np.testing.assert_allclose(stft[0], ref, rtol=1e-4, atol=1e-4)
    assert compute_features(y, sample_rate=22050, config=get_preset("wise-cqt"))["cqt"].shape == (1, 252, 87)
    y = _noisy_chord(4.0, 22050)
    cqt = compute_features(y, sample_rate=22050, config=get_preset("wise-cqt"))["cqt"]
    ref = np.abs(librosa.cqt(y, sr=22050, hop_length=256, n_bins=252, bins_per_octave=36,
                             pad_mode="constant"))
    # our CQT sees 2 s of zero context beyond the ends; away from the ends (the longest filter
    # spans 0.8 s either side = 69 frames) it is librosa's
    np.testing.assert_allclose(cqt[0][:, 90:-90], ref[:, 90:-90], atol=1e-3 * ref.max())


def test_preset_shapes_and_ranges():
    y44 = _noisy_chord(3.0, 44100)
    multires = compute_features(y44, sample_rate=44100, config=get_preset("yamamoto2022"))["multires"]
    assert multires.shape == (3, 1025, 259)
    assert not np.allclose(multires[0], multires[2])  # different windows
    import librosa

    for channel, win_length in enumerate((2048, 1024, 512)):
        magnitude = np.abs(librosa.stft(y44, n_fft=2048, hop_length=512, win_length=win_length))
        expected = librosa.amplitude_to_db(magnitude, top_db=80)
        np.testing.assert_allclose(multires[channel], expected, atol=1e-2)  # float32 FFTs differ
    y22 = _noisy_chord(6.0, 22050)
    wang = compute_features(y22, sample_rate=22050, config=get_preset("wang2018"))["logmel"]
    assert wang.shape == (1, 96, 259)
    assert wang.min() >= 0.0 and wang.max() == pytest.approx(60.0)
    fgnl = compute_features(_noisy_chord(5.0, 16000), sample_rate=16000, config=get_preset("fgnl"))
    assert fgnl["logmel"].shape == (1, 128, 157)
    assert fgnl["logmel"].max() - fgnl["logmel"].min() <= 80.0 + 1e-4


def test_melody_onehot_pure_tone_and_silence():
    import librosa

    sample_rate = 16000
    t = np.arange(2 * sample_rate) / sample_rate
    y = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    y = np.concatenate([y, np.zeros(sample_rate, np.float32)])  # 1 s of silence after the tone
    melody = compute_features(y, sample_rate=sample_rate, config=get_preset("fgnl-melody"))["melody"]
    assert melody.shape == (1, 128, 1 + y.size // 512)
    assert np.all(melody.sum(axis=1) == 1.0) and set(np.unique(melody)) == {0.0, 1.0}
    bins = melody[0].argmax(axis=0)
    centres = librosa.mel_frequencies(n_mels=128, fmin=0, fmax=11025)
    expected = int(np.flatnonzero(centres <= 440.0)[-1])
    assert centres[expected] <= 440.0 < centres[expected + 1]
    assert np.mean(bins[5:55] == expected) > 0.95  # the voiced tone
    assert np.all(bins[-20:] == 0)  # unvoiced frames -> bin 0 (the 0 Hz centre)


def test_melody_unvoiced_estimate_option_round_trips():
    config = FeatureConfig(16000, (LogMel(), Melody(unvoiced="estimate")))
    assert FeatureConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="unvoiced must be one of zero, estimate"):
        Melody(unvoiced="hold")


@pytest.mark.parametrize("name,rate,seconds", [("fgnl", 16000, 9.3), ("yamamoto2022", 44100, 2.3),
                                               ("wise-cqt", 22050, 3.1), ("fgnl-melody", 16000, 4.1)])
def test_blockwise_equals_whole_file(tmp_path, name, rate, seconds):
    from vocaltools.audio import load_audio

    path = tmp_path / "song.flac"
    soundfile.write(path, _noisy_chord(seconds, 44100), 44100)
    config = get_preset(name)
    whole = compute_features(load_audio(path, sample_rate=rate), sample_rate=rate, config=config)
    blocks = featurize_file(path, config=config, block_seconds=1.37 if "melody" in name or "cqt" in name else 0.77)
    assert blocks.n_frames == next(iter(whole.values())).shape[-1]
    assert blocks.duration_s == pytest.approx(seconds, abs=1e-3)
    for key, expected in whole.items():
        assert blocks.arrays[key].shape == expected.shape
        np.testing.assert_allclose(blocks.arrays[key], expected, atol=1e-3 * max(1.0, np.abs(expected).max()))


def test_mel_filters_equal_librosa():
    import librosa

    from vocaltools.features.mel import mel_filters, mel_frequencies

    for rate, n_fft, n_mels, fmax in [(16000, 2048, 128, None), (22050, 2048, 96, None),
                                      (44100, 1024, 40, 8000.0)]:
        ours = mel_filters(sample_rate=rate, n_fft=n_fft, n_mels=n_mels, fmax=fmax)
        ref = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels, fmax=fmax)
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(mel_frequencies(128, fmin=0, fmax=11025),
                               librosa.mel_frequencies(n_mels=128, fmin=0, fmax=11025), rtol=1e-12)


def test_featurize_file_memory_is_bounded_by_the_block(tmp_path):
    import tracemalloc

    rate, seconds = 44100, 60
    path = tmp_path / "long.flac"
    noise = np.random.default_rng(0).standard_normal(rate * seconds).astype(np.float32)
    soundfile.write(path, 0.1 * noise, rate, subtype="PCM_16")
    del noise
    config = get_preset("fgnl")
    featurize_file(path, config=config, block_seconds=2.0)  # caches, imports
    tracemalloc.start()
    result = featurize_file(path, config=config, block_seconds=2.0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    decoded_bytes = rate * seconds * 4  # the whole file as float32 at its own rate
    assert result.n_frames == 1 + 16000 * seconds // 512
    assert peak < 0.5 * decoded_bytes, f"peak {peak / 1e6:.1f} MB"


def test_hann_window_is_librosas_and_read_only():
    import scipy.signal

    from vocaltools.features.compute import hann_window

    window = hann_window(2048, 1024)
    expected = np.zeros(2048)
    expected[512:1536] = scipy.signal.get_window("hann", 1024, fftbins=True)
    assert window.dtype == np.float32 and not window.flags.writeable
    np.testing.assert_allclose(window, expected, rtol=0, atol=1e-7)


def test_each_front_end_owns_its_db_rule():
    from vocaltools.features.config import Cqt, DbScale, MultiRes

    assert LogMel().db_scale == DbScale(factor=20.0, amin=1e-5, top_db=80.0)
    assert LogMel(db="power", ref="max", top_db=60, offset_db=60).db_scale == DbScale(
        factor=10.0, amin=1e-10, ref_max=True, top_db=60.0, offset_db=60.0)
    assert MultiRes(top_db=None).db_scale == DbScale(factor=20.0, amin=1e-5, per_channel=True)
    assert Stft().db_scale is None and Cqt().db_scale is None and Melody().db_scale is None
    assert Stft(scale="db").db_scale == Cqt(scale="db").db_scale == DbScale(20.0, 1e-5, top_db=80.0)
    assert not LogMel(top_db=None).db_scale.needs_levels
    assert LogMel(top_db=None, ref="max").db_scale.needs_levels


def test_db_rule_is_librosas_on_a_whole_signal():
    import librosa

    y = _noisy_chord(2.0, 16000)
    config = FeatureConfig(sample_rate=16000, front_ends=(
        LogMel(db="power", ref="max", top_db=60, offset_db=60),))
    ours = compute_features(y, sample_rate=16000, config=config)["logmel"][0]
    mel = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=2048, hop_length=512, n_mels=128,
                                         pad_mode="constant")
    expected = librosa.power_to_db(mel, ref=np.max, top_db=60) + 60
    np.testing.assert_allclose(ours, expected, atol=1e-3)


def test_apply_mel_writes_into_out_and_equals_the_dense_product():
    from vocaltools.features.mel import apply_mel, mel_filters

    power = np.random.default_rng(1).random((40, 1025), dtype=np.float32)
    out = np.full((128, 50), np.nan, dtype=np.float32)
    apply_mel(power, sample_rate=16000, n_fft=2048, out=out[:, 5:45])
    dense = mel_filters(sample_rate=16000, n_fft=2048) @ power.T
    np.testing.assert_allclose(out[:, 5:45], dense, rtol=1e-5, atol=1e-7)
    assert np.isnan(out[:, :5]).all() and np.isnan(out[:, 45:]).all()
