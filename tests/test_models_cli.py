import json

import pytest

from _train_helpers import make_store
from conftest import invoke_cli
from vocaltools.formats.jsonl import read_jsonl


@pytest.mark.slow
def test_models_json_lists_every_architecture_with_counts():
    result = invoke_cli("models", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    architectures = {r["name"]: r for r in rows if r["kind"] == "architecture"}
    from vocaltools.models.catalog import SPECS

    assert set(architectures) == {s.name for s in SPECS}
    tiny = architectures["tiny_cnn"]
    assert tiny["task"] == "classify" and tiny["params"] > 0 and tiny["params_keras"] >= tiny["params"]
    assert all({"name", "task", "params", "params_keras"} <= set(r) for r in architectures.values())
    assert all({"name", "task", "kind"} <= set(r) for r in rows)
    # the bundled models follow, with their cards
    assert all({"name", "task", "labels", "licence", "figures"} <= set(r)
               for r in rows if r["kind"] == "bundled")


@pytest.mark.slow
def test_train_registers_and_default_model_predicts(tmp_path):
    store = make_store(tmp_path / "store", n_classes=2, songs_per_class=3, seconds=3.0)
    result = invoke_cli("train", str(store.root), "--model", "tiny_cnn", "--target", "singer",
                     "-o", str(tmp_path / "singers"), "--split-by", "song_id", "--clip-seconds", "1",
                     "--epochs", "2", "--lr", "0.01", "--option", "width=8", "--threads", "1",
                     "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "registered as 'singers'" in result.stderr
    assert "epoch 2/2" in result.stderr
    listed = json.loads(invoke_cli("models", "--json").stdout)
    trained = [r for r in listed if r["kind"] == "trained"]
    assert [(r["name"], r["model"], r["target"], r["default"]) for r in trained] == \
        [("singers", "tiny_cnn", "singer", False)]

    # no default yet: a clear error
    missing = invoke_cli("predict", str(store.root), "-o", "-")
    assert missing.returncode == 1 and "--set-default" in missing.stderr

    assert invoke_cli("models", "--set-default", "singers").returncode == 0
    predicted = invoke_cli("predict", str(store.root), "-o", str(tmp_path / "p.jsonl"))
    assert predicted.returncode == 0, predicted.stderr
    records = read_jsonl(tmp_path / "p.jsonl", kind="prediction")
    assert records and records[0]["model"] == "singers"
    from vocaltools.trained import resolve_model

    assert resolve_model("singers") == (tmp_path / "singers" / "checkpoint.pt").resolve()

    table = invoke_cli("models", "--no-params")
    assert "singers (default)" in table.stdout


def test_unknown_names_suggest_the_closest(tmp_path):
    result = invoke_cli("models", "--set-default", "nothing")
    assert result.returncode == 1 and "no trained model called 'nothing'" in result.stderr
    store = make_store(tmp_path / "store", n_classes=2, songs_per_class=2, seconds=2.0)
    result = invoke_cli("train", str(store.root), "--model", "tiny_cn", "--target", "singer",
                     "-o", str(tmp_path / "m"))
    assert result.returncode == 1 and "did you mean 'tiny_cnn'" in result.stderr


def _saved_model(folder):
    from vocaltools.checkpoint import Checkpoint, save_checkpoint
    from vocaltools.models.registry import build_model

    model = build_model("tiny_cnn", n_classes=2, width=8)
    save_checkpoint(folder / "checkpoint.pt", Checkpoint(
        model="tiny_cnn", model_options={"width": 8}, n_classes=2, task="classify",
        inputs=("logmel",), labels=("a", "b"), target="singer", feature_config={},
        clip_config={"clip_seconds": 1.0}, state_dict=model.state_dict()))
    return folder


def test_registry_register_resolve_default(tmp_path):
    import pytest

    from vocaltools.errors import InputError, ModelError
    from vocaltools.trained import (default_name, list_trained, register, resolve_model,
                                    set_default)

    folder = _saved_model(tmp_path / "m1")
    with pytest.raises(ModelError, match="no default model"):
        resolve_model(None)
    entry = register(name="voices", model_dir=folder)
    assert entry.labels == ("a", "b") and entry.path == str(folder.resolve())
    assert [e.name for e in list_trained()] == ["voices"]
    assert resolve_model("voices") == folder.resolve() / "checkpoint.pt"
    assert resolve_model(str(folder)) == folder / "checkpoint.pt"  # a path works too
    set_default("voices")
    assert default_name() == "voices" and resolve_model(None) == folder.resolve() / "checkpoint.pt"
    with pytest.raises(ModelError, match="did you mean 'voices'"):
        resolve_model("voice")
    with pytest.raises(InputError, match="invalid model name"):
        register(name="../x", model_dir=folder)
    (folder / "checkpoint.pt").unlink()
    with pytest.raises(ModelError, match="holds no checkpoint"):
        resolve_model("voices")


def test_param_counts_are_cached(monkeypatch):
    from vocaltools import model_counts
    from vocaltools.models.registry import get_spec

    spec = get_spec("tiny_cnn")
    first = model_counts.param_counts([spec])
    assert first["tiny_cnn"][0] > 0

    def no_build(spec):
        raise AssertionError("built again despite the cache")

    monkeypatch.setattr(model_counts, "count_spec", no_build)
    assert model_counts.param_counts([spec]) == first
