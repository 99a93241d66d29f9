"""What every separator is: an object that splits a mono mixture into vocals and accompaniment.

A separator processes a bounded excerpt at a time (the caller chunks long files with overlap-add,
see :mod:`vocaltools.separation.chunked`), so ``separate_array`` never sees more than a chunk.
"""

from __future__ import annotations

import abc
import importlib
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from vocaltools.errors import ConfigError, ModelError

SOURCES: tuple[str, ...] = ("vocals", "accompaniment")


def check_chunking(method: str, *, chunk_seconds: float, overlap_seconds: float) -> None:
    """:class:`ConfigError` unless ``chunk_seconds > 2 x overlap_seconds >= 0`` (each chunk keeps
    a middle part outside both crossfades)."""
    if chunk_seconds <= 2 * overlap_seconds or overlap_seconds < 0:
        raise ConfigError(f"{method}: need chunk_seconds > 2 x overlap_seconds >= 0, got "
                          f"{chunk_seconds} and {overlap_seconds}")


def check_stft(method: str, *, n_fft: int, hop_length: int) -> None:
    """:class:`ConfigError` unless ``0 < hop_length <= n_fft``."""
    if n_fft <= 0 or hop_length <= 0 or hop_length > n_fft:
        raise ConfigError(f"{method}: need 0 < hop_length <= n_fft, got n_fft={n_fft}, "
                          f"hop_length={hop_length}")


@dataclass(frozen=True)
class StemArrays:
    """The two estimates of one excerpt, each ``float32 [n_samples]`` at the separator's rate."""
    vocals: np.ndarray
    accompaniment: np.ndarray

    def get(self, source: str) -> np.ndarray:
        return getattr(self, source)

    @classmethod
    def empty(cls) -> "StemArrays":
        """The stems of an empty mixture."""
        return cls(vocals=np.zeros(0, dtype=np.float32), accompaniment=np.zeros(0, dtype=np.float32))


def masked_stems(mixture: np.ndarray, *, n_fft: int, hop_length: int, masks) -> StemArrays:
    """Stems of a mask-based separator: STFT of ``mixture`` (padded to one frame when shorter),
    ``masks(magnitude) -> (vocal_mask, accompaniment_mask or None)`` on ``float32 [bins, frames]``,
    inverse STFT; a ``None`` accompaniment mask makes the accompaniment the residual
    ``mixture - vocals``."""
    import librosa

    mixture = np.asarray(mixture, dtype=np.float32)
    n = mixture.shape[0]
    if n == 0:
        return StemArrays.empty()
    padded = np.pad(mixture, (0, max(0, n_fft - n)))  # very short input: pad one frame
    stft = librosa.stft(padded, n_fft=n_fft, hop_length=hop_length)
    vocal_mask, accompaniment_mask = masks(np.abs(stft))
    vocals = librosa.istft(stft * vocal_mask, hop_length=hop_length, length=len(padded))[:n]
    if accompaniment_mask is None:
        accompaniment = mixture - vocals
    else:
        accompaniment = librosa.istft(stft * accompaniment_mask, hop_length=hop_length,
                                      length=len(padded))[:n]
    return StemArrays(vocals=vocals.astype(np.float32),
                      accompaniment=accompaniment.astype(np.float32))


class Separator(abc.ABC):
    """A vocal/accompaniment separator.

    Attributes
    ----------
    method:
        The registry name (``repet``, ``hpss``, ``umx``, ``demucs``).
    sample_rate:
        The rate it processes at in Hz, or ``None`` to work at the file's own rate.
    chunk_seconds, overlap_seconds:
        The excerpt length and crossfade the chunked driver uses for long files.
    residual:
        True when the accompaniment is always the mixture minus the vocals.
    """

    method: ClassVar[str]
    sample_rate: int | None = None
    residual: bool = False
    chunk_seconds: float = 30.0
    overlap_seconds: float = 2.0

    @abc.abstractmethod
    def separate_array(self, mixture: np.ndarray, *, sample_rate: int) -> StemArrays:
        """Split ``float32 [n_samples]`` at ``sample_rate`` into :class:`StemArrays` of the same
        length."""

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """The resolved configuration as plain data (written into outputs and cache keys)."""


class ConfiguredSeparator(Separator):
    """A weight-free separator described entirely by its config dataclass (which has
    ``sample_rate``, ``chunk_seconds`` and ``overlap_seconds``)."""

    config_class: ClassVar[type]

    def __init__(self, config: Any = None) -> None:
        self.config = config or self.config_class()
        self.sample_rate = self.config.sample_rate
        self.chunk_seconds = self.config.chunk_seconds
        self.overlap_seconds = self.config.overlap_seconds

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, **asdict(self.config)}


class PretrainedSeparator(Separator):
    """A separator that runs pretrained weights from a local folder with an optional package:
    ``config`` (an instance of ``config_class``, with ``chunk_seconds`` and ``overlap_seconds``)
    and ``device`` are set here; subclasses load the model and set ``sample_rate``.

    ``package`` is the optional package's import name, ``install_hint`` says how to install it.
    """

    config_class: ClassVar[type]
    package: ClassVar[str]
    install_hint: ClassVar[str]

    def __init__(self, config: Any = None, *, device: str = "cpu") -> None:
        self.config = config or self.config_class()
        self.chunk_seconds = self.config.chunk_seconds
        self.overlap_seconds = self.config.overlap_seconds
        self.device = device

    @classmethod
    def import_package(cls, module: str) -> ModuleType:
        """``module`` of the optional package; :class:`ModelError` saying how to install it."""
        try:
            return importlib.import_module(module)
        except ImportError as error:
            raise ModelError(f"{cls.method}: the {cls.package} package cannot be imported "
                             f"({error}); {cls.install_hint}") from error



def weights_folder(weights: Path | None, *, method: str, hint: str) -> Path:
    """``weights`` as an existing folder for ``method``; :class:`ModelError` saying what to pass
    (``hint``: what the folder must hold) otherwise."""
    if weights is None:
        raise ModelError(f"{method} needs pretrained weights, which vocaltools does not download: "
                         f"pass --weights DIR and {hint}; or use the weight-free default "
                         f"--method repet")
    weights = Path(weights)
    if not weights.is_dir():
        raise ModelError(f"{method} weights folder {weights} does not exist; {hint}")
    return weights


def list_folder(folder: Path, *, most: int = 8) -> str:
    """The first ``most`` names in ``folder``, sorted, for a message (``nothing`` when empty)."""
    return ", ".join(sorted(p.name for p in folder.iterdir())[:most]) or "nothing"
