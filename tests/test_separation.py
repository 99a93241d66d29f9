"""Vocal separation: SI-SDR, the weight-free separators, chunked overlap-add, stem files, cache,
the optional Open-Unmix/Demucs adapters' error paths, and the `separate` command."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import invoke_cli
from vocaltools.errors import ConfigError, InputError, ModelError
from vocaltools.separation import (Separator, StemArrays, cached_vocals, get_separator,
                                   output_paths, parse_options, separate_chunked, separate_file,
                                   si_sdr, si_sdr_improvement)

RATE = 16000


# ----------------------------------------------------------------------------- synthetic audio
def synthetic_mix(*, seconds: float = 6.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]:
    """``(mixture, vocals, accompaniment)`` at 16 kHz, 0 dB: a gliding, vibrato "voice" with
    formant-shaped harmonics and pauses over a one-second repeating chord + click pattern."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    # voice: notes of random pitch (200-400 Hz) with 5.5 Hz vibrato, 0.15 s pauses between notes
    f0 = np.zeros(n)
    gate = np.zeros(n)
    start = 0
    while start < n:
        length = int(rng.uniform(0.4, 0.9) * RATE)
        f0[start:start + length] = rng.uniform(200, 400)
        gate[start:start + length] = np.hanning(min(length, n - start) + 2)[1:-1] ** 0.3
        start += length + int(0.15 * RATE)
    f0 = f0 * (1 + 0.02 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    vocals = sum(np.sin(k * phase) * np.exp(-((k * f0 - 700) / 900) ** 2) for k in range(1, 16))
    vocals = vocals * gate
    # accompaniment: a one-second loop of two chords and four clicks, repeated
    loop_t = np.arange(RATE) / RATE
    loop = np.zeros(RATE)
    for half, root in enumerate((110.0, 146.8)):
        sl = slice(half * RATE // 2, (half + 1) * RATE // 2)
        for ratio in (1, 1.25, 1.5, 2):
            loop[sl] += np.sin(2 * np.pi * root * ratio * loop_t[sl]) / ratio
    for beat in range(4):
        i = beat * RATE // 4
        loop[i:i + 400] += rng.standard_normal(400) * np.exp(-np.arange(400) / 60) * 2
    accompaniment = np.tile(loop, int(np.ceil(seconds)))[:n]
    accompaniment *= np.sqrt(np.mean(vocals ** 2) / np.mean(accompaniment ** 2))
    mixture = vocals + accompaniment
    scale = 0.8 / np.max(np.abs(mixture))
    return ((mixture * scale).astype(np.float32), (vocals * scale).astype(np.float32),
            (accompaniment * scale).astype(np.float32))


def write_audio(path: Path, audio: np.ndarray, sample_rate: int = RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, sample_rate)
    return path


class Gain(Separator):
    """A local (sample-wise) separator: vocals = 0.3 x, accompaniment = 0.7 x."""
    method = "gain"
    sample_rate = None
    chunk_seconds = 1.0
    overlap_seconds = 0.25

    def separate_array(self, mixture, *, sample_rate):
        return StemArrays(vocals=0.3 * mixture, accompaniment=0.7 * mixture)

    def describe(self):
        return {"method": self.method}


class Failing(Gain):
    """Fails on its second chunk (an interrupted separation)."""
    method = "failing"

    def __init__(self):
        self.calls = 0

    def separate_array(self, mixture, *, sample_rate):
        self.calls += 1
        if self.calls == 2:
            raise InputError("boom on chunk 2")
        return super().separate_array(mixture, sample_rate=sample_rate)


# ----------------------------------------------------------------------------- SI-SDR
def test_si_sdr_matches_the_definition_for_orthogonal_noise():
    rng = np.random.default_rng(1)
    reference = rng.standard_normal(4000)
    noise = rng.standard_normal(4000)
    noise -= noise @ reference / (reference @ reference) * reference  # orthogonal to reference
    noise *= np.sqrt((reference @ reference) / (noise @ noise)) * 10 ** (-7 / 20)  # 7 dB below
    assert si_sdr(estimate=reference + noise, reference=reference) == pytest.approx(7.0, abs=1e-6)
    # scale invariance: a louder or quieter estimate scores the same
    assert si_sdr(estimate=0.1 * (reference + noise), reference=reference) == pytest.approx(7.0,
                                                                                         abs=1e-6)
    assert si_sdr(estimate=reference, reference=reference) > 100
    assert si_sdr(estimate=-noise, reference=reference) < -50


def test_si_sdr_improvement_of_the_mixture_is_zero_and_errors_are_input_errors():
    mixture, vocals, _ = synthetic_mix(seconds=1.0)
    assert si_sdr_improvement(estimate=mixture, reference=vocals, mixture=mixture) == 0.0
    assert si_sdr_improvement(estimate=vocals, reference=vocals, mixture=mixture) > 50
    with pytest.raises(InputError, match="equal length"):
        si_sdr(estimate=vocals[:-1], reference=vocals)
    with pytest.raises(InputError, match="silent reference"):
        si_sdr(estimate=vocals, reference=np.zeros_like(vocals))


# ----------------------------------------------------------------------------- separators
@pytest.mark.parametrize("method", ["harmonic", "repet", "hpss"])
def test_weight_free_separators_improve_the_synthetic_mix(method):
    mixture, vocals, accompaniment = synthetic_mix()
    options = {"min_distance_seconds": 1.5} if method == "repet" else {}  # 6 s of a 1-s loop
    separator = get_separator(method, sample_rate=None, **options)
    stems = separator.separate_array(mixture, sample_rate=RATE)
    assert stems.vocals.shape == mixture.shape and stems.vocals.dtype == np.float32
    gain_v = si_sdr_improvement(estimate=stems.vocals, reference=vocals, mixture=mixture)
    gain_a = si_sdr_improvement(estimate=stems.accompaniment, reference=accompaniment,
                                mixture=mixture)
    if method in ("repet", "harmonic"):
        assert gain_v > 3.0 and gain_a > 3.0, (gain_v, gain_a)
    else:  # the baseline must at least help on the vocals here
        assert gain_v > 0.5, gain_v


def test_melody_tracker_follows_a_voice_over_changing_chords():
    """A vibrato voice over sustained three-note chords that change every 0.75 s: the tracked f0
    lies within 50 cents of the sung one in at least 85 % of the frames where the voice sings."""
    from vocaltools.separation.melody import track_melody

    rate, n_fft, hop = 22050, 2048, 512
    rng = np.random.default_rng(3)
    n = 4 * rate
    t = np.arange(n) / rate
    notes = rng.uniform(180, 420, size=8)
    f0 = np.repeat(notes, n // 8) * (1 + 0.015 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) * np.exp(-((k * f0 - 800) / 1200) ** 2) for k in range(1, 20))
    chords = np.zeros(n)
    for index, root in enumerate(rng.uniform(100, 200, size=6)):
        sl = slice(index * n // 6, (index + 1) * n // 6)
        for ratio in (1.0, 1.26, 1.5):
            chords[sl] += sum(np.sin(2 * np.pi * k * root * ratio * t[sl]) / k for k in range(1, 8))
    chords *= np.std(voice) / np.std(chords) * 0.7
    import librosa

    magnitude = np.abs(librosa.stft((voice + chords).astype(np.float32), n_fft=n_fft,
                                    hop_length=hop))
    tracked = track_melody(magnitude, sample_rate=rate, n_fft=n_fft)
    sung = f0[np.minimum(np.arange(magnitude.shape[1]) * hop, n - 1)]
    cents = 1200 * np.abs(np.log2(tracked / sung))
    assert tracked.shape == (magnitude.shape[1],)
    assert np.mean(cents[2:-2] < 50) >= 0.85, np.mean(cents[2:-2] < 50)


def test_comb_mask_has_teeth_at_the_harmonics_only():
    from vocaltools.separation.harmonic import comb_mask

    mask = comb_mask(np.array([200.0, np.nan, 0.0]), sample_rate=16000, n_fft=1600, fmax=3000,
                     width_bins=1.0, width_ratio=0.0)  # 10 Hz bins
    assert mask.shape == (801, 3) and mask.dtype == np.float32
    assert mask[[20, 40, 60, 280], 0] == pytest.approx(1.0, abs=1e-6)  # 200, 400, 600, 2800 Hz
    assert mask[[30, 50, 10], 0] == pytest.approx(0.0, abs=1e-6)  # between teeth, below f0/2
    assert mask[320, 0] == pytest.approx(0.0, abs=1e-6)  # 3200 Hz: above fmax
    assert not mask[:, 1:].any()  # unvoiced frames
    with pytest.raises(ConfigError, match="harmonic: need 0 < hop_length"):
        get_separator("harmonic", hop_length=0)
    with pytest.raises(ConfigError, match="melody: need 0 < f0_min < f0_max"):
        get_separator("harmonic", f0_min=500, f0_max=400)


def test_separate_at_rate_returns_input_rate_stems_that_sum_to_the_mixture():
    from vocaltools.separation.rates import AtInputRate, separate_at_rate

    mixture, vocals, _ = synthetic_mix(seconds=3.0)
    mixture_32k = np.repeat(mixture, 2)  # 32 kHz input; the separator runs at 16 kHz
    separator = get_separator("harmonic", sample_rate=RATE)
    stems = separate_at_rate(separator, mixture_32k, sample_rate=2 * RATE)
    assert stems.vocals.shape == stems.accompaniment.shape == mixture_32k.shape
    np.testing.assert_allclose(stems.vocals + stems.accompaniment, mixture_32k, atol=1e-5)
    direct = separator.separate_array(mixture, sample_rate=RATE)
    # the same vocals as at the processing rate, up to the resampling filters
    assert si_sdr(estimate=stems.vocals[::2], reference=direct.vocals) > 15.0

    class NotResidual(Gain):  # accompaniment is not the residual: the lost band is added to it
        sample_rate = RATE

    wrapped = AtInputRate(NotResidual())
    assert wrapped.sample_rate is None and wrapped.method == "gain" and not wrapped.residual
    stems = wrapped.separate_array(mixture_32k, sample_rate=2 * RATE)
    np.testing.assert_allclose(stems.vocals + stems.accompaniment, mixture_32k, atol=1e-4)


def test_repet_handles_tiny_and_silent_inputs():
    separator = get_separator("repet", sample_rate=None)
    for n in (0, 1, 100, 3000):
        stems = separator.separate_array(np.zeros(n, dtype=np.float32), sample_rate=RATE)
        assert stems.vocals.shape == (n,) and np.all(np.isfinite(stems.vocals))
        assert np.all(np.isfinite(stems.accompaniment))


def test_registry_errors_name_the_valid_choices():
    with pytest.raises(ConfigError, match="did you mean 'repet'"):
        get_separator("repit")
    with pytest.raises(ConfigError, match="unknown option.*margin_vocal.*did you mean"):
        get_separator("repet", margin_vocal=2.0)
    with pytest.raises(ConfigError, match="uses no weights"):
        get_separator("repet", weights="somewhere")
    with pytest.raises(ConfigError, match="accompaniment must be"):
        get_separator("repet", accompaniment="other")
    assert parse_options(["margin_vocals=3", "sample-rate=none", "n_neighbors=4"],
                         method="repet") == {"margin_vocals": 3.0, "sample_rate": None,
                                             "n_neighbors": 4}
    with pytest.raises(ConfigError, match="cannot read 'x' as int"):
        parse_options(["n_neighbors=x"], method="repet")


# ----------------------------------------------------------------------------- chunking
@pytest.mark.parametrize("n", [0, 1, 999, 1000, 1001, 1750, 5432])
def test_chunked_overlap_add_is_exact_for_a_local_separator(n):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    stems = separate_chunked(Gain(), x, sample_rate=1000, block_size=333)  # 1 s chunks
    np.testing.assert_allclose(stems.vocals, 0.3 * x, atol=1e-6)
    np.testing.assert_allclose(stems.accompaniment, 0.7 * x, atol=1e-6)


def test_chunked_repet_is_close_to_unchunked():
    # REPET-SIM models the background from the whole excerpt, so chunking is exact only for local
    # separators (above); with chunks that hold enough repetitions it separates as well
    mixture, vocals, _ = synthetic_mix(seconds=10.0)
    separator = get_separator("repet", sample_rate=None, min_distance_seconds=1.5)
    whole = separator.separate_array(mixture, sample_rate=RATE)
    chunked = separate_chunked(separator, mixture, sample_rate=RATE, chunk_seconds=6.0,
                               overlap_seconds=1.0, block_size=7777)
    assert chunked.vocals.shape == whole.vocals.shape
    assert si_sdr(estimate=chunked.accompaniment, reference=whole.accompaniment) > 8
    gain_whole = si_sdr_improvement(estimate=whole.vocals, reference=vocals, mixture=mixture)
    gain_chunked = si_sdr_improvement(estimate=chunked.vocals, reference=vocals, mixture=mixture)
    assert gain_whole > 8.0 and gain_chunked > gain_whole - 4.0, (gain_whole, gain_chunked)


def test_chunking_rejects_an_overlap_as_long_as_half_the_chunk():
    with pytest.raises(ConfigError, match="chunk"):
        separate_chunked(Gain(), np.zeros(10, np.float32), sample_rate=10, chunk_seconds=1.0,
                         overlap_seconds=0.5)


# ----------------------------------------------------------------------------- files
def test_output_paths_follow_the_template(tmp_path):
    paths = output_paths(tmp_path / "in" / "song.b.wav", out_dir=tmp_path / "o",
                         template="{parent}/{stem}/{method}-{source}.wav", method="repet")
    assert paths == {"vocals": tmp_path / "o" / "in" / "song.b" / "repet-vocals.wav",
                     "accompaniment": tmp_path / "o" / "in" / "song.b" / "repet-accompaniment.wav"}
    paths = output_paths("x/a.flac", out_dir="o", template="{relpath}.{source}.flac",
                         relpath="singer/a", sources=("vocals",))
    assert paths == {"vocals": Path("o/singer/a.vocals.flac")}
    for template, message in [("{name}.flac", "must contain"), ("{name}.{source}.mp3", "must end"),
                              ("{nme}.{source}.wav", "unknown field.*did|unknown field"),
                              ("../{name}.{source}.wav", "leaves the output folder"),
                              ("{name.{source}.wav", "malformed")]:
        with pytest.raises(ConfigError, match=message):
            output_paths("a.wav", out_dir="o", template=template)


def test_separate_file_writes_skips_and_overwrites(tmp_path):
    mixture, _, _ = synthetic_mix(seconds=3.0)
    source = write_audio(tmp_path / "mix.wav", np.stack([mixture, mixture], axis=1))  # stereo
    out = tmp_path / "out"
    stems = separate_file(source, separator=Gain(), out_dir=out, template="{name}/{source}.wav")
    assert not stems.skipped
    assert stems.vocals == out / "mix" / "vocals.wav"
    vocals, rate = sf.read(str(stems.vocals), dtype="float32")
    assert rate == RATE and vocals.shape == mixture.shape
    np.testing.assert_allclose(vocals, 0.3 * mixture, atol=1e-5)
    assert sorted(p.name for p in (out / "mix").iterdir()) == ["accompaniment.wav", "vocals.wav"]
    umask = os.umask(0)
    os.umask(umask)
    assert stems.vocals.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    before = stems.vocals.stat().st_mtime_ns
    again = separate_file(source, separator=Gain(), out_dir=out, template="{name}/{source}.wav")
    assert again.skipped and stems.vocals.stat().st_mtime_ns == before
    redo = separate_file(source, separator=Gain(), out_dir=out, template="{name}/{source}.wav",
                         overwrite=True)
    assert not redo.skipped


def test_separate_file_writes_stems_at_the_input_rate_by_default(tmp_path):
    mixture, _, _ = synthetic_mix(seconds=2.0)
    source = write_audio(tmp_path / "mix.flac", mixture)
    stems = separate_file(source, method="repet", options={"sample_rate": 8000}, out_dir=tmp_path)
    info = sf.info(str(stems.accompaniment))
    assert info.samplerate == RATE and info.format == "FLAC" and info.frames == 2 * RATE
    vocals, _ = sf.read(str(stems.vocals), dtype="float32")
    accompaniment, _ = sf.read(str(stems.accompaniment), dtype="float32")
    np.testing.assert_allclose(vocals + accompaniment, mixture, atol=1e-4)  # 24-bit FLAC
    for stem_rate, expected in (("processing", 8000), (12000, 12000)):
        stems = separate_file(source, method="repet", options={"sample_rate": 8000},
                              out_dir=tmp_path / str(stem_rate), stem_rate=stem_rate)
        info = sf.info(str(stems.vocals))
        assert info.samplerate == expected and info.frames == 2 * expected
    with pytest.raises(ConfigError, match="stem rate 'fast': expected 'input', 'processing'"):
        separate_file(source, separator=Gain(), out_dir=tmp_path / "bad", stem_rate="fast")


def test_chunked_separation_at_the_input_rate_keeps_the_stems_summing_to_the_input(tmp_path):
    class Slow(Gain):  # processes at 8 kHz, in 1-s chunks: the input's rate is twice that
        sample_rate = 8000

    mixture, _, _ = synthetic_mix(seconds=3.5)
    source = write_audio(tmp_path / "mix.wav", mixture)
    stems = separate_file(source, separator=Slow(), out_dir=tmp_path, template="{source}.wav")
    vocals, rate = sf.read(str(stems.vocals), dtype="float32")
    accompaniment, _ = sf.read(str(stems.accompaniment), dtype="float32")
    assert rate == RATE and vocals.shape == mixture.shape
    np.testing.assert_allclose(vocals + accompaniment, mixture, atol=1e-4)
    # the vocals are 0.3 x the mixture below 4 kHz (the 8 kHz round trip keeps that band)
    low = np.fft.rfftfreq(len(mixture), 1 / RATE) < 3500
    expected = np.fft.irfft(np.fft.rfft(0.3 * mixture) * low, len(mixture))
    assert si_sdr(estimate=vocals, reference=expected) > 25.0


def test_an_interrupted_separation_leaves_no_file(tmp_path):
    tone = 0.1 * np.sin(2 * np.pi * 220 * np.arange(4 * RATE) / RATE)  # not silent: it is read
    source = write_audio(tmp_path / "long.wav", tone.astype(np.float32))
    with pytest.raises(InputError, match="boom"):
        separate_file(source, separator=Failing(), out_dir=tmp_path / "out")
    assert not any(p.is_file() for p in (tmp_path / "out").rglob("*"))


def test_bad_and_missing_files_raise_input_errors(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    with pytest.raises(InputError, match=r"bad\.wav: not a readable WAV audio file"):
        separate_file(bad, separator=Gain(), out_dir=tmp_path / "out")
    with pytest.raises(InputError, match=r"nothere\.wav: no such file"):
        separate_file(tmp_path / "nothere.wav", separator=Gain(), out_dir=tmp_path / "out")


def test_cached_vocals_is_keyed_by_file_identity_and_config(tmp_path):
    mixture, _, _ = synthetic_mix(seconds=2.0)
    source = write_audio(tmp_path / "mix.wav", mixture)
    first = cached_vocals(source, method="repet", options={"sample_rate": 8000})
    assert first.is_file() and str(first).startswith(os.environ["VOCALTOOLS_HOME"])
    stamp = first.stat().st_mtime_ns
    assert cached_vocals(source, method="repet", options={"sample_rate": 8000}) == first
    assert first.stat().st_mtime_ns == stamp  # not recomputed
    other_config = cached_vocals(source, method="repet", options={"sample_rate": 8000,
                                                                  "margin_vocals": 5.0})
    assert other_config != first
    os.utime(source, ns=(stamp, stamp + 10**9))  # the input changed
    assert cached_vocals(source, method="repet", options={"sample_rate": 8000}) != first
    explicit = cached_vocals(source, method="repet", options={"sample_rate": 8000},
                             cache_dir=tmp_path / "cache")
    assert explicit.parent.parent == tmp_path / "cache"


# ----------------------------------------------------------------------------- optional backends
@pytest.mark.parametrize("method", ["umx", "demucs"])
def test_backends_without_weights_say_how_to_provide_them(tmp_path, method):
    with pytest.raises(ModelError, match=rf"{method} needs pretrained weights.*--weights DIR"):
        get_separator(method)
    with pytest.raises(ModelError, match="does not exist"):
        get_separator(method, weights=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(ModelError, match=r"holds .*found: readme\.txt"):
        get_separator(method, weights=tmp_path / "empty")


@pytest.mark.skipif(importlib.util.find_spec("openunmix") is not None,
                    reason="openunmix is installed")
def test_umx_without_the_package_says_how_to_install_it(tmp_path):
    (tmp_path / "vocals-b62c91ce.pth").write_bytes(b"weights")
    with pytest.raises(ModelError, match="pip install openunmix"):
        get_separator("umx", weights=tmp_path)


@pytest.mark.skipif(importlib.util.find_spec("demucs") is not None, reason="demucs is installed")
def test_demucs_without_the_package_says_how_to_install_it(tmp_path):
    (tmp_path / "htdemucs.yaml").write_text("models: ['955717e8']\n")
    with pytest.raises(ModelError, match="pip install demucs"):
        get_separator("demucs", weights=tmp_path)


def test_umx_with_random_weights_separates(tmp_path):
    pytest.importorskip("openunmix", reason="the optional openunmix package is not installed")
    import torch
    from openunmix.model import OpenUnmix

    torch.manual_seed(0)
    model = OpenUnmix(nb_bins=513, nb_channels=2, hidden_size=16, max_bin=400)
    torch.save(model.state_dict(), tmp_path / "vocals.pth")
    (tmp_path / "separator.json").write_text(json.dumps(
        {"sample_rate": 44100, "nfft": 1024, "nhop": 256, "nb_channels": 2}))
    (tmp_path / "vocals.json").write_text(json.dumps(
        {"args": {"nfft": 1024, "nb_channels": 2, "hidden_size": 16}}))
    separator = get_separator("umx", weights=tmp_path, niter=1)
    mixture = np.random.default_rng(0).standard_normal(44100).astype(np.float32) * 0.1
    stems = separator.separate_array(mixture, sample_rate=44100)
    assert stems.vocals.shape == mixture.shape == stems.accompaniment.shape
    # Wiener masks of the target and its residual sum to one: the stems add up to the mixture
    np.testing.assert_allclose(stems.vocals + stems.accompaniment, mixture, atol=1e-3)
    with pytest.raises(ModelError, match="not an Open-Unmix state dict"):
        torch.save({"x": torch.zeros(1)}, tmp_path / "vocals.pth")
        get_separator("umx", weights=tmp_path)


# ----------------------------------------------------------------------------- CLI
def test_cli_separates_a_folder_and_reports_a_bad_file(tmp_path):
    mixture, _, _ = synthetic_mix(seconds=1.0)
    write_audio(tmp_path / "in" / "a.wav", mixture)
    write_audio(tmp_path / "in" / "singer" / "b.flac", mixture)
    (tmp_path / "in" / "broken.wav").write_text("not audio")
    out = tmp_path / "out"
    result = invoke_cli("separate", str(tmp_path / "in"), "-o", str(out), "-O", "sample_rate=8000")
    assert result.returncode == 1, result.stderr
    assert "broken.wav: not a readable WAV audio file" in result.stderr
    assert "1 of 3 file(s) failed" in result.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.flac")) == [
        "a.accompaniment.flac", "a.vocals.flac", "singer/b.accompaniment.flac",
        "singer/b.vocals.flac"]
    assert sf.info(str(out / "a.vocals.flac")).samplerate == RATE  # the input's rate
    # without the bad file, a second run skips everything and succeeds
    (tmp_path / "in" / "broken.wav").unlink()
    result = invoke_cli("separate", str(tmp_path / "in"), "-o", str(out), "-O", "sample_rate=8000",
                        "--template", "{relpath}.{source}.flac")
    assert result.returncode == 0, result.stderr
    assert "skipped 2 already done" in result.stderr
    # two worker processes, redoing both files
    before = (out / "a.vocals.flac").stat().st_mtime_ns
    result = invoke_cli("separate", str(tmp_path / "in"), "-o", str(out), "-O", "sample_rate=8000",
                        "--jobs", "2", "--overwrite")
    assert result.returncode == 0, result.stderr
    assert "separated 2 file(s)" in result.stderr
    assert (out / "a.vocals.flac").stat().st_mtime_ns > before


def test_cli_errors_exit_1_and_usage_errors_exit_2(tmp_path):
    mixture, _, _ = synthetic_mix(seconds=1.0)
    song = write_audio(tmp_path / "a.wav", mixture)
    result = invoke_cli("separate", str(song), "-m", "umx", "-o", str(tmp_path))
    assert result.returncode == 1 and "error: umx needs pretrained weights" in result.stderr
    result = invoke_cli("separate", str(song), "-m", "unmix", "-o", str(tmp_path))
    assert result.returncode == 1 and "did you mean 'umx'" in result.stderr
    result = invoke_cli("separate", str(song), "-t", "{name}.wav")
    assert result.returncode == 1 and "must contain {source}" in result.stderr
    result = invoke_cli("separate", str(tmp_path / "empty_dir_does_not_exist.wav"))
    assert result.returncode == 1 and "no such file" in result.stderr
    result = invoke_cli("separate", str(song), "-o", str(tmp_path), "--stem-rate", "fast")
    assert result.returncode == 1 and "stem rate 'fast': expected" in result.stderr
    assert invoke_cli("separate").returncode == 2
    assert invoke_cli("separate", str(song), "--jobs", "0").returncode == 2


def test_featurize_separate_stores_vocal_features(tmp_path):
    """--separate puts the vocal stem's features in the store, records the method in the store's
    config (which train copies into the model, so predict separates alike) and caches one stem per
    file."""
    from vocaltools.formats.store import FeatureStore
    from vocaltools.synth import make_singer_dataset

    make_singer_dataset(tmp_path / "audio", n_singers=1, n_songs=1, seconds=3.0)
    result = invoke_cli("featurize", str(tmp_path / "audio"), "--separate", "repet", "-o",
                        str(tmp_path / "vocal"), "--quiet")
    assert result.returncode == 0, result.stderr
    plain = invoke_cli("featurize", str(tmp_path / "audio"), "-o", str(tmp_path / "mix"), "--quiet")
    assert plain.returncode == 0, plain.stderr
    vocal_store, mix_store = FeatureStore(tmp_path / "vocal"), FeatureStore(tmp_path / "mix")
    assert vocal_store.feature_config()["separation"] == "repet"
    assert "separation" not in mix_store.feature_config()
    item = vocal_store.items()[0]
    mix_item = {i.item_id: i for i in mix_store.items()}[item.item_id]
    assert not np.allclose(vocal_store.load_arrays(item)["logmel"],
                           mix_store.load_arrays(mix_item)["logmel"])
    cache = Path(os.environ["VOCALTOOLS_HOME"]) / "cache"
    assert len(list(cache.rglob("*.vocals.flac"))) == 2
    bad = invoke_cli("featurize", str(tmp_path / "audio"), "--separate", "repit", "-o",
                     str(tmp_path / "x"))
    assert bad.returncode == 1 and "did you mean 'repet'" in bad.stderr
