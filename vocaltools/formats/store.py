"""The feature store: a folder that scales to large collections.

Layout::

    STORE/store.json          {"schema": "vocaltools.store/1", "feature_config": {...}, ...}
    STORE/manifest.jsonl      one "vocaltools.item/1" record per finished item
    STORE/items/<item_id>.npz one NPZ per item ("vocaltools.features/1"): one array per front end,
                              float32 [channels, n_bins, n_frames], keyed by front-end name

Whole items are stored; clip windows are chosen later by train/predict. An item is finished when its
NPZ has been written (atomically) and its manifest line appended, so a resumed run skips it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from vocaltools import __version__
from vocaltools.errors import FormatError, InputError
from vocaltools.formats.io import atomic_path, check_folder_target
from vocaltools.formats.jsonl import dumps_record, iter_jsonl, make_record
from vocaltools.formats.npz import load_npz, save_npz
from vocaltools.formats.schema import check_schema, schema_tag

MANIFEST = "manifest.jsonl"
STORE_META = "store.json"


@dataclass(frozen=True)
class ItemRecord:
    """One manifest line. ``features`` is relative to the store; ``fields`` holds the labels and
    grouping fields (singer, song_id, technique, ...)."""

    item_id: str
    audio_path: str
    features: str
    duration_s: float
    n_frames: int
    fields: Mapping[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return make_record("item", item_id=self.item_id, audio_path=self.audio_path,
                           features=self.features, duration_s=self.duration_s,
                           n_frames=self.n_frames, fields=dict(self.fields))

    @classmethod
    def from_record(cls, record: Mapping[str, Any], *, where: str) -> "ItemRecord":
        try:
            return cls(item_id=str(record["item_id"]), audio_path=str(record["audio_path"]),
                       features=str(record["features"]), duration_s=float(record["duration_s"]),
                       n_frames=int(record["n_frames"]), fields=dict(record.get("fields") or {}))
        except (KeyError, TypeError, ValueError) as error:
            raise FormatError(f"{where}: invalid item record ({error})") from error


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

    def finished_ids(self) -> set[str]:
        """Ids whose manifest record and NPZ both exist (what a resumed run skips)."""
        return {item.item_id for item in self.items() if (self.root / item.features).is_file()}

    def write_item(self, *, item_id: str, audio_path: str, arrays: Mapping[str, np.ndarray],
                   duration_s: float, fields: Mapping[str, Any], meta: Mapping[str, Any]) -> ItemRecord:
        """Write one item's NPZ atomically, then append its manifest record."""
        relative = item_features_path(item_id)
        n_frames = int(next(iter(arrays.values())).shape[-1]) if arrays else 0
        save_npz(self.root / relative, arrays, kind="features",
                 meta={"item_id": item_id, **dict(meta)})
        record = ItemRecord(item_id=item_id, audio_path=audio_path, features=relative,
                            duration_s=float(duration_s), n_frames=n_frames, fields=dict(fields))
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
