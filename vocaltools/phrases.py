"""Instrument phrases rendered from soundfonts: training audio for the S4 classes.

A phrase is a few seconds of one instrument playing: a held note, a melody (stepwise or with
leaps, legato or detached), repeated notes, or (plucked instruments) strummed chords; with velocity
that varies from note to note, vibrato (the pitch wheel moved at 4.5-6.5 Hz, bowed and wind
instruments only) and notes inside the instrument's playing range. Each S4 class maps onto one or
more soundfont presets (:data:`PATCHES`); a preset that a soundfont lacks, or renders silent, is
skipped.

Free soundfonts (:data:`SOUNDFONTS`): FluidR3_GM (Debian ``fluid-soundfont-gm``, MIT),
MuseScore_General (Debian ``musescore-general-soundfont``, MIT; SF3, whose Ogg samples
tinysoundfont decodes on load, about 20 s) and csound's sf_GMbank (Debian ``csound-soundfont``,
public domain; samples of its own) are what the bundled model may be trained on; TimGM6mb
(inside pretty_midi, GPL-2) serves tests only (see docs/results-instruments.md on why).

Rendering uses only ``tinysoundfont.Synth.generate`` (no audio device) and is deterministic for a
seed. Audio is mono float32 at ``sample_rate``.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from vocaltools.errors import ConfigError, InputError, did_you_mean


@dataclass(frozen=True)
class Soundfont:
    """A soundfont file that may be used for training, with its licence."""

    name: str
    path: str
    licence: str
    source: str


def _pretty_midi_font() -> str:
    try:
        import pretty_midi
    except ImportError:
        return ""
    return str(Path(pretty_midi.__file__).parent / "TimGM6mb.sf2")


#: soundfonts known to the project; ``path`` is where Debian (or pretty_midi) installs them
SOUNDFONTS: dict[str, Soundfont] = {
    "fluidr3": Soundfont("fluidr3", "/usr/share/sounds/sf2/FluidR3_GM.sf2", "MIT",
                         "Debian fluid-soundfont-gm (Frank Wen)"),
    # much of MuseScore_General is Fluid R3 Mono: the two fonts share part of their samples
    "musescore": Soundfont("musescore", "/usr/share/sounds/sf3/MuseScore_General_Full.sf3", "MIT",
                           "Debian musescore-general-soundfont (S. Christian Collins; built on "
                           "Fluid R3 Mono)"),
    "csound": Soundfont("csound", "/usr/share/sounds/sf2/sf_GMbank.sf2", "public domain",
                        "Debian csound-soundfont (sf_GMbank.sf2 of csound, whose licence field "
                        "says public domain)"),
    "timgm6mb": Soundfont("timgm6mb", "", "GPL-2.0", "pretty_midi's TimGM6mb.sf2 (Tim Brechbill)"),
}


def soundfont_file(name: str) -> Path:
    """The file of soundfont ``name``; :class:`InputError` saying how to get it when absent."""
    if name not in SOUNDFONTS:
        raise ConfigError(f"unknown soundfont {name!r}; known: {', '.join(SOUNDFONTS)}")
    path = Path(_pretty_midi_font() if name == "timgm6mb" else SOUNDFONTS[name].path)
    if not path.is_file():
        hint = {"fluidr3": "apt-get install fluid-soundfont-gm",
                "musescore": "apt-get install musescore-general-soundfont",
                "csound": "apt-get install csound-soundfont",
                "timgm6mb": "pip install 'vocaltools[soundfont]'"}[name]
        raise InputError(f"soundfont {name!r} not found at {path or 'pretty_midi'}; {hint}")
    return path


#: S4 class -> soundfont presets (bank, program; 0-based GM programs). Bank 0 is General MIDI;
#: bank 8 and 16 are the GS variations (16/25 = mandolin), bank 17 MuseScore's "Expr." presets.
PATCHES: dict[str, tuple[tuple[int, int], ...]] = {
    "banjo": ((0, 105),),
    "bassoon": ((0, 70), (17, 70)),
    "cello": ((0, 42), (17, 42)),
    "clarinet": ((0, 71), (17, 71)),
    "cor-anglais": ((0, 69), (17, 69)),
    "double-bass": ((0, 43), (17, 43), (0, 32)),  # 32 = acoustic bass: the plucked upright bass
    "flute": ((0, 73), (17, 73)),
    "french-horn": ((0, 60), (17, 60)),
    "guitar": ((0, 24), (0, 25)),  # nylon and steel strings
    "mandolin": ((16, 25),),
    "oboe": ((0, 68),),
    "saxophone": ((0, 64), (0, 65), (0, 66), (0, 67), (17, 65), (17, 66)),
    "trombone": ((0, 57),),
    "trumpet": ((0, 56), (0, 59)),  # open and muted
    "tuba": ((0, 58),),
    "viola": ((0, 41), (17, 41)),
    "violin": ((0, 40), (8, 40), (17, 40)),
}
#: S4 classes that no free General-MIDI soundfont here has a preset for
UNRENDERED: tuple[str, ...] = ("bass-clarinet", "contra-bassoon")

#: playing range (lowest, highest MIDI note) of each class; saxophone spans soprano to baritone
RANGES: dict[str, tuple[int, int]] = {
    "banjo": (48, 79), "bassoon": (34, 75), "cello": (36, 81), "clarinet": (50, 91),
    "cor-anglais": (52, 81), "double-bass": (28, 67), "flute": (60, 96), "french-horn": (34, 77),
    "guitar": (40, 83), "mandolin": (55, 88), "oboe": (58, 91), "saxophone": (36, 84),
    "trombone": (40, 72), "trumpet": (54, 84), "tuba": (28, 65), "viola": (48, 84),
    "violin": (55, 100),
}
#: the saxophone presets' own ranges (soprano, alto, tenor, baritone)
_SAX_RANGES = {64: (56, 88), 65: (49, 81), 66: (44, 76), 67: (36, 69)}
PLUCKED = frozenset({"banjo", "guitar", "mandolin"})
#: instruments played with vibrato (bowed strings and winds, not the plucked ones)
VIBRATO = frozenset(RANGES) - PLUCKED
STYLES = ("held", "melody", "repeated", "chords")


@dataclass(frozen=True)
class Phrase:
    """One rendered phrase: ``audio`` is float32 [samples] at ``sample_rate``."""

    instrument: str
    soundfont: str
    bank: int
    program: int
    style: str
    audio: np.ndarray
    sample_rate: int
    notes: tuple[int, ...]


@dataclass(frozen=True)
class _Note:
    start_s: float
    end_s: float
    pitch: int
    velocity: int


def _seed_of(*parts: object) -> int:
    return zlib.crc32("/".join(str(p) for p in parts).encode())


def plan_phrase(instrument: str, *, style: str, seconds: float, rng: np.random.Generator,
                pitch_range: tuple[int, int] | None = None) -> list[_Note]:
    """The notes of one phrase of ``style`` lasting about ``seconds`` (the last note ends 0.3 s
    before the end, so its release is heard)."""
    low, high = pitch_range or RANGES[instrument]
    end = seconds - 0.3
    notes: list[_Note] = []
    if style == "held":
        start = float(rng.uniform(0.0, 0.2))
        notes.append(_Note(start, end - float(rng.uniform(0.0, 0.5)),
                           int(rng.integers(low, high + 1)), int(rng.integers(40, 128))))
        return notes
    if style == "chords":
        t = 0.0
        while t < end - 0.3:
            root = int(rng.integers(low, max(low + 1, high - 12)))
            shape = [0, 4, 7, 12, 16] if rng.random() < 0.5 else [0, 3, 7, 12, 15]
            n_strings = int(rng.integers(3, 6))
            duration = float(rng.uniform(0.4, 1.5))
            strum = float(rng.uniform(0.008, 0.035))
            velocity = int(rng.integers(45, 120))
            for k, step in enumerate(shape[:n_strings]):
                pitch = min(high, root + step)
                notes.append(_Note(t + k * strum, min(end, t + duration),
                                   pitch, int(np.clip(velocity + rng.integers(-10, 11), 1, 127))))
            t += duration
        return notes
    # melody / repeated: a walk through the range
    legato = rng.random() < 0.5 and instrument not in PLUCKED
    pitch = int(rng.integers(low, high + 1))
    base_velocity = int(rng.integers(40, 120))
    short, long = (0.1, 0.35) if rng.random() < 0.4 else (0.25, 0.9)
    t = float(rng.uniform(0.0, 0.1))
    while t < end - 0.1:
        duration = float(rng.uniform(short, long))
        stop = min(end, t + duration)
        # legato: the next note starts before this one ends; detached: a gap
        overlap = float(rng.uniform(0.01, 0.05)) if legato else -float(rng.uniform(0.02, 0.12))
        velocity = int(np.clip(base_velocity + rng.integers(-15, 16), 1, 127))
        notes.append(_Note(t, min(end, stop + max(overlap, 0.0)), pitch, velocity))
        t = stop + max(-overlap, 0.0)
        if style == "melody":
            step = int(rng.choice([-2, -1, 1, 2, -3, 3, -4, 4, 5, -5, 7, -7, 12, -12],
                                  p=[.16, .14, .14, .16, .06, .06, .05, .05, .04, .04, .03, .03, .02, .02]))
            pitch = pitch + step if low <= pitch + step <= high else pitch - step
        elif rng.random() < 0.25:  # repeated notes, changing now and then
            pitch = int(np.clip(pitch + rng.integers(-5, 6), low, high))
    return notes


class PhraseRenderer:
    """Renders phrases from one soundfont (loaded once; SF3 decoding takes a while)."""

    def __init__(self, soundfont: str, *, sample_rate: int = 22050):
        try:
            import tinysoundfont
        except ImportError as error:
            raise InputError("rendering phrases needs tinysoundfont: pip install --no-deps "
                             "tinysoundfont (its pyaudio dependency is only for live playback)"
                             ) from error
        self.soundfont = soundfont
        self.sample_rate = int(sample_rate)
        self._synth = tinysoundfont.Synth(samplerate=self.sample_rate)
        self._font = self._synth.sfload(str(soundfont_file(soundfont)))

    def has_preset(self, bank: int, program: int) -> bool:
        return bool(self._synth.sfpreset_name(self._font, bank, program))

    def presets(self, instrument: str) -> list[tuple[int, int]]:
        """The presets of ``instrument`` that this soundfont has."""
        if instrument not in PATCHES:
            raise ConfigError(f"no soundfont presets for {instrument!r}; renderable: "
                              f"{', '.join(PATCHES)}{did_you_mean(instrument, PATCHES)}")
        return [patch for patch in PATCHES[instrument] if self.has_preset(*patch)]

    def render(self, notes: Sequence[_Note], *, bank: int, program: int, seconds: float,
               vibrato: tuple[float, float] | None = None) -> np.ndarray:
        """Mono float32 [round(seconds * sample_rate)]: ``notes`` on a fresh channel state;
        ``vibrato`` = (rate Hz, depth cents) moves the pitch wheel every 256 samples."""
        synth, sr = self._synth, self.sample_rate
        synth.sounds_off(0)
        synth.generate(256)  # flush released voices
        synth.program_select(0, self._font, bank, program)
        synth.control_change(0, 7, 100)   # channel volume
        synth.control_change(0, 11, 127)  # expression
        synth.pitchbend_range(0, 2.0)
        synth.pitchbend(0, 8192)
        n_total = int(round(seconds * sr))
        events = sorted([(int(n.start_s * sr), 1, n) for n in notes] +
                        [(int(n.end_s * sr), 0, n) for n in notes], key=lambda e: (e[0], e[1]))
        out = np.zeros((n_total, 2), dtype=np.float32)
        position, block = 0, 256
        index = 0
        while position < n_total:
            while index < len(events) and events[index][0] <= position:
                _, is_on, note = events[index]
                if is_on:
                    synth.noteon(0, note.pitch, note.velocity)
                else:
                    synth.noteoff(0, note.pitch)
                index += 1
            if vibrato is not None:
                rate, depth = vibrato
                cents = depth * np.sin(2 * np.pi * rate * position / sr)
                synth.pitchbend(0, int(np.clip(8192 + cents / 200.0 * 8192, 0, 16383)))
            stop = min(n_total, position + block)
            if index < len(events):
                stop = min(stop, max(position + 1, events[index][0]))
            chunk = np.frombuffer(synth.generate(stop - position), dtype=np.float32)
            out[position:stop] = chunk.reshape(-1, 2)
            position = stop
        return out.mean(axis=1)

    def phrase(self, instrument: str, *, style: str, seconds: float, seed: int,
               patch: tuple[int, int] | None = None) -> Phrase:
        """One phrase of ``instrument``; ``patch`` defaults to one of its presets chosen by the
        seed."""
        if style not in STYLES:
            raise ConfigError(f"unknown phrase style {style!r}; choose one of {', '.join(STYLES)}")
        rng = np.random.default_rng(_seed_of(self.soundfont, instrument, style, seed))
        presets = self.presets(instrument)
        if not presets:
            raise ConfigError(f"soundfont {self.soundfont!r} has no preset for {instrument!r}")
        bank, program = patch or presets[int(rng.integers(len(presets)))]
        pitch_range = _SAX_RANGES.get(program) if instrument == "saxophone" else None
        if style == "chords" and instrument not in PLUCKED:
            style = "melody"
        notes = plan_phrase(instrument, style=style, seconds=seconds, rng=rng,
                            pitch_range=pitch_range)
        vibrato = None
        if instrument in VIBRATO and rng.random() < 0.6:
            vibrato = (float(rng.uniform(4.5, 6.5)), float(rng.uniform(8.0, 40.0)))
        audio = self.render(notes, bank=bank, program=program, seconds=seconds, vibrato=vibrato)
        return Phrase(instrument, self.soundfont, bank, program, style, audio, self.sample_rate,
                      tuple(n.pitch for n in notes))


def style_for(instrument: str, index: int) -> str:
    """The phrase styles in turn: plucked instruments strum chords where others hold notes."""
    cycle = ("melody", "held", "melody", "repeated") if instrument not in PLUCKED else \
        ("melody", "chords", "melody", "repeated")
    return cycle[index % len(cycle)]


def iter_phrases(renderer: PhraseRenderer, *, instruments: Sequence[str], n_phrases: int,
                 seconds: float, seed: int = 0) -> Iterator[Phrase]:
    """``n_phrases`` phrases of every instrument (presets and styles in turn; silent renders,
    e.g. a preset that needs controllers it is not sent, are skipped)."""
    for instrument in instruments:
        presets = renderer.presets(instrument)
        for index in range(n_phrases):
            if not presets:
                break
            patch = presets[index % len(presets)]
            phrase = renderer.phrase(instrument, style=style_for(instrument, index), seconds=seconds,
                                     seed=seed * 100_003 + index, patch=patch)
            if float(np.abs(phrase.audio).max()) < 1e-4:
                continue
            yield phrase


def write_phrase(path: str | os.PathLike, phrase: Phrase) -> None:
    """A 16-bit FLAC of ``phrase``, peak-normalised to -1 dBFS."""
    import soundfile

    audio = phrase.audio
    peak = float(np.abs(audio).max())
    if peak > 0:
        audio = audio * (10 ** (-1 / 20) / peak)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), audio, phrase.sample_rate, subtype="PCM_16")
