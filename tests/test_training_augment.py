"""Training on little data: feature-domain augmentation, label smoothing, the stage-1 model of cRT,
each recorded in the checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from _train_helpers import make_store
from vocaltools.checkpoint import load_checkpoint
from vocaltools.errors import ConfigError
from vocaltools.training.augment import (AugmentConfig, FeatureScale, augment_batch,
                                         feature_scale)
from vocaltools.training.config import make_train_config
from vocaltools.training.loop import train_model
from vocaltools.training.losses import classification_loss
from vocaltools.datasets.splits import select_fold, split_groups

S3 = FeatureScale(db_factor=10.0, top_db=80.0)  # amplitude_to_db of STFT magnitudes, top_db 80


def _always(**fields) -> AugmentConfig:
    return AugmentConfig(probability=1.0, **fields)


def _harmonic_clip(f0_bin: int, *, n_bins: int = 257, n_frames: int = 40) -> torch.Tensor:
    """``[1, n_bins, n_frames]`` dB: partials at multiples of ``f0_bin`` at 0 dB over -60 dB."""
    clip = torch.full((1, n_bins, n_frames), -60.0)
    clip[0, f0_bin::f0_bin, :] = 0.0
    return clip


def test_gain_adds_its_decibels_and_respects_the_scale():
    x = torch.randn(4, 3, 16, 10)
    rng = np.random.default_rng(0)
    out = augment_batch(x, config=_always(gain_db=6.0), rng=rng, frames_per_second=10, scale=S3)
    shift = (out - x).mean(dim=(1, 2, 3))
    assert torch.allclose(out - x, shift.view(-1, 1, 1, 1).expand_as(x), atol=1e-5)  # constant
    assert shift.abs().max() <= 6.0 + 1e-5 and shift.abs().min() > 0
    # S1's amplitude_to_db of a power mel is 20 log10(power): the same gain moves it twice as far
    s1 = augment_batch(x, config=_always(gain_db=6.0), rng=np.random.default_rng(0),
                       frames_per_second=10, scale=FeatureScale(20.0, 80.0))
    assert torch.allclose(s1 - x, 2 * (out - x), atol=1e-4)


def test_time_shift_rolls_frames():
    x = torch.arange(20, dtype=torch.float32).view(1, 1, 1, 20).repeat(8, 1, 2, 1)
    out = augment_batch(x, config=_always(shift_seconds=0.3), rng=np.random.default_rng(1),
                        frames_per_second=10, scale=S3)
    for clip, original in zip(out, x):
        shifts = [k for k in range(-3, 4) if torch.equal(clip, torch.roll(original, k, dims=-1))]
        assert len(shifts) == 1  # a circular shift of at most 0.3 s = 3 frames
    assert not torch.equal(out, x)


def test_pitch_shift_moves_partials_by_the_semitones():
    x = _harmonic_clip(20).unsqueeze(0)  # partials at bins 20, 40, 60, ...
    up = augment_batch(x, config=AugmentConfig(pitch_semitones=12.0, probability=1.0),
                       rng=np.random.default_rng(3), frames_per_second=10, scale=S3)
    # the draw is in [-12, 12] semitones: the first partial lands at 20 * 2^(s/12)
    peak = int(up[0, 0, :30 * 2, 0].argmax())
    ratio = peak / 20
    assert 0.5 - 1e-6 <= ratio <= 2.0 + 1e-6 and abs(ratio - 1) > 0.01
    assert torch.isfinite(up).all() and up.shape == x.shape
    assert float(up.min()) >= -60.0 - 1e-4 and float(up.max()) <= 1e-4  # interpolation stays inside


def test_noise_fills_the_floor_at_the_asked_snr():
    x = _harmonic_clip(16).unsqueeze(0).repeat(2, 1, 1, 1)
    out = augment_batch(x, config=_always(noise_snr_db=10.0), rng=np.random.default_rng(0),
                        frames_per_second=10, scale=S3)
    power = 10 ** (x[0] / 10)
    noise_floor = 10 * torch.log10(power.mean() / 10 ** (np.array([10.0, 30.0]) / 10))
    gaps = out[:, 0, 3, 0]  # a bin between partials: the noise alone
    assert float(gaps.max()) <= float(noise_floor[0]) + 1e-3  # SNR at least 10 dB
    assert float(gaps.min()) >= float(noise_floor[1]) - 1e-3  # and at most 30 dB
    assert torch.allclose(out[:, 0, 16, 0], torch.zeros(2), atol=0.5)  # partials barely move


def test_draws_are_seeded_and_off_means_untouched():
    x = torch.randn(3, 3, 32, 12)
    config = AugmentConfig(gain_db=3, shift_seconds=0.2, pitch_semitones=1, noise_snr_db=20)
    a = augment_batch(x, config=config, rng=np.random.default_rng(5), frames_per_second=10, scale=S3)
    b = augment_batch(x, config=config, rng=np.random.default_rng(5), frames_per_second=10, scale=S3)
    assert torch.equal(a, b) and not torch.equal(a, x)
    assert augment_batch(x, config=AugmentConfig(), rng=np.random.default_rng(5),
                         frames_per_second=10, scale=S3) is x
    with pytest.raises(ConfigError, match="need dB features"):
        augment_batch(x, config=_always(gain_db=3), rng=np.random.default_rng(0),
                      frames_per_second=10, scale=FeatureScale(None, None))
    with pytest.raises(ConfigError, match="probability"):
        AugmentConfig(probability=0.0)


def test_feature_scale_of_the_presets():
    from vocaltools.features import get_preset

    assert feature_scale(get_preset("yamamoto2022").to_dict()) == FeatureScale(10.0, 80.0)
    assert feature_scale(get_preset("fgnl").to_dict()) == FeatureScale(20.0, 80.0)
    assert feature_scale(get_preset("nasrullah").to_dict()).db_factor == 10.0
    assert feature_scale(get_preset("wise-stft").to_dict()).db_factor is None


def test_feature_scale_reads_the_front_ends_own_db_rule():
    from vocaltools.features import FeatureConfig, Stft, get_preset

    for name in ("fgnl", "nasrullah", "yamamoto2022", "wang2018"):  # typed or as stored: alike
        assert feature_scale(get_preset(name)) == feature_scale(get_preset(name).to_dict())
    # the linear power mel has no dB rule: gain and noise are refused rather than mis-scaled
    assert feature_scale(get_preset("ge2e")) == FeatureScale(None, None)
    # STFT magnitudes in dB: 20 log10 |X| = 10 log10 |X|^2, floored 80 dB below the peak as computed
    db_stft = FeatureConfig(22050, (Stft(n_fft=512, hop_length=256, scale="db"),))
    assert feature_scale(db_stft) == FeatureScale(10.0, 80.0)


def test_label_smoothing_changes_the_loss_as_defined():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    target = torch.tensor([0])
    plain = classification_loss(torch.nn.Identity(), logits, target, weights=None)
    smooth = classification_loss(torch.nn.Identity(), logits, target, weights=None,
                                 label_smoothing=0.3)
    log_p = torch.log_softmax(logits, dim=1)[0]
    expected = -(0.7 * log_p[0] + 0.1 * log_p.sum())
    assert abs(float(smooth) - float(expected)) < 1e-5 and float(smooth) > float(plain)
    with pytest.raises(ConfigError, match="label_smoothing"):
        make_train_config(model="tiny_cnn", target="singer", label_smoothing=1.0)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("store") / "s", n_classes=3, songs_per_class=3,
                      seconds=4.0)


def test_augmented_crt_run_records_its_settings_and_keeps_its_stage1_model(store, tmp_path):
    split = select_fold(split_groups(store.items(), by="song_id", stratify="singer", seed=0,
                                     validation_fraction=0.25, test_fraction=0.25))
    augment = AugmentConfig(gain_db=6, shift_seconds=0.25, pitch_semitones=1, noise_snr_db=10)
    config = make_train_config(model="tiny_cnn", target="singer", clip_seconds=1.0, epochs=2,
                               batch_size=8, lr=1e-2, patience=0, device="cpu", threads=1,
                               model_options={"width": 8}, strategy="crt_wc", crt_epochs=1,
                               alpha=0.2, augment=augment, label_smoothing=0.1, select="last")
    train_model(store=store, config=config, split=split, model_dir=tmp_path / "m")
    checkpoint = load_checkpoint(tmp_path / "m")
    recorded = checkpoint.summary["config"]
    assert recorded["augment"] == augment.to_dict() and recorded["label_smoothing"] == 0.1
    assert (recorded["strategy"], recorded["alpha"]) == ("crt_wc", 0.2)
    stage1 = load_checkpoint(tmp_path / "m" / "stage1")
    assert stage1.summary["stage"] == "joint" and stage1.summary["epochs_run"] == 2
    assert (tmp_path / "m" / "stage1" / "split.jsonl").is_file()
    # cRT changed the classifier only: the feature extractor is the stage-1 one
    for key, value in stage1.state_dict.items():
        same = torch.equal(value, checkpoint.state_dict[key])
        assert same != key.startswith("classifier."), key
    # the same settings without augmentation train other weights
    plain = make_train_config(**{**dict(model="tiny_cnn", target="singer", clip_seconds=1.0,
                                        epochs=2, batch_size=8, lr=1e-2, patience=0,
                                        device="cpu", threads=1, model_options={"width": 8},
                                        select="last")})
    augmented = make_train_config(model="tiny_cnn", target="singer", clip_seconds=1.0, epochs=2,
                                  batch_size=8, lr=1e-2, patience=0, device="cpu", threads=1,
                                  model_options={"width": 8}, select="last", augment=augment)
    train_model(store=store, config=plain, split=split, model_dir=tmp_path / "p")
    train_model(store=store, config=augmented, split=split, model_dir=tmp_path / "a")
    p, a = load_checkpoint(tmp_path / "p").state_dict, load_checkpoint(tmp_path / "a").state_dict
    assert not torch.equal(p["classifier.weight"], a["classifier.weight"])
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["config"]["augment"]["pitch_semitones"] == 1
