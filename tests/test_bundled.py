"""Bundled models: export from a model folder, list, load by name, resolve after paths and
registered names."""

import json

import pytest
import torch

from vocaltools import bundled
from vocaltools.bundled import (ModelCard, export_bundled, get_bundled, list_bundled,
                                load_bundled)
from vocaltools.checkpoint import (Checkpoint, build_from_checkpoint, load_checkpoint,
                                   save_checkpoint)
from vocaltools.errors import InputError, ModelError
from vocaltools.features import get_preset
from vocaltools.models.registry import build_model

CARD = ModelCard(description="a test model", training_data="noise", licence="MIT",
                 attribution="nobody", figures={"accuracy": 0.5},
                 script="python benchmarks/none.py")


def _model_folder(folder, *, seed=0, labels=("a", "b", "c")):
    torch.manual_seed(seed)
    model = build_model("tiny_cnn", n_classes=len(labels), width=8)
    # non-trivial BatchNorm statistics, so a round trip that lost them would show
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    save_checkpoint(folder / "checkpoint.pt", Checkpoint(
        model="tiny_cnn", model_options={"width": 8}, n_classes=len(labels), task="classify",
        inputs=("logmel",), labels=labels, target="instrument",
        feature_config=get_preset("fgnl").to_dict(), clip_config={"clip_seconds": 1.0},
        state_dict=model.state_dict(), summary={"best_epoch": 3}))
    return folder


def test_export_list_load_gives_identical_outputs(tmp_path):
    source = _model_folder(tmp_path / "run")
    out = tmp_path / "bundled"
    entry = export_bundled(source, "toy", CARD, folder=out)
    assert sorted(p.name for p in out.iterdir()) == ["toy.json", "toy.safetensors"]
    assert entry.name == "toy" and entry.labels == ("a", "b", "c") and entry.task == "classify"
    assert [m.name for m in list_bundled(folder=out)] == ["toy"]
    listed = get_bundled("toy", folder=out)
    assert listed.card == CARD and listed.n_bytes == (out / "toy.safetensors").stat().st_size

    original, loaded = load_checkpoint(source), load_bundled("toy", folder=out)
    assert isinstance(loaded, Checkpoint)
    for key in ("model", "model_options", "n_classes", "task", "inputs", "labels", "target",
                "feature_config", "clip_config", "summary"):
        assert getattr(loaded, key) == getattr(original, key), key
    assert set(loaded.state_dict) == set(original.state_dict)
    x = torch.randn(2, 1, 128, 32)
    with torch.no_grad():
        assert torch.equal(build_from_checkpoint(original)(x), build_from_checkpoint(loaded)(x))
    # the JSON is plain data a person can read
    data = json.loads((out / "toy.json").read_text())
    assert data["schema"] == "vocaltools.bundled/1" and data["card"]["licence"] == "MIT"
    assert data["checkpoint"]["labels"] == ["a", "b", "c"] and "state_dict" not in data["checkpoint"]


def test_float16_export_is_half_the_size_and_close(tmp_path):
    source = _model_folder(tmp_path / "run")
    full = export_bundled(source, "full", CARD, folder=tmp_path / "b")
    half = export_bundled(source, "half", CARD.to_dict(), folder=tmp_path / "b", dtype="float16")
    assert half.n_bytes < 0.6 * full.n_bytes
    loaded = load_bundled("half", folder=tmp_path / "b")
    assert all(v.dtype != torch.float16 for v in loaded.state_dict.values())
    x = torch.randn(2, 1, 128, 32)
    with torch.no_grad():
        a = torch.softmax(build_from_checkpoint(load_checkpoint(source))(x), -1)
        b = torch.softmax(build_from_checkpoint(loaded)(x), -1)
    assert torch.allclose(a, b, atol=1e-2)


def test_bad_cards_names_and_files_are_clear_errors(tmp_path):
    source = _model_folder(tmp_path / "run")
    out = tmp_path / "b"
    with pytest.raises(InputError, match="lacks licence"):
        export_bundled(source, "x", {k: v for k, v in CARD.to_dict().items() if k != "licence"},
                       folder=out)
    with pytest.raises(InputError, match="invalid model name"):
        export_bundled(source, "../x", CARD, folder=out)
    with pytest.raises(InputError, match="unknown dtype"):
        export_bundled(source, "x", CARD, folder=out, dtype="int8")
    export_bundled(source, "toy", CARD, folder=out)
    with pytest.raises(ModelError, match="did you mean 'toy'"):
        load_bundled("tay", folder=out)
    # damaged weights are refused by their checksum
    weights = out / "toy.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256"):
        load_bundled("toy", folder=out)
    weights.unlink()
    with pytest.raises(ModelError, match="missing"):
        load_bundled("toy", folder=out)
    # a newer schema is refused with a hint to upgrade
    card = json.loads((out / "toy.json").read_text())
    card["schema"] = "vocaltools.bundled/9"
    (out / "toy.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="upgrade vocaltools"):
        list_bundled(folder=out)


def test_model_names_resolve_path_then_registered_then_bundled(tmp_path, monkeypatch):
    from vocaltools.inference.predict import load_model
    from vocaltools.trained import register, resolve_model

    out = tmp_path / "b"
    export_bundled(_model_folder(tmp_path / "run"), "toy", CARD, folder=out)
    monkeypatch.setattr(bundled, "BUNDLED_DIR", out)
    assert resolve_model("toy") == out / "toy.json"
    loaded = load_model("toy", device="cpu")
    assert loaded.name == "toy" and loaded.labels == ("a", "b", "c")
    with pytest.raises(ModelError, match="bundled models: toy"):
        resolve_model("nothing")

    # a registered name comes before a bundled one of the same name
    other = _model_folder(tmp_path / "other", seed=1, labels=("x", "y"))
    register(name="toy", model_dir=other)
    assert resolve_model("toy") == (other / "checkpoint.pt").resolve()
    # and a path comes first of all
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    _model_folder(tmp_path / "cwd" / "toy", labels=("p", "q"))
    assert load_model("toy", device="cpu").labels == ("p", "q")


def test_shipped_bundled_models_load():
    """Every model shipped in the package loads, and its card names a retraining script."""
    for entry in list_bundled():
        checkpoint = load_bundled(entry.name)
        assert checkpoint.labels == entry.labels
        assert entry.card.script and entry.card.licence and entry.card.training_data
        assert entry.n_bytes < 8_000_000, "a bundled model should stay a few MB"
        build_from_checkpoint(checkpoint)
