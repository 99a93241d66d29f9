"""Separating audio files: streamed reading, chunked separation, atomic stem files named by a
template, skipping inputs whose stems already exist."""

from __future__ import annotations

import contextlib
import os
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from vocaltools.errors import ConfigError
from vocaltools.formats.io import atomic_path
from vocaltools.separation.base import SOURCES, Separator
from vocaltools.separation.rates import AtInputRate

DEFAULT_TEMPLATE = "{name}.{source}.flac"
TEMPLATE_FIELDS = ("name", "stem", "relpath", "parent", "source", "method")
AUDIO_FORMATS = {".wav": ("WAV", "FLOAT"), ".flac": ("FLAC", "PCM_24")}
READ_BLOCK_SECONDS = 10.0


@dataclass(frozen=True)
class SeparatedStems:
    """The stem files of one input (``None`` for a source that was not requested)."""
    vocals: Path | None
    accompaniment: Path | None
    skipped: bool = False  # True when all requested files existed already

    def get(self, source: str) -> Path | None:
        return getattr(self, source)


def check_template(template: str) -> None:
    """:class:`ConfigError` unless ``template`` uses only known fields, includes ``{source}`` and
    ends in a supported audio extension."""
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:
        raise ConfigError(f"output template {template!r} is malformed ({error})") from error
    unknown = fields - set(TEMPLATE_FIELDS)
    if unknown:
        raise ConfigError(f"output template {template!r}: unknown field(s) "
                          f"{', '.join('{' + f + '}' for f in sorted(unknown))}; valid: "
                          f"{', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}")
    if "source" not in fields:
        raise ConfigError(f"output template {template!r} must contain {{source}}, or the vocals "
                          "and accompaniment files would collide")
    suffix = Path(template).suffix.lower()
    if suffix not in AUDIO_FORMATS:
        raise ConfigError(f"output template {template!r} must end in "
                          f"{' or '.join(AUDIO_FORMATS)}, got {suffix or 'no extension'!r}")


def output_paths(path: str | os.PathLike, *, out_dir: str | os.PathLike, template: str =
                 DEFAULT_TEMPLATE, method: str = "harmonic", relpath: str | None = None,
                 sources: tuple[str, ...] = SOURCES) -> dict[str, Path]:
    """Where the stems of ``path`` go: ``out_dir / template.format(...)`` per source.

    Fields: ``{name}`` (= ``{stem}``) the file name without extension, ``{parent}`` its folder's
    name, ``{relpath}`` its path relative to the folder it was found in (without extension; the
    name for a file given directly), ``{source}`` vocals/accompaniment, ``{method}``.
    """
    check_template(template)
    path = Path(path)
    rel = relpath if relpath is not None else path.stem
    values: dict[str, Any] = {"name": path.stem, "stem": path.stem, "parent": path.parent.name,
                              "relpath": rel, "method": method}
    out: dict[str, Path] = {}
    for source in sources:
        if source not in SOURCES:
            raise ConfigError(f"unknown source {source!r}; valid: {', '.join(SOURCES)}")
        relative = Path(template.format(**values, source=source))
        if relative.is_absolute() or ".." in relative.parts:
            raise ConfigError(f"output template {template!r} gives {relative} for {path}, which "
                              "leaves the output folder")
        out[source] = Path(out_dir) / relative
    if len(set(out.values())) != len(out):
        raise ConfigError(f"output template {template!r} gives the same file for several sources")
    return out



def check_distinct_outputs(inputs: Sequence[tuple[str | os.PathLike, str]], *,
                           out_dir: str | os.PathLike, template: str = DEFAULT_TEMPLATE,
                           method: str = "harmonic", sources: tuple[str, ...] = SOURCES) -> None:
    """:class:`ConfigError` when two of ``inputs`` (``(path, relpath)`` pairs, see
    :func:`output_paths`) would write the same stem file.

    Checked over a whole collection before it is split with ``--shard``, this makes sure that the
    shards, which share one output folder, never write the same file."""
    owner: dict[Path, Path] = {}
    for path, relpath in inputs:
        for target in output_paths(path, out_dir=out_dir, template=template, method=method,
                                   relpath=relpath, sources=sources).values():
            other = owner.setdefault(target, Path(path))
            if other != Path(path):
                raise ConfigError(f"{other} and {path} would both be written to {target}; use a "
                                  "template that tells them apart, e.g. --template "
                                  "'{relpath}.{source}.flac' or '{parent}/{name}.{source}.flac'")

def resolve_stem_rate(stem_rate: str | int, *, separator: Separator | None,
                      input_rate: int) -> int:
    """The sample rate in Hz of the stems for ``stem_rate`` (``"input"``, ``"processing"`` or a
    rate); :class:`ConfigError` for anything else."""
    if stem_rate == "input":
        return int(input_rate)
    if stem_rate == "processing":
        return int((separator.sample_rate if separator is not None else None) or input_rate)
    try:
        rate = int(stem_rate)
    except (TypeError, ValueError):
        rate = 0
    if rate < 1000:
        raise ConfigError(f"stem rate {stem_rate!r}: expected 'input', 'processing' or a sample "
                          "rate in Hz (at least 1000)")
    return rate


def read_info(path: str | os.PathLike):
    """Header of an audio file (:class:`vocaltools.audio.AudioInfo`); :class:`InputError` if it is
    missing, empty or not audio."""
    from vocaltools.audio import audio_info

    return audio_info(path)


def iter_mono_blocks(path: str | os.PathLike, *, sample_rate: int | None,
                     block_seconds: float = READ_BLOCK_SECONDS) -> Iterator[np.ndarray]:
    """Mono ``float32 [n]`` blocks of ``path`` at ``sample_rate`` (``None`` = the file's rate),
    decoded a block at a time so that memory does not grow with the file. A file too short or
    silent is refused as every command that reads audio refuses it
    (:func:`vocaltools.audio.check_signal`), once its last block is read."""
    from vocaltools.audio import DEFAULT_MIN_PEAK_DB, DEFAULT_MIN_SECONDS, iter_audio_blocks

    return iter_audio_blocks(path, sample_rate=sample_rate, block_seconds=block_seconds, mono=True,
                             min_seconds=DEFAULT_MIN_SECONDS, min_peak_db=DEFAULT_MIN_PEAK_DB)


def _default_file_mode() -> int:
    """``0o666`` minus the process umask: the mode ``open()`` would give a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def _stem_writers(targets: dict[str, Path], *, sample_rate: int) -> Iterator[dict[str, Any]]:
    """Open one sound file per source on a temporary path; rename all of them into place only when
    the block succeeds."""
    import soundfile as sf

    with contextlib.ExitStack() as stack:
        writers = {}
        for source, target in targets.items():
            tmp = stack.enter_context(atomic_path(target))
            file_format, subtype = AUDIO_FORMATS[target.suffix.lower()]
            writers[source] = stack.enter_context(
                sf.SoundFile(str(tmp), "w", samplerate=sample_rate, channels=1,
                             format=file_format, subtype=subtype))
        yield writers
        for writer in writers.values():
            writer.close()  # flush before the atomic renames of the ExitStack
        mode = _default_file_mode()
        for writer in writers.values():
            os.chmod(writer.name, mode)  # mkstemp makes 0600; give the stems the usual mode


def separate_file(path: str | os.PathLike, *, method: str = "harmonic",
                  out_dir: str | os.PathLike, template: str = DEFAULT_TEMPLATE,
                  separator: Separator | None = None, weights: str | os.PathLike | None = None,
                  options: dict[str, Any] | None = None, sources: tuple[str, ...] = SOURCES,
                  relpath: str | None = None, overwrite: bool = False,
                  stem_rate: str | int = "input",
                  on_progress: Callable[[float], None] | None = None) -> SeparatedStems:
    """Separate one audio file into stem files under ``out_dir``.

    Parameters
    ----------
    path: the input audio (mono or multichannel; channels are averaged).
    method, weights, options: build the separator (see :func:`get_separator`), unless
        ``separator`` is given.
    out_dir, template, relpath: where the stems go (see :func:`output_paths`).
    sources: which stems to write (``vocals``, ``accompaniment``).
    overwrite: redo a file whose stems all exist (otherwise it is skipped).
    stem_rate: the stems' sample rate: ``"input"`` (the file's), ``"processing"`` (the
        separator's, the file's for a separator without one) or a rate in Hz. The separator
        always runs at its own rate; see :func:`vocaltools.separation.rates.separate_at_rate`.
    on_progress: called with the seconds of input finished after each chunk.

    Returns
    -------
    SeparatedStems with the paths (mono; 24-bit FLAC or float WAV).
    """
    from vocaltools.separation.chunked import separate_stream
    from vocaltools.separation.registry import get_separator

    path = Path(path)
    if separator is None:
        separator = get_separator(method, weights=weights, **(options or {}))
    targets = output_paths(path, out_dir=out_dir, template=template, method=separator.method,
                           relpath=relpath, sources=sources)
    stems = {source: targets.get(source) for source in SOURCES}
    if not overwrite and all(p.is_file() for p in targets.values()):
        return SeparatedStems(**stems, skipped=True)
    info = read_info(path)
    rate = resolve_stem_rate(stem_rate, separator=separator, input_rate=info.sample_rate)
    if rate != (separator.sample_rate or rate):
        separator = AtInputRate(separator)
    blocks = iter_mono_blocks(path, sample_rate=rate)
    progress = (lambda n: on_progress(n / rate)) if on_progress else None
    with _stem_writers(targets, sample_rate=rate) as writers:
        for out in separate_stream(separator, blocks, sample_rate=rate, on_output=progress):
            for source, writer in writers.items():
                data = out.get(source)
                if writer.subtype.startswith("PCM"):
                    data = np.clip(data, -1.0, 1.0)
                writer.write(data)
    return SeparatedStems(**stems)
