"""Shard selection (complete, disjoint, stable) and merging the feature stores of sharded runs."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest

from vocaltools.errors import InputError
from vocaltools.formats.store import FeatureStore
from vocaltools.merging import merge_stores
from vocaltools.sharding import Shard, parse_shard, select_shard, shard_of

IDS = [f"singer{i % 7}/song_{i:03d}" for i in range(200)]


def test_parse_shard():
    assert parse_shard("1/1") == Shard(1, 1)
    assert parse_shard(" 3 / 4 ") == Shard(3, 4)
    for bad in ("0/4", "5/4", "1/0", "a/b", "2", "-1/3", "1/2/3", ""):
        with pytest.raises(InputError, match="expected K/N|1..N"):
            parse_shard(bad)


@pytest.mark.parametrize("method", ["hash", "index"])
@pytest.mark.parametrize("count", [1, 3, 8])
def test_every_item_in_exactly_one_shard(method, count):
    shards = [select_shard(IDS, shard=f"{k}/{count}", method=method) for k in range(1, count + 1)]
    flat = [item for shard in shards for item in shard]
    assert sorted(flat) == sorted(IDS)
    assert all(shard for shard in shards)  # 200 items: no shard is empty
    if method == "index":
        assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_hash_assignment_is_stable_and_order_independent():
    expected = 1 + int.from_bytes(hashlib.sha256(b"singer0/song_000").digest()[:8], "big") % 5
    assert shard_of("singer0/song_000", 5) == expected
    forward = select_shard(IDS, shard="2/5")
    backward = select_shard(reversed(IDS), shard="2/5")
    assert sorted(forward) == sorted(backward)
    # a subset of the collection keeps each item's shard (nothing depends on the other items)
    assert select_shard(IDS[:50], shard="2/5") == [i for i in forward if i in IDS[:50]]
    # a different interpreter (another PYTHONHASHSEED) computes the same shard
    code = "from vocaltools.sharding import shard_of; print(shard_of('singer3/song_042', 7))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONHASHSEED": "123", "PYTHONPATH": str(__import__("pathlib").Path(
                             __file__).resolve().parents[1])}, check=True)
    assert int(out.stdout) == shard_of("singer3/song_042", 7)


def test_select_shard_with_key_and_bad_method():
    items = [{"item_id": i} for i in IDS]
    chosen = select_shard(items, shard=Shard(1, 2), key=lambda r: r["item_id"])
    assert [r["item_id"] for r in chosen] == select_shard(IDS, shard="1/2")
    with pytest.raises(InputError, match="unknown shard method"):
        select_shard(IDS, shard="1/2", method="random")


CONFIG = {"preset": "custom", "sample_rate": 16000,
          "front_ends": [{"name": "logmel", "n_mels": 4}]}


def _arrays(item_id: str) -> dict[str, np.ndarray]:
    seed = int.from_bytes(hashlib.sha256(item_id.encode()).digest()[:4], "big")
    return {"logmel": np.random.default_rng(seed).random((1, 4, 5), dtype=np.float32)}


def _make_store(root, ids, config=CONFIG):
    store = FeatureStore(root)
    store.create(feature_config=config)
    for item_id in ids:
        store.write_item(item_id=item_id, audio_path=f"{item_id}.flac", arrays=_arrays(item_id),
                         duration_s=1.0, fields={"singer": item_id.split("/")[0]},
                         meta={"feature_config": config})
    return store


def test_merge_round_trip(tmp_path):
    shards = [select_shard(IDS[:30], shard=f"{k}/3") for k in (1, 2, 3)]
    sources = [_make_store(tmp_path / f"shard{k}", ids).root for k, ids in enumerate(shards)]
    summary = merge_stores(sources=sources, dest=tmp_path / "all")
    assert (summary.n_sources, summary.n_items, summary.n_duplicates) == (3, 30, 0)
    merged = FeatureStore(tmp_path / "all")
    assert merged.feature_config() == CONFIG
    items = merged.items()
    assert sorted(i.item_id for i in items) == sorted(IDS[:30])
    for item in items:
        assert item.features == f"items/{item.item_id}.npz"
        np.testing.assert_array_equal(merged.load_arrays(item)["logmel"], _arrays(item.item_id)["logmel"])
        assert item.fields == {"singer": item.item_id.split("/")[0]}
    # self-contained: the sources can go
    for source in sources:
        for npz in source.rglob("*.npz"):
            npz.unlink()
    assert merged.finished_ids() == set(IDS[:30])
    # merging again into the same destination adds nothing
    again = merge_stores(sources=[_make_store(tmp_path / "extra", IDS[:3] + IDS[30:32]).root],
                         dest=tmp_path / "all", link=False)
    assert (again.n_items, again.n_duplicates) == (2, 3)
    assert len(merged.items()) == 32


def test_merge_skips_unfinished_items(tmp_path):
    store = _make_store(tmp_path / "a", IDS[:4])
    (store.root / f"items/{IDS[0]}.npz").unlink()  # interrupted before... the NPZ is gone
    summary = merge_stores(sources=[store.root], dest=tmp_path / "all")
    assert (summary.n_items, summary.n_incomplete) == (3, 1)


def test_merge_refuses_different_configs(tmp_path):
    a = _make_store(tmp_path / "a", IDS[:2]).root
    other = {**CONFIG, "front_ends": [{"name": "logmel", "n_mels": 8}]}
    b = _make_store(tmp_path / "b", IDS[2:4], config=other).root
    with pytest.raises(InputError, match=r"feature config differs.*n_mels"):
        merge_stores(sources=[a, b], dest=tmp_path / "all")
    assert not (tmp_path / "all").exists()


def test_merge_refuses_conflicting_duplicates(tmp_path):
    a = _make_store(tmp_path / "a", IDS[:2]).root
    b = FeatureStore(tmp_path / "b")
    b.create(feature_config=CONFIG)
    b.write_item(item_id=IDS[0], audio_path="x.flac", arrays={"logmel": np.zeros((1, 4, 5), np.float32)},
                 duration_s=1.0, fields={"singer": "singer0"}, meta={})
    with pytest.raises(InputError, match="different features"):
        merge_stores(sources=[a, b.root], dest=tmp_path / "all")


def test_merge_refuses_non_store_and_self(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a feature store"):
        merge_stores(sources=[tmp_path / "empty"], dest=tmp_path / "all")
    a = _make_store(tmp_path / "a", IDS[:2]).root
    with pytest.raises(InputError, match="destination store itself"):
        merge_stores(sources=[a], dest=a)
    with pytest.raises(InputError, match="at least one"):
        merge_stores(sources=[], dest=tmp_path / "all")


def test_merge_cli_function(tmp_path):
    """The command function the lead registers as 'vocaltools merge' (typer app built here)."""
    import typer
    from typer.testing import CliRunner

    from vocaltools.cli.merge import merge

    a = _make_store(tmp_path / "a", IDS[:2]).root
    b = _make_store(tmp_path / "b", IDS[2:5]).root
    app = typer.Typer()
    app.command()(merge)
    app.command("other")(lambda: None)  # two commands: typer keeps 'merge' as a sub-command
    result = CliRunner().invoke(app, ["merge", str(a), str(b), "-o", str(tmp_path / "all"), "--copy"])
    assert result.exit_code == 0, result.output
    assert "merged 5 items from 2 stores" in result.output
    assert len(FeatureStore(tmp_path / "all").items()) == 5


def test_featurize_shards_then_merge_equal_one_run(tmp_path):
    """featurize --shard 1/2 and 2/2 into two stores, merged, hold the items of one whole run."""
    import json

    from conftest import invoke_cli
    from vocaltools.synth import make_singer_dataset

    make_singer_dataset(tmp_path / "audio", n_singers=2, n_songs=2, seconds=1.0)
    for k in (1, 2):
        result = invoke_cli("featurize", str(tmp_path / "audio"), "--labels", "dirname", "--shard",
                         f"{k}/2", "-o", str(tmp_path / f"s{k}"), "--quiet")
        assert result.returncode == 0, result.stderr
    merged = invoke_cli("merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "-o", str(tmp_path / "m"))
    assert merged.returncode == 0, merged.stderr
    ids = {json.loads(line)["item_id"] for line in (tmp_path / "m" / "manifest.jsonl").open()}
    assert len(ids) == 8
    bad = invoke_cli("featurize", str(tmp_path / "audio"), "--shard", "3/2", "-o", str(tmp_path / "x"))
    assert bad.returncode == 2 and "3/2" in bad.stderr  # a usage error
