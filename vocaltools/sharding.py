"""Splitting a collection over machines (``--shard K/N``) and merging what the shards wrote.

Selection. Shard ``K`` of ``N`` (1-based) keeps an item by one of two rules:

- ``"hash"`` (default): ``1 + int(sha256(item_id)[:8 bytes]) % N``. The assignment of an item depends
  on its id and ``N`` only (never on Python's salted ``hash``, the machine, or the other items), so
  shards agree even when machines list the collection differently or files are added later. Shard
  sizes are balanced only on average (binomial spread: about ``sqrt(n/N)`` items).
- ``"index"``: sort the ids, then item ``i`` goes to shard ``1 + i % N``: sizes differ by at most
  one, but every machine must see exactly the same list of ids.

Either way every item lands in exactly one of the ``N`` shards.

Merging. Sharded ``featurize`` runs write one feature store each; :func:`merge_stores` merges them
into one ordinary, self-contained store: every NPZ is hard-linked into ``DEST/items/`` (copied when a
hard link is impossible, e.g. across file systems, or with ``link=False``), so DEST stays valid when
the sources are deleted. The feature configs must be equal; an item id present in several sources
(or already in DEST) must have the same arrays and fields everywhere, and is then kept once.

Sharded ``predict``/``embed`` runs write JSONL records that carry their own schema tag and item id,
so merging them is plain concatenation: ``cat shard-*.jsonl > all.jsonl`` (``zcat`` for ``.gz``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar

from vocaltools.errors import InputError

T = TypeVar("T")

SHARD_METHODS = ("hash", "index")
_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __post_init__(self):
        if not 1 <= self.index <= self.count:
            raise InputError(f"shard {self.index}/{self.count}: K must lie in 1..N")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"K/N"`` -> :class:`Shard`; :class:`InputError` unless ``1 <= K <= N``.

    >>> parse_shard("2/8")
    Shard(index=2, count=8)
    """
    match = _SHARD_RE.match(str(text))
    if not match:
        raise InputError(f"invalid shard {text!r}: expected K/N with 1 <= K <= N, e.g. 1/4 "
                         "(the first of 4 shards)")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise InputError(f"invalid shard {text!r}: K must lie in 1..N and N >= 1 (shards are "
                         f"numbered from 1), e.g. 1/{max(count, 1)}")
    return Shard(index, count)


def shard_of(item_id: str, count: int) -> int:
    """The 1-based shard of ``item_id`` among ``count`` under the ``"hash"`` rule."""
    if count < 1:
        raise InputError(f"the number of shards must be >= 1; got {count}")
    digest = hashlib.sha256(str(item_id).encode("utf-8")).digest()
    return 1 + int.from_bytes(digest[:8], "big") % count


def select_shard(items: Iterable[T], *, shard: Shard | str, key: Callable[[T], str] = str,
                 method: str = "hash") -> list[T]:
    """The items of ``shard`` in their input order. ``key`` gives an item's id (default: ``str``).

    ``method``: ``"hash"`` or ``"index"`` (see the module docstring)."""
    if isinstance(shard, str):
        shard = parse_shard(shard)
    items = list(items)
    if method == "hash":
        return [item for item in items if shard_of(key(item), shard.count) == shard.index]
    if method == "index":
        ids = sorted({key(item) for item in items})
        rank = {item_id: i for i, item_id in enumerate(ids)}
        return [item for item in items if 1 + rank[key(item)] % shard.count == shard.index]
    raise InputError(f"unknown shard method {method!r}; valid: {', '.join(SHARD_METHODS)}")


# -- merging feature stores ---------------------------------------------------------------------

@dataclass(frozen=True)
class MergeSummary:
    """What :func:`merge_stores` did: items written to DEST, ids found in more than one place with
    identical content (kept once), and manifest records skipped because their NPZ was missing (an
    interrupted shard)."""

    n_sources: int
    n_items: int
    n_duplicates: int
    n_incomplete: int


def _same_item(a_store, a_item, b_store, b_item) -> bool:
    import numpy as np

    if (a_item.n_frames != b_item.n_frames or dict(a_item.fields) != dict(b_item.fields)):
        return False
    a, b = a_store.load_arrays(a_item), b_store.load_arrays(b_item)
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _place(source: Path, target: Path, *, link: bool) -> None:
    """Hard-link (or copy) ``source`` to ``target`` atomically."""
    from vocaltools.formats.io import atomic_path

    with atomic_path(target) as tmp:
        if link:
            try:
                tmp.unlink()
                os.link(source, tmp)
                return
            except OSError:
                pass  # other file system, or links unsupported: copy
        shutil.copyfile(source, tmp)


def merge_stores(*, sources: Sequence[str | os.PathLike], dest: str | os.PathLike,
                 link: bool = True) -> MergeSummary:
    """Merge the feature stores ``sources`` (e.g. one per shard) into the store ``dest``.

    ``dest`` may be new or an existing store with the same feature config (a merge can be repeated
    as more shards finish). NPZs are hard-linked (``link=True``, falling back to a copy) or copied
    into ``dest/items/``; manifest records are appended in source order after all NPZs are in place.

    Raises
    ------
    InputError : a source that is not a store, or is ``dest`` itself; feature configs that differ
        (naming both stores and the first differing setting); an item id whose arrays or fields differ
        between two stores.
    """
    from vocaltools.formats.store import FeatureStore, ItemRecord, item_features_path

    if not sources:
        raise InputError("merge needs at least one source feature store")
    dest_store = FeatureStore(dest)
    stores = []
    for source in sources:
        store = FeatureStore(source)
        if dest_store.root.exists() and store.root.resolve() == dest_store.root.resolve():
            raise InputError(f"{source}: a source is the destination store itself; merge into a "
                             "new folder")
        store.read_meta()  # InputError when it is not a store
        stores.append(store)

    reference = stores[0].feature_config()
    for store in stores[1:]:
        config = store.feature_config()
        if config != reference:
            diff = _first_difference(reference, config)
            raise InputError(f"{store.root}: its feature config differs from {stores[0].root}'s "
                             f"({diff}); only stores made with the same settings can be merged")
    if dest_store.exists() and dest_store.feature_config() != reference:
        diff = _first_difference(dest_store.feature_config(), reference)
        raise InputError(f"{dest_store.root}: this store was made with other feature settings "
                         f"({diff}); merge into a new folder")

    # who provides each id: (store, item); the destination's existing items come first
    owners: dict[str, tuple] = {}
    n_incomplete = 0
    if dest_store.exists():
        for item in dest_store.items():
            if (dest_store.root / item.features).is_file():
                owners[item.item_id] = (dest_store, item)
    plan: list[tuple] = []
    n_duplicates = 0
    for store in stores:
        for item in store.items():
            if not (store.root / item.features).is_file():
                n_incomplete += 1
                continue
            if item.item_id in owners:
                other_store, other_item = owners[item.item_id]
                if not _same_item(other_store, other_item, store, item):
                    raise InputError(
                        f"item {item.item_id!r} is in {other_store.root} and {store.root} with "
                        "different features or fields; remove one of them (or re-run its shard) "
                        "before merging")
                n_duplicates += 1
                continue
            owners[item.item_id] = (store, item)
            plan.append((store, item))

    extra = {k: v for k, v in stores[0].read_meta().items()
             if k not in ("schema", "software", "feature_config")}
    dest_store.create(feature_config=reference, extra=extra)
    records = []
    for store, item in plan:
        relative = item_features_path(item.item_id)
        _place(store.root / item.features, dest_store.root / relative, link=link)
        records.append(ItemRecord(item_id=item.item_id, audio_path=item.audio_path,
                                  features=relative, duration_s=item.duration_s,
                                  n_frames=item.n_frames, fields=dict(item.fields)))
    if records:
        dest_store.append_records(records)
    return MergeSummary(n_sources=len(stores), n_items=len(records), n_duplicates=n_duplicates,
                        n_incomplete=n_incomplete)


def _first_difference(a, b, where: str = "feature_config") -> str:
    """A short description of the first place where two JSON-like values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b or a[key] != b[key]:
                if key in a and key in b:
                    return _first_difference(a[key], b[key], f"{where}.{key}")
                return f"{where}.{key} present in only one"
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{where}[{i}]")
    return f"{where}: {a!r} vs {b!r}"
