"""Training options that change how, not what, is trained: DataLoader workers, precision
(bf16 autocast on CPU), torch.compile's failure message."""

import json

import pytest
import torch

from _train_helpers import make_store
from vocaltools.checkpoint import load_checkpoint
from vocaltools.datasets.splits import select_fold, split_groups
from vocaltools.errors import ConfigError, ModelError
from vocaltools.formats.jsonl import read_jsonl
from vocaltools.training.config import make_train_config
from vocaltools.training.loop import train_model


def _config(**overrides):
    base = dict(model="tiny_cnn", target="singer", clip_seconds=1.0, epochs=2, batch_size=8,
                lr=1e-2, patience=0, device="cpu", model_options={"width": 8}, threads=1)
    base.update(overrides)
    return make_train_config(**base)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("store") / "s", n_classes=3, songs_per_class=3, seconds=4.0)


def _split(store):
    return select_fold(split_groups(store.items(), by="song_id", stratify="singer", seed=0,
                                    validation_fraction=0.25, test_fraction=0.25))


def _weights(folder):
    return load_checkpoint(folder).state_dict


def test_workers_give_the_same_weights_as_the_main_process(store, tmp_path):
    split = _split(store)
    train_model(store=store, config=_config(workers=0), split=split, model_dir=tmp_path / "w0")
    train_model(store=store, config=_config(workers=2), split=split, model_dir=tmp_path / "w2")
    zero, two = _weights(tmp_path / "w0"), _weights(tmp_path / "w2")
    assert all(torch.equal(zero[k], two[k]) for k in zero)
    summary = json.loads((tmp_path / "w2" / "summary.json").read_text())
    assert summary["workers"] == 2 and "workers" not in summary["config"]


def test_bf16_autocast_on_cpu_trains(store, tmp_path):
    split = _split(store)
    train_model(store=store, config=_config(epochs=3, precision="bf16"), split=split,
                model_dir=tmp_path / "bf16")
    losses = [r["train_loss"] for r in read_jsonl(tmp_path / "bf16" / "history.jsonl")]
    assert losses[-1] < losses[0]
    summary = json.loads((tmp_path / "bf16" / "summary.json").read_text())
    assert summary["precision"] == "bf16" and summary["config"]["precision"] == "bf16"
    train_model(store=store, config=_config(epochs=3, precision="fp32"), split=split,
                model_dir=tmp_path / "fp32")
    bf16, fp32 = _weights(tmp_path / "bf16"), _weights(tmp_path / "fp32")
    assert not torch.equal(bf16["classifier.weight"], fp32["classifier.weight"])  # autocast was on


def test_precision_choices(store, tmp_path):
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU"):
        train_model(store=store, config=_config(precision="fp16"), split=_split(store),
                    model_dir=tmp_path / "m")
    with pytest.raises(ConfigError, match="unknown precision 'fp8'"):
        _config(precision="fp8")
    with pytest.raises(ConfigError, match="workers must be >= 0"):
        _config(workers=-1)


def test_a_failing_compile_names_the_flag(store, tmp_path, monkeypatch):
    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("InductorError: no C++ compiler\nmore detail")

    monkeypatch.setattr(torch, "compile", lambda model: Broken())
    with pytest.raises(ModelError, match=r"torch.compile failed .*no C\+\+ compiler.*without --compile"):
        train_model(store=store, config=_config(compile=True), split=_split(store), model_dir=tmp_path / "m")
