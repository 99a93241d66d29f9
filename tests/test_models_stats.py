"""clip_stats: clip statistics with a linear head (the small siamese embedding)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vocaltools.baselines import delta as baseline_delta
from vocaltools.baselines import mfcc_statistics
from vocaltools.index.evaluate import loo_knn_accuracy
from vocaltools.inference.embed import embed_batch
from vocaltools.models.registry import build_model, count_params
from vocaltools.models.stats import delta
from vocaltools.training.siamese import SiameseConfig, encode_labels, train_siamese


def test_statistics_extend_the_mfcc_baseline_exactly():
    torch.manual_seed(0)
    clips = 20 * torch.randn(3, 1, 96, 256)
    model = build_model("clip_stats", n_classes=16)
    stats = model.statistics(clips).numpy()
    assert stats.shape == (3, 4 * 96 + 4 * 20)
    mel = clips[:, 0].numpy()
    np.testing.assert_allclose(stats[:, :96], mel.mean(-1), atol=1e-4)
    np.testing.assert_allclose(stats[:, 96:192], mel.std(-1), atol=1e-4)
    expected = np.stack([mfcc_statistics(c.numpy()) for c in clips])
    np.testing.assert_allclose(stats[:, 384:], expected, atol=1e-4)
    # 4 * (96 + 20) statistics -> 16-d linear output
    assert count_params(model) == 464 * 16 + 16


@pytest.mark.parametrize("n_frames", [9, 10, 257])
def test_delta_is_the_savgol_derivative_of_the_baseline(n_frames):
    x = torch.randn(2, 5, n_frames)
    np.testing.assert_allclose(delta(x).numpy(), baseline_delta(x.numpy()), atol=1e-5)
    assert torch.equal(delta(torch.ones(2, 5, 4)), torch.zeros(2, 5, 4))  # shorter than the filter


def _voices(n_singers: int, n_clips: int, *, clip_seed: int):
    """Synthetic singers: a fixed spectral envelope each (dB, 32 bands) under a loudness offset
    that varies more between clips than the envelopes between singers, and strong frame noise."""
    envelopes = 10 * np.random.default_rng(0).normal(size=(n_singers, 32, 1))
    rng = np.random.default_rng(clip_seed)
    clips = [envelopes[s] + rng.normal(0, 20) + rng.normal(0, 8, size=(32, 48))
             for s in range(n_singers) for _ in range(n_clips)]
    return np.asarray(clips, np.float32)[:, None], [f"s{s}" for s in range(n_singers) for _ in range(n_clips)]


def test_siamese_training_learns_a_metric_on_the_statistics():
    torch.manual_seed(0)
    clips, labels = _voices(8, 30, clip_seed=1)
    held_out, held_labels = _voices(8, 5, clip_seed=2)
    model = build_model("clip_stats", n_classes=16, n_mels=32)
    before = loo_knn_accuracy(embed_batch(model, held_out), labels=held_labels, ks=[1])[0].accuracy
    result = train_siamese(model, clips=clips, label_index=encode_labels(labels)[0],
                           config=SiameseConfig(epochs=6, pairs_per_epoch=256, batch_size=32,
                                                learning_rate=1e-2, weight_decay=1e-4, seed=0))
    assert result.history[-1].train_loss < result.history[0].train_loss
    after = loo_knn_accuracy(embed_batch(model, held_out), labels=held_labels, ks=[1])[0].accuracy
    assert after >= 0.8 and after > before + 0.1  # measured: 0.725 untrained, 0.875 trained
