"""Precise BatchNorm: statistics recomputed from training clips before validation and saving."""

import numpy as np
import pytest
import torch
from torch import nn

from _train_helpers import make_store
from vocaltools.checkpoint import load_checkpoint
from vocaltools.datasets.splits import select_fold, split_groups
from vocaltools.errors import ConfigError
from vocaltools.training.batchnorm import recalibrate_batch_norm
from vocaltools.training.config import make_train_config
from vocaltools.training.loop import train_model


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.BatchNorm1d(4, momentum=0.01), nn.Dropout(0.5), nn.Linear(4, 3),
                         nn.BatchNorm1d(3))


def test_statistics_become_the_average_over_the_batches():
    net = _net()
    rng = np.random.default_rng(0)
    batches = [torch.from_numpy(rng.normal(-40.0, 5.0, size=(8, 4)).astype(np.float32)) for _ in range(3)]
    count = recalibrate_batch_norm(net, batches, set_train_mode=lambda m: m.train())
    assert count == 2 and not net.training and net[0].momentum == 0.01
    assert all(not m.training for m in net.modules())
    expected_mean = torch.stack([b.mean(0) for b in batches]).mean(0)
    expected_var = torch.stack([b.var(0, unbiased=True) for b in batches]).mean(0)
    torch.testing.assert_close(net[0].running_mean, expected_mean)
    torch.testing.assert_close(net[0].running_var, expected_var)
    # the second layer saw the linear layer's output without dropout
    hidden = [net[2](net[0](b)) for b in batches]
    torch.testing.assert_close(net[3].running_mean, torch.stack([h.mean(0) for h in hidden]).mean(0))


def test_layers_left_in_evaluation_mode_are_not_touched():
    net = _net()
    before = net[0].running_mean.clone()

    def classifier_only(model):  # as in classifier re-training
        model.eval()
        model[3].train()

    batches = [torch.randn(8, 4) + 10.0]
    assert recalibrate_batch_norm(net, batches, set_train_mode=classifier_only) == 1
    assert torch.equal(net[0].running_mean, before)
    assert not torch.equal(net[3].running_mean, torch.zeros(3))


def test_no_batches_keep_the_statistics():
    net = _net()
    net[0].running_mean.fill_(2.0)
    recalibrate_batch_norm(net, [], set_train_mode=lambda m: m.train())
    assert torch.equal(net[0].running_mean, torch.full((4,), 2.0)) and net[0].momentum == 0.01


def test_negative_sample_size_is_refused():
    with pytest.raises(ConfigError, match="precise_bn"):
        make_train_config(model="tiny_cnn", target="singer", precise_bn=-1)


def test_crnn_checkpoint_normalises_with_the_training_statistics(tmp_path):
    """The regression behind the GTSinger result: inputs around -40 dB and Keras momentum 0.99.
    With precise BN the saved input normalisation holds the training mean; without it, after a
    handful of steps, the running mean is still near 0 and evaluation sees shifted inputs."""
    store = make_store(tmp_path / "store", n_classes=2, songs_per_class=3, seconds=2.0, offset=-40.0)
    split = select_fold(split_groups(store.items(), by="song_id", stratify="singer", seed=0,
                                     validation_fraction=0.2, test_fraction=0.2))
    means = {}
    for precise in (8192, 0):
        config = make_train_config(model="crnn", target="singer", clip_seconds=1.0, hop_seconds=1.0,
                                   epochs=1, batch_size=4, patience=0, device="cpu", threads=1,
                                   precise_bn=precise)
        train_model(store=store, config=config, split=split, model_dir=tmp_path / f"m{precise}")
        state = load_checkpoint(tmp_path / f"m{precise}").state_dict
        means[precise] = state["branches.0.input_norm.running_mean"]
    assert means[8192].mean().item() == pytest.approx(-40.0 + 0.5, abs=1.0)  # the band adds 3 on 1/4 rows
    assert means[0].mean().item() > -10.0


def test_without_validation_only_the_last_epoch_of_each_stage_recomputes(tmp_path, monkeypatch):
    """With no validation set the last epoch is kept and training never reads the statistics, so
    they are recomputed once per stage; with a validation set, after every epoch."""
    import vocaltools.training.loop as loop_module

    store = make_store(tmp_path / "store", n_classes=2, songs_per_class=3, seconds=2.0, offset=-40.0)
    calls = []
    original = loop_module._precise_batch_norm
    monkeypatch.setattr(loop_module, "_precise_batch_norm",
                        lambda *a, **k: (calls.append((k["stage"], k["epoch"])), original(*a, **k)))
    cases = (("joint", 0.0, [("joint", 2)]), ("crt_wc", 0.0, [("joint", 2), ("crt", 4)]),
             ("joint", 0.2, [("joint", 0), ("joint", 1), ("joint", 2)]))
    for strategy, validation, expected in cases:
        calls.clear()
        split = select_fold(split_groups(store.items(), by="song_id", stratify="singer", seed=0,
                                         validation_fraction=validation, test_fraction=0.2))
        config = make_train_config(model="crnn", target="singer", clip_seconds=1.0, hop_seconds=1.0,
                                   epochs=3, crt_epochs=2 if strategy != "joint" else 0,
                                   strategy=strategy, batch_size=4, patience=0, select="last",
                                   device="cpu", threads=1, precise_bn=8192)
        model_dir = tmp_path / f"m-{strategy}-{validation}"
        train_model(store=store, config=config, split=split, model_dir=model_dir)
        assert calls == expected, (strategy, validation)
        state = load_checkpoint(model_dir).state_dict  # the kept weights carry the training mean
        assert state["branches.0.input_norm.running_mean"].mean().item() == pytest.approx(-39.5, abs=1.0)
