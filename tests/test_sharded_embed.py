"""embed --shard K/N: the shards of a tiny siamese model's embedding run, merged, equal one whole
run (same ids, fields, clip and item vectors; the merge sorts items by id, so both sides are
compared in that order)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import invoke_cli
from vocaltools.errors import InputError
from vocaltools.index.embeddings import EmbeddingSet, load_embeddings, save_embeddings
from vocaltools.merging import merge_embedding_sets, merge_embeddings


@pytest.fixture(scope="module")
def store_and_model(tmp_path_factory):
    """A wang2018 store of 3 synthetic singers x 2 songs x 2 takes (1.5 s each) and a tiny_cnn
    siamese model trained on it for 1 epoch."""
    from _train_helpers import make_voice_store
    from vocaltools.segments import ClipConfig
    from vocaltools.training.siamese import SiameseConfig, train_siamese_store

    root = tmp_path_factory.mktemp("sharded-embed")
    store = make_voice_store(root, n_singers=3, n_songs=2, seconds=1.5, seed=5)
    train_siamese_store(store=store, model="tiny_cnn", model_dir=root / "model",
                        model_options={"width": 4},
                        clip=ClipConfig(clip_seconds=1.0, hop_seconds=0.5),
                        config=SiameseConfig(epochs=1, pairs_per_epoch=8), threads=1)
    return root / "store", root / "model"


def _sorted_by_id(embeddings: EmbeddingSet) -> EmbeddingSet:
    """The same set with its items in item-id order (the merge's canonical order)."""
    return merge_embedding_sets([embeddings])


def test_embed_shards_merged_equal_the_whole_run(store_and_model, tmp_path):
    from vocaltools.inference.embed import embed_inputs, model_embedder

    store, model = store_and_model
    embedder = model_embedder(str(model))
    whole = embed_inputs([store], embedder=embedder, normalize=True)
    assert whole.n_items == 12 and "shard" not in whole.meta
    paths = []
    for k in (1, 2, 3):
        part = embed_inputs([store], embedder=embedder, normalize=True, shard=f"{k}/3")
        assert part.meta["shard"] == f"{k}/3" and 0 < part.n_items < whole.n_items
        paths.append(tmp_path / f"emb-{k}.npz")
        save_embeddings(paths[-1], part)
    summary = merge_embeddings(sources=paths[::-1], dest=tmp_path / "all.npz")  # any order
    assert (summary.kind, summary.n_sources, summary.n_items, summary.missing_shards) == (
        "embeddings", 3, 12, ())
    merged = load_embeddings(tmp_path / "all.npz")
    expected = _sorted_by_id(whole)
    assert merged.item_ids == tuple(sorted(whole.item_ids)) == expected.item_ids
    assert merged.labels == expected.labels and merged.fields == expected.fields
    # a shard batches other clips together, and kernels may round differently by batch size
    np.testing.assert_allclose(merged.item_embeddings, expected.item_embeddings, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(merged.clip_embeddings, expected.clip_embeddings, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(merged.clip_item, expected.clip_item)
    np.testing.assert_array_equal(merged.clip_start_s, expected.clip_start_s)
    assert merged.meta["merged_shards"] == ["1/3", "2/3", "3/3"] and "shard" not in merged.meta
    assert {k: v for k, v in merged.meta.items() if k not in ("merged_shards", "software", "schema")} == {
        k: v for k, v in whole.meta.items() if k != "software"}

    # two of three shards: merged, with the missing one named
    partial = merge_embeddings(sources=paths[:2], dest=tmp_path / "part.npz")
    assert partial.missing_shards == ("3/3",)
    # one shard twice: its items are duplicates
    with pytest.raises(InputError, match=r"is in both .*emb-1\.npz.*emb-1\.npz"):
        merge_embeddings(sources=[paths[0], paths[0]], dest=tmp_path / "dup.npz")


def test_embed_cli_shard_and_merge(store_and_model, tmp_path):
    """The CLI flags: embed --shard (in process: torch is loaded already) writes the shard into the
    meta; merge (a real subprocess) detects NPZ inputs; a bad K/N fails before anything is
    written."""
    from typer.testing import CliRunner

    from vocaltools.cli.app import app

    store, model = store_and_model
    runner = CliRunner()
    for k in (1, 2):
        result = runner.invoke(app, ["embed", str(store), "--model", str(model), "--shard",
                                     f"{k}/2", "-o", str(tmp_path / f"s{k}.npz")])
        assert result.exit_code == 0, result.output
        assert f"of shard {k}/2" in result.output
    assert load_embeddings(tmp_path / "s1.npz").meta["shard"] == "1/2"
    result = invoke_cli("merge", str(tmp_path / "s1.npz"), str(tmp_path / "s2.npz"),
                        "-o", str(tmp_path / "all.npz"))
    assert result.returncode == 0, result.stderr
    assert "merged 12 items from 2 embeddings files" in result.stderr
    assert len(set(load_embeddings(tmp_path / "all.npz").item_ids)) == 12

    bad = runner.invoke(app, ["embed", str(store), "--model", str(model), "--shard", "0/2",
                              "-o", str(tmp_path / "x.npz")])
    assert bad.exit_code == 2 and "0/2" in bad.output  # a usage error
    assert not (tmp_path / "x.npz").exists()
