"""Embedding items: the MFCC-statistics baseline, model embeddings (output or penultimate layer),
the embeddings file, and the embed -> knn pipeline on synthetic voices."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import invoke_cli
from vocaltools.baselines import MfccStatsConfig, delta, mfcc_from_mel_db, mfcc_statistics
from vocaltools.errors import InputError
from vocaltools.index.embeddings import load_embeddings
from vocaltools.inference.embed import embed_batch
from vocaltools.models.registry import build_model


@pytest.mark.slow
def test_mfcc_matches_librosa_and_statistics_layout():
    librosa_feature = pytest.importorskip("librosa.feature")
    rng = np.random.default_rng(0)
    mel_db = rng.uniform(0, 60, size=(96, 120)).astype(np.float32)
    ours = mfcc_from_mel_db(mel_db, n_mfcc=20)
    theirs = librosa_feature.mfcc(S=mel_db, n_mfcc=20)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(delta(ours), librosa_feature.delta(ours), rtol=1e-4, atol=1e-3)
    stats = mfcc_statistics(mel_db[None], config=MfccStatsConfig(n_mfcc=20))
    assert stats.shape == (80,) and stats.dtype == np.float32
    np.testing.assert_allclose(stats[:20], ours.mean(1), rtol=1e-5)
    np.testing.assert_allclose(stats[20:40], ours.std(1), rtol=1e-4)
    # a clip too short for the 9-frame delta still works
    assert np.isfinite(mfcc_statistics(mel_db[:, :4])).all()


def test_embed_batch_output_and_penultimate_layer():
    torch.manual_seed(0)
    model = build_model("tiny_cnn", n_classes=5, width=4)
    clips = np.random.default_rng(0).normal(size=(7, 1, 32, 40)).astype(np.float32)
    output = embed_batch(model, clips, layer="output", batch_size=3)
    features = embed_batch(model, clips, layer="features", batch_size=3)
    assert output.shape == (7, 5) and features.shape == (7, 32)
    with torch.no_grad():
        np.testing.assert_allclose(output, model(torch.from_numpy(clips)).numpy(), rtol=1e-5,
                                   atol=1e-6)
    with pytest.raises(InputError, match="unknown layer"):
        embed_batch(model, clips, layer="logits")


@pytest.fixture(scope="module")
def voice_store(tmp_path_factory):
    """A feature store (wang2018 preset) of 5 synthetic singers x 2 songs x 2 takes, 3 s each."""
    from _train_helpers import make_voice_store

    root = tmp_path_factory.mktemp("voices")
    make_voice_store(root, n_singers=5, n_songs=2, seconds=3.0, seed=3)
    return root / "store"


@pytest.mark.slow
def test_baseline_embed_then_identify_unknown_singer(voice_store, tmp_path):
    emb = tmp_path / "mfcc.npz"
    result = invoke_cli("embed", str(voice_store), "--baseline", "mfcc", "--clip-seconds", "1",
                        "--hop-seconds", "0.5", "-o", str(emb))
    assert result.returncode == 0, result.stderr
    embeddings = load_embeddings(emb)
    assert embeddings.n_items == 20 and embeddings.dim == 80
    assert embeddings.meta["baseline"] == "mfcc" and embeddings.meta["label_field"] == "singer"
    assert set(embeddings.fields) >= {"singer", "song_key", "take"}
    assert len(embeddings.clip_embeddings) > 20  # several clips per 3-s item
    # the bass: a voice unlike every enrolled one (with MFCC statistics the synthetic alto and
    # tenor lie close together, so holding either of those out would test the baseline instead)
    held_out = next(s for s in sorted(set(embeddings.labels)) if "Bass" in s)
    index = tmp_path / "index.npz"
    result = invoke_cli("knn", "build", str(emb), "-o", str(index), "--where-not",
                        f"singer={held_out}")
    assert result.returncode == 0, result.stderr
    result = invoke_cli("knn", "identify", str(index), str(emb), "--where", f"singer={held_out}")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 4 and all(r["label"] == "unknown" for r in records), records


@pytest.mark.slow
def test_siamese_store_training_and_model_embedding(voice_store, tmp_path):
    from vocaltools.formats.store import FeatureStore
    from vocaltools.segments import ClipConfig
    from vocaltools.training.siamese import SiameseConfig, train_siamese_store

    run = train_siamese_store(store=FeatureStore(voice_store), model="tiny_cnn",
                              model_dir=tmp_path / "model", model_options={"width": 4},
                              clip=ClipConfig(clip_seconds=2.0, hop_seconds=1.0),
                              config=SiameseConfig(epochs=2, pairs_per_epoch=32), threads=1)
    assert run.summary["embedding_dim"] == 16 and run.summary["n_items"]["train"] == 20
    history = [json.loads(line) for line in (tmp_path / "model" / "history.jsonl").open()]
    assert len(history) == 2 and history[0]["schema"] == "vocaltools.history/1"
    emb = tmp_path / "emb.npz"
    result = invoke_cli("embed", str(voice_store), "--model", str(tmp_path / "model"),
                        "--normalize", "-o", str(emb))
    assert result.returncode == 0, result.stderr
    embeddings = load_embeddings(emb)
    assert embeddings.dim == 16 and embeddings.meta["task"] == "embed"
    assert embeddings.meta["layer"] == "output" and embeddings.meta["normalize"] is True
    np.testing.assert_allclose(np.linalg.norm(embeddings.item_embeddings, axis=1), 1.0, rtol=1e-5)
    result = invoke_cli("embed", str(voice_store), "--model", str(tmp_path / "model"),
                        "--baseline", "mfcc", "-o", str(emb))
    assert result.returncode == 1 and "exactly one of --model" in result.stderr


def test_audio_folders_are_embedded_with_featurize_item_ids(voice_store, tmp_path):
    """A folder of audio is searched recursively; ids are paths relative to it, as in the store
    that featurize made of the same files."""
    from vocaltools.inference.embed import embed_inputs, mfcc_embedder
    from vocaltools.segments import ClipConfig

    embedder = mfcc_embedder(clip_config=ClipConfig(clip_seconds=1.0).to_dict())
    audio = voice_store.parent / "audio"
    from_folder = embed_inputs([str(audio)], embedder=embedder)
    from_store = embed_inputs([str(voice_store)], embedder=embedder)
    row = {item_id: i for i, item_id in enumerate(from_store.item_ids)}
    order = [row[i.replace("/", "__")] for i in from_folder.item_ids]  # KeyError: an id differs
    assert sorted(order) == list(range(len(row)))
    np.testing.assert_allclose(from_folder.item_embeddings, from_store.item_embeddings[order], atol=1e-4)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no audio files"):
        embed_inputs([str(tmp_path / "empty")], embedder=embedder)
