"""musicnn (the ``musicnn`` wheel's TensorFlow checkpoints, read without TensorFlow) as a
registry model, against TensorFlow's own outputs and on real recordings.

The fixtures in tests/data (``tf-checkpoint/``, ``musicnn-reference.npz``) were written by
TensorFlow 2.21 and the musicnn package: ``scripts/musicnn_reference.py`` rebuilds them.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import invoke_cli, shared_data

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def musicnn_dist():
    try:
        return importlib.metadata.distribution("musicnn")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the musicnn wheel is not installed (scripts/setup.sh installs it)")


def test_reader_reads_every_dtype_and_shape_tensorflow_wrote():
    from vocaltools.models.tf_checkpoint import read_tf_checkpoint

    tensors = read_tf_checkpoint(DATA / "tf-checkpoint" / "model")
    assert sorted(tensors) == ["dense/kernel", "half", "scope/long_name_for_prefix_sharing/a",
                               "scope/long_name_for_prefix_sharing/b", "step"]
    np.testing.assert_array_equal(tensors["dense/kernel"], np.arange(6, dtype=np.float32).reshape(2, 3))
    assert tensors["dense/kernel"].dtype == np.float32
    np.testing.assert_array_equal(tensors["scope/long_name_for_prefix_sharing/a"], [1.5, -2.0])
    assert tensors["scope/long_name_for_prefix_sharing/a"].dtype == np.float64
    assert tensors["scope/long_name_for_prefix_sharing/b"].dtype == np.int32
    assert tensors["scope/long_name_for_prefix_sharing/b"].shape == (1, 1)
    assert tensors["step"].shape == () and int(tensors["step"]) == 42
    assert tensors["half"].dtype == np.float16 and tensors["half"].tolist() == [0.25, 4.0]


def test_reader_refuses_what_is_not_a_whole_checkpoint(tmp_path):
    from vocaltools.errors import ModelError
    from vocaltools.models.tf_checkpoint import read_tf_checkpoint

    (tmp_path / "junk.index").write_bytes(b"not a checkpoint" * 8)
    with pytest.raises(ModelError, match="is not a TensorFlow checkpoint index"):
        read_tf_checkpoint(tmp_path / "junk")
    with pytest.raises(ModelError, match="missing.index"):
        read_tf_checkpoint(tmp_path / "missing")
    source = DATA / "tf-checkpoint"
    (tmp_path / "cut.index").write_bytes((source / "model.index").read_bytes())
    (tmp_path / "cut.data-00000-of-00001").write_bytes(
        (source / "model.data-00000-of-00001").read_bytes()[:20])
    with pytest.raises(ModelError, match="do not match its shape"):
        read_tf_checkpoint(tmp_path / "cut")


@pytest.mark.parametrize("dataset", ["MTT", "MSD"])
def test_musicnn_matches_tensorflow(musicnn_dist, dataset):
    """The port, on the wheel's weights, gives TensorFlow's logits and penultimate features."""
    import torch

    from vocaltools.models.catalog import MUSICNN_WEIGHTS
    from vocaltools.models.musicnn import MusicnnNet, state_dict_from_tf
    from vocaltools.models.pretrained import load_weights

    reference = np.load(DATA / "musicnn-reference.npz")
    x = (np.random.default_rng(0).random((2, 64, 96)) * 3.0).astype(np.float32)
    net = MusicnnNet()
    net.load_state_dict(state_dict_from_tf(load_weights(MUSICNN_WEIGHTS[dataset])))
    with torch.no_grad():
        logits, penultimate, _ = net.eval()(torch.from_numpy(x))
    np.testing.assert_allclose(logits.numpy(), reference[f"{dataset}_logits"], atol=1e-3)
    np.testing.assert_allclose(penultimate.numpy(), reference[f"{dataset}_penultimate"], atol=1e-3)
    assert sum(p.numel() for p in net.parameters()) == 787_159  # + 2,460 BN statistics each


def test_musicnn_tags_real_recordings(musicnn_dist):
    """On sms-tools' recordings (CC BY 4.0) the MagnaTagATune tagger names what plays."""
    import torch

    from vocaltools.audio import load_audio
    from vocaltools.features import compute_features, get_preset
    from vocaltools.models.musicnn import TAGS
    from vocaltools.models.registry import build_model

    sounds = shared_data("sms-tools-sounds")
    tagger = build_model("musicnn", head="tags").eval()
    config = get_preset("musicnn")
    top = {}
    for name in ("violin-B3", "flute-A4", "singing-female"):
        audio = load_audio(sounds / f"{name}.flac", sample_rate=config.sample_rate)
        mel = compute_features(audio, sample_rate=config.sample_rate, config=config)["logmel"]
        with torch.no_grad():
            logits = tagger(torch.from_numpy(mel[None].astype(np.float32)))[0]
        top[name] = [TAGS["MTT"][i] for i in torch.argsort(logits, descending=True)[:3]]
    assert "violin" in top["violin-B3"], top
    assert top["flute-A4"][0] == "flute", top
    assert {"female", "woman", "female vocal", "vocal"} & set(top["singing-female"]), top


def test_cli_embed_musicnn_and_models_listing(tmp_path, musicnn_dist):
    import soundfile

    t = np.arange(4 * 16000) / 16000
    audio = tmp_path / "audio"
    for name, f0 in (("low", 110.0), ("high", 440.0)):
        (audio / name).mkdir(parents=True)
        wav = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, 8)) * 0.1
        soundfile.write(audio / name / "take.flac", wav.astype(np.float32), 16000)
    emb = tmp_path / "emb.npz"
    result = invoke_cli("embed", str(audio), "--model", "musicnn", "-o", str(emb))
    assert result.returncode == 0, result.stderr
    assert "embedded 2 items" in result.stderr and "dim 1506" in result.stderr
    listed = json.loads(invoke_cli("models", "--json", "--no-params").stdout)
    entry = next(r for r in listed if r["name"] == "musicnn")
    assert entry["task"] == "embed" and entry["pretrained"].startswith("musicnn ")
    assert "(ISC)" in entry["pretrained"]
    from vocaltools.models.pretrained import distribution_licence

    assert distribution_licence("musicnn") == "ISC"


@pytest.mark.slow
def test_train_head_on_frozen_musicnn_keeps_the_network(tmp_path, musicnn_dist):
    """train --model musicnn --objective classify: musicnn_classifier, a head on the frozen
    network, whose weights and batch-norm statistics stay the wheel's."""
    import torch

    from _train_helpers import make_voice_store
    from vocaltools.checkpoint import build_from_checkpoint, load_checkpoint
    from vocaltools.models.registry import build_model

    store = make_voice_store(tmp_path, n_singers=2, n_songs=2, seconds=3.5, seed=0, preset="musicnn")
    out = tmp_path / "head"
    result = invoke_cli("train", str(store.root), "--model", "musicnn", "--target", "singer",
                        "--validation-fraction", "0", "--test-fraction", "0", "--epochs", "2",
                        "--threads", "1", "--device", "cpu", "--no-register", "-o", str(out))
    assert result.returncode == 0, result.stderr
    checkpoint = load_checkpoint(out)
    assert checkpoint.model == "musicnn_classifier" and checkpoint.n_classes == 2
    pretrained = build_model("musicnn").net.state_dict()
    trained = build_from_checkpoint(checkpoint).net.state_dict()
    assert all(torch.equal(pretrained[k], trained[k]) for k in pretrained)


def test_musicnn_preset_is_musicnns_mel():
    """musicnn's extractor: librosa's power mel at 16 kHz, n_fft 512, hop 256, 96 bands."""
    import librosa

    from vocaltools.features import compute_features, get_preset

    t = np.arange(int(2.2 * 16000)) / 16000
    wav = (0.3 * np.sin(2 * np.pi * 330 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    ours = compute_features(wav, sample_rate=16000, config=get_preset("musicnn"))["logmel"][0]
    reference = librosa.feature.melspectrogram(y=wav, sr=16000, hop_length=256, n_fft=512, n_mels=96)
    assert ours.shape == reference.shape == (96, 1 + wav.size // 256)
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-6 * reference.max())
