"""Merging what sharded runs wrote (``vocaltools merge``) into what one whole run would write.

Each command run with ``--shard K/N`` (:mod:`vocaltools.sharding`) writes its own output; this
module joins them by kind, found by :func:`detect_kind` (or named by the caller):

- ``"store"``: feature stores of ``featurize --shard`` -> one store (:func:`merge_stores`). Every
  NPZ is hard-linked into ``DEST/items/`` (copied when a hard link is impossible, e.g. across file
  systems, or with ``link=False``), so DEST stays valid when the sources are deleted. The feature
  configs must be equal; an item id present in several sources (or already in DEST) must have the
  same arrays and fields everywhere, and is then kept once.
- ``"embeddings"``: embeddings NPZ files of ``embed --shard`` -> one file
  (:func:`merge_embeddings`). The metas (model, layer, feature and clip settings, normalisation,
  dimension, software) must be equal apart from the ``shard``; an item id may occur in one source
  only. Items are written sorted by item id (clips grouped by item, in their original order), so
  the result does not depend on the order of the sources; the meta lists the merged shards.

Nothing else needs this module: ``separate --shard`` runs write disjoint stem files into one shared
output folder (no manifest), and the JSONL records of ``predict --shard`` carry their own schema tag
and item id, so they are joined with ``cat shard-*.jsonl > all.jsonl`` (``zcat`` for ``.gz``).
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from vocaltools.errors import InputError

if TYPE_CHECKING:
    from vocaltools.index.embeddings import EmbeddingSet

MERGE_KINDS = ("auto", "store", "embeddings")


@dataclass(frozen=True)
class MergeSummary:
    """What a merge did: items written to DEST, ids found in more than one place with identical
    content (stores only: kept once), manifest records skipped because their NPZ was missing (an
    interrupted shard), and the shards ``K/N`` that none of the sources holds (when every source
    records its shard, as embeddings files do)."""

    n_sources: int
    n_items: int
    n_duplicates: int = 0
    n_incomplete: int = 0
    kind: str = "store"
    missing_shards: tuple[str, ...] = ()


# -- which kind of output ------------------------------------------------------------------------

def detect_kind(path: str | os.PathLike) -> str:
    """``"store"`` for a feature-store folder, ``"embeddings"`` for an embeddings NPZ;
    :class:`InputError` saying what ``path`` is otherwise (JSONL is joined with ``cat``)."""
    import numpy as np

    from vocaltools.formats.schema import parse_schema
    from vocaltools.formats.store import STORE_META, FeatureStore

    path = Path(path)
    if path.is_dir():
        if FeatureStore(path).exists():
            return "store"
        raise InputError(f"{path}: a folder without {STORE_META}, so not a feature store (merge "
                         "takes feature stores and embeddings .npz files)")
    if not path.is_file():
        raise InputError(f"{path}: no such file or folder")
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz")):
        raise InputError(f"{path}: JSONL outputs (predict --shard) need no merge: join them with "
                         f"cat (cat shard-*.jsonl > all.jsonl; zcat for .gz)")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise InputError(f"{path}: neither a feature store nor a vocaltools embeddings NPZ "
                         f"({type(error).__name__}: {error})") from error
    kind, _ = parse_schema(meta.get("schema") if isinstance(meta, dict) else None, where=str(path))
    if kind != "embeddings":
        raise InputError(f"{path}: a vocaltools.{kind} NPZ; merge takes feature stores and "
                         "embeddings files (vocaltools embed)")
    return "embeddings"


def merge_outputs(*, sources: Sequence[str | os.PathLike], dest: str | os.PathLike,
                  kind: str = "auto", link: bool = True) -> MergeSummary:
    """Merge ``sources`` of one kind (``"auto"``: detected from each source, which must agree)
    into ``dest`` with :func:`merge_stores` or :func:`merge_embeddings`."""
    if kind not in MERGE_KINDS:
        raise InputError(f"unknown kind {kind!r}; valid: {', '.join(MERGE_KINDS)}")
    if not sources:
        raise InputError("merge needs at least one source")
    if kind == "auto":
        kinds = {str(source): detect_kind(source) for source in sources}
        found = sorted(set(kinds.values()))
        if len(found) > 1:
            first = {k: next(s for s, v in kinds.items() if v == k) for k in found}
            raise InputError("the sources mix " + " and ".join(
                f"{k} ({first[k]})" for k in found) + "; merge one kind at a time")
        kind = found[0]
    if kind == "store":
        return merge_stores(sources=sources, dest=dest, link=link)
    return merge_embeddings(sources=sources, dest=dest)


# -- feature stores --------------------------------------------------------------------------------

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
                                  n_frames=item.n_frames, fields=dict(item.fields), source=item.source))
    if records:
        dest_store.append_records(records)
    return MergeSummary(n_sources=len(stores), n_items=len(records), n_duplicates=n_duplicates,
                        n_incomplete=n_incomplete, kind="store")



# -- embeddings files ------------------------------------------------------------------------------

_SHARD_KEYS = ("shard", "merged_shards")  # what may differ between the shards of one run


def merge_embedding_sets(sets: Sequence["EmbeddingSet"], *,
                         names: Sequence[str] | None = None) -> "EmbeddingSet":
    """Join embedding sets (e.g. one per ``embed --shard K/N`` run) into one.

    The metas must be equal apart from ``shard``/``merged_shards``; every item id must occur in one
    set only. The result holds the items sorted by item id with their clips grouped by item (in
    their original order); ``clip_item`` points into the new item order. Fields missing from a set
    are ``""`` for its items (as ``embed`` writes absent fields). ``names`` (e.g. the file names)
    are used in error messages.

    Raises
    ------
    InputError : no sets; metas that differ (naming both sources and the first differing setting);
        an item id found in two sets (naming both).
    """
    import numpy as np

    from vocaltools.index.embeddings import EmbeddingSet

    if not sets:
        raise InputError("merge needs at least one embeddings file")
    names = [str(n) for n in names] if names is not None else [f"set {i + 1}" for i in range(len(sets))]
    reference = _comparable_meta(sets[0].meta)
    for name, embeddings in zip(names[1:], sets[1:]):
        meta = _comparable_meta(embeddings.meta)
        if meta != reference:
            diff = _first_difference(reference, meta, "meta")
            raise InputError(f"{name}: its meta differs from {names[0]}'s ({diff}); only "
                             "embeddings made with the same model, layer, features, clips and "
                             "normalisation can be merged (re-run that shard with the same options)")

    owner: dict[str, tuple[int, int]] = {}  # item id -> (set, row)
    for s, embeddings in enumerate(sets):
        for row, item_id in enumerate(embeddings.item_ids):
            if item_id in owner:
                raise InputError(
                    f"item {item_id!r} is in both {names[owner[item_id][0]]} and {names[s]}; each "
                    "item must come from one shard only (were the files made with different "
                    "--shard N, or is one file given twice?)")
            owner[item_id] = (s, row)

    # the clip rows of every item, per set: clip_groups[s][row] -> int64 [n_clips_of_item]
    clip_groups = []
    for embeddings in sets:
        order = np.argsort(embeddings.clip_item, kind="stable")
        counts = np.bincount(embeddings.clip_item, minlength=embeddings.n_items)
        clip_groups.append(np.split(order, np.cumsum(counts)[:-1]))
    field_names = sorted({name for embeddings in sets for name in embeddings.fields})
    item_ids = sorted(owner)
    item_rows, clip_vectors, clip_starts, clip_item = [], [], [], []
    labels, fields = [], {name: [] for name in field_names}
    for new_row, item_id in enumerate(item_ids):
        s, row = owner[item_id]
        embeddings = sets[s]
        clips = clip_groups[s][row]
        item_rows.append(embeddings.item_embeddings[row])
        clip_vectors.append(embeddings.clip_embeddings[clips])
        clip_starts.append(embeddings.clip_start_s[clips])
        clip_item.append(np.full(len(clips), new_row, dtype=np.int64))
        labels.append(embeddings.labels[row])
        for name in field_names:
            values = embeddings.fields.get(name)
            fields[name].append(values[row] if values is not None else "")
    dim = sets[0].item_embeddings.shape[1]
    shards = sorted({str(x) for e in sets for x in _shards_of(e.meta)}, key=_shard_sort_key)
    meta = {k: v for k, v in sets[0].meta.items() if k not in _SHARD_KEYS}
    if shards:
        meta["merged_shards"] = shards
    return EmbeddingSet(
        clip_embeddings=(np.concatenate(clip_vectors) if clip_vectors
                         else np.zeros((0, dim), np.float32)).astype(np.float32),
        clip_item=np.concatenate(clip_item) if clip_item else np.zeros(0, np.int64),
        clip_start_s=(np.concatenate(clip_starts) if clip_starts
                      else np.zeros(0, np.float32)).astype(np.float32),
        item_embeddings=(np.stack(item_rows) if item_rows
                         else np.zeros((0, dim), np.float32)).astype(np.float32),
        item_ids=tuple(item_ids), labels=tuple(labels),
        fields={name: tuple(values) for name, values in fields.items()}, meta=meta)


def merge_embeddings(*, sources: Sequence[str | os.PathLike],
                     dest: str | os.PathLike) -> MergeSummary:
    """Merge embeddings NPZ files (e.g. one per ``embed --shard K/N`` run) into ``dest`` (written
    atomically; ``-`` = stdout) with :func:`merge_embedding_sets`.

    When every source records its shard, the summary lists the shards of that ``N`` that none
    holds; sources sharded with different ``N`` raise :class:`InputError` (their items would
    overlap or leave gaps)."""
    from vocaltools.index.embeddings import load_embeddings, save_embeddings

    if not sources:
        raise InputError("merge needs at least one embeddings file")
    sets = [load_embeddings(source) for source in sources]
    names = [str(source) for source in sources]
    merged = merge_embedding_sets(sets, names=names)
    missing: tuple[str, ...] = ()
    per_source = [_shards_of(e.meta) for e in sets]
    if all(per_source):
        from vocaltools.sharding import Shard

        counts = {shard.count: name for name, shards in zip(names, per_source) for shard in shards}
        if len(counts) > 1:
            raise InputError("the sources were split into different numbers of shards ("
                             + ", ".join(f"N={n} in {name}" for n, name in sorted(counts.items()))
                             + "); merge the shards of one split")
        (count,) = counts
        present = {shard.index for shards in per_source for shard in shards}
        missing = tuple(str(Shard(k, count)) for k in range(1, count + 1) if k not in present)
    save_embeddings(dest, merged)
    return MergeSummary(n_sources=len(sets), n_items=merged.n_items, kind="embeddings",
                        missing_shards=missing)


def _comparable_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k not in _SHARD_KEYS}


def _shards_of(meta: Mapping[str, Any]) -> list:
    """The :class:`~vocaltools.sharding.Shard` s an embeddings meta records (``shard`` of one run,
    ``merged_shards`` of a merge); empty when unsharded."""
    from vocaltools.sharding import parse_shard

    texts = ([meta["shard"]] if meta.get("shard") else []) + list(meta.get("merged_shards") or [])
    return [parse_shard(text) for text in texts]


def _shard_sort_key(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    return int(count), int(index)


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
