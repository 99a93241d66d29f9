"""The feature store: a folder that scales to large collections.

Layout::

    STORE/store.json          {"schema": "vocaltools.store/1", "feature_config": {...}, ...}
    STORE/manifest.jsonl      one "vocaltools.item/1" record per finished item
    STORE/items/<item_id>.npz one NPZ per item ("vocaltools.features/1"): one array per front end,
                              float32 [channels, n_bins, n_frames], keyed by front-end name
    STORE/lock                held (an advisory ``flock``) by the run writing to the store; it
                              names that run (pid, host, start time, command)

Whole items are stored; clip windows are chosen later by train/predict. An item is finished when its
NPZ has been written (atomically) and its manifest line appended, so a resumed run skips it. Each
record keeps a stamp of its audio file (:class:`SourceStamp`: size, modification time, SHA-256), so
that a resumed run recognises an item by its file, never by its id alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from vocaltools import __version__
from vocaltools.errors import FormatError, InputError
from vocaltools.formats.io import atomic_path, check_folder_target
from vocaltools.formats.jsonl import dumps_record, iter_jsonl, make_record
from vocaltools.formats.npz import load_npz, save_npz
from vocaltools.formats.schema import check_schema, schema_tag

MANIFEST = "manifest.jsonl"
STORE_META = "store.json"
LOCK = "lock"


@dataclass(frozen=True)
class SourceStamp:
    """What identifies an item's audio file: its ``size`` in bytes, its modification time
    ``mtime_ns`` and the ``sha256`` of its bytes."""

    size: int
    mtime_ns: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "mtime_ns": self.mtime_ns, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SourceStamp":
        return cls(size=int(data["size"]), mtime_ns=int(data["mtime_ns"]), sha256=str(data["sha256"]))


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def stamp_source(path: str | os.PathLike) -> SourceStamp:
    """The :class:`SourceStamp` of the file at ``path`` (reads it once)."""
    status = os.stat(path)
    return SourceStamp(size=status.st_size, mtime_ns=status.st_mtime_ns, sha256=file_sha256(path))


@dataclass(frozen=True)
class ItemRecord:
    """One manifest line. ``features`` is relative to the store; ``fields`` holds the labels and
    grouping fields (singer, song_id, technique, ...); ``source`` the stamp of the audio file
    (None in records written before stamps were kept)."""

    item_id: str
    audio_path: str
    features: str
    duration_s: float
    n_frames: int
    fields: Mapping[str, Any] = field(default_factory=dict)
    source: SourceStamp | None = None

    def to_record(self) -> dict[str, Any]:
        extra = {"source": self.source.to_dict()} if self.source is not None else {}
        return make_record("item", item_id=self.item_id, audio_path=self.audio_path,
                           features=self.features, duration_s=self.duration_s,
                           n_frames=self.n_frames, fields=dict(self.fields), **extra)

    @classmethod
    def from_record(cls, record: Mapping[str, Any], *, where: str) -> "ItemRecord":
        try:
            source = record.get("source")
            return cls(item_id=str(record["item_id"]), audio_path=str(record["audio_path"]),
                       features=str(record["features"]), duration_s=float(record["duration_s"]),
                       n_frames=int(record["n_frames"]), fields=dict(record.get("fields") or {}),
                       source=SourceStamp.from_dict(source) if source else None)
        except (KeyError, TypeError, ValueError) as error:
            raise FormatError(f"{where}: invalid item record ({error})") from error

    def made_from(self, path: str | os.PathLike) -> bool:
        """Whether the file at ``path`` is the one this item was featurized from: the same file
        (the record's path, or a link to the same inode) with unchanged size and modification
        time, or, moved, copied or touched, a file with the same size and SHA-256. A record
        without a stamp knows only its path."""
        if self.source is None:
            return _same_file(path, self.audio_path)
        try:
            status = os.stat(path)
        except OSError:
            return False
        if status.st_size != self.source.size:
            return False
        if status.st_mtime_ns == self.source.mtime_ns and _same_file(path, self.audio_path):
            return True
        return file_sha256(path) == self.source.sha256


def _same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file (equal absolute paths, else one device and inode)."""
    if os.path.abspath(a) == os.path.abspath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


class StoreLocked(InputError):
    """Another run holds the store's lock."""


def item_features_path(item_id: str) -> str:
    """The relative NPZ path of ``item_id`` inside a store."""
    return f"items/{item_id}.npz"


class FeatureStore:
    """Read and append to a feature store folder."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def exists(self) -> bool:
        return (self.root / STORE_META).is_file()

    # -- store meta -------------------------------------------------------------------------
    def read_meta(self) -> dict[str, Any]:
        path = self.root / STORE_META
        if not path.is_file():
            if (self.root / "checkpoint.pt").is_file():
                raise InputError(f"{self.root}: a model folder (it holds checkpoint.pt), not a "
                                 "feature store; give the store that 'vocaltools featurize -o "
                                 "STORE' wrote")
            raise InputError(f"{self.root}: not a feature store (no {STORE_META}); "
                             "create one with 'vocaltools featurize ... -o STORE'")
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise FormatError(f"{path}: not JSON ({error.msg})") from error
        check_schema(meta.get("schema"), expected="store", where=str(path))
        return meta

    def feature_config(self) -> dict[str, Any]:
        return self.read_meta()["feature_config"]

    def create(self, *, feature_config: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> None:
        """Create the store, or check that an existing one has the same feature config."""
        if self.exists():
            existing = self.feature_config()
            if existing != dict(feature_config):
                raise InputError(f"{self.root}: this store was made with other feature settings "
                                 f"({existing.get('preset', existing)}); write to a new folder")
            return
        check_folder_target(self.root, what="a feature store folder")
        self.root.mkdir(parents=True, exist_ok=True)
        meta = {"schema": schema_tag("store"), "software": f"vocaltools {__version__}",
                "feature_config": dict(feature_config), **(extra or {})}
        with atomic_path(self.root / STORE_META) as tmp:
            tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    # -- items ------------------------------------------------------------------------------
    def _drop_torn_tail(self) -> None:
        """Cut an incomplete last manifest line (a crash mid-write) so the item is redone."""
        path = self.manifest_path
        if not path.is_file() or path.stat().st_size == 0:
            return
        with open(path, "rb") as handle:  # the last byte first: whole-file reads only after a crash
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) == b"\n":
                return
        data = path.read_bytes()
        with open(path, "r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)

    def items(self) -> list[ItemRecord]:
        """Every finished item, in manifest order (a later record of the same id wins)."""
        if not self.manifest_path.is_file():
            return []
        self._drop_torn_tail()
        by_id: dict[str, ItemRecord] = {}
        for number, record in enumerate(iter_jsonl(self.manifest_path, kind="item"), start=1):
            item = ItemRecord.from_record(record, where=f"{self.manifest_path}:{number}")
            by_id[item.item_id] = item
        return list(by_id.values())

    def finished_items(self) -> dict[str, ItemRecord]:
        """Records whose manifest line and NPZ both exist, by item id."""
        return {item.item_id: item for item in self.items() if (self.root / item.features).is_file()}

    def finished_ids(self) -> set[str]:
        """Ids whose manifest record and NPZ both exist (what a resumed run skips)."""
        return set(self.finished_items())

    def npz_is_whole(self, item: ItemRecord) -> bool:
        """Whether the item's NPZ ends as a whole zip archive does: a cheap check (the last 22
        bytes, or the zip directory) that finds truncated, emptied or zero-filled files without
        reading their arrays."""
        path = self.root / item.features
        try:
            with open(path, "rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                if size < 22:
                    return False
                handle.seek(size - 22)
                end = handle.read(22)
        except OSError:
            return False
        # the end-of-central-directory record NumPy writes (no comment): the directory it
        # points to must end where the record starts
        if end[:4] == b"PK\x05\x06":
            directory_size, directory_offset = struct.unpack("<II", end[12:20])
            if directory_offset != 0xFFFFFFFF and directory_size != 0xFFFFFFFF:
                return directory_offset + directory_size == size - 22
        return _zip_opens(path, size)

    @contextlib.contextmanager
    def locked(self, *, command: str = "featurize") -> Iterator[None]:
        """Hold the store's advisory lock (``STORE/lock``) for the block; the file names the
        holder. Another run holding it raises :class:`StoreLocked` saying who. The lock goes with
        its process, however that ends (``kill -9`` included). Without ``fcntl`` (not POSIX), or
        in a store this process may not write to (nothing can be written there anyway; a finished
        store is still read), nothing is locked."""
        import errno

        try:
            import fcntl
        except ImportError:
            yield
            return
        check_folder_target(self.root, what="a feature store folder")
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / LOCK
        try:
            handle = open(path, "a+", encoding="utf-8")
        except OSError as error:
            if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            yield
            return
        try:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                raise StoreLocked(f"{self.root}: in use by another run ({_describe_holder(handle.read())}); "
                                  "wait for it to finish, or write to another store") from None
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                     "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                     "command": command, "argv": sys.argv}) + "\n")
            handle.flush()
            yield
        finally:
            handle.close()  # releases the lock

    def write_item(self, *, item_id: str, audio_path: str, arrays: Mapping[str, np.ndarray],
                   duration_s: float, fields: Mapping[str, Any], meta: Mapping[str, Any],
                   source: SourceStamp | None = None) -> ItemRecord:
        """Write one item's NPZ atomically, then append its manifest record."""
        relative = item_features_path(item_id)
        n_frames = int(next(iter(arrays.values())).shape[-1]) if arrays else 0
        save_npz(self.root / relative, arrays, kind="features",
                 meta={"item_id": item_id, **dict(meta)})
        record = ItemRecord(item_id=item_id, audio_path=audio_path, features=relative,
                            duration_s=float(duration_s), n_frames=n_frames, fields=dict(fields),
                            source=source)
        self.append_records([record])
        return record

    def append_records(self, records: Iterable[ItemRecord]) -> None:
        lines = "".join(dumps_record(r.to_record()) + "\n" for r in records)
        self._drop_torn_tail()
        with open(self.manifest_path, "a", encoding="utf-8") as handle:
            handle.write(lines)  # one write per batch of whole lines
            handle.flush()

    def load_arrays(self, item: ItemRecord) -> dict[str, np.ndarray]:
        """The item's feature arrays, keyed by front-end name."""
        return load_npz(self.root / item.features, kind="features").arrays


def _describe_holder(text: str) -> str:
    """``pid 123 on host, featurize since 2026-01-01T10:00:00Z`` from a lock file's JSON."""
    try:
        holder = json.loads(text)
        return (f"{holder.get('command', 'a run')}, pid {holder['pid']} on {holder.get('host', '?')}, "
                f"since {holder.get('started', '?')}")
    except (ValueError, KeyError, TypeError):
        return "a run that has not yet said who it is"


def _zip_opens(path: Path, size: int) -> bool:
    """Whether ``path`` opens as a zip archive whose members all lie inside its ``size`` bytes
    (ZIP64 archives and archives with a comment)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        return False
    return bool(members) and all(m.header_offset + m.compress_size <= size for m in members)
