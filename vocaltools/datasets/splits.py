"""Reproducible train/validation/test splits of item lists, written as ``vocaltools.split/1`` JSONL.

Every scheme sorts first (items, groups, classes) and then draws from one ``random.Random(seed)``,
so a split depends only on the item ids, their fields and the seed: the same on every machine and
Python version, whatever the input order (no ``hash()``, no set order).

Schemes (:data:`SCHEMES`):

- ``album`` (S1): per artist (artists and their albums sorted, albums shuffled with the seed),
  ``n_test_albums`` test albums, ``n_validation_albums`` validation albums, the rest train.
- ``vocalset`` (S3): the official singer split (test singers f2, f8, m3, m5, m10, or those the
  items' ``official_split`` field marks as test); a seeded
  ``validation_fraction`` of the training singers' recordings (files) goes to validation,
  stratified by technique, so no recording is cut across train and validation.
- ``damp-balanced`` (S2): songs 1-6 train, 7-10 validation, 11-14 test (S2 Appendix A order);
  a split keeps a singer only if they sang every song of that split, one performance each (the
  first by item id when there are several); a singer who qualifies for several splits is kept in
  the first of test, validation, train, so splits are singer- and song-disjoint.
- ``stratified`` (S4): per class of ``by``, a seeded ``test_fraction`` to test, then
  ``validation_fraction`` of the rest to validation.
- ``kfold`` (S2): recording k (by ``order_field``, else item id) of every ``by`` group is the test
  set of fold k (k = 0..n_folds-1, recordings past n_folds wrap around); in each fold one other
  recording per group, drawn with the seed, is the validation set. Records carry ``fold``.
- ``kfold`` with ``hold_out="group"`` (leave-one-group-out, e.g. leave-one-singer-out): the
  sorted values of ``by`` are shuffled with the seed and dealt into ``n_folds`` folds (default:
  one fold per value); fold k tests the groups of fold k, a seeded ``round(validation_fraction x
  other groups)`` of the other groups is its validation set, the rest train. No group is ever on
  two sides of a fold. Records carry ``fold``.
- ``group``: group-disjoint: the sorted values of ``by`` (one field or several) are shuffled with
  the seed; ``test_fraction`` of the groups go to test, then ``validation_fraction`` of the rest to
  validation. With ``stratify`` (``train --split-by`` passes its target) and every group holding
  one value of that field, the counts apply per value, so every class keeps groups on every side.

Side names are :data:`SPLIT_NAMES`; :func:`select_fold` turns assignments into the
``{item_id: side}`` mapping that training reads.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from vocaltools.errors import ConfigError, FormatError, InputError, did_you_mean
from vocaltools.formats.jsonl import iter_jsonl, make_record, write_jsonl

SPLIT_NAMES: tuple[str, ...] = ("train", "validation", "test")
#: the official VocalSet technique test singers (test_singers_technique.txt; SEEDS.md S3)
VOCALSET_TEST_SINGERS: tuple[str, ...] = ("f2", "f8", "m3", "m5", "m10")
DAMP_BALANCED_TRAIN_SONGS: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
DAMP_BALANCED_VALIDATION_SONGS: tuple[int, ...] = (7, 8, 9, 10)
DAMP_BALANCED_TEST_SONGS: tuple[int, ...] = (11, 12, 13, 14)


class SplitItem(Protocol):
    """What a split reads of an item: a dataset item (``AudioItem``) or a store's ``ItemRecord``."""

    item_id: str
    fields: Mapping[str, Any]



@dataclass(frozen=True)
class SplitAssignment:
    """One item's side of a split (and its fold, for cross-validation)."""

    item_id: str
    split: str
    fold: int | None = None

    def to_record(self) -> dict[str, Any]:
        extra = {} if self.fold is None else {"fold": self.fold}
        return make_record("split", item_id=self.item_id, split=self.split, **extra)


# -- helpers ---------------------------------------------------------------------------------------

def _value(item: SplitItem, field: str) -> str:
    """The field's value as text; ``item_id`` names the item's id."""
    if field == "item_id":
        return item.item_id
    if field not in item.fields:
        raise InputError(f"item {item.item_id}: no field {field!r} (fields: "
                         f"{', '.join(sorted(item.fields)) or 'none'})")
    return str(item.fields[field])


def _sorted_items(items: Iterable[SplitItem]) -> list[SplitItem]:
    items = sorted(items, key=lambda i: i.item_id)
    for a, b in zip(items, items[1:]):
        if a.item_id == b.item_id:
            raise InputError(f"item {a.item_id!r} is listed twice")
    if not items:
        raise InputError("no items to split")
    return items


def _group(items: Sequence[SplitItem], field: str) -> dict[str, list[SplitItem]]:
    groups: dict[str, list[SplitItem]] = defaultdict(list)
    for item in items:
        groups[_value(item, field)].append(item)
    return {key: groups[key] for key in sorted(groups)}


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"{name} must be in [0, 1), got {value}")


def _count(fraction: float, n: int) -> int:
    """round(fraction x n), half up, so 0.5 counts the same everywhere."""
    return int(math.floor(fraction * n + 0.5))


# -- schemes ---------------------------------------------------------------------------------------

def split_albums(items: Iterable[SplitItem], *, seed: int, artist_field: str = "artist",
                 album_field: str = "album", n_test_albums: int = 1,
                 n_validation_albums: int = 1) -> list[SplitAssignment]:
    """S1's album split: per artist, ``n_test_albums`` test and ``n_validation_albums`` validation
    albums drawn with ``seed``, the other albums train."""
    items = _sorted_items(items)
    rng = random.Random(seed)
    side_of_album: dict[tuple[str, str], str] = {}
    for artist, artist_items in _group(items, artist_field).items():
        albums = sorted({_value(i, album_field) for i in artist_items})
        if len(albums) < n_test_albums + n_validation_albums + 1:
            raise InputError(f"artist {artist!r} has {len(albums)} album(s); the album split needs "
                             f"at least {n_test_albums + n_validation_albums + 1} "
                             f"({n_test_albums} test, {n_validation_albums} validation, 1 train)")
        rng.shuffle(albums)
        for index, album in enumerate(albums):
            side = ("test" if index < n_test_albums else
                    "validation" if index < n_test_albums + n_validation_albums else "train")
            side_of_album[(artist, album)] = side
    return [SplitAssignment(i.item_id, side_of_album[(_value(i, artist_field),
                                                      _value(i, album_field))]) for i in items]


def _draw_validation(items: Sequence[SplitItem], *, fraction: float, rng: random.Random,
                     stratify_field: str | None) -> set[str]:
    if stratify_field and all(stratify_field in i.fields for i in items):
        strata = _group(items, stratify_field).values()
    else:
        strata = [list(items)]
    chosen: set[str] = set()
    for stratum in strata:
        ids = sorted(i.item_id for i in stratum)
        rng.shuffle(ids)
        chosen.update(ids[:_count(fraction, len(ids))])
    return chosen


def split_vocalset(items: Iterable[SplitItem], *, seed: int,
                   test_singers: Sequence[str] | None = None,
                   singer_field: str = "singer", validation_fraction: float = 0.1,
                   stratify_field: str | None = "technique") -> list[SplitAssignment]:
    """S3's official singer split; a seeded ``validation_fraction`` of the training recordings
    (stratified by ``stratify_field`` when every item has it) becomes validation.

    ``test_singers`` None: the singers whose items say ``official_split`` = test (the vocalset
    layout reads test_singers_technique.txt), else f2, f8, m3, m5, m10."""
    _check_fraction("validation_fraction", validation_fraction)
    items = _sorted_items(items)
    if test_singers is None:
        if all("official_split" in i.fields for i in items):
            test_singers = [_value(i, singer_field) for i in items
                            if str(i.fields["official_split"]) == "test"]
        else:
            test_singers = VOCALSET_TEST_SINGERS
    test = set(test_singers)
    singers = {_value(i, singer_field) for i in items}
    if not singers & test:
        raise InputError(f"none of the test singers {', '.join(sorted(test))} is among the items' "
                         f"singers ({', '.join(sorted(singers))})")
    train_items = [i for i in items if _value(i, singer_field) not in test]
    validation = _draw_validation(train_items, fraction=validation_fraction,
                                  rng=random.Random(seed), stratify_field=stratify_field)
    return [SplitAssignment(i.item_id, "test" if _value(i, singer_field) in test else
                            "validation" if i.item_id in validation else "train") for i in items]


def split_damp_balanced(items: Iterable[SplitItem], *,
                        train_songs: Sequence[int] = DAMP_BALANCED_TRAIN_SONGS,
                        validation_songs: Sequence[int] = DAMP_BALANCED_VALIDATION_SONGS,
                        test_songs: Sequence[int] = DAMP_BALANCED_TEST_SONGS,
                        song_field: str = "song_index", singer_field: str = "singer"
                        ) -> list[SplitAssignment]:
    """S2's DAMP-balanced split (song- and singer-disjoint; every kept singer sings every song of
    their split once). Items that fit no split are left out."""
    items = _sorted_items(items)
    song_sets = {"test": set(map(str, test_songs)), "validation": set(map(str, validation_songs)),
                 "train": set(map(str, train_songs))}
    overlap = (song_sets["test"] & song_sets["validation"]) | (
        song_sets["test"] & song_sets["train"]) | (song_sets["validation"] & song_sets["train"])
    if overlap:
        raise ConfigError(f"songs {', '.join(sorted(overlap))} are in more than one split")
    out: list[SplitAssignment] = []
    for singer, singer_items in _group(items, singer_field).items():
        first_of_song: dict[str, SplitItem] = {}
        for item in singer_items:  # sorted by item id: the first performance of each song
            first_of_song.setdefault(_value(item, song_field), item)
        for side in ("test", "validation", "train"):
            if song_sets[side] and song_sets[side] <= set(first_of_song):
                out.extend(SplitAssignment(first_of_song[song].item_id, side)
                           for song in sorted(song_sets[side]))
                break
    if not out:
        raise InputError("no singer sang every song of any split; check the song_index field "
                         "(scan with the damp-balanced layout) and the --songs-* options")
    return sorted(out, key=lambda a: a.item_id)


def split_stratified(items: Iterable[SplitItem], *, by: str, seed: int,
                     test_fraction: float = 0.1, validation_fraction: float = 0.1
                     ) -> list[SplitAssignment]:
    """S4's random split: per class of ``by``, ``test_fraction`` test, then
    ``validation_fraction`` of the remainder validation (rounded half up per class)."""
    _check_fraction("test_fraction", test_fraction)
    _check_fraction("validation_fraction", validation_fraction)
    items = _sorted_items(items)
    rng = random.Random(seed)
    side: dict[str, str] = {}
    for members in _group(items, by).values():
        ids = [i.item_id for i in members]
        rng.shuffle(ids)
        n_test = _count(test_fraction, len(ids))
        rest = ids[n_test:]
        n_validation = _count(validation_fraction, len(rest))
        side.update({i: "test" for i in ids[:n_test]})
        side.update({i: "validation" for i in rest[:n_validation]})
        side.update({i: "train" for i in rest[n_validation:]})
    return [SplitAssignment(i.item_id, side[i.item_id]) for i in items]


def split_kfold(items: Iterable[SplitItem], *, by: str, seed: int, n_folds: int = 10,
                order_field: str | None = "recording_index", n_validation: int = 1
                ) -> list[SplitAssignment]:
    """S2's cross-validation: in fold k, recording k of every ``by`` group is test and
    ``n_validation`` other recordings of the group (drawn with ``seed``) are validation.

    Returns ``n_folds x len(items)`` assignments, fold by fold.
    """
    if n_folds < 2:
        raise ConfigError(f"n_folds must be at least 2, got {n_folds}")
    items = _sorted_items(items)
    rng = random.Random(seed)
    groups = _group(items, by)
    ordered: dict[str, list[SplitItem]] = {}
    for key, members in groups.items():
        if order_field and all(order_field in i.fields for i in members):
            try:
                members = sorted(members, key=lambda i: (int(i.fields[order_field]), i.item_id))
            except (TypeError, ValueError) as error:
                raise InputError(f"group {key!r}: field {order_field!r} must be an integer "
                                 f"({error})") from error
        ordered[key] = members
    out: list[SplitAssignment] = []
    for fold in range(n_folds):
        side: dict[str, str] = {}
        for members in ordered.values():
            test_ids = {m.item_id for index, m in enumerate(members) if index % n_folds == fold}
            rest = [m.item_id for m in members if m.item_id not in test_ids]
            picked = set(rng.sample(rest, min(n_validation, max(len(rest) - 1, 0))))
            for member in members:
                side[member.item_id] = ("test" if member.item_id in test_ids else
                                        "validation" if member.item_id in picked else "train")
        out.extend(SplitAssignment(i.item_id, side[i.item_id], fold) for i in items)
    return out


def split_group_kfold(items: Iterable[SplitItem], *, by: str, seed: int,
                      n_folds: int | None = None, validation_fraction: float = 0.0
                      ) -> list[SplitAssignment]:
    """Cross-validation over whole groups of ``by``: fold k tests the groups dealt to fold k
    (values sorted, shuffled with ``seed``, dealt in turn); ``n_folds`` None = one fold per group
    (leave-one-group-out). In each fold a seeded ``round(validation_fraction x other groups)`` of
    the other groups is validation (whole groups), the rest train.

    Returns ``n_folds x len(items)`` assignments, fold by fold.
    """
    _check_fraction("validation_fraction", validation_fraction)
    items = _sorted_items(items)
    groups = _group(items, by)
    keys = list(groups)
    if len(keys) < 2:
        raise InputError(f"only {len(keys)} distinct value(s) of {by!r}: leaving groups out needs "
                         "at least 2")
    n_folds = len(keys) if n_folds is None else n_folds
    if not 2 <= n_folds <= len(keys):
        raise ConfigError(f"n_folds must be from 2 to the {len(keys)} values of {by!r} (one fold "
                          f"per value: leave-one-out), got {n_folds}")
    rng = random.Random(seed)
    rng.shuffle(keys)
    fold_of = {key: index % n_folds for index, key in enumerate(keys)}
    out: list[SplitAssignment] = []
    for fold in range(n_folds):
        others = sorted(k for k in keys if fold_of[k] != fold)
        n_validation = _count(validation_fraction, len(others))
        if n_validation >= len(others):
            raise InputError(f"fold {fold}: {len(others)} other value(s) of {by!r} leave none for "
                             "training after validation; lower --validation-fraction")
        validation = set(rng.sample(others, n_validation))
        for item in items:
            key = _value(item, by)
            side = ("test" if fold_of[key] == fold else
                    "validation" if key in validation else "train")
            out.append(SplitAssignment(item.item_id, side, fold))
    return out


def _group_fields(by: str | Sequence[str]) -> tuple[str, ...]:
    fields = tuple(f.strip() for f in (by.split(",") if isinstance(by, str) else by) if f.strip())
    if not fields:
        raise ConfigError("the group split needs at least one field to group by")
    return fields


def _group_key(item: SplitItem, fields: Sequence[str]) -> tuple[str, ...]:
    key = tuple(_value(item, field) for field in fields)
    for field, value in zip(fields, key):
        if field != "item_id" and item.fields[field] in (None, ""):
            raise InputError(f"item {item.item_id}: field {field!r} is empty; every item needs a "
                             "value to be grouped by")
    return key


def _group_counts(n_groups: int, *, test_fraction: float, validation_fraction: float
                  ) -> tuple[int, int, bool]:
    """``(n_test, n_validation, cut)`` of ``n_groups``: ``test_fraction`` of the groups, then
    ``validation_fraction`` of the rest (half up), at least one each where the fraction is positive
    and there are 2 (test) or 3 (validation) groups; cut down (``cut`` True) to leave one for
    training."""
    n_test = _count(test_fraction, n_groups)
    if test_fraction > 0 and n_groups >= 2:
        n_test = max(1, n_test)
    n_validation = _count(validation_fraction, n_groups - n_test)
    if validation_fraction > 0 and n_groups >= 3:
        n_validation = max(1, n_validation)
    cut = False
    while n_test + n_validation > n_groups - 1 and (n_test or n_validation):
        cut = True
        if n_validation >= n_test and n_validation:
            n_validation -= 1
        else:
            n_test -= 1
    return n_test, n_validation, cut


def split_groups(items: Iterable[SplitItem], *, by: str | Sequence[str], seed: int,
                 test_fraction: float = 0.1, validation_fraction: float = 0.1,
                 stratify: str | None = None) -> list[SplitAssignment]:
    """Group-disjoint split: whole groups go to test, validation or train.

    A group is the items that share the values of the ``by`` fields (one name, several names, or
    a comma-separated text: ``"singer,song_id"`` when song numbers restart per singer; ``item_id``
    makes every item its own group). ``test_fraction`` of the groups go to test, then
    ``validation_fraction`` of the rest to validation (half up).

    With ``stratify``, and every group holding a single value of that field (songs of one singer,
    albums of one artist), the counts apply per value: values and their groups sorted, groups
    shuffled with the seed value by value, at least one test group when the value has 2 groups and
    one validation group when it has 3, always one in training. This is S1's album split (6
    albums -> 1 test, 1 validation, 4 train) for ``by="album", stratify="artist"``. Otherwise the
    groups are shuffled together, and too few groups for the fractions is an error.
    """
    _check_fraction("test_fraction", test_fraction)
    _check_fraction("validation_fraction", validation_fraction)
    items = _sorted_items(items)
    fields = _group_fields(by)
    members: dict[tuple[str, ...], list[SplitItem]] = defaultdict(list)
    for item in items:
        members[_group_key(item, fields)].append(item)
    rng = random.Random(seed)
    side: dict[tuple[str, ...], str] = {}

    def assign(keys: list[tuple[str, ...]], n_test: int, n_validation: int) -> None:
        side.update({k: "test" for k in keys[:n_test]})
        side.update({k: "validation" for k in keys[n_test:n_test + n_validation]})
        side.update({k: "train" for k in keys[n_test + n_validation:]})

    strata: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    if stratify is not None:
        for key, group in members.items():
            values = {_value(item, stratify) for item in group}
            if len(values) > 1:
                strata.clear()
                break
            strata[values.pop()].append(key)
    if strata:
        for value in sorted(strata):
            keys = sorted(strata[value])
            rng.shuffle(keys)
            n_test, n_validation, _ = _group_counts(len(keys), test_fraction=test_fraction,
                                                    validation_fraction=validation_fraction)
            assign(keys, n_test, n_validation)
    else:
        keys = sorted(members)
        rng.shuffle(keys)
        n_test, n_validation, cut = _group_counts(len(keys), test_fraction=test_fraction,
                                                  validation_fraction=validation_fraction)
        if cut or (test_fraction > 0 and not n_test) or (validation_fraction > 0 and not n_validation):
            raise InputError(f"only {len(keys)} distinct values of {','.join(fields)!r}: too few "
                             "groups for a train/validation/test split; lower the fractions or "
                             "group by another field")
        assign(keys, n_test, n_validation)
    return [SplitAssignment(i.item_id, side[_group_key(i, fields)]) for i in items]


def keep_items(items: Iterable[SplitItem], keep: Mapping[str, Sequence[str]]) -> list[SplitItem]:
    """The items whose field ``f`` is one of ``keep[f]`` for every ``f`` (values compared as text).

    Items left out of a split file are not used by ``train``: this is how a split selects, e.g., the
    10 S3 techniques out of VocalSet's 17."""
    items = list(items)
    for field, values in keep.items():
        wanted = {str(v) for v in values}
        present = {_value(i, field) for i in items}
        if not wanted & present:
            raise InputError(f"no item has {field} in {', '.join(sorted(wanted))} (values: "
                             f"{', '.join(sorted(present)[:20])})")
        items = [i for i in items if _value(i, field) in wanted]
    return items


# -- dispatch --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SplitConfig:
    """Every setting of ``vocaltools dataset split``; each scheme reads the ones it needs."""

    scheme: str
    seed: int = 0
    by: str | None = None
    group: str | None = None
    test_fraction: float = 0.1
    validation_fraction: float = 0.1
    #: kfold: None = 10 folds when holding out recordings, one fold per group when holding out groups
    n_folds: int | None = None
    #: kfold: ``recording`` (S2: recording k of every group in fold k) or ``group`` (whole groups
    #: of ``by`` in fold k: leave-one-group-out)
    hold_out: str = "recording"
    #: group: count per value of this field when every group holds one (``train`` passes its target)
    stratify: str | None = None
    #: vocalset: None = the items' official_split field, else VOCALSET_TEST_SINGERS
    test_singers: tuple[str, ...] | None = None
    train_songs: tuple[int, ...] = DAMP_BALANCED_TRAIN_SONGS
    validation_songs: tuple[int, ...] = DAMP_BALANCED_VALIDATION_SONGS
    test_songs: tuple[int, ...] = DAMP_BALANCED_TEST_SONGS
    #: keep only items whose field has one of the values (applied before splitting)
    keep: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)


def _album(items: Sequence[SplitItem], c: SplitConfig) -> list[SplitAssignment]:
    return split_albums(items, seed=c.seed, artist_field=c.by or "artist",
                        album_field=c.group or "album")


def _vocalset(items: Sequence[SplitItem], c: SplitConfig) -> list[SplitAssignment]:
    return split_vocalset(items, seed=c.seed, test_singers=c.test_singers,
                          singer_field=c.group or "singer",
                          validation_fraction=c.validation_fraction,
                          stratify_field=c.by or "technique")


def _damp(items: Sequence[SplitItem], c: SplitConfig) -> list[SplitAssignment]:
    return split_damp_balanced(items, train_songs=c.train_songs,
                               validation_songs=c.validation_songs, test_songs=c.test_songs,
                               song_field=c.group or "song_index", singer_field=c.by or "singer")


def _stratified(items: Sequence[SplitItem], c: SplitConfig) -> list[SplitAssignment]:
    if not c.by:
        raise ConfigError("the stratified scheme needs --by FIELD (the class, e.g. instrument)")
    return split_stratified(items, by=c.by, seed=c.seed, test_fraction=c.test_fraction,
                            validation_fraction=c.validation_fraction)


HOLD_OUT = ("recording", "group")


def _kfold(items: Sequence[SplitItem], c: SplitConfig) -> list[SplitAssignment]:
    if c.hold_out == "group":
        return split_group_kfold(items, by=c.by or "singer", seed=c.seed, n_folds=c.n_folds,
                                 validation_fraction=c.validation_fraction)
    if c.hold_out != "recording":
        raise ConfigError(f"unknown hold-out {c.hold_out!r}; choose one of {', '.join(HOLD_OUT)}")
    return split_kfold(items, by=c.by or "singer", seed=c.seed,
                       n_folds=10 if c.n_folds is None else c.n_folds,
                       order_field=c.group or "recording_index")


def _groups(items: Sequence[SplitItem], c: SplitConfig) -> list[SplitAssignment]:
    if not (c.by or c.group):
        raise ConfigError("the group scheme needs --by FIELD (the groups to keep apart, e.g. "
                          "song_key)")
    return split_groups(items, by=c.by or c.group, seed=c.seed, test_fraction=c.test_fraction,
                        validation_fraction=c.validation_fraction, stratify=c.stratify)


#: scheme name -> (function, what --by and --group mean for it)
SCHEMES: dict[str, tuple[Callable[[Sequence[SplitItem], SplitConfig], list[SplitAssignment]],
                         str]] = {
    "album": (_album, "S1: --by artist field (artist), --group album field (album)"),
    "vocalset": (_vocalset, "S3: official test singers; --by validation strata (technique), "
                            "--group singer field (singer)"),
    "damp-balanced": (_damp, "S2: songs 1-6/7-10/11-14; --by singer field (singer), --group song "
                             "index field (song_index)"),
    "stratified": (_stratified, "S4: --by class field (required); test then validation fraction"),
    "kfold": (_kfold, "S2: --by singer field (singer), --group recording order field "
                      "(recording_index); --hold-out group: whole groups of --by per fold "
                      "(leave-one-singer-out); one record per item and fold"),
    "group": (_groups, "--by group field(s) (required): groups never straddle sides; --stratify "
                       "FIELD counts per class"),
}


def make_split(items: Sequence[SplitItem], config: SplitConfig) -> list[SplitAssignment]:
    """The split of ``items`` that ``config`` describes."""
    if config.scheme not in SCHEMES:
        raise ConfigError(f"unknown split scheme {config.scheme!r} (schemes: "
                          f"{', '.join(SCHEMES)}){did_you_mean(config.scheme, SCHEMES)}")
    if config.keep:
        items = keep_items(items, config.keep)
    return SCHEMES[config.scheme][0](items, config)


# -- files -----------------------------------------------------------------------------------------

def write_split(assignments: Iterable[SplitAssignment] | Mapping[str, str],
                path: str | os.PathLike) -> int:
    """Write ``vocaltools.split/1`` records (atomically; ``-`` = stdout); returns the count.

    ``assignments`` may also be a ``{item_id: side}`` mapping, written sorted by item id."""
    if isinstance(assignments, Mapping):
        assignments = [SplitAssignment(item_id, assignments[item_id])
                       for item_id in sorted(assignments)]
    return write_jsonl(path, (a.to_record() for a in assignments))


def read_split(path: str | os.PathLike) -> list[SplitAssignment]:
    """The assignments of a split file; checks the schema, the side names and duplicates."""
    out: list[SplitAssignment] = []
    seen: set[tuple[str, int | None]] = set()
    for number, record in enumerate(iter_jsonl(path, kind="split"), start=1):
        where = f"{path}: record {number}"
        item_id, side, fold = record.get("item_id"), record.get("split"), record.get("fold")
        if not isinstance(item_id, str) or side not in SPLIT_NAMES:
            raise FormatError(f"{where}: expected item_id (text) and split in "
                              f"{', '.join(SPLIT_NAMES)}, got {item_id!r}, {side!r}")
        if fold is not None and not isinstance(fold, int):
            raise FormatError(f"{where}: fold must be an integer, got {fold!r}")
        if (item_id, fold) in seen:
            raise FormatError(f"{where}: item {item_id!r} appears twice"
                              + (f" in fold {fold}" if fold is not None else ""))
        seen.add((item_id, fold))
        out.append(SplitAssignment(item_id, side, fold))
    return out


def select_fold(assignments: Iterable[SplitAssignment], *, fold: int | None = None,
                where: str = "split") -> dict[str, str]:
    """``{item_id: side}`` of one fold (``fold`` None: a split without folds).

    A cross-validation split holds one record per item and fold: choosing none of its folds, or
    one it lacks, is an error that names ``where`` and the folds there are."""
    assignments = list(assignments)
    folds = sorted({a.fold for a in assignments if a.fold is not None})
    if folds and fold is None:
        raise InputError(f"{where}: this split has folds {folds[0]}..{folds[-1]}; choose one "
                         "with --fold")
    if fold is not None and fold not in folds:
        raise InputError(f"{where}: no fold {fold} in this split"
                         + (f" (folds {folds[0]}..{folds[-1]})" if folds else " (it has no folds)"))
    return {a.item_id: a.split for a in assignments if a.fold == fold}


def count_split(assignments: Iterable[SplitAssignment]) -> dict[int | None, Mapping[str, int]]:
    """Items per side, per fold (None when there are no folds)."""
    counts: dict[int | None, Counter] = defaultdict(Counter)
    for a in assignments:
        counts[a.fold][a.split] += 1
    return {fold: dict(counts[fold]) for fold in sorted(counts, key=lambda f: (f is None, f))}
