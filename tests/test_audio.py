"""vocaltools.audio: decoding, validation (every bad-file reason), mono mixdown, resampling, blocks."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from vocaltools.audio import audio_info, iter_audio_blocks, load_audio
from vocaltools.errors import InputError


def _tone(freq: float, seconds: float, sample_rate: int) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture()
def flac(tmp_path):
    path = tmp_path / "tone.flac"
    soundfile.write(path, _tone(440, 1.0, 22050), 22050)
    return path


def test_load_keeps_rate_and_info(flac):
    audio = load_audio(flac, sample_rate=None)
    assert audio.dtype == np.float32 and audio.shape == (22050,)
    info = audio_info(flac)
    assert (info.sample_rate, info.channels, info.n_samples) == (22050, 1, 22050)
    assert info.duration_s == pytest.approx(1.0)


def test_mono_mixdown(tmp_path):
    left, right = _tone(300, 0.5, 16000), _tone(700, 0.5, 16000) * 0.5
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    mono = load_audio(path, sample_rate=16000)
    np.testing.assert_allclose(mono, (left + right) / 2, atol=1e-6)
    both = load_audio(path, sample_rate=16000, mono=False)
    assert both.shape == (2, 8000)
    np.testing.assert_allclose(both[1], right, atol=1e-6)


def test_resampling_matches_soxr_and_keeps_pitch(tmp_path):
    import soxr

    signal = _tone(1000, 2.0, 44100)
    path = tmp_path / "tone.wav"
    soundfile.write(path, signal, 44100, subtype="FLOAT")
    audio = load_audio(path, sample_rate=16000)
    assert audio.shape == (32000,)
    np.testing.assert_allclose(audio, soxr.resample(signal, 44100, 16000, quality="HQ"), atol=1e-6)
    spectrum = np.abs(np.fft.rfft(audio[4000:20000]))
    assert np.fft.rfftfreq(16000, 1 / 16000)[spectrum.argmax()] == pytest.approx(1000, abs=2)


@pytest.mark.parametrize("rate", [None, 16000])
def test_blocks_concatenate_to_whole_file(flac, rate):
    whole = load_audio(flac, sample_rate=rate)
    blocks = list(iter_audio_blocks(flac, sample_rate=rate, block_seconds=0.07))
    assert len(blocks) > 5
    # a streamed resampler against a one-shot one: equal to float32 rounding
    np.testing.assert_allclose(np.concatenate(blocks), whole, rtol=0, atol=1e-6)


def _bad_files(tmp_path, flac):
    (tmp_path / "text.wav").write_text("this is not audio\n" * 20)
    (tmp_path / "empty.flac").write_bytes(b"")
    data = flac.read_bytes()
    (tmp_path / "cut.flac").write_bytes(data[: len(data) // 2])
    wav = tmp_path / "full.wav"
    soundfile.write(wav, _tone(440, 1.0, 8000), 8000)
    (tmp_path / "cut.wav").write_bytes(wav.read_bytes()[:6000])
    bad = _tone(440, 0.2, 8000)
    bad[700] = np.nan
    soundfile.write(tmp_path / "nan.wav", bad, 8000, subtype="FLOAT")
    soundfile.write(tmp_path / "nodata.wav", np.zeros(0, np.float32), 8000)
    soundfile.write(tmp_path / "short.wav", _tone(440, 0.01, 8000), 8000)
    return {
        "missing.wav": "no such file",
        "empty.flac": r"empty file \(0 bytes\)",
        "text.wav": "format not recognised",
        "cut.flac": "truncated",
        "cut.wav": "truncated WAV",
        "nan.wav": r"non-finite sample .* at 0\.087 s",
        "nodata.wav": "no audio samples",
        "short.wav": r"too short: 0\.010 s, expected at least 0\.1 s",
    }


def test_every_bad_file_reason(tmp_path, flac):
    for name, reason in _bad_files(tmp_path, flac).items():
        with pytest.raises(InputError, match=reason) as caught:
            load_audio(tmp_path / name, sample_rate=16000, min_seconds=0.1)
        assert name in str(caught.value)


def test_undecodable_container_names_what_is_missing(tmp_path):
    path = tmp_path / "clip.m4a"
    path.write_bytes(b"\x00\x00\x00\x18ftypM4A " + b"\x00" * 100)
    with pytest.raises(InputError, match=r"clip\.m4a: (cannot decode|not a readable)"):
        load_audio(path, sample_rate=16000)


def test_multichannel_resampling_and_blocks(tmp_path):
    import soxr

    stereo = np.random.default_rng(0).standard_normal((44100, 2)).astype(np.float32) * 0.1
    path = tmp_path / "stereo.wav"
    soundfile.write(path, stereo, 44100, subtype="FLOAT")
    both = load_audio(path, sample_rate=16000, mono=False)
    assert both.shape == (2, 16000)
    np.testing.assert_allclose(both, soxr.resample(stereo, 44100, 16000, quality="HQ").T, rtol=0, atol=1e-6)
    blocks = list(iter_audio_blocks(path, sample_rate=16000, mono=False, block_seconds=0.1))
    np.testing.assert_allclose(np.concatenate(blocks, axis=-1), both, rtol=0, atol=1e-6)


def test_audio_info_rejects_bad_files(tmp_path):
    (tmp_path / "text.flac").write_text("hello\n" * 40)
    with pytest.raises(InputError, match=r"text\.flac: not a readable FLAC audio file"):
        audio_info(tmp_path / "text.flac")
    with pytest.raises(InputError, match="no such file"):
        audio_info(tmp_path / "absent.wav")
