"""vocaltools.synth: deterministic singing voices with learnable singers, GM instrument notes."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile

from vocaltools.errors import ConfigError
from vocaltools.synth import (GM_PROGRAMS, MISSING_INSTRUMENTS, make_singer_dataset, make_singers,
                              render_notes, synth_voice)


def test_voice_is_deterministic_and_bounded():
    singer = make_singers(2, seed=3)[1]
    a = synth_voice(singer=singer, technique="Vibrato", degrees=[0, 2, 4], seconds=0.5, seed=1)
    b = synth_voice(singer=singer, technique="Vibrato", degrees=[0, 2, 4], seconds=0.5, seed=1)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.shape == (11025,)
    assert np.abs(a).max() == pytest.approx(0.5, abs=1e-6)
    c = synth_voice(singer=singer, technique="Control", degrees=[0, 2, 4], seconds=0.5, seed=1)
    assert not np.allclose(a, c)
    with pytest.raises(ConfigError, match="unknown technique 'vibratto'"):
        synth_voice(singer=singer, technique="vibratto", degrees=[0], seconds=0.1)


def test_singer_dataset_layout_and_metadata(tmp_path):
    items = make_singer_dataset(tmp_path, n_singers=3, n_songs=2, seconds=0.6, seed=0)
    assert len(items) == 3 * 2 * 2
    with open(tmp_path / "metadata.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:4] == ["path", "singer", "language", "voice_part"]
    assert {"song_id", "take", "technique_group", "duration_s"} <= set(rows[0])
    assert len(rows) == 12 and len({r["singer"] for r in rows}) == 3
    for row in rows:
        path = tmp_path / row["path"]
        assert path.parent.name == row["singer"]
        assert path.name == f"{row['song_id']}_{row['take'].lower()}.flac"
        info = soundfile.info(path)
        assert info.samplerate == 22050 and info.format == "FLAC"
    assert {r["take"] for r in rows} == {"Control", "Vibrato", "Breathy"}


def _log_spectrum(path):
    audio, rate = soundfile.read(path, dtype="float32")
    frames = np.lib.stride_tricks.sliding_window_view(audio, 1024)[::256] * np.hanning(1024)
    return np.log(np.abs(np.fft.rfft(frames, axis=1)).mean(axis=0) + 1e-6)


def test_singer_identity_is_learnable(tmp_path):
    """Nearest centroid on mean log spectra, trained on song 1, recognises singers on song 2."""
    items = make_singer_dataset(tmp_path, n_singers=4, n_songs=2, techniques=("Vibrato",),
                                seconds=1.0, seed=7)
    train = [i for i in items if i.song_id == "song01"]
    test = [i for i in items if i.song_id == "song02"]
    singers = sorted({i.singer for i in items})
    centroids = np.stack([np.mean([_log_spectrum(tmp_path / i.path) for i in train if i.singer == s],
                                  axis=0) for s in singers])
    predicted = [singers[np.argmin(((centroids - _log_spectrum(tmp_path / i.path)) ** 2).sum(1))]
                 for i in test]
    assert np.mean([p == i.singer for p, i in zip(predicted, test)]) >= 0.75


def test_render_notes(tmp_path):
    assert len(GM_PROGRAMS) >= 12 and not set(GM_PROGRAMS) & set(MISSING_INSTRUMENTS)
    notes = render_notes(tmp_path, instruments=["violin", "flute"], notes=(60, 67), velocities=(90,),
                         seconds=0.5)
    assert [n.path for n in notes] == ["violin/C4_90.flac", "violin/G4_90.flac",
                                       "flute/C4_90.flac", "flute/G4_90.flac"]
    violin, rate = soundfile.read(tmp_path / "violin/C4_90.flac", dtype="float32")
    flute, _ = soundfile.read(tmp_path / "flute/C4_90.flac", dtype="float32")
    assert rate == 22050 and violin.shape == (11025,) and np.abs(violin).max() > 0.01
    assert not np.allclose(violin, flute, atol=1e-3)
    again = render_notes(tmp_path / "again", instruments=["violin"], notes=(60,), velocities=(90,),
                         seconds=0.5)
    np.testing.assert_array_equal(soundfile.read(tmp_path / "again" / again[0].path)[0],
                                  soundfile.read(tmp_path / "violin/C4_90.flac")[0])
    with pytest.raises(ConfigError, match="no General-MIDI program for \\['mandolin'\\]"):
        render_notes(tmp_path, instruments=["mandolin"])


def test_techniques_are_learnable(tmp_path):
    """Vibrato takes move in pitch all the time (control takes only between notes); breathy takes
    have a far flatter spectrum than control takes."""
    items = make_singer_dataset(tmp_path, n_singers=3, n_songs=2, techniques=("Vibrato", "Breathy"),
                                seconds=1.5, seed=2)
    for item in items:
        audio, rate = soundfile.read(tmp_path / item.path, dtype="float32")
        frames = np.lib.stride_tricks.sliding_window_view(audio, 4096)[::256] * np.hanning(4096)
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2 + 1e-12
        flatness = np.mean(np.exp(np.log(power).mean(axis=1)) / power.mean(axis=1))
        assert (flatness > 0.001) == (item.take == "Breathy"), (item, flatness)
        # frequency of the strongest partial in 80-2000 Hz, refined by parabolic interpolation
        log_power = np.log(power)
        low, high = int(80 * 4096 / rate), int(2000 * 4096 / rate)
        peak = low + np.argmax(log_power[:, low:high], axis=1)
        rows = np.arange(peak.size)
        a, b, c = log_power[rows, peak - 1], log_power[rows, peak], log_power[rows, peak + 1]
        semitones = 12 * np.log2((peak + 0.5 * (a - c) / (a - 2 * b + c)) * rate / 4096)
        moving = np.mean(np.abs(np.diff(semitones)) > 0.05)
        if item.take != "Breathy":
            assert (moving > 0.1) == (item.take == "Vibrato"), (item, moving)
