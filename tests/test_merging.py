"""Merging embeddings files (meta checks, unique ids, canonical order, shard bookkeeping) and
telling the kinds of merge sources apart."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import invoke_cli
from vocaltools.errors import InputError
from vocaltools.formats.npz import save_npz
from vocaltools.formats.store import FeatureStore
from vocaltools.index.embeddings import load_embeddings, make_embedding_set, save_embeddings
from vocaltools.merging import (detect_kind, merge_embedding_sets, merge_embeddings,
                                merge_outputs)

META = {"embedder": "model", "model": "tiny_cnn", "layer": "output", "label_field": "singer",
        "clip_config": {"clip_seconds": 1.0, "hop_seconds": 0.5},
        "feature_config": {"preset": "wang2018"}}


def _set(ids, *, shard=None, meta=META, fields=("singer",), seed=0):
    """Embeddings of ``ids`` with 1 + (index % 3) clips each (dim 4)."""
    rng = np.random.default_rng(seed)
    clip_item = np.concatenate([[i] * (1 + i % 3) for i in range(len(ids))]).astype(np.int64)
    return make_embedding_set(
        clip_embeddings=rng.normal(size=(len(clip_item), 4)).astype(np.float32),
        clip_item=clip_item, clip_start_s=np.arange(len(clip_item)) * 0.5, item_ids=ids,
        labels=[i.split("/")[0] for i in ids],
        fields={name: [f"{name}:{i}" for i in ids] for name in fields},
        meta={**meta, **({"shard": shard} if shard else {})})


def test_merge_sorts_items_and_keeps_their_clips(tmp_path):
    a = _set(["s2/x", "s0/y"], shard="1/2")
    b = _set(["s1/z"], shard="2/2", fields=("singer", "take"), seed=1)
    merged = merge_embedding_sets([a, b], names=["a", "b"])
    assert merged.item_ids == ("s0/y", "s1/z", "s2/x")
    np.testing.assert_array_equal(merged.item_embeddings[0], a.item_embeddings[1])
    np.testing.assert_array_equal(merged.item_embeddings[1], b.item_embeddings[0])
    # clips grouped by the new item order, each item's clips as they were
    np.testing.assert_array_equal(merged.clip_item, [0, 0, 1, 2])
    np.testing.assert_array_equal(merged.clip_embeddings[:2], a.clip_embeddings[1:3])
    np.testing.assert_array_equal(merged.clip_embeddings[2], b.clip_embeddings[0])
    np.testing.assert_array_equal(merged.clip_start_s, [0.5, 1.0, 0.0, 0.0])
    # a field missing from one source is "" for its items
    assert merged.fields["take"] == ("", "take:s1/z", "")
    assert merged.labels == ("s0", "s1", "s2")
    assert merged.meta["merged_shards"] == ["1/2", "2/2"] and "shard" not in merged.meta
    # the order of the sources does not matter
    again = merge_embedding_sets([b, a])
    np.testing.assert_array_equal(again.clip_embeddings, merged.clip_embeddings)
    # a merged file merges again with an unsharded one (its shards are remembered)
    save_embeddings(tmp_path / "ab.npz", merged)
    save_embeddings(tmp_path / "c.npz", _set(["s3/w"], seed=2))
    summary = merge_embeddings(sources=[tmp_path / "c.npz", tmp_path / "ab.npz"],
                               dest=tmp_path / "abc.npz")
    assert (summary.n_items, summary.missing_shards) == (4, ())
    abc = load_embeddings(tmp_path / "abc.npz")
    assert abc.item_ids == ("s0/y", "s1/z", "s2/x", "s3/w")
    assert abc.meta["merged_shards"] == ["1/2", "2/2"]


@pytest.mark.parametrize("key, value", [("model", "cnn_shallow"), ("layer", "features"),
                                        ("normalize", True)])
def test_merge_refuses_different_metas(key, value):
    a = _set(["s0/a"], shard="1/2")
    if key == "normalize":
        b = make_embedding_set(clip_embeddings=np.ones((1, 4)), clip_item=np.zeros(1, int),
                               clip_start_s=np.zeros(1), item_ids=["s1/b"], labels=["s1"],
                               fields={"singer": ["s1"]}, meta={**META, "shard": "2/2"},
                               normalize=True)
    else:
        b = _set(["s1/b"], shard="2/2", meta={**META, key: value})
    with pytest.raises(InputError, match=rf"b\.npz: its meta differs from a\.npz's \(meta\.{key}"):
        merge_embedding_sets([a, b], names=["a.npz", "b.npz"])


def test_merge_refuses_duplicates_and_mixed_shard_counts(tmp_path):
    with pytest.raises(InputError, match=r"item 's0/b' is in both a and b"):
        merge_embedding_sets([_set(["s0/a", "s0/b"]), _set(["s0/b"])], names=["a", "b"])
    save_embeddings(tmp_path / "one.npz", _set(["s0/a"], shard="1/2"))
    save_embeddings(tmp_path / "other.npz", _set(["s0/b"], shard="2/3"))
    with pytest.raises(InputError, match=r"different numbers of shards \(N=2 in .*one\.npz, "
                                         r"N=3 in .*other\.npz\)"):
        merge_embeddings(sources=[tmp_path / "one.npz", tmp_path / "other.npz"],
                         dest=tmp_path / "all.npz")
    assert not (tmp_path / "all.npz").exists()
    with pytest.raises(InputError, match="at least one"):
        merge_embedding_sets([])


def test_detect_kind_and_mixed_sources(tmp_path):
    store = FeatureStore(tmp_path / "store")
    store.create(feature_config={"preset": "custom"})
    save_embeddings(tmp_path / "emb.npz", _set(["s0/a"]))
    save_npz(tmp_path / "feat.npz", {"logmel": np.zeros((1, 2, 3), np.float32)}, kind="features")
    (tmp_path / "pred.jsonl").write_text("{}\n")
    (tmp_path / "plain").mkdir()
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert detect_kind(tmp_path / "store") == "store"
    assert detect_kind(tmp_path / "emb.npz") == "embeddings"
    for name, message in [("feat.npz", "a vocaltools.features NPZ"), ("pred.jsonl", "cat"),
                          ("plain", "without store.json"), ("junk.npz", "neither a feature store"),
                          ("missing.npz", "no such file")]:
        with pytest.raises(InputError, match=message):
            detect_kind(tmp_path / name)
    with pytest.raises(InputError, match=r"mix embeddings \(.*emb\.npz\) and store"):
        merge_outputs(sources=[tmp_path / "emb.npz", tmp_path / "store"], dest=tmp_path / "x")
    with pytest.raises(InputError, match="unknown kind 'npz'"):
        merge_outputs(sources=[tmp_path / "emb.npz"], dest=tmp_path / "x", kind="npz")


def test_merge_cli_embeddings_and_errors(tmp_path):
    save_embeddings(tmp_path / "s1.npz", _set(["s0/a", "s1/b"], shard="1/3"))
    save_embeddings(tmp_path / "s3.npz", _set(["s2/c"], shard="3/3"))
    result = invoke_cli("merge", "--kind", "embeddings", str(tmp_path / "s3.npz"),
                     str(tmp_path / "s1.npz"), "-o", str(tmp_path / "all.npz"))
    assert result.returncode == 0, result.stderr
    assert "merged 3 items from 2 embeddings files" in result.stderr
    assert "warning: no source holds shard 2/3" in result.stderr
    assert load_embeddings(tmp_path / "all.npz").item_ids == ("s0/a", "s1/b", "s2/c")
    save_embeddings(tmp_path / "s2.npz", _set(["s2/c"], shard="2/3"))
    result = invoke_cli("merge", str(tmp_path / "s2.npz"), str(tmp_path / "s3.npz"),
                     "-o", str(tmp_path / "dup.npz"))
    assert result.returncode == 1 and "error: item 's2/c' is in both" in result.stderr
