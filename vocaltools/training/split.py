"""Train / validation / test splits that keep groups (songs, albums, singers) on one side.

A split is persisted as JSONL, one ``"vocaltools.split/1"`` record per item::

    {"schema": "vocaltools.split/1", "item_id": "...", "split": "train"}
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Iterable, Mapping, Sequence

import numpy as np

from vocaltools.errors import InputError
from vocaltools.formats.jsonl import make_record, write_jsonl
from vocaltools.formats.store import ItemRecord

SPLITS = ("train", "validation", "test")


def group_key(item: ItemRecord, fields: Sequence[str]) -> tuple[str, ...]:
    """The values of ``fields`` for ``item`` (``item_id`` is a valid field name)."""
    key = []
    for name in fields:
        if name == "item_id":
            key.append(item.item_id)
        elif name in item.fields and item.fields[name] not in (None, ""):
            key.append(str(item.fields[name]))
        else:
            raise InputError(f"item {item.item_id!r} has no field {name!r} to split by; its fields "
                             f"are {sorted(item.fields)}")
    return tuple(key)


def _counts(n_groups: int, *, validation_fraction: float, test_fraction: float) -> tuple[int, int]:
    """``(n_validation, n_test)`` groups out of ``n_groups``, keeping at least one for training."""
    n_test = round(n_groups * test_fraction)
    n_val = round(n_groups * validation_fraction)
    if test_fraction > 0 and n_groups >= 2:
        n_test = max(1, n_test)
    if validation_fraction > 0 and n_groups >= 3:
        n_val = max(1, n_val)
    while n_test + n_val > n_groups - 1 and (n_test or n_val):
        if n_val >= n_test and n_val:
            n_val -= 1
        else:
            n_test -= 1
    return n_val, n_test


def make_split(items: Iterable[ItemRecord], *, target: str, group_by: Sequence[str] = ("item_id",),
               seed: int = 0, validation_fraction: float = 0.15, test_fraction: float = 0.15
               ) -> dict[str, str]:
    """Assign every item to ``train``, ``validation`` or ``test`` with whole groups on one side.

    When every group holds a single ``target`` label (songs of one singer, albums of one artist),
    the split is stratified: per label (labels and groups sorted, then shuffled with ``seed``),
    ``test_fraction`` of its groups go to test and ``validation_fraction`` to validation, at least
    one each when the label has 2 (test) or 3 (validation) groups, and at least one stays in
    training; this is S1's album split (6 albums -> 1 test, 1 validation, 4 train) for
    ``group_by=("album",)``. Otherwise groups are shuffled globally and filled into test and
    validation up to their fractions of the items. Give several fields (``("singer", "song_id")``)
    when a field's values only mean something within another (song numbers per singer).

    Returns ``{item_id: split}``.
    """
    items = list(items)
    if not items:
        raise InputError("no items to split")
    groups: dict[tuple[str, ...], list[ItemRecord]] = defaultdict(list)
    labels_of: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for item in items:
        if target not in item.fields:
            raise InputError(f"item {item.item_id!r} has no field {target!r}; its fields are "
                             f"{sorted(item.fields)}")
        key = group_key(item, group_by)
        groups[key].append(item)
        labels_of[key].add(str(item.fields[target]))
    rng = np.random.default_rng(seed)
    assignment: dict[tuple[str, ...], str] = {}
    if all(len(labels) == 1 for labels in labels_of.values()):
        by_label: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for key, labels in labels_of.items():
            by_label[next(iter(labels))].append(key)
        for label in sorted(by_label):
            keys = sorted(by_label[label])
            order = [keys[i] for i in rng.permutation(len(keys))]
            n_val, n_test = _counts(len(order), validation_fraction=validation_fraction,
                                    test_fraction=test_fraction)
            for i, key in enumerate(order):
                assignment[key] = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
    else:
        keys = sorted(groups)
        order = [keys[i] for i in rng.permutation(len(keys))]
        total = len(items)
        filled = {"test": 0, "validation": 0}
        quota = {"test": test_fraction * total, "validation": validation_fraction * total}
        for key in order:
            size = len(groups[key])
            for split in ("test", "validation"):
                if filled[split] + size / 2 <= quota[split]:
                    assignment[key] = split
                    filled[split] += size
                    break
            else:
                assignment[key] = "train"
    return {item.item_id: assignment[key] for key, members in groups.items() for item in members}


def write_split(path: str | os.PathLike, split: Mapping[str, str]) -> None:
    """Persist ``{item_id: split}`` as ``vocaltools.split/1`` JSONL (sorted by item id)."""
    write_jsonl(path, (make_record("split", item_id=item_id, split=split[item_id])
                       for item_id in sorted(split)))


def read_split(path: str | os.PathLike, *, fold: int | None = None) -> dict[str, str]:
    """``{item_id: split}`` of a split file (``vocaltools.split/1``, as written by this module or
    by ``vocaltools dataset split``). A cross-validation file holds one record per item and fold:
    choose the fold with ``fold``."""
    from vocaltools.datasets.splits import read_split as read_assignments

    assignments = read_assignments(path)
    folds = sorted({a.fold for a in assignments if a.fold is not None})
    if folds and fold is None:
        raise InputError(f"{path}: this split has folds {folds[0]}..{folds[-1]}; choose one "
                         "with --fold")
    if fold is not None and fold not in folds:
        raise InputError(f"{path}: no fold {fold} in this split"
                         + (f" (folds {folds[0]}..{folds[-1]})" if folds else " (it has no folds)"))
    return {a.item_id: a.split for a in assignments if a.fold == fold}
