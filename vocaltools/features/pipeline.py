"""Featurizing a batch of items into a feature store: resumable, parallel, going on past bad files.

A worker decodes one file block by block (:func:`~vocaltools.features.compute.featurize_file`),
writes its NPZ atomically, and hands back the numbers for its manifest record; only the parent
process appends to ``manifest.jsonl``, one line per finished item, so an interrupted run keeps every
item finished so far and a rerun skips them.

A rerun skips an item only when its audio file is the one the store's record was made from
(:meth:`~vocaltools.formats.store.ItemRecord.made_from`) and its NPZ is whole; a truncated or
unreadable NPZ is featurized again, and another file under a finished item's id is a failure that
says how to proceed. One run at a time writes to a store (:meth:`FeatureStore.locked`); worker
processes end with their parent, however it ends.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TextIO

from vocaltools.audio import DEFAULT_MIN_PEAK_DB, DEFAULT_MIN_SECONDS
from vocaltools.datasets.items import AudioItem
from vocaltools.errors import ConfigError, VocaltoolsError, describe_os_error
from vocaltools.features.config import FeatureConfig
from vocaltools.formats.store import (FeatureStore, ItemRecord, SourceStamp, item_features_path,
                                     stamp_source)


@dataclass(frozen=True)
class ItemFailure:
    """An item (or input) that could not be featurized; ``message`` names the file and the reason."""

    item_id: str
    audio_path: str
    message: str


@dataclass(frozen=True)
class FeaturizeProgress:
    """Reported after each item: ``done`` of ``total`` items handled in this run."""

    done: int
    total: int
    item_id: str
    ok: bool


@dataclass(frozen=True)
class FeaturizeSummary:
    written: int
    skipped: int
    failures: tuple[ItemFailure, ...]
    audio_seconds: float  # audio featurized in this run
    wall_seconds: float
    unlisted: int = 0  # files of the inputs that the label CSV does not list (not items)

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def real_time_factor(self) -> float:
        """Seconds of audio per second of wall time."""
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0


#: a worker's answer: (item_id, duration_s, n_frames, source stamp, error message or None)
_Result = tuple[str, float, int, "SourceStamp | None", "str | None"]


def _featurize_one(item_id: str, audio_path: str, config_dict: dict[str, Any], store_root: str,
                   block_seconds: float, min_seconds: float) -> _Result:
    """Worker: featurize one file and write its NPZ."""
    from vocaltools.features.compute import featurize_file

    config = FeatureConfig.from_dict(config_dict)
    try:
        result = featurize_file(audio_path, config=config, block_seconds=block_seconds,
                                min_seconds=min_seconds, min_peak_db=DEFAULT_MIN_PEAK_DB)
        return _save_result(item_id, audio_path, result, config_dict, store_root)
    except VocaltoolsError as error:
        return item_id, 0.0, 0, None, str(error)
    except OSError as error:  # a file that cannot be read, a store that cannot be written
        return item_id, 0.0, 0, None, describe_os_error(error)


def _warm_compiled_kernels(config: FeatureConfig) -> None:
    """Featurize one second of a tone in this process, so that the numba kernels the config uses
    (librosa's pyin) are compiled and cached before worker processes start: several processes
    filling numba's cache at once can leave it inconsistent, and the next call segfaults
    (numba/numba#10128); reading a filled cache at once is safe."""
    import numpy as np

    from vocaltools.features.compute import compute_features

    t = np.arange(config.sample_rate, dtype=np.float32) / config.sample_rate
    try:
        compute_features(0.1 * np.sin(2 * np.pi * 220.0 * t), sample_rate=config.sample_rate,
                         config=config)
    except VocaltoolsError:  # a config this tone cannot feed: the workers will say why
        pass


def _save_result(item_id: str, audio_path: str, result, config_dict: dict[str, Any],
                 store_root: str) -> _Result:
    """Write one item's NPZ and stamp its audio file; the result tuple of :func:`_featurize_one`."""
    from vocaltools.formats.npz import save_npz

    save_npz(Path(store_root) / item_features_path(item_id), result.arrays, kind="features",
             meta={"item_id": item_id, "audio_path": audio_path, "duration_s": result.duration_s,
                   "sample_rate": config_dict["sample_rate"], "feature_config": config_dict})
    try:
        source = stamp_source(audio_path)
    except OSError:  # gone since it was decoded: a later run redoes the item
        source = None
    return item_id, result.duration_s, result.n_frames, source, None


def _resume_problem(item: AudioItem, record: ItemRecord, store: FeatureStore) -> str | None:
    """Why the finished ``record`` cannot stand for ``item`` on a resumed run: a message when
    another file (or a changed one) has its id; ``""`` when the NPZ is damaged and the item is to
    be featurized again; None when the item is done."""
    npz = store.root / record.features
    if not record.made_from(item.audio_path):
        if os.path.realpath(item.audio_path) == os.path.realpath(record.audio_path):
            return (f"{item.audio_path}: changed since it was featurized into {store.root} as "
                    f"{item.item_id!r}; to featurize it again, delete {npz} and run again, or "
                    "write to another store")
        return (f"{item.audio_path}: item id {item.item_id!r} is already in {store.root}, "
                f"featurized from another file ({record.audio_path}); to keep both, give their "
                "common folder as the input (ids are paths relative to it) or write to another "
                f"store; to replace it, delete {npz} and run again")
    if not store.npz_is_whole(record):
        return ""
    return None


def item_id_problem(item_id: str) -> str:
    """Why ``item_id`` cannot name a file inside a store ("" when it can): ids are relative
    ``/``-separated paths without empty, ``.`` or ``..`` parts."""
    if not item_id:
        return "empty"
    if item_id.startswith("/") or "\\" in item_id:
        return "must be a relative path with '/' separators"
    if any(part in ("", ".", "..") for part in item_id.split("/")):
        return "no empty, '.' or '..' path parts"
    return ""


def featurize_items(items: Sequence[AudioItem], *, store: FeatureStore, config: FeatureConfig,
                    jobs: int = 1, on_progress: Callable[[FeaturizeProgress], None] | None = None,
                    block_seconds: float = 60.0, min_seconds: float = DEFAULT_MIN_SECONDS,
                    device: str | None = None) -> FeaturizeSummary:
    """Featurize ``items`` into ``store`` (created if needed; an existing store must have the same
    feature config). Finished items are skipped; a failing item is recorded and the batch goes on.

    ``jobs`` worker processes (1 = in this process). ``on_progress`` is called after every item.
    ``device`` (``"cpu"``, ``"cuda"``, ``"auto"``): compute the front ends in torch on that device,
    files batched in this process (:mod:`vocaltools.features.torch_frontends`); None = the NumPy
    engine with ``jobs`` workers.
    """
    if jobs < 1:
        raise ConfigError(f"jobs must be >= 1; got {jobs}")
    if device is not None:
        from vocaltools.device import resolve_device

        device = resolve_device(device)  # a bad name or a missing GPU fails before any work
    started = time.perf_counter()
    with store.locked(command="featurize"):
        return _featurize_locked(items, store=store, config=config, jobs=jobs,
                                 on_progress=on_progress, block_seconds=block_seconds,
                                 min_seconds=min_seconds, device=device, started=started)


def _featurize_locked(items: Sequence[AudioItem], *, store: FeatureStore, config: FeatureConfig,
                      jobs: int, on_progress: Callable[[FeaturizeProgress], None] | None,
                      block_seconds: float, min_seconds: float, device: str | None,
                      started: float) -> FeaturizeSummary:
    """:func:`featurize_items` once the store's lock is held."""
    config_dict = config.to_dict()
    store.create(feature_config=config_dict)
    finished = store.finished_items()
    failures: list[ItemFailure] = []
    todo = []
    skipped = 0
    for item in items:
        record = finished.get(item.item_id)
        if record is not None:
            try:
                problem = _resume_problem(item, record, store)
            except OSError as error:  # the audio file could not be read to compare it
                problem = f"{item.audio_path}: cannot read it ({error.strerror or error})"
            if problem is None:
                skipped += 1
            elif problem:
                failures.append(ItemFailure(item.item_id, str(item.audio_path), problem))
            else:
                todo.append(item)  # a damaged NPZ: featurize it again
            continue
        problem = item_id_problem(item.item_id)
        if problem:
            failures.append(ItemFailure(item.item_id, str(item.audio_path),
                                        f"{item.audio_path}: invalid item id {item.item_id!r} "
                                        f"({problem})"))
        else:
            todo.append(item)
    by_id = {item.item_id: item for item in todo}
    written = 0
    audio_seconds = 0.0

    def handle(result: _Result, done: int) -> None:
        nonlocal written, audio_seconds
        item_id, duration_s, n_frames, source, error = result
        item = by_id[item_id]
        if error is None:
            store.append_records([ItemRecord(item_id=item_id, audio_path=str(item.audio_path),
                                             features=item_features_path(item_id),
                                             duration_s=duration_s, n_frames=n_frames,
                                             fields=dict(item.fields), source=source)])
            written += 1
            audio_seconds += duration_s
        else:
            failures.append(ItemFailure(item_id, str(item.audio_path), error))
        if on_progress is not None:
            on_progress(FeaturizeProgress(done=done, total=len(todo), item_id=item_id,
                                          ok=error is None))

    arguments = [(item.item_id, str(item.audio_path), config_dict, str(store.root), block_seconds,
                  min_seconds) for item in todo]
    if device is not None:
        from vocaltools.features.torch_frontends import iter_featurize_torch

        from vocaltools.features.compute import source_audio

        def sources() -> Iterator[str | VocaltoolsError]:
            for item in todo:  # separated lazily, one file at a time, errors kept per file
                try:
                    yield str(source_audio(item.audio_path, config=config))
                except VocaltoolsError as error:
                    yield error

        paths = list(sources()) if config.separation is not None else [
            str(item.audio_path) for item in todo]
        results = iter(iter_featurize_torch([p for p in paths if isinstance(p, str)],
                                            config=config, device=device,
                                            min_seconds=min_seconds,
                                            min_peak_db=DEFAULT_MIN_PEAK_DB))
        for done, (item, path) in enumerate(zip(todo, paths), start=1):
            result = path if isinstance(path, VocaltoolsError) else next(results)[1]
            if isinstance(result, VocaltoolsError):
                handle((item.item_id, 0.0, 0, None, str(result)), done)
            else:
                handle(_save_result(item.item_id, str(item.audio_path), result, config_dict,
                                    str(store.root)), done)
    elif jobs == 1 or len(todo) <= 1:
        for done, args in enumerate(arguments, start=1):
            handle(_featurize_one(*args), done)
    else:
        from vocaltools.processes import worker_pool

        _warm_compiled_kernels(config)
        # Ctrl-C or a bug drops the queued files and keeps what is finished
        with worker_pool(min(jobs, len(todo))) as pool:
            futures = [pool.submit(_featurize_one, *args) for args in arguments]
            for done, future in enumerate(as_completed(futures), start=1):
                handle(future.result(), done)
    failures.sort(key=lambda failure: failure.audio_path)  # stable order whatever the jobs
    return FeaturizeSummary(written=written, skipped=skipped, failures=tuple(failures),
                            audio_seconds=audio_seconds,
                            wall_seconds=time.perf_counter() - started)


def featurize_inputs(inputs: Sequence[str], *, store: FeatureStore, config: FeatureConfig,
                     labels: str = "dirname", jobs: int = 1, stdin: TextIO | None = None,
                     on_progress: Callable[[FeaturizeProgress], None] | None = None,
                     block_seconds: float = 60.0, min_seconds: float = DEFAULT_MIN_SECONDS,
                     device: str | None = None, shard: str | None = None,
                     strict: bool = False) -> FeaturizeSummary:
    """Resolve command-line ``inputs`` and ``labels`` (:mod:`vocaltools.datasets.inputs`) and
    featurize the items; input failures (missing paths, with ``strict`` the files a label CSV does
    not list) come first in the summary's failures. ``shard`` ``"K/N"`` keeps the items of shard K
    of N (:mod:`vocaltools.sharding`)."""
    from vocaltools.datasets.inputs import resolve_inputs

    resolved = resolve_inputs(inputs, labels=labels, stdin=stdin, strict=strict)
    items = resolved.items
    if shard is not None:
        from vocaltools.sharding import select_shard

        items = select_shard(items, shard=shard, key=lambda item: item.item_id)
    summary = featurize_items(items, store=store, config=config, jobs=jobs,
                              on_progress=on_progress, block_seconds=block_seconds,
                              min_seconds=min_seconds, device=device)
    input_failures = tuple(ItemFailure("", f.path, f.message) for f in resolved.failures)
    return FeaturizeSummary(written=summary.written, skipped=summary.skipped,
                            failures=input_failures + summary.failures,
                            audio_seconds=summary.audio_seconds,
                            wall_seconds=summary.wall_seconds, unlisted=len(resolved.unlisted))
