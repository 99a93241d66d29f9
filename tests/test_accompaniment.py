"""Song-like soundfont accompaniments (vocaltools.accompaniment): seeded arrangements whose chord
changes every bar, and their rendering with tinysoundfont."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from vocaltools.accompaniment import (PARTS, SoundfontRenderer, available_soundfonts,
                                      make_arrangement)
from vocaltools.errors import ConfigError, InputError


def test_arrangements_are_seeded_and_change_chord_every_bar():
    first = make_arrangement(seconds=20.0, seed=4)
    assert first == make_arrangement(seconds=20.0, seed=4)
    assert first != make_arrangement(seconds=20.0, seed=5)
    assert all(a != b for a, b in zip(first.chords, first.chords[1:]))  # a new chord every bar
    bar = 4 * 60.0 / first.tempo_bpm
    assert len(first.chords) == int(np.ceil(20.0 / bar))
    assert {track.part for track in first.tracks} == set(PARTS)
    for track in first.tracks:
        assert track.notes and all(0 <= n.start_s < 20.0 and n.end_s > n.start_s
                                   and 0 < n.velocity <= 127 for n in track.notes)
    fills = [n.pitch for t in first.tracks if t.part == "fills" for n in t.notes]
    bass = [n.pitch for t in first.tracks if t.part == "bass" for n in t.notes]
    assert min(fills) >= 48 and max(bass) <= 52  # fills in the vocal range, bass below it
    described = first.describe()
    assert described["instruments"]["drums"] == ["drum-kit"] and described["key"]
    with pytest.raises(ConfigError, match="seconds > 0"):
        make_arrangement(seconds=0.0, seed=0)


@pytest.mark.skipif(importlib.util.find_spec("tinysoundfont") is None
                    or "timgm6mb" not in available_soundfonts(),
                    reason="tinysoundfont or pretty_midi's soundfont is not installed")
def test_rendering_gives_every_part_and_mixes_them_at_their_gains():
    arrangement = make_arrangement(seconds=3.0, seed=1)
    renderer = SoundfontRenderer(available_soundfonts(["timgm6mb"])["timgm6mb"],
                                 sample_rate=16000)
    rendered = renderer.render(arrangement)
    assert set(rendered.parts) == set(PARTS)
    for part, audio in rendered.parts.items():
        assert audio.shape == (48000,) and audio.dtype == np.float32
        assert np.sqrt(np.mean(audio ** 2)) > 1e-3, part
    again = renderer.render(arrangement)  # the reused synthesiser carries nothing over
    for part in PARTS:
        np.testing.assert_allclose(again.parts[part], rendered.parts[part], atol=1e-6)
    mixed = rendered.mix({"drums": -6.0})
    parts = {p: a / np.sqrt(np.mean(a.astype(np.float64) ** 2)) for p, a in rendered.parts.items()}
    expected = parts["chords"] + parts["bass"] + parts["fills"] + 10 ** (-6 / 20) * parts["drums"]
    np.testing.assert_allclose(mixed, expected, atol=1e-4)
    with pytest.raises(InputError, match="soundfont not found"):
        SoundfontRenderer("/nonexistent/font.sf2")
