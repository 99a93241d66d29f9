import pytest
import torch

from vocaltools.checkpoint import (Checkpoint, build_from_checkpoint, load_checkpoint,
                                   save_checkpoint)
from vocaltools.errors import ModelError
from vocaltools.models.registry import build_model


def _checkpoint(model) -> Checkpoint:
    return Checkpoint(model="tiny_cnn", model_options={"width": 8}, n_classes=3, task="classify",
                      inputs=("logmel",), labels=("a", "b", "c"), target="singer",
                      feature_config={"preset": "fgnl", "sample_rate": 16000},
                      clip_config={"clip_seconds": 1.0}, state_dict=model.state_dict(),
                      summary={"best_epoch": 2, "test": {"accuracy": 0.5}})


def test_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    model = build_model("tiny_cnn", n_classes=3, width=8).eval()
    x = torch.randn(4, 1, 128, 32)
    path = save_checkpoint(tmp_path / "checkpoint.pt", _checkpoint(model))
    loaded = load_checkpoint(path)
    assert loaded.labels == ("a", "b", "c")
    assert loaded.feature_config["preset"] == "fgnl"
    assert loaded.summary["test"]["accuracy"] == 0.5
    rebuilt = build_from_checkpoint(loaded)
    with torch.no_grad():
        assert torch.equal(model(x), rebuilt(x))


def test_checkpoint_is_plain_data(tmp_path):
    model = build_model("tiny_cnn", n_classes=3, width=8)
    path = save_checkpoint(tmp_path / "checkpoint.pt", _checkpoint(model))
    data = torch.load(path, weights_only=True)  # no pickled classes
    assert data["format"] == "vocaltools.checkpoint" and data["version"] == 1
    assert data["model"] == "tiny_cnn" and data["model_options"] == {"width": 8}


def test_folder_path_finds_checkpoint(tmp_path):
    model = build_model("tiny_cnn", n_classes=3, width=8)
    save_checkpoint(tmp_path / "checkpoint.pt", _checkpoint(model))
    assert load_checkpoint(tmp_path).model == "tiny_cnn"


def test_bad_files_raise_model_error(tmp_path):
    with pytest.raises(ModelError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="not a readable"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(ModelError, match="not a vocaltools checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    model = build_model("tiny_cnn", n_classes=3, width=8)
    data = _checkpoint(model).to_dict()
    data["version"] = 99
    torch.save(data, tmp_path / "newer.pt")
    with pytest.raises(ModelError, match="newer"):
        load_checkpoint(tmp_path / "newer.pt")


def test_mismatched_weights_raise_model_error(tmp_path):
    model = build_model("tiny_cnn", n_classes=3, width=8)
    checkpoint = _checkpoint(model)
    wrong = Checkpoint(**{**checkpoint.__dict__, "model_options": {"width": 16}})
    with pytest.raises(ModelError, match=r"not those of a tiny_cnn .*of another shape"):
        build_from_checkpoint(wrong)


def test_typed_configs_are_parsed_once(tmp_path):
    from vocaltools.features import get_preset
    from vocaltools.segments import ClipConfig

    model = build_model("tiny_cnn", n_classes=3, width=8)
    checkpoint = Checkpoint(model="tiny_cnn", model_options={"width": 8}, n_classes=3,
                            task="classify", inputs=("logmel",), labels=("a", "b", "c"),
                            target="singer", feature_config=get_preset("fgnl").to_dict(),
                            clip_config={"clip_seconds": 1.5, "hop_seconds": 0.5},
                            state_dict=model.state_dict())
    loaded = load_checkpoint(save_checkpoint(tmp_path / "checkpoint.pt", checkpoint))
    assert loaded.features == get_preset("fgnl")
    assert loaded.features is loaded.features  # parsed once, kept
    assert loaded.clip == ClipConfig(clip_seconds=1.5, hop_seconds=0.5)
    assert abs(loaded.features.frames_per_second - get_preset("fgnl").frames_per_second) < 1e-9


def test_an_unreadable_feature_config_is_a_model_error():
    model = build_model("tiny_cnn", n_classes=3, width=8)
    with pytest.raises(ModelError, match="feature config cannot be read.*front_ends"):
        _checkpoint(model).features
