"""Siamese training: the contrastive loss, 1:1 pair sampling, and learning on synthetic singers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vocaltools.errors import ConfigError, InputError
from vocaltools.index.evaluate import loo_knn_accuracy
from vocaltools.inference.embed import embed_batch
from vocaltools.models.registry import build_model
from vocaltools.training.siamese import (SiameseConfig, contrastive_loss, encode_labels,
                                         sample_pairs, train_siamese)


def test_contrastive_loss_is_the_papers_formula():
    a = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    b = torch.tensor([[0.6, 0.0], [0.6, 0.0], [1.2, 0.0], [0.0, 0.0]])
    same = torch.tensor([1.0, 0.0, 0.0, 1.0])
    # D = 0.36, 0.36, 1.44, 0 -> L = 0.18, 0.5 * (1 - 0.36), 0 (beyond the margin), 0
    per_pair = [0.18, 0.32, 0.0, 0.0]
    loss = contrastive_loss(a, b, same, margin=1.0)
    assert float(loss) == pytest.approx(sum(per_pair) / 4)
    assert float(contrastive_loss(a, b, same, margin=2.0)) == pytest.approx(
        (0.18 + 0.5 * (2 - 0.36) + 0.5 * (2 - 1.44)) / 4)


def test_pairs_are_one_to_one_and_never_self():
    labels = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3, 3])
    pairs = sample_pairs(labels, n_pairs=400, rng=np.random.default_rng(0))
    same = pairs.same.astype(bool)
    assert same.sum() == 200 and (~same).sum() == 200
    assert (labels[pairs.first[same]] == labels[pairs.second[same]]).all()
    assert (labels[pairs.first[~same]] != labels[pairs.second[~same]]).all()
    assert (pairs.first != pairs.second).all()
    assert 2 not in labels[pairs.first[same]]  # singer 2 has one clip: no same pair
    with pytest.raises(InputError, match="at least 2 singers"):
        sample_pairs(np.zeros(5, dtype=int), n_pairs=4, rng=np.random.default_rng(0))
    with pytest.raises(ConfigError, match="even"):
        SiameseConfig(pairs_per_epoch=7)


def singer_clips(n_singers: int, n_clips: int, *, clip_seed: int):
    """Learnable synthetic "voices": each singer a fixed spectral envelope over 24 bins (the same
    singers for every ``clip_seed``), each clip that envelope times a random loudness contour over
    32 frames, plus strong noise."""
    envelopes = 1 + 0.5 * np.random.default_rng(0).normal(size=(n_singers, 24, 1))
    rng = np.random.default_rng(clip_seed)
    clips, labels = [], []
    for singer in range(n_singers):
        for _ in range(n_clips):
            loudness = rng.uniform(0.5, 1.5, size=(1, 32))
            clips.append(envelopes[singer] * loudness + rng.normal(size=(24, 32)))
            labels.append(f"s{singer}")
    return np.asarray(clips, dtype=np.float32)[:, None], labels


@pytest.mark.slow
def test_siamese_training_learns_a_singer_embedding():
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: threads only contend
    clips, labels = singer_clips(6, 12, clip_seed=10)
    label_index, names = encode_labels(labels)
    assert names == tuple(f"s{i}" for i in range(6))
    valid_clips, valid_labels = singer_clips(6, 6, clip_seed=11)  # same singers, new clips
    # a 16-d linear output on the tiny CNN is the embedding twin
    model = build_model("tiny_cnn", n_classes=16, width=8)
    before = loo_knn_accuracy(embed_batch(model, valid_clips), labels=valid_labels, ks=[1])[0]
    config = SiameseConfig(epochs=8, pairs_per_epoch=192, valid_pairs=128, learning_rate=3e-3,
                           seed=0)
    result = train_siamese(model, clips=clips, label_index=label_index, valid_clips=valid_clips,
                           valid_label_index=encode_labels(valid_labels)[0], config=config)
    history = result.history
    assert len(history) == 8 and result.best_valid_loss == min(h.valid_loss for h in history)
    assert history[result.best_epoch - 1].valid_loss < history[0].valid_loss * 0.5
    vectors = embed_batch(model, valid_clips)
    after = loo_knn_accuracy(vectors, labels=valid_labels, ks=[1])[0]
    assert after.accuracy >= 0.75 and after.accuracy > before.accuracy + 0.15
    assert result.summary()["objective"] == "contrastive"
    torch.set_num_threads(threads)


def test_training_rejects_mismatched_inputs():
    model = build_model("tiny_cnn", n_classes=16, width=4)
    with pytest.raises(InputError, match="one label each"):
        train_siamese(model, clips=np.zeros((4, 1, 8, 8), np.float32), label_index=np.zeros(3))


def test_train_objective_contrastive_through_the_cli(tmp_path):
    """train --objective contrastive writes an embedding model that embed reads."""
    import json

    from _train_helpers import make_store
    from conftest import invoke_cli
    from vocaltools.formats.npz import load_npz

    make_store(tmp_path / "store", n_classes=3, songs_per_class=3)
    result = invoke_cli("train", str(tmp_path / "store"), "--model", "tiny_cnn", "--target",
                        "singer", "--objective", "contrastive", "--clip-seconds", "1", "--epochs", "2",
                        "--embedding-dim", "8", "--pairs-per-epoch", "64", "--split-by", "song_id", "-o", str(tmp_path / "emb-model"), "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert "contrastive loss" in result.stderr and "registered as 'emb-model'" in result.stderr
    summary = json.loads((tmp_path / "emb-model" / "summary.json").read_text())
    assert summary["embedding_dim"] == 8 and summary["config"]["pairs_per_epoch"] == 64
    embedded = invoke_cli("embed", str(tmp_path / "store"), "--model", "emb-model", "-o",
                          str(tmp_path / "e.npz"))
    assert embedded.returncode == 0, embedded.stderr
    arrays = load_npz(tmp_path / "e.npz", kind="embeddings").arrays
    assert max(a.shape[-1] for a in arrays.values() if a.dtype.kind == "f" and a.ndim == 2) == 8
    bad = invoke_cli("train", str(tmp_path / "store"), "--model", "tiny_cnn", "--target", "singer",
                     "--objective", "triplet", "-o", str(tmp_path / "x"))
    assert bad.returncode == 1 and "unknown objective 'triplet'" in bad.stderr
