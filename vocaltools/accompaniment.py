"""Song-like accompaniments rendered from General-MIDI soundfonts (seeded, offline).

An arrangement changes chord every bar (a random diatonic progression, not a loop) and has four
parts: chords (one or two of piano, e-piano, guitars, strings, organ, pad, each with its own rhythm
pattern and voicing), a bass line (roots, fifths, octaves and passing notes), drums (kick, snare,
hi-hats, a crash and a tom fill every four bars) and melodic fills (short scale runs and arpeggios of
a lead instrument in the vocal range, in about half of the bars). It is what the separation
benchmark mixes real a cappella singing with: the accompaniment repeats only as much as a song does.

:func:`make_arrangement` builds the notes; :func:`render_arrangement` plays them with tinysoundfont
(one synthesiser per soundfont, reused) and returns each part as its own array, so that a benchmark
can set the levels of the parts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from vocaltools.errors import ConfigError, InputError
from vocaltools.phrases import SOUNDFONTS

#: Debian's soundfonts that accompaniments are rendered from (packages fluid-soundfont-gm and
#: musescore-general-soundfont; paths from :data:`vocaltools.phrases.SOUNDFONTS`); tinysoundfont
#: reads the Ogg-compressed SF3 directly (loading it takes about 10 s)
SYSTEM_SOUNDFONTS: dict[str, str] = {name: SOUNDFONTS[name].path for name in ("fluidr3", "musescore")}

CHORD_PROGRAMS = {"piano": 0, "e-piano": 4, "organ": 16, "nylon-guitar": 24, "steel-guitar": 25,
                  "clean-guitar": 27, "strings": 48, "pad": 89}
BASS_PROGRAMS = {"acoustic-bass": 32, "finger-bass": 33, "picked-bass": 34, "synth-bass": 38}
FILL_PROGRAMS = {"vibraphone": 11, "violin": 40, "trumpet": 56, "alto-sax": 65, "clarinet": 71,
                 "flute": 73, "lead-synth": 80}
PARTS: tuple[str, ...] = ("chords", "bass", "drums", "fills")
DRUM_CHANNEL = 9

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
# chord rhythm patterns: (onset in beats, length in beats) within a 4-beat bar
_PATTERNS = {
    "whole": ((0.0, 4.0),),
    "halves": ((0.0, 2.0), (2.0, 2.0)),
    "quarters": ((0.0, 0.9), (1.0, 0.9), (2.0, 0.9), (3.0, 0.9)),
    "offbeats": ((0.5, 0.4), (1.5, 0.4), (2.5, 0.4), (3.5, 0.4)),
    "arpeggio": tuple((0.5 * i, 0.5) for i in range(8)),
    "syncopated": ((0.0, 1.4), (1.5, 1.0), (2.5, 1.4)),
}
_SUSTAINED = {"strings", "pad", "organ"}


@dataclass(frozen=True)
class Note:
    """One note: ``start_s``/``end_s`` in seconds, MIDI ``pitch`` and ``velocity``."""
    start_s: float
    end_s: float
    pitch: int
    velocity: int


@dataclass(frozen=True)
class Track:
    """The notes of one instrument: General-MIDI ``program`` (ignored for drums)."""
    part: str
    instrument: str
    program: int
    notes: tuple[Note, ...]
    is_drums: bool = False


@dataclass(frozen=True)
class Arrangement:
    """A seeded accompaniment: tempo, key, one chord (root pitch class, quality) per bar, tracks."""
    seconds: float
    tempo_bpm: float
    key: str
    chords: tuple[str, ...]
    tracks: tuple[Track, ...]

    def describe(self) -> dict:
        return {"tempo_bpm": round(self.tempo_bpm, 1), "key": self.key,
                "chords": list(self.chords),
                "instruments": {part: [t.instrument for t in self.tracks if t.part == part]
                                for part in PARTS}}


@dataclass(frozen=True)
class RenderedArrangement:
    """The parts of an arrangement, each ``float32 [n_samples]`` mono at ``sample_rate``."""
    sample_rate: int
    parts: dict[str, np.ndarray] = field(default_factory=dict)

    def mix(self, gains_db: dict[str, float] | None = None) -> np.ndarray:
        """The parts summed, each scaled to unit RMS times ``10^(gain/20)`` (0 dB by default)."""
        gains_db = gains_db or {}
        total = None
        for part, audio in self.parts.items():
            level = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
            scaled = audio * (10 ** (gains_db.get(part, 0.0) / 20) / max(level, 1e-9))
            total = scaled if total is None else total + scaled
        return np.zeros(0, np.float32) if total is None else total.astype(np.float32)


_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def make_arrangement(*, seconds: float, seed: int) -> Arrangement:
    """A random song-like accompaniment of ``seconds`` (see the module docstring); deterministic
    for a seed."""
    if seconds <= 0:
        raise ConfigError(f"an arrangement needs seconds > 0, got {seconds}")
    rng = np.random.default_rng([seed, 17])
    tempo = float(rng.uniform(84, 132))
    beat = 60.0 / tempo
    bar = 4 * beat
    n_bars = int(np.ceil(seconds / bar)) + 1
    tonic = int(rng.integers(0, 12))
    minor = bool(rng.random() < 0.4)
    scale = _MINOR if minor else _MAJOR
    # degrees 0..6; favour the usual pop chords but never loop a fixed progression
    weights = np.array([3, 1.5, 1, 2.5, 3, 2.5, 0.5]) if not minor else \
        np.array([3, 0.5, 2, 2.5, 2, 2.5, 2])
    degrees = [0]
    for _ in range(n_bars - 1):
        p = weights.copy()
        p[degrees[-1]] = 0.0  # a new chord every bar
        degrees.append(int(rng.choice(7, p=p / p.sum())))
    chord_pitches = []  # pitch classes of each bar's triad (or seventh)
    names = []
    for degree in degrees:
        tones = [scale[(degree + k) % 7] for k in (0, 2, 4)]
        if rng.random() < 0.25:
            tones.append(scale[(degree + 6) % 7])
        root = (tonic + tones[0]) % 12
        third = (tones[1] - tones[0]) % 12
        names.append(_NOTE_NAMES[root] + ("m" if third == 3 else "") + ("7" if len(tones) > 3
                                                                          else ""))
        chord_pitches.append([(tonic + t) % 12 for t in tones])

    def fits(start: float) -> bool:
        return start < seconds

    tracks: list[Track] = []
    # chords: one or two instruments, each with a pattern and a voicing range
    names_chords = list(CHORD_PROGRAMS)
    n_chord = 1 + int(rng.random() < 0.6)
    for instrument in rng.choice(names_chords, size=n_chord, replace=False):
        instrument = str(instrument)
        pattern_names = ["whole", "halves"] if instrument in _SUSTAINED else \
            ["quarters", "offbeats", "arpeggio", "syncopated", "halves"]
        low = int(rng.integers(48, 56))
        notes = []
        for index, pcs in enumerate(chord_pitches):
            pattern = _PATTERNS[str(rng.choice(pattern_names))] if index % 4 == 0 or \
                rng.random() < 0.3 else pattern
            voicing = sorted(low + ((pc - low) % 12) for pc in pcs)
            for k, (onset, length) in enumerate(pattern):
                start = index * bar + onset * beat
                if not fits(start):
                    continue
                end = start + length * beat
                velocity = int(rng.integers(60, 95))
                chosen = [voicing[k % len(voicing)]] if pattern is _PATTERNS["arpeggio"] \
                    else voicing
                notes += [Note(start, end, p, velocity) for p in chosen]
        tracks.append(Track("chords", instrument, CHORD_PROGRAMS[instrument], tuple(notes)))
    # bass: root on 1, fifth/octave/passing notes on the other beats or eighths
    instrument = str(rng.choice(list(BASS_PROGRAMS)))
    notes = []
    for index, pcs in enumerate(chord_pitches):
        root = 28 + (pcs[0] - 28) % 12  # E1..D#2
        nxt = chord_pitches[min(index + 1, len(chord_pitches) - 1)][0]
        eighths = rng.random() < 0.4
        steps = np.arange(0, 4, 0.5 if eighths else 1.0)
        for onset in steps:
            start = index * bar + onset * beat
            if not fits(start):
                continue
            choice = rng.random()
            if onset == 0 or choice < 0.45:
                pitch = root
            elif choice < 0.7:
                pitch = root + 7
            elif choice < 0.85:
                pitch = root + 12
            else:  # approach the next root from a semitone below
                pitch = 28 + (nxt - 28) % 12 - 1 if onset == steps[-1] else root + 5
            notes.append(Note(start, start + (0.45 if eighths else 0.9) * beat, int(pitch),
                              int(rng.integers(80, 110))))
    tracks.append(Track("bass", instrument, BASS_PROGRAMS[instrument], tuple(notes)))
    # drums: kick, snare, hi-hats; a crash and a fill every four bars
    notes = []
    for index in range(n_bars):
        t0 = index * bar
        fill = index % 4 == 3
        for eighth in range(8):
            start = t0 + eighth * beat / 2
            if not fits(start):
                continue
            if fill and eighth >= 4:
                pitch = int(rng.choice([38, 45, 47, 48, 50]))
                notes.append(Note(start, start + 0.1, pitch, int(rng.integers(80, 115))))
                continue
            if eighth in (0, 4) or (eighth == 5 and rng.random() < 0.3):
                notes.append(Note(start, start + 0.1, 36, int(rng.integers(90, 120))))
            if eighth in (2, 6):
                notes.append(Note(start, start + 0.1, 38, int(rng.integers(85, 115))))
            hat = 46 if eighth == 7 and rng.random() < 0.2 else 42
            notes.append(Note(start, start + 0.05, hat, int(rng.integers(50, 85))))
        if index % 4 == 0 and index > 0 and fits(t0):
            notes.append(Note(t0, t0 + 1.0, 49, 100))
    tracks.append(Track("drums", "drum-kit", 0, tuple(notes), is_drums=True))
    # melodic fills: runs and arpeggios in the vocal range, in about half of the bars
    instrument = str(rng.choice(list(FILL_PROGRAMS)))
    notes = []
    centre = int(rng.integers(62, 74))
    scale_notes = [p for p in range(centre - 12, centre + 13) if (p - tonic) % 12 in scale]
    for index, pcs in enumerate(chord_pitches):
        if rng.random() >= 0.5:
            continue
        n_notes = int(rng.integers(3, 7))
        step = 0.5 if rng.random() < 0.6 else 0.25
        onset = 4.0 - n_notes * step - float(rng.choice([0.0, 0.5, 1.0]))
        chord_tones = [p for p in scale_notes if p % 12 in pcs]
        position = int(rng.integers(0, len(scale_notes)))
        direction = int(rng.choice([-1, 1]))
        for k in range(n_notes):
            start = index * bar + (max(0.0, onset) + k * step) * beat
            if not fits(start):
                continue
            if rng.random() < 0.5 and chord_tones:
                pitch = chord_tones[int(rng.integers(0, len(chord_tones)))]
            else:
                position = int(np.clip(position + direction, 0, len(scale_notes) - 1))
                pitch = scale_notes[position]
            length = step * (2.0 if k == n_notes - 1 else 0.95)
            notes.append(Note(start, start + length * beat, int(pitch), int(rng.integers(70, 100))))
    tracks.append(Track("fills", instrument, FILL_PROGRAMS[instrument], tuple(notes)))
    key = _NOTE_NAMES[tonic] + (" minor" if minor else " major")
    return Arrangement(seconds=float(seconds), tempo_bpm=tempo, key=key,
                       chords=tuple(names[: int(np.ceil(seconds / bar))]), tracks=tuple(tracks))


class SoundfontRenderer:
    """Plays arrangements with one tinysoundfont synthesiser per soundfont (loading an SF3 takes
    seconds, so a renderer is made once and reused)."""

    def __init__(self, soundfont: str | os.PathLike, *, sample_rate: int = 44100) -> None:
        try:
            import tinysoundfont
        except ImportError as error:
            raise InputError("rendering accompaniments needs tinysoundfont: pip install --no-deps "
                             "tinysoundfont") from error
        path = Path(soundfont)
        if not path.is_file():
            raise InputError(f"{path}: soundfont not found")
        self.soundfont = path
        self.sample_rate = int(sample_rate)
        self._synth = tinysoundfont.Synth(samplerate=self.sample_rate)
        self._font = self._synth.sfload(str(path))

    def render_track(self, track: Track, *, seconds: float) -> np.ndarray:
        """One track as mono ``float32 [round(seconds · sample_rate)]`` (notes still sounding at
        the end are cut)."""
        synth = self._synth
        channel = DRUM_CHANNEL if track.is_drums else 0
        synth.program_select(channel, self._font, 128 if track.is_drums else 0,
                             0 if track.is_drums else track.program, is_drums=track.is_drums)
        events = sorted([(n.start_s, 1, n.pitch, n.velocity) for n in track.notes]
                        + [(n.end_s, 0, n.pitch, 0) for n in track.notes])  # note-offs first
        n_total = int(round(seconds * self.sample_rate))
        blocks, done = [], 0
        for time_s, is_on, pitch, velocity in events:
            at = min(n_total, int(round(time_s * self.sample_rate)))
            if at > done:
                blocks.append(np.frombuffer(synth.generate(at - done), dtype=np.float32))
                done = at
            if done >= n_total:
                break
            if is_on:
                synth.noteon(channel, pitch, velocity)
            else:
                synth.noteoff(channel, pitch)
        if done < n_total:
            blocks.append(np.frombuffer(synth.generate(n_total - done), dtype=np.float32))
        synth.notes_off()
        synth.sounds_off()
        synth.generate(self.sample_rate // 4)  # let released voices die before the next track
        stereo = np.concatenate(blocks).reshape(-1, 2) if blocks else np.zeros((0, 2), np.float32)
        return stereo.mean(axis=1).astype(np.float32)

    def render(self, arrangement: Arrangement) -> RenderedArrangement:
        """Every part of ``arrangement`` (tracks of one part summed)."""
        parts: dict[str, np.ndarray] = {}
        for track in arrangement.tracks:
            audio = self.render_track(track, seconds=arrangement.seconds)
            parts[track.part] = parts[track.part] + audio if track.part in parts else audio
        return RenderedArrangement(sample_rate=self.sample_rate, parts=parts)


def available_soundfonts(names: Sequence[str] | None = None) -> dict[str, Path]:
    """The soundfonts found on this machine: Debian's (:data:`SYSTEM_SOUNDFONTS`) and pretty_midi's
    TimGM6mb (``timgm6mb``), restricted to ``names`` when given."""
    found: dict[str, Path] = {name: Path(p) for name, p in SYSTEM_SOUNDFONTS.items()
                              if Path(p).is_file()}
    try:
        from vocaltools.synth import soundfont_path

        found["timgm6mb"] = soundfont_path()
    except InputError:
        pass
    if names is not None:
        return {name: found[name] for name in names if name in found}
    return found
