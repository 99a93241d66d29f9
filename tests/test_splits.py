"""Splits: every scheme checked exactly, reproducibility against hard-coded assignments, files."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from conftest import invoke_cli
from vocaltools.datasets.items import AudioItem
from vocaltools.datasets.itemlist import write_items
from vocaltools.datasets.layouts import LAYOUTS
from vocaltools.datasets.splits import (SplitAssignment, SplitConfig, count_split, make_split,
                                        read_split, select_fold, split_albums,
                                        split_damp_balanced, split_group_kfold, split_groups,
                                        split_kfold, split_stratified, split_vocalset, write_split)
from vocaltools.errors import ConfigError, FormatError, InputError
from vocaltools.formats.store import ItemRecord

ALBUMS = {
    "aerosmith": ["Aerosmith", "Get_Your_Wings", "Pump", "Toys_in_the_Attic"],
    "beatles": ["Abbey_Road", "Help", "Revolver", "Rubber_Soul"],
    "cure": ["Disintegration", "Pornography", "Seventeen_Seconds", "Wish"],
}


def item(item_id: str, **fields) -> AudioItem:
    return AudioItem(item_id=item_id, audio_path=Path(f"/data/{item_id}.wav"), fields=fields)


def artist20_tree(root: Path) -> Path:
    for artist, albums in ALBUMS.items():
        for album in albums:
            for track in ("01-First_Song", "02-Second_Song"):
                path = root / "mp3s-32k" / artist / album / f"{track}.mp3"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"mp3 stand-in")
    return root


def sides_of_albums(assignments) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for a in assignments:
        _, artist, album, _ = a.item_id.split("/")
        out[(artist, album)].add(a.split)
    assert all(len(sides) == 1 for sides in out.values()), "an album straddles two sides"
    return {key: sides.pop() for key, sides in out.items()}


# -- album (S1) ----------------------------------------------------------------------------------

EXPECTED_ALBUM_SPLIT_SEED_0 = {
    ("aerosmith", "Pump"): "test", ("aerosmith", "Aerosmith"): "validation",
    ("beatles", "Abbey_Road"): "test", ("beatles", "Help"): "validation",
    ("cure", "Disintegration"): "test", ("cure", "Seventeen_Seconds"): "validation",
}
EXPECTED_ALBUM_SPLIT_SEED_42 = {
    ("aerosmith", "Pump"): "test", ("aerosmith", "Get_Your_Wings"): "validation",
    ("beatles", "Rubber_Soul"): "test", ("beatles", "Revolver"): "validation",
    ("cure", "Pornography"): "test", ("cure", "Wish"): "validation",
}


@pytest.mark.parametrize("seed, expected", [(0, EXPECTED_ALBUM_SPLIT_SEED_0),
                                            (42, EXPECTED_ALBUM_SPLIT_SEED_42)])
def test_album_split_is_the_hard_coded_one(tmp_path, seed, expected):
    items = LAYOUTS["artist20"].scan(artist20_tree(tmp_path / "artist20"))
    sides = sides_of_albums(split_albums(items, seed=seed))
    assert {k: v for k, v in sides.items() if v != "train"} == expected
    assert Counter(sides.values()) == {"train": 6, "validation": 3, "test": 3}


def test_album_split_ignores_input_order_and_depends_on_seed(tmp_path):
    items = LAYOUTS["artist20"].scan(artist20_tree(tmp_path / "artist20"))
    shuffled = list(items)
    random.Random(7).shuffle(shuffled)
    assert split_albums(shuffled, seed=3) == split_albums(items, seed=3)
    assert split_albums(items, seed=0) != split_albums(items, seed=42)


def test_album_split_needs_three_albums_per_artist():
    items = [item(f"a/{album}/t", artist="a", album=album) for album in ("x", "y")]
    with pytest.raises(InputError, match="artist 'a' has 2 album"):
        split_albums(items, seed=0)


def test_cli_album_split_from_scan_csv(tmp_path):
    root = artist20_tree(tmp_path / "artist20")
    items_csv = root / "items.csv"
    assert invoke_cli("dataset", "scan", "artist20", str(root), "-o", str(items_csv),
                   "-q").returncode == 0
    done = invoke_cli("dataset", "split", str(items_csv), "--scheme", "album", "--seed", "0",
                   "-o", str(tmp_path / "split.jsonl"))
    assert done.returncode == 0, done.stderr
    assert "album: train 12, validation 6, test 6" in done.stderr
    assignments = read_split(tmp_path / "split.jsonl")
    assert [a.item_id for a in assignments] == sorted(a.item_id for a in assignments)
    assert {k: v for k, v in sides_of_albums(assignments).items() if v != "train"} == \
        EXPECTED_ALBUM_SPLIT_SEED_0
    first = (tmp_path / "split.jsonl").read_text().splitlines()[0]
    assert first == ('{"schema":"vocaltools.split/1","item_id":'
                     '"mp3s-32k/aerosmith/Aerosmith/01-First_Song","split":"validation"}')


# -- VocalSet (S3) -------------------------------------------------------------------------------

def vocalset_items():
    singers = [f"f{i}" for i in range(1, 10)] + [f"m{i}" for i in range(1, 12)]
    return [item(f"{s}/{t}/{k}", singer=s, technique=t)
            for s in singers for t in ("belt", "trill") for k in range(5)]


def test_vocalset_split_official_singers_and_seeded_validation():
    items = vocalset_items()
    out = split_vocalset(items, seed=0, validation_fraction=0.2)
    side = {a.item_id: a.split for a in out}
    test_singers = {i.item_id.split("/")[0] for i in items if side[i.item_id] == "test"}
    assert test_singers == {"f2", "f8", "m3", "m5", "m10"}
    # 15 training singers x 5 recordings = 75 per technique; 20 % = 15 validation per technique
    validation = [i for i in items if side[i.item_id] == "validation"]
    assert Counter(i.fields["technique"] for i in validation) == {"belt": 15, "trill": 15}
    assert Counter(side.values()) == {"test": 50, "validation": 30, "train": 120}
    assert split_vocalset(list(reversed(items)), seed=0, validation_fraction=0.2) == out
    assert split_vocalset(items, seed=1, validation_fraction=0.2) != out
    # the layout's official_split field decides when present
    marked = [item(i.item_id, **i.fields, official_split="test" if i.fields["singer"] == "f1"
                   else "train") for i in items]
    assert {a.item_id.split("/")[0] for a in split_vocalset(marked, seed=0)
            if a.split == "test"} == {"f1"}
    with pytest.raises(InputError, match="none of the test singers"):
        split_vocalset([item("x", singer="z1", technique="belt")], seed=0)


def test_keep_selects_the_s3_techniques_before_splitting(tmp_path):
    items = vocalset_items() + [item(f"f1/messa/{k}", singer="f1", technique="messa")
                                for k in range(3)]
    write_items(items, tmp_path / "items.csv")
    done = invoke_cli("dataset", "split", str(tmp_path / "items.csv"), "--scheme", "vocalset",
                   "--keep", "technique=belt,trill", "--validation-fraction", "0.2",
                   "-o", str(tmp_path / "split.jsonl"))
    assert done.returncode == 0, done.stderr
    assert "vocalset: train 120, validation 30, test 50" in done.stderr
    assert not any("messa" in a.item_id for a in read_split(tmp_path / "split.jsonl"))
    with pytest.raises(InputError, match="no item has technique in yodel"):
        make_split(items, SplitConfig(scheme="vocalset", keep={"technique": ("yodel",)}))


# -- DAMP-balanced (S2) --------------------------------------------------------------------------

def test_damp_balanced_split():
    items = []

    def sings(singer, songs, take="a"):
        items.extend(item(f"{singer}/{song}{take}", singer=singer, song_index=song)
                     for song in songs)

    sings("alice", range(1, 7))                 # the 6 training songs -> train
    sings("alice", [1], take="b")               # a second take of song 1: left out
    sings("bob", range(7, 11))                  # the 4 validation songs -> validation
    sings("carol", range(11, 15))               # the 4 test songs -> test
    sings("dave", range(1, 6))                  # misses song 6 -> left out
    sings("erin", range(1, 15))                 # all 14 -> test only (singer-disjoint)
    out = split_damp_balanced(items)
    assert {a.item_id: a.split for a in out} == {
        **{f"alice/{s}a": "train" for s in range(1, 7)},
        **{f"bob/{s}a": "validation" for s in range(7, 11)},
        **{f"carol/{s}a": "test" for s in range(11, 15)},
        **{f"erin/{s}a": "test" for s in range(11, 15)},
    }
    with pytest.raises(ConfigError, match="more than one split"):
        split_damp_balanced(items, train_songs=(1, 2), validation_songs=(2, 3))


# -- stratified (S4) -----------------------------------------------------------------------------

def test_stratified_split_counts_per_class():
    items = ([item(f"violin/{k:02d}", instrument="violin") for k in range(20)]
             + [item(f"banjo/{k:02d}", instrument="banjo") for k in range(5)])
    out = split_stratified(items, by="instrument", seed=0)
    counts = Counter((a.item_id.split("/")[0], a.split) for a in out)
    # violin: 10 % of 20 = 2 test; 10 % of 18 = 1.8 -> 2 validation; banjo: 0.5 -> 1, 0.4 -> 0
    assert counts == {("violin", "test"): 2, ("violin", "validation"): 2,
                      ("violin", "train"): 16, ("banjo", "test"): 1, ("banjo", "train"): 4}
    assert split_stratified(items[::-1], by="instrument", seed=0) == out
    assert {a.item_id for a in out if a.split == "test"} == {
        "banjo/02", "violin/00", "violin/14"}
    assert {a.item_id for a in out if a.split == "validation"} == {"violin/07", "violin/17"}


# -- k-fold (S2) ---------------------------------------------------------------------------------

def test_kfold_puts_recording_k_of_every_singer_in_fold_k():
    items = [item(f"{s}/rec{r}", singer=s, recording_index=r)
             for s in ("s1", "s2", "s3") for r in range(10)]
    out = split_kfold(items, by="singer", seed=0, n_folds=10)
    assert len(out) == 10 * 30
    for fold in range(10):
        in_fold = [a for a in out if a.fold == fold]
        assert sorted(a.item_id for a in in_fold if a.split == "test") == [
            f"{s}/rec{fold}" for s in ("s1", "s2", "s3")]
        validation = [a.item_id for a in in_fold if a.split == "validation"]
        assert sorted(v.split("/")[0] for v in validation) == ["s1", "s2", "s3"]
        assert all(not v.endswith(f"rec{fold}") for v in validation)
    assert Counter(a.item_id for a in out if a.split == "test") == {i.item_id: 1 for i in items}
    assert split_kfold(items, by="singer", seed=0) == out
    assert split_kfold(items, by="singer", seed=5) != out


def test_kfold_orders_by_item_id_without_recording_index():
    items = [item(f"s/{name}", singer="s") for name in ("c", "a", "b")]
    out = split_kfold(items, by="singer", seed=0, n_folds=3)
    assert [a.item_id for a in out if a.split == "test"] == ["s/a", "s/b", "s/c"]


def test_group_kfold_leaves_one_singer_out():
    singers = ("f3", "f5", "m1", "m2")
    items = [item(f"{s}/{t}{k}", singer=s, technique=t) for s in singers
             for t in ("belt", "vibrato") for k in range(3)]
    out = split_group_kfold(items, by="singer", seed=0)
    assert len(out) == 4 * len(items)
    tested = []
    for fold in range(4):
        sides = defaultdict(set)
        for a in out:
            if a.fold == fold:
                sides[a.item_id.split("/")[0]].add(a.split)
        assert all(len(s) == 1 for s in sides.values())  # no singer on two sides
        test = [g for g, s in sides.items() if s == {"test"}]
        assert len(test) == 1 and all(s == {"train"} for g, s in sides.items() if g not in test)
        tested += test
    assert sorted(tested) == list(singers)  # every singer is tested exactly once
    assert split_group_kfold(items[::-1], by="singer", seed=0) == out
    # a third of the 3 other singers validates (whole singers); 2 folds of 2 singers each
    validated = split_group_kfold(items, by="singer", seed=0, validation_fraction=0.34)
    for fold in range(4):
        sides = Counter(a.split for a in validated if a.fold == fold)
        assert sides == {"test": 6, "validation": 6, "train": 12}
    halves = split_group_kfold(items, by="singer", seed=0, n_folds=2)
    assert [Counter(a.split for a in halves if a.fold == f)["test"] for f in (0, 1)] == [12, 12]
    with pytest.raises(ConfigError, match="n_folds must be from 2 to the 4 values"):
        split_group_kfold(items, by="singer", seed=0, n_folds=5)
    with pytest.raises(InputError, match="leave none for training"):
        split_group_kfold(items, by="singer", seed=0, validation_fraction=0.9)
    config = SplitConfig(scheme="kfold", by="singer", hold_out="group")
    assert make_split(items, config) == out
    with pytest.raises(ConfigError, match="unknown hold-out"):
        make_split(items, SplitConfig(scheme="kfold", hold_out="song"))


def test_cli_kfold_hold_out_group(tmp_path):
    items = [item(f"{s}/rec{r}", singer=s) for s in ("s1", "s2", "s3") for r in range(2)]
    write_items(items, tmp_path / "items.jsonl")
    done = invoke_cli("dataset", "split", str(tmp_path / "items.jsonl"), "--scheme", "kfold",
                   "--by", "singer", "--hold-out", "group", "--validation-fraction", "0",
                   "-o", str(tmp_path / "loso.jsonl"))
    assert done.returncode == 0, done.stderr
    assert "kfold fold 2: train 4, validation 0, test 2" in done.stderr
    records = read_split(tmp_path / "loso.jsonl")
    assert {r.fold for r in records} == {0, 1, 2}
    bad = invoke_cli("dataset", "split", str(tmp_path / "items.jsonl"), "--scheme", "kfold",
                  "--by", "singer", "--hold-out", "group", "--fold", "3", "-o", "-")
    assert bad.returncode == 1 and "expected a fold in 0..2" in bad.stderr


# -- group ---------------------------------------------------------------------------------------

def test_group_split_keeps_groups_whole():
    items = [item(f"{g}/{k}", song_key=f"song{g}") for g in range(10) for k in range(3)]
    out = split_groups(items, by="song_key", seed=0, test_fraction=0.2,
                       validation_fraction=0.2)
    side_of_group: dict[str, set[str]] = defaultdict(set)
    for a in out:
        side_of_group[a.item_id.split("/")[0]].add(a.split)
    assert all(len(s) == 1 for s in side_of_group.values())
    assert Counter(s.pop() for s in side_of_group.values()) == {
        "test": 2, "validation": 2, "train": 6}
    assert split_groups(items[::-1], by="song_key", seed=0, test_fraction=0.2,
                        validation_fraction=0.2) == out
    with pytest.raises(InputError, match="too few groups"):
        split_groups(items[:6], by="song_key", seed=0)


def _record(item_id, singer, song):
    """A feature store's manifest line: splits read store items as they read dataset items."""
    return ItemRecord(item_id, f"{item_id}.wav", f"items/{item_id}.npz", 3.0, 94,
                      {"singer": singer, "song_id": song})


def test_stratified_group_split_keeps_groups_together_per_class():
    items = [_record(f"{s}-{g}-{t}", s, f"{s}-{g}") for s in "abc" for g in range(6)
             for t in range(2)]
    split = select_fold(split_groups(items, by="song_id", stratify="singer", seed=3,
                                     test_fraction=0.15, validation_fraction=0.15))
    by_group = defaultdict(set)
    for record in items:
        by_group[record.fields["song_id"]].add(split[record.item_id])
    assert all(len(sides) == 1 for sides in by_group.values())
    for singer in "abc":  # S1 album split: 6 groups -> 1 test, 1 validation, 4 train
        sides = [next(iter(by_group[f"{singer}-{g}"])) for g in range(6)]
        assert sides.count("test") == 1 and sides.count("validation") == 1
    again = split_groups(items[::-1], by="song_id", stratify="singer", seed=3,
                         test_fraction=0.15, validation_fraction=0.15)
    assert select_fold(again) == split
    other = split_groups(items, by="song_id", stratify="singer", seed=4, test_fraction=0.15,
                         validation_fraction=0.15)
    assert select_fold(other) != split


def test_stratified_group_split_with_few_groups_keeps_training_data():
    items = [_record("a1", "a", "1"), _record("b1", "b", "1"), _record("b2", "b", "2")]
    split = select_fold(split_groups(items, by="singer,song_id", stratify="singer", seed=0))
    assert split["a1"] == "train"
    assert sorted([split["b1"], split["b2"]]) == ["test", "train"]


def test_group_split_falls_back_to_one_draw_when_groups_mix_classes():
    """Songs sung by several singers cannot be counted per singer: the groups are drawn together,
    as 'dataset split --scheme group' without --stratify draws them."""
    items = [_record(f"{s}-{g}", s, str(g)) for s in "ab" for g in range(10)]
    mixed = split_groups(items, by="song_id", stratify="singer", seed=5, test_fraction=0.2,
                         validation_fraction=0.2)
    assert mixed == split_groups(items, by="song_id", seed=5, test_fraction=0.2,
                                 validation_fraction=0.2)


def test_train_split_is_the_group_scheme(tmp_path):
    """'train --split-by F' and 'dataset split --scheme group --by F --stratify TARGET' agree."""
    items = [_record(f"{s}-{g}-{t}", s, f"{g}") for s in "abc" for g in range(5) for t in range(2)]
    config = SplitConfig(scheme="group", by="singer,song_id", stratify="singer", seed=7,
                         test_fraction=0.15, validation_fraction=0.15)
    assert make_split(items, config) == split_groups(
        items, by=("singer", "song_id"), stratify="singer", seed=7, test_fraction=0.15,
        validation_fraction=0.15)


def test_group_split_by_item_id_and_missing_or_empty_fields():
    items = [_record(f"i{n}", "a", "1") for n in range(10)]
    split = select_fold(split_groups(items, by="item_id", seed=0, test_fraction=0.2,
                                     validation_fraction=0.25))
    assert Counter(split.values()) == {"test": 2, "validation": 2, "train": 6}
    with pytest.raises(InputError, match="no field 'album'"):
        split_groups([_record("a1", "a", "1")], by="album", seed=0)
    with pytest.raises(InputError, match="field 'song_id' is empty"):
        split_groups([_record("a1", "a", "")], by="song_id", seed=0)


def test_select_fold_needs_a_fold_of_a_cross_validation_split():
    assignments = [SplitAssignment("x", "test", fold=0), SplitAssignment("x", "train", fold=1)]
    with pytest.raises(InputError, match="choose one with --fold"):
        select_fold(assignments, where="k.jsonl")
    assert select_fold(assignments, fold=1) == {"x": "train"}
    with pytest.raises(InputError, match="no fold 5"):
        select_fold(assignments, fold=5)
    with pytest.raises(InputError, match="it has no folds"):
        select_fold([SplitAssignment("x", "train")], fold=0)


# -- dispatch and files --------------------------------------------------------------------------

def test_make_split_errors():
    items = [item("a", instrument="x")]
    with pytest.raises(ConfigError, match="did you mean 'stratified'"):
        make_split(items, SplitConfig(scheme="stratifed"))
    with pytest.raises(ConfigError, match="needs --by"):
        make_split(items, SplitConfig(scheme="stratified"))
    with pytest.raises(InputError, match="no field 'singer'"):
        make_split(items, SplitConfig(scheme="kfold"))


def test_split_file_from_a_mapping_is_sorted_by_item_id(tmp_path):
    split = {"z": "test", "x": "train", "y": "validation"}
    assert write_split(split, tmp_path / "split.jsonl") == 3
    assert [a.item_id for a in read_split(tmp_path / "split.jsonl")] == ["x", "y", "z"]
    assert select_fold(read_split(tmp_path / "split.jsonl")) == split


def test_split_file_round_trip_and_validation(tmp_path):
    assignments = [SplitAssignment("a", "train"), SplitAssignment("b", "test", fold=3)]
    path = tmp_path / "split.jsonl.gz"
    assert write_split(assignments, path) == 2
    assert read_split(path) == assignments
    assert count_split(assignments) == {3: {"test": 1}, None: {"train": 1}}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"schema":"vocaltools.split/1","item_id":"a","split":"dev"}\n')
    with pytest.raises(FormatError, match="split in train, validation, test"):
        read_split(bad)
    newer = tmp_path / "newer.jsonl"
    newer.write_text('{"schema":"vocaltools.split/9","item_id":"a","split":"train"}\n')
    with pytest.raises(FormatError, match="upgrade"):
        read_split(newer)


def test_cli_kfold_from_jsonl_item_list(tmp_path):
    items = [item(f"{s}/rec{r}", singer=s, recording_index=r)
             for s in ("s1", "s2") for r in range(4)]
    write_items(items, tmp_path / "items.jsonl")
    done = invoke_cli("dataset", "split", str(tmp_path / "items.jsonl"), "--scheme", "kfold",
                   "--folds", "4", "--seed", "1", "-o", "-")
    assert done.returncode == 0, done.stderr
    assert "kfold fold 3: train 4, validation 2, test 2" in done.stderr
    assert len(done.stdout.splitlines()) == 4 * 8
    per_fold = invoke_cli("dataset", "split", str(tmp_path / "items.jsonl"), "--scheme", "kfold",
                       "--folds", "4", "--seed", "1", "-o", str(tmp_path / "split-{fold}.jsonl"))
    assert per_fold.returncode == 0, per_fold.stderr
    for fold in range(4):
        records = read_split(tmp_path / f"split-{fold}.jsonl")
        assert len(records) == 8 and {r.fold for r in records} == {fold}
        assert sorted(r.item_id for r in records if r.split == "test") == [
            f"s1/rec{fold}", f"s2/rec{fold}"]
