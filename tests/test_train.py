import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from _train_helpers import make_store
from vocaltools.checkpoint import build_from_checkpoint, load_checkpoint
from vocaltools.datasets.splits import read_split, select_fold, split_groups
from vocaltools.errors import ConfigError, ModelError
from vocaltools.formats.jsonl import read_jsonl
from vocaltools.formats.store import FeatureStore
from vocaltools.training.config import make_train_config
from vocaltools.training.losses import class_weights
from vocaltools.training.loop import train_model
from vocaltools.training.runs import aggregate_metrics, run_seeds, train_runs


def _config(**overrides):
    base = dict(model="tiny_cnn", target="singer", clip_seconds=1.0, epochs=4, batch_size=8,
                lr=1e-2, patience=0, device="cpu", model_options={"width": 8}, threads=1)
    base.update(overrides)
    return make_train_config(**base)


# -- configuration and losses --------------------------------------------------------------------

def test_seed_defaults_follow_the_papers():
    s1 = make_train_config(model="crnn", target="singer")
    assert (s1.optimizer, s1.lr, s1.batch_size, s1.clip.clip_seconds) == ("adam", 1e-4, 16, 5.0)
    s2 = make_train_config(model="cnn_shallow", target="singer")
    assert (s2.batch_size, s2.weight_decay, s2.clip.clip_frames, s2.clip.hop_frames) == (32, 1e-6, 256, 51)
    s3 = make_train_config(model="oblong", target="technique")
    assert (s3.batch_size, s3.clip.clip_seconds) == (64, 3.0)
    s4 = make_train_config(model="aacnn", target="instrument")
    assert (s4.optimizer, s4.batch_size, s4.clip.clip_seconds, s4.clip.pad_short) == ("adagrad", 16, 1.0, False)
    changed = make_train_config(model="cnn_shallow", target="singer", clip_seconds=3.0, lr=1e-3)
    assert changed.clip.clip_frames is None and changed.clip.hop_seconds == pytest.approx(0.6)
    assert changed.lr == 1e-3


def test_invalid_settings_raise():
    with pytest.raises(ConfigError, match="strategy"):
        _config(strategy="other")
    with pytest.raises(ConfigError, match="crt_epochs"):
        _config(strategy="crt_wc")


@pytest.mark.filterwarnings("ignore:y_pred contains classes")
def test_metrics_match_sklearn():
    from sklearn.metrics import balanced_accuracy_score, f1_score

    from vocaltools.training.metrics import clip_metrics

    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(5), size=60)
    true = rng.integers(0, 4, size=60)  # class 4 never true, sometimes predicted
    predicted = probabilities.argmax(1)
    metrics = clip_metrics(true_indices=true, probabilities=probabilities)
    assert metrics["f1_weighted"] == pytest.approx(f1_score(true, predicted, average="weighted"))
    assert metrics["f1_macro"] == pytest.approx(f1_score(true, predicted, average="macro"))
    assert metrics["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(true, predicted))
    assert metrics["accuracy"] == pytest.approx((true == predicted).mean())


def test_class_weights():
    weights = class_weights(np.array([100, 25, 0]), alpha=0.5)
    np.testing.assert_allclose(weights, [0.1, 0.2, 0.0])
    np.testing.assert_allclose(class_weights(np.array([100, 25]), alpha=0.0), [1.0, 1.0])


# -- training ------------------------------------------------------------------------------------

@pytest.fixture()
def store(tmp_path):
    return make_store(tmp_path / "store", n_classes=3, songs_per_class=4, seconds=6.0)


def _split(store):
    return select_fold(split_groups(store.items(), by="song_id", stratify="singer", seed=0,
                                    validation_fraction=0.25, test_fraction=0.25))


def test_training_learns_and_writes_the_model_folder(store, tmp_path):
    split = _split(store)
    result = train_model(store=store, config=_config(epochs=10), split=split, model_dir=tmp_path / "m")
    assert result.finished
    folder = tmp_path / "m"
    for name in ("checkpoint.pt", "labels.txt", "split.jsonl", "history.jsonl",
                 "training-curve.png", "summary.json"):
        assert (folder / name).is_file(), name
    assert not (folder / "train_state.pt").exists()
    assert (folder / "labels.txt").read_text().split() == ["singer0", "singer1", "singer2"]
    history = read_jsonl(folder / "history.jsonl", kind="history")
    assert [r["epoch"] for r in history] == list(range(1, 11))
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["test"]["n_clips"] > 0
    assert summary["test"]["accuracy"] > 0.6  # chance is 1/3
    assert 1 <= summary["best_epoch"] <= 10
    checkpoint = load_checkpoint(folder)
    assert checkpoint.target == "singer" and checkpoint.feature_config["preset"] == "fgnl"
    assert checkpoint.clip_config["clip_seconds"] == 1.0
    assert select_fold(read_split(folder / "split.jsonl")) == split


def test_selected_checkpoint_is_the_best_validation_epoch(store, tmp_path):
    result = train_model(store=store, config=_config(epochs=5), split=_split(store), model_dir=tmp_path / "m")
    history = read_jsonl(tmp_path / "m" / "history.jsonl")
    best = min(history, key=lambda r: r["val_loss"])
    assert result.summary["best_epoch"] == best["epoch"]
    assert result.summary["validation"]["loss"] == pytest.approx(best["val_loss"], rel=1e-5)


def test_resume_after_interruption_equals_uninterrupted_run(store, tmp_path):
    split = _split(store)
    config = _config(epochs=5, strategy="crt_wc", crt_epochs=2, alpha=0.5)
    train_model(store=store, config=config, split=split, model_dir=tmp_path / "full")
    stopped = train_model(store=store, config=replace(config, max_epochs_this_call=3), split=split,
                          model_dir=tmp_path / "part")
    assert not stopped.finished and (tmp_path / "part" / "train_state.pt").is_file()
    again = train_model(store=store, config=replace(config, max_epochs_this_call=3), split=split,
                        model_dir=tmp_path / "part")  # crosses into the cRT stage
    assert not again.finished
    train_model(store=store, config=config, split=split, model_dir=tmp_path / "part")
    full = load_checkpoint(tmp_path / "full").state_dict
    part = load_checkpoint(tmp_path / "part").state_dict
    assert full.keys() == part.keys()
    assert all(torch.equal(full[k], part[k]) for k in full)
    assert read_jsonl(tmp_path / "full" / "history.jsonl") != [] and \
        [r["train_loss"] for r in read_jsonl(tmp_path / "full" / "history.jsonl")] == \
        [r["train_loss"] for r in read_jsonl(tmp_path / "part" / "history.jsonl")]


def test_resume_exactly_at_the_crt_transition(store, tmp_path):
    split = _split(store)
    config = _config(epochs=2, strategy="crt_wfc", crt_epochs=1, alpha=1.0)
    train_model(store=store, config=config, split=split, model_dir=tmp_path / "full")
    train_model(store=store, config=replace(config, max_epochs_this_call=2), split=split,
                model_dir=tmp_path / "part")
    train_model(store=store, config=config, split=split, model_dir=tmp_path / "part")
    full = load_checkpoint(tmp_path / "full").state_dict
    part = load_checkpoint(tmp_path / "part").state_dict
    assert all(torch.equal(full[k], part[k]) for k in full)


def test_crt_retrains_only_the_classifier(store, tmp_path):
    split = _split(store)
    config = _config(epochs=3, strategy="crt_wfc", crt_epochs=2, alpha=1.0, select="last")
    train_model(store=store, config=config, split=split, model_dir=tmp_path / "crt")
    stage1 = train_model(store=store, config=replace(config, strategy="joint", crt_epochs=0),
                         split=split, model_dir=tmp_path / "stage1")
    assert stage1.finished
    crt = load_checkpoint(tmp_path / "crt").state_dict
    first = load_checkpoint(tmp_path / "stage1").state_dict
    for key in crt:
        same = torch.equal(crt[key], first[key])
        assert same != key.startswith("classifier."), key
    history = read_jsonl(tmp_path / "crt" / "history.jsonl")
    assert [r["stage"] for r in history] == ["joint"] * 3 + ["crt"] * 2


def test_several_runs_report_mean_std_best(store, tmp_path):
    assert run_seeds(seed=0, runs=3) == [0, 21, 42]
    result = train_runs(store=store, config=_config(epochs=2), split=_split(store),
                        model_dir=tmp_path / "runs", seeds=[0, 21])
    summary = json.loads((tmp_path / "runs" / "summary.json").read_text())
    assert [r["seed"] for r in summary["runs"]] == [0, 21]
    accuracy = summary["aggregate"]["test"]["accuracy"]
    values = [r["test"]["accuracy"] for r in summary["runs"]]
    assert accuracy["mean"] == pytest.approx(np.mean(values)) and accuracy["best"] == max(values)
    assert (tmp_path / "runs" / "checkpoint.pt").is_file()
    assert result.summary["selected_seed"] in (0, 21)
    assert aggregate_metrics([{"loss": 1.0}, {"loss": 3.0}])["loss"]["best"] == 1.0
    # a second call (e.g. after an interruption in a later run) keeps the finished runs
    stamp = (tmp_path / "runs" / "runs" / "seed-0" / "checkpoint.pt").stat().st_mtime_ns
    train_runs(store=store, config=_config(epochs=2), split=_split(store),
               model_dir=tmp_path / "runs", seeds=[0, 21])
    assert (tmp_path / "runs" / "runs" / "seed-0" / "checkpoint.pt").stat().st_mtime_ns == stamp


def test_store_without_the_model_inputs_names_the_preset(tmp_path):
    from vocaltools.features import get_preset

    store = FeatureStore(tmp_path / "s")
    store.create(feature_config=get_preset("wise-cqt").to_dict())
    for i in range(4):
        store.write_item(item_id=f"i{i}", audio_path="x.wav", arrays={"cqt": np.zeros((1, 8, 40), np.float32)},
                         duration_s=1.3, fields={"singer": f"s{i % 2}"}, meta={})
    split = {f"i{i}": "train" for i in range(4)}
    with pytest.raises(ModelError, match="--preset fgnl"):
        train_model(store=store, config=_config(), split=split, model_dir=tmp_path / "m")


def test_cuda_device_refused_without_a_gpu(store, tmp_path):
    with pytest.raises(ConfigError, match="no CUDA"):
        if torch.cuda.is_available():
            raise ConfigError("no CUDA (skipped: a GPU is present)")
        train_model(store=store, config=_config(device="cuda"), split=_split(store), model_dir=tmp_path / "m")


def test_model_rebuilt_from_checkpoint_matches(store, tmp_path):
    train_model(store=store, config=_config(epochs=1), split=_split(store), model_dir=tmp_path / "m")
    checkpoint = load_checkpoint(tmp_path / "m")
    model = build_from_checkpoint(checkpoint)
    again = build_from_checkpoint(load_checkpoint(tmp_path / "m" / "checkpoint.pt"))
    x = torch.randn(2, 1, 128, 32)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
