"""Separating a batch of audio files into stem files: in this process or in worker processes,
going on past bad files.

:func:`resolve_batch` resolves the inputs as every command that reads audio resolves them
(:func:`~vocaltools.datasets.inputs.resolve_inputs`): the item id of a file is its ``{relpath}``
template field and its shard key; :func:`separate_items` separates the items. Each worker process builds its own separator once (:func:`_init_worker`) and
ends with its parent (:func:`~vocaltools.processes.worker_pool`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence, TextIO

from vocaltools.datasets.items import AudioItem
from vocaltools.errors import VocaltoolsError, describe_os_error
from vocaltools.separation.base import SOURCES, Separator
from vocaltools.separation.files import read_info, separate_file
from vocaltools.separation.registry import DEFAULT_METHOD, get_separator

if TYPE_CHECKING:
    from vocaltools.datasets.inputs import ResolvedInputs
    from vocaltools.sharding import Shard

#: stems of a batch keep the input's path under its folder, so that two folders' ``song.wav``
#: never collide (one file's default, ``{name}.{source}.flac``, would)
BATCH_TEMPLATE = "{relpath}.{source}.flac"


@dataclass(frozen=True)
class SeparatedItem:
    """One file of a batch: its stems written, ``skipped`` (they existed already), or ``error``
    (why it gave none)."""

    item: AudioItem
    skipped: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def resolve_batch(inputs: Sequence[str | os.PathLike], *, out_dir: str | os.PathLike,
                  method: str = DEFAULT_METHOD, template: str = BATCH_TEMPLATE,
                  sources: Sequence[str] = SOURCES, shard: Shard | str | None = None,
                  stdin: TextIO | None = None) -> ResolvedInputs:
    """The items of ``inputs`` (:func:`~vocaltools.datasets.inputs.resolve_inputs`) and the
    inputs that yield none, refused with a :class:`ConfigError` when two files would write one
    stem file; with ``shard`` ``"K/N"``, only its items (by item id, as featurize shards). The
    check runs over the whole collection, so that shards sharing one ``out_dir`` never collide."""
    import dataclasses

    from vocaltools.datasets.inputs import resolve_inputs
    from vocaltools.errors import InputError
    from vocaltools.separation.files import check_distinct_outputs
    from vocaltools.sharding import select_shard

    resolved = resolve_inputs(inputs, labels="none", stdin=stdin)
    if not resolved.items and not resolved.failures:
        raise InputError("no audio files among the inputs (an empty list on stdin?)")
    check_distinct_outputs([(item.audio_path, item.item_id) for item in resolved.items],
                           out_dir=out_dir, template=template, method=method,
                           sources=tuple(sources))
    if shard is None:
        return resolved
    items = select_shard(resolved.items, shard=shard, key=lambda item: item.item_id)
    return dataclasses.replace(resolved, items=tuple(items))


def audio_durations(items: Sequence[AudioItem]) -> dict[Path, float]:
    """Seconds of each item's audio from its header (0 for a file that cannot be read: it fails
    when it is separated)."""
    durations: dict[Path, float] = {}
    for item in items:
        try:
            durations[item.audio_path] = read_info(item.audio_path).duration_s
        except VocaltoolsError:
            durations[item.audio_path] = 0.0
    return durations


@dataclass(frozen=True)
class _Job:
    """What every file of a batch shares."""

    out_dir: str
    template: str
    sources: tuple[str, ...]
    overwrite: bool
    stem_rate: str | int


def _separate_one(item: AudioItem, job: _Job, separator: Separator,
                  on_progress: Callable[[float], None] | None = None) -> SeparatedItem:
    try:
        stems = separate_file(item.audio_path, separator=separator, out_dir=job.out_dir,
                              template=job.template, sources=job.sources, relpath=item.item_id,
                              overwrite=job.overwrite, stem_rate=job.stem_rate,
                              on_progress=on_progress)
        return SeparatedItem(item, skipped=stems.skipped)
    except VocaltoolsError as error:
        return SeparatedItem(item, error=str(error))
    except OSError as error:  # an input that cannot be read, a stem that cannot be written
        return SeparatedItem(item, error=describe_os_error(error))


_WORKER_SEPARATOR: Separator | None = None  # built once per worker process


def _init_worker(method: str, weights: str | None, device: str, options: dict[str, Any]) -> None:
    global _WORKER_SEPARATOR
    if method in ("umx", "demucs"):  # one torch thread per worker process
        import torch

        torch.set_num_threads(1)
    _WORKER_SEPARATOR = get_separator(method, weights=weights, device=device, **options)


def _worker_separate(item: AudioItem, job: _Job) -> SeparatedItem:
    return _separate_one(item, job, _WORKER_SEPARATOR)


def separate_items(items: Sequence[AudioItem], *, out_dir: str | os.PathLike,
                   method: str = DEFAULT_METHOD, weights: str | os.PathLike | None = None,
                   device: str = "cpu", options: Mapping[str, Any] | None = None,
                   separator: Separator | None = None, template: str = BATCH_TEMPLATE,
                   sources: Sequence[str] = SOURCES, overwrite: bool = False,
                   stem_rate: str | int = "input", jobs: int = 1,
                   on_progress: Callable[[float], None] | None = None,
                   durations: Mapping[Path, float] | None = None) -> Iterator[SeparatedItem]:
    """Separate every item into stem files under ``out_dir`` (see
    :func:`~vocaltools.separation.files.separate_file`; an item's id is its ``{relpath}``),
    yielding a :class:`SeparatedItem` per item in input order. A file that fails is reported so
    and the others go on.

    ``jobs`` worker processes, each building the separator ``method`` (with ``weights``,
    ``device``, ``options``) once; with one job (or one item) the work runs in this process with
    ``separator`` when given. ``on_progress`` is called with seconds of audio finished
    (``durations``, from :func:`audio_durations` when not given, for files done whole)."""
    job = _Job(str(out_dir), template, tuple(sources), overwrite, stem_rate)
    options = dict(options or {})
    if on_progress is not None and durations is None:
        durations = audio_durations(items)

    def done(result: SeparatedItem, *, whole: bool) -> SeparatedItem:
        if on_progress is not None and whole:
            on_progress(durations.get(result.item.audio_path, 0.0))
        return result

    if jobs == 1 or len(items) <= 1:
        if separator is None:
            separator = get_separator(method, weights=weights, device=device, **options)
        for item in items:
            result = _separate_one(item, job, separator, on_progress)
            yield done(result, whole=result.skipped)
        return
    from vocaltools.processes import worker_pool

    initargs = (method, str(weights) if weights else None, device, options)
    with worker_pool(min(jobs, len(items)), initializer=_init_worker,
                     initargs=initargs) as pool:
        futures = [pool.submit(_worker_separate, item, job) for item in items]
        for future in futures:  # in input order
            yield done(future.result(), whole=True)
