"""The project's own synthesiser: seeded, deterministic, offline test and benchmark audio.

(a) Singing voices (:func:`synth_voice`, :func:`make_singer_dataset`): additive harmonic stacks
    shaped by a singer's formants and spectral tilt, with techniques that change the f0 contour
    (vibrato at the singer's rate, glissando) or the source (breathy noise). Singer identity is
    learnable (distinct f0 ranges, formants, vibrato rates, tilts), and so are techniques.
    :func:`make_singer_dataset` writes ``root/<singer>/<song_id>_<take>.flac`` and ``root/metadata.csv``
    in the shape of ``shared/data/gtsinger-demo`` (paths relative to the CSV).
(b) Instrument notes (:func:`render_notes`): General-MIDI programs rendered with tinysoundfont from
    the TimGM6mb soundfont shipped inside pretty_midi; writes
    ``root/<instrument>/<note>_<velocity>.flac``. :data:`GM_PROGRAMS` maps 16 of S4's 19 classes;
    ``bass-clarinet``, ``contra-bassoon`` and ``mandolin`` have no General-MIDI program and are
    missing (:data:`MISSING_INSTRUMENTS`).
"""

from __future__ import annotations

import csv
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from vocaltools.errors import ConfigError, InputError, did_you_mean


# -- (a) singing voices ------------------------------------------------------------------------

@dataclass(frozen=True)
class Singer:
    """A synthetic singer: ``f0_center`` (Hz, the middle of the range), formant centres and
    bandwidths (Hz), vibrato rate (Hz), spectral tilt (harmonic k has amplitude k^-tilt)."""

    name: str
    voice_part: str
    f0_center: float
    formants: tuple[float, ...]
    bandwidths: tuple[float, ...]
    vibrato_rate: float
    tilt: float


@dataclass(frozen=True)
class Technique:
    """How a take is sung: vibrato depth (semitones), breath noise ratio, glide between notes."""

    name: str
    vibrato_depth: float = 0.0
    breath: float = 0.02
    glide: bool = False


TECHNIQUES: dict[str, Technique] = {
    "Control": Technique("Control"),
    "Vibrato": Technique("Vibrato", vibrato_depth=0.7),
    "Breathy": Technique("Breathy", breath=0.8),
    "Glissando": Technique("Glissando", glide=True),
}

_VOICE_PARTS = ("Bass", "Tenor", "Alto", "Soprano")


def make_singers(n_singers: int, *, seed: int = 0) -> list[Singer]:
    """``n_singers`` distinct singers: f0 centres spread over 110-440 Hz (log scale), formants
    scaled per singer, vibrato rates 4.5-7 Hz, tilts 0.8-1.6."""
    if n_singers < 1:
        raise ConfigError(f"n_singers must be >= 1; got {n_singers}")
    rng = np.random.default_rng([seed, 1])
    singers = []
    for index in range(n_singers):
        position = index / max(n_singers - 1, 1)
        f0_center = 110.0 * 2 ** (2 * position)
        scale = 0.85 + 0.35 * rng.random()
        formants = tuple(float(f * scale * (0.95 + 0.1 * rng.random())) for f in (600, 1200, 2600))
        bandwidths = tuple(float(b) for b in (90 + 60 * rng.random(), 120 + 60 * rng.random(), 200.0))
        part = _VOICE_PARTS[min(int(position * len(_VOICE_PARTS)), len(_VOICE_PARTS) - 1)]
        singers.append(Singer(name=f"XX-{part}-{index + 1}", voice_part=part, f0_center=f0_center,
                              formants=formants, bandwidths=bandwidths,
                              vibrato_rate=float(4.5 + 2.5 * rng.random()),
                              tilt=float(0.8 + 0.8 * rng.random())))
    return singers


def song_degrees(song_index: int, *, n_notes: int, seed: int = 0) -> np.ndarray:
    """A song as semitone offsets from a singer's centre (a seeded random walk on a major scale)."""
    rng = np.random.default_rng([seed, 2, song_index])
    scale = np.array([-5, -3, -1, 0, 2, 4, 5, 7])
    steps = np.clip(np.cumsum(rng.integers(-2, 3, size=n_notes)) + 3, 0, len(scale) - 1)
    return scale[steps].astype(np.float64)


def _envelope(freqs: np.ndarray, singer: Singer) -> np.ndarray:
    """Formant envelope at ``freqs`` (Hz), any shape."""
    env = np.full(freqs.shape, 0.03)
    for centre, width, gain in zip(singer.formants, singer.bandwidths, (1.0, 0.6, 0.35)):
        env = env + gain * np.exp(-0.5 * ((freqs - centre) / width) ** 2)
    return env


def synth_voice(*, singer: Singer, technique: Technique | str, degrees: Sequence[float],
                seconds: float, sample_rate: int = 22050, seed: int = 0) -> np.ndarray:
    """Sing ``degrees`` (semitones from the singer's centre, equal durations) for ``seconds``.

    Returns float32 [n_samples] with peak 0.5. Deterministic for equal arguments.
    """
    if isinstance(technique, str):
        if technique not in TECHNIQUES:
            raise ConfigError(f"unknown technique {technique!r}; valid: {', '.join(TECHNIQUES)}")
        technique = TECHNIQUES[technique]
    n = int(round(seconds * sample_rate))
    if n <= 0 or not len(degrees):
        raise ConfigError("synth_voice needs seconds > 0 and at least one note")
    rng = np.random.default_rng([seed, zlib.crc32(singer.name.encode()),
                                 zlib.crc32(technique.name.encode())])
    t = np.arange(n) / sample_rate
    degrees = np.asarray(degrees, dtype=np.float64)
    note_len = n / len(degrees)
    note_index = np.minimum((np.arange(n) / note_len).astype(int), len(degrees) - 1)
    if technique.glide:
        centres = (np.arange(len(degrees)) + 0.5) * note_len
        semitones = np.interp(np.arange(n), centres, degrees)
    else:  # 40 ms portamento between notes
        semitones = degrees[note_index]
        k = max(1, int(0.04 * sample_rate))
        semitones = np.convolve(np.pad(semitones, (k // 2, k - k // 2 - 1), mode="edge"),
                                np.ones(k) / k, mode="valid")
    semitones = semitones + technique.vibrato_depth * np.sin(
        2 * np.pi * singer.vibrato_rate * t + rng.uniform(0, 2 * np.pi))
    jitter = np.cumsum(rng.standard_normal(n)) / np.sqrt(sample_rate) * 0.05
    f0 = singer.f0_center * 2.0 ** ((semitones + jitter - jitter.mean()) / 12.0)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    top = min(0.45 * sample_rate, 6000.0)
    n_harmonics = max(1, int(top // f0.max()))
    voice = np.zeros(n)
    f0_control = f0[::64]  # harmonic amplitudes at a control rate of sample_rate / 64
    fundamental = np.exp(1j * phase)
    partial = np.ones(n, dtype=np.complex128)
    for harmonic in range(1, n_harmonics + 1):
        partial *= fundamental  # exp(1j * harmonic * phase)
        amplitude = harmonic ** -singer.tilt * _envelope(harmonic * f0_control, singer)
        voice += np.repeat(amplitude, 64)[:n] * partial.imag
    # note envelope: 30 ms attack and release in each note
    position = (np.arange(n) % note_len) / sample_rate
    remaining = note_len / sample_rate - position
    gate = np.minimum(1.0, np.minimum(position, remaining) / 0.03)
    voice *= 1.0 - 0.5 * technique.breath
    if technique.breath > 0:
        noise = np.fft.rfft(rng.standard_normal(n))
        noise *= _envelope(np.fft.rfftfreq(n, 1 / sample_rate), singer)
        noise = np.fft.irfft(noise, n)
        noise *= np.std(voice) / max(np.std(noise), 1e-12)
        voice += technique.breath * noise
    voice *= gate
    peak = np.abs(voice).max()
    return (0.5 * voice / max(peak, 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class SynthItem:
    """One written file of :func:`make_singer_dataset` (``path`` relative to the dataset root)."""

    path: str
    singer: str
    song_id: str
    take: str
    technique_group: str
    duration_s: float


METADATA_COLUMNS = ("path", "singer", "language", "voice_part", "song_id", "song", "take",
                    "technique_group", "style", "duration_s", "source_file")


def make_singer_dataset(root: str | os.PathLike, *, n_singers: int = 4, n_songs: int = 3,
                        techniques: Sequence[str] = ("Vibrato", "Breathy", "Glissando"),
                        seconds: float = 2.0, sample_rate: int = 22050, seed: int = 0,
                        notes_per_second: float = 2.0) -> list[SynthItem]:
    """Write a GTSinger-shaped singing dataset of synthetic voices.

    Song ``i`` of every singer belongs to technique group ``techniques[i % len(techniques)]`` and
    is sung twice: a ``Control`` take and a take with that technique. Files are
    ``root/<singer>/<song_id>_<take lower case>.flac`` (16-bit FLAC); ``root/metadata.csv`` has the
    columns of ``gtsinger-demo/metadata.csv`` with paths relative to ``root``.
    """
    import soundfile

    unknown = [name for name in techniques if name not in TECHNIQUES or name == "Control"]
    if unknown or not techniques:
        raise ConfigError(f"techniques must be chosen from "
                          f"{', '.join(t for t in TECHNIQUES if t != 'Control')}; got {list(techniques)}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    n_notes = max(1, int(round(seconds * notes_per_second)))
    items: list[SynthItem] = []
    rows = []
    for singer in make_singers(n_singers, seed=seed):
        (root / singer.name).mkdir(exist_ok=True)
        for song_index in range(n_songs):
            song_id = f"song{song_index + 1:02d}"
            group = techniques[song_index % len(techniques)]
            degrees = song_degrees(song_index, n_notes=n_notes, seed=seed)
            for take in ("Control", group):
                audio = synth_voice(singer=singer, technique=take, degrees=degrees, seconds=seconds,
                                    sample_rate=sample_rate, seed=seed * 1000 + song_index)
                relative = f"{singer.name}/{song_id}_{take.lower()}.flac"
                soundfile.write(root / relative, audio, sample_rate, subtype="PCM_16")
                duration = len(audio) / sample_rate
                items.append(SynthItem(relative, singer.name, song_id, take, group, duration))
                rows.append({"path": relative, "singer": singer.name, "language": "XX",
                             "voice_part": singer.voice_part, "song_id": song_id,
                             "song": f"Synthetic Song {song_index + 1}", "take": take,
                             "technique_group": group, "style": "synthetic",
                             "duration_s": f"{duration:.3f}", "source_file": "vocaltools.synth"})
    with open(root / "metadata.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=METADATA_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return items


# -- (b) instrument notes ----------------------------------------------------------------------

#: S4 instrument -> General-MIDI program (0-based)
GM_PROGRAMS: dict[str, int] = {
    "guitar": 24, "violin": 40, "viola": 41, "cello": 42, "double-bass": 43, "trumpet": 56,
    "trombone": 57, "tuba": 58, "french-horn": 60, "saxophone": 65, "oboe": 68, "cor-anglais": 69,
    "bassoon": 70, "clarinet": 71, "flute": 73, "banjo": 105,
}
#: S4 classes without a General-MIDI program
MISSING_INSTRUMENTS: tuple[str, ...] = ("bass-clarinet", "contra-bassoon", "mandolin")

_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(midi_note: int) -> str:
    """MIDI note number -> name with octave (60 -> ``C4``, 61 -> ``C#4``)."""
    return f"{_NOTE_NAMES[midi_note % 12]}{midi_note // 12 - 1}"


def soundfont_path() -> Path:
    """The General-MIDI soundfont shipped with pretty_midi (``TimGM6mb.sf2``)."""
    try:
        import pretty_midi
    except ImportError as error:
        raise InputError("rendering instrument notes needs pretty_midi for its soundfont: "
                         "pip install 'vocaltools[soundfont]'") from error
    path = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    if not path.is_file():
        raise InputError(f"{path}: pretty_midi's soundfont is missing; reinstall pretty_midi")
    return path


@dataclass(frozen=True)
class RenderedNote:
    path: str  # relative to the root
    instrument: str
    note: int
    velocity: int


def render_notes(root: str | os.PathLike, *, instruments: Sequence[str],
                 notes: Sequence[int] = (60,), velocities: Sequence[int] = (100,),
                 seconds: float = 1.0, hold_fraction: float = 0.8, sample_rate: int = 22050,
                 soundfont: str | os.PathLike | None = None) -> list[RenderedNote]:
    """Render each (instrument, note, velocity) to ``root/<instrument>/<note>_<velocity>.flac``.

    The note is held for ``hold_fraction * seconds`` and released; the file lasts ``seconds``.
    Only ``tinysoundfont.Synth.generate`` is used (no audio device). Deterministic.
    """
    try:
        import tinysoundfont
    except ImportError as error:
        raise InputError("rendering instrument notes needs tinysoundfont: "
                         "pip install --no-deps tinysoundfont (its pyaudio dependency is only "
                         "for live playback and is not needed)") from error
    import soundfile

    unknown = [name for name in instruments if name not in GM_PROGRAMS]
    if unknown:
        hint = "".join(did_you_mean(name, GM_PROGRAMS) for name in unknown)
        raise ConfigError(f"no General-MIDI program for {unknown}; valid: {', '.join(GM_PROGRAMS)} "
                          f"(missing S4 classes: {', '.join(MISSING_INSTRUMENTS)}){hint}")
    root = Path(root)
    font = str(soundfont or soundfont_path())
    n_total = int(round(seconds * sample_rate))
    n_hold = int(round(hold_fraction * n_total))
    rendered: list[RenderedNote] = []
    for instrument in instruments:
        (root / instrument).mkdir(parents=True, exist_ok=True)
        for note in notes:
            for velocity in velocities:
                synth = tinysoundfont.Synth(samplerate=sample_rate)  # fresh: no state carried over
                font_id = synth.sfload(font)
                synth.program_select(0, font_id, 0, GM_PROGRAMS[instrument])
                synth.noteon(0, int(note), int(velocity))
                held = np.frombuffer(synth.generate(n_hold), dtype=np.float32)
                synth.noteoff(0, int(note))
                tail = np.frombuffer(synth.generate(n_total - n_hold), dtype=np.float32)
                stereo = np.concatenate([held, tail]).reshape(-1, 2)
                mono = stereo.mean(axis=1)
                relative = f"{instrument}/{note_name(int(note))}_{int(velocity)}.flac"
                soundfile.write(root / relative, np.clip(mono, -1.0, 1.0), sample_rate,
                                subtype="PCM_16")
                rendered.append(RenderedNote(relative, instrument, int(note), int(velocity)))
    return rendered
