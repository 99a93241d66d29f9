"""Pretrained GE2E (resemblyzer's weights) as a registry model, and its reference checks.

resemblyzer imports webrtcvad at module level (and torchcrepe torchaudio), which do not install
here; the reference checks below therefore re-implement resemblyzer 0.1.4's forward pass and
partial-utterance embedding from its source (``voice_encoder.py``, ``audio.py``) and compare
vocaltools' outputs with them; a direct comparison with the package runs where it imports.
"""

from __future__ import annotations

import importlib.metadata
import json

import numpy as np
import pytest

from conftest import invoke_cli


def _installed(name: str):
    try:
        return importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"the {name} wheel is not installed (scripts/setup.sh installs it)")


@pytest.fixture(scope="module")
def resemblyzer_dist():
    return _installed("resemblyzer")


def _voice(seconds: float, *, f0: float, seed: int, sample_rate: int = 16000) -> np.ndarray:
    """A harmonic stack with vibrato and a vowel-like envelope, under a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.02 * np.sin(2 * np.pi * 5.5 * t))) / sample_rate
    y = sum(np.sin(h * phase) / h * np.exp(-((h * f0 - 700) / 900) ** 2) for h in range(1, 25))
    y = y + 0.01 * rng.standard_normal(t.size)
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


class ReferenceEncoder:
    """resemblyzer 0.1.4's VoiceEncoder forward and embed_utterance, from its source, on its own
    weights file (``torch.load(...)['model_state']``, loaded non-strictly as it does)."""

    def __init__(self, path):
        import torch
        from torch import nn

        self.lstm = nn.LSTM(40, 256, 3, batch_first=True)
        self.linear = nn.Linear(256, 256)
        state = torch.load(path, map_location="cpu", weights_only=True)["model_state"]
        module = nn.Module()
        module.lstm, module.linear = self.lstm, self.linear
        module.load_state_dict(state, strict=False)

    def forward(self, mels):
        import torch

        _, (hidden, _) = self.lstm(mels)
        raw = torch.relu(self.linear(hidden[-1]))
        return raw / torch.norm(raw, dim=1, keepdim=True)

    @staticmethod
    def mel(wav):
        import librosa

        return librosa.feature.melspectrogram(y=wav, sr=16000, n_fft=400, hop_length=160,
                                              n_mels=40).astype(np.float32).T

    @staticmethod
    def partial_slices(n_samples, rate=1.3, min_coverage=0.75):
        samples_per_frame = 160
        n_frames = int(np.ceil((n_samples + 1) / samples_per_frame))
        frame_step = int(np.round((16000 / rate) / samples_per_frame))
        wav_slices, mel_slices = [], []
        for i in range(0, max(1, n_frames - 160 + frame_step + 1), frame_step):
            mel_slices.append(slice(i, i + 160))
            wav_slices.append(slice(i * samples_per_frame, (i + 160) * samples_per_frame))
        last = wav_slices[-1]
        if (n_samples - last.start) / (last.stop - last.start) < min_coverage and len(mel_slices) > 1:
            mel_slices, wav_slices = mel_slices[:-1], wav_slices[:-1]
        return wav_slices, mel_slices

    def embed_utterance(self, wav):
        import torch

        wav_slices, mel_slices = self.partial_slices(len(wav))
        if wav_slices[-1].stop >= len(wav):
            wav = np.pad(wav, (0, wav_slices[-1].stop - len(wav)), "constant")
        mel = self.mel(wav)
        with torch.no_grad():
            partials = self.forward(torch.from_numpy(np.array([mel[s] for s in mel_slices]))).numpy()
        mean = partials.mean(axis=0)
        return mean / np.linalg.norm(mean), partials, [s.start for s in mel_slices]


def _weights_file():
    from vocaltools.models.catalog import GE2E_WEIGHTS
    from vocaltools.models.pretrained import weights_path

    return weights_path(GE2E_WEIGHTS)


def test_weights_come_from_the_wheel_with_its_licence(resemblyzer_dist):
    from vocaltools.models.catalog import GE2E_WEIGHTS
    from vocaltools.models.pretrained import distribution_licence, weights_source

    path = _weights_file()
    assert path.name == "pretrained.pt" and path.stat().st_size > 10_000_000
    assert "Apache" in distribution_licence("resemblyzer")
    licence_file = next(f for f in resemblyzer_dist.files if str(f).endswith("LICENSE"))
    assert "Version 2.0" in licence_file.read_text()[:500]
    assert GE2E_WEIGHTS.licence == "Apache-2.0"
    assert weights_source(GE2E_WEIGHTS).startswith(f"resemblyzer {resemblyzer_dist.version}: ")


def test_missing_wheel_says_what_to_install():
    from vocaltools.errors import ModelError
    from vocaltools.models.catalog import PretrainedWeights
    from vocaltools.models.pretrained import weights_path

    with pytest.raises(ModelError, match="pip install --no-deps no-such-wheel-xyz"):
        weights_path(PretrainedWeights("no-such-wheel-xyz", "x/y.pt", "MIT"))


def test_ge2e_preset_is_resemblyzers_mel():
    from vocaltools.features import compute_features, get_preset

    wav = _voice(2.3, f0=220.0, seed=0)
    ours = compute_features(wav, sample_rate=16000, config=get_preset("ge2e"))["logmel"][0]
    reference = ReferenceEncoder.mel(wav).T
    assert ours.shape == reference.shape == (40, 1 + wav.size // 160)
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-6 * reference.max())


def test_ge2e_matches_the_reference_forward_and_utterance_embedding(resemblyzer_dist):
    """vocaltools' clip embeddings = the reference partial embeddings at the same frames, and
    the L2-normalised item embedding = embed_utterance where both cut the same partials."""
    import torch

    from vocaltools.features import compute_features, get_preset
    from vocaltools.inference.embed import ItemFeatures, embed_items, model_embedder

    reference = ReferenceEncoder(_weights_file())
    # 160 + 3 * 77 = 391 frames: both cut partials at 0, 77, 154, 231 (the reference's coverage
    # rule keeps no fifth, zero-padded one at this length)
    wav = _voice(390 * 160 / 16000, f0=180.0, seed=1)
    expected, partials, starts = reference.embed_utterance(wav)
    assert starts == [0, 77, 154, 231]

    embedder = model_embedder("ge2e")
    features = compute_features(wav, sample_rate=16000, config=get_preset("ge2e"))["logmel"]
    result = embed_items([ItemFeatures("a", features, {"singer": "x"})], embedder=embedder,
                         frames_per_second=100.0, normalize=True)
    np.testing.assert_allclose(result.clip_start_s * 100, starts, atol=1e-6)
    np.testing.assert_allclose(result.clip_embeddings, partials, atol=2e-5)
    np.testing.assert_allclose(result.item_embeddings[0], expected, atol=2e-5)
    assert abs(float(np.linalg.norm(result.item_embeddings[0])) - 1.0) < 1e-5

    # and the registry model on a batch equals the reference forward on [batch, frames, 40]
    from vocaltools.models.registry import build_model

    x = torch.rand(3, 1, 40, 160)
    with torch.no_grad():
        np.testing.assert_allclose(build_model("ge2e")(x).numpy(),
                                   reference.forward(x[:, 0].transpose(1, 2)).numpy(), atol=1e-6)


def test_against_the_resemblyzer_package_where_it_imports(resemblyzer_dist):
    try:
        from resemblyzer import VoiceEncoder
    except Exception as error:  # webrtcvad (a compiled module) is absent where it was --no-deps
        pytest.skip(f"resemblyzer does not import here ({type(error).__name__}: {error}); the "
                    "source re-implementation above is the reference")
    from vocaltools.features import compute_features, get_preset
    from vocaltools.inference.embed import ItemFeatures, embed_items, model_embedder

    wav = _voice(390 * 160 / 16000, f0=180.0, seed=1)
    expected = VoiceEncoder(device="cpu", verbose=False).embed_utterance(wav)
    features = compute_features(wav, sample_rate=16000, config=get_preset("ge2e"))["logmel"]
    result = embed_items([ItemFeatures("a", features)], embedder=model_embedder("ge2e"),
                         frames_per_second=100.0, normalize=True)
    np.testing.assert_allclose(result.item_embeddings[0], expected, atol=2e-5)


def test_ge2e_heads_freeze_and_record_the_backbone(resemblyzer_dist):
    import torch

    from vocaltools.models.ge2e import BACKBONE
    from vocaltools.models.registry import build_model, count_params, get_spec

    head = build_model("ge2e_classifier", n_classes=5)
    assert count_params(head) == 256 * 5 + 5  # the encoder is frozen
    assert get_spec("ge2e_classifier").options["backbone"] == BACKBONE
    tuned = build_model("ge2e_classifier", n_classes=5, finetune=True)
    assert count_params(tuned) > 1_400_000
    x = torch.rand(4, 1, 40, 160)
    embedding = build_model("ge2e").eval()
    with torch.no_grad():  # the classifier's features are the pretrained embedding
        np.testing.assert_allclose(head.eval().forward_features(x).numpy(), embedding(x).numpy(),
                                   atol=1e-6)
    random = build_model("ge2e", backbone=None)
    with torch.no_grad():
        assert not np.allclose(random(x).numpy(), embedding(x).numpy(), atol=1e-3)


@pytest.mark.slow
def test_cli_embed_ge2e_knn_build_identify_without_training(tmp_path, resemblyzer_dist):
    """A fresh install: embed audio with the pretrained encoder, enrol, identify."""
    import soundfile

    audio = tmp_path / "audio"
    for singer, f0 in (("low", 110.0), ("high", 330.0)):
        (audio / singer).mkdir(parents=True)
        for song in range(3):
            soundfile.write(audio / singer / f"song{song}.flac",
                            _voice(2.5, f0=f0 * (1 + 0.05 * song), seed=song), 16000)
    emb = tmp_path / "emb.npz"
    result = invoke_cli("embed", str(audio), "--model", "ge2e", "--normalize", "--label-field",
                        "folder", "-o", str(emb))
    assert result.returncode == 0, result.stderr
    assert "embedded 6 items" in result.stderr and "dim 256" in result.stderr
    built = invoke_cli("knn", "build", str(emb), "-o", str(tmp_path / "index.npz"))
    assert built.returncode == 0, built.stderr
    identified = invoke_cli("knn", "identify", str(tmp_path / "index.npz"), str(emb), "-k", "1",
                            "--closed-set")
    assert identified.returncode == 0, identified.stderr
    records = [json.loads(line) for line in identified.stdout.splitlines()]
    assert [r["label"] for r in records] == [r["true_label"] for r in records]

    listed = json.loads(invoke_cli("models", "--json", "--no-params").stdout)
    ge2e = next(r for r in listed if r["name"] == "ge2e")
    assert ge2e["task"] == "embed" and ge2e["pretrained"].startswith("resemblyzer ")
    assert next(r for r in listed if r["name"] == "tiny_cnn")["pretrained"] is None


@pytest.mark.slow
def test_train_head_on_frozen_ge2e_learns_and_records_the_backbone(tmp_path, resemblyzer_dist):
    """train --model ge2e --objective classify: a head on the frozen encoder, closed-set singer
    identification from a few synthetic takes; the encoder's weights stay the wheel's."""
    import torch

    from _train_helpers import make_voice_store
    from vocaltools.checkpoint import build_from_checkpoint, load_checkpoint
    from vocaltools.models.registry import build_model

    store = make_voice_store(tmp_path, n_singers=3, n_songs=3, seconds=3.0, seed=0, preset="ge2e")
    out = tmp_path / "head"
    result = invoke_cli("train", str(store.root), "--model", "ge2e", "--target", "singer",
                        "--split-by", "song_key", "--validation-fraction", "0", "--test-fraction",
                        "0.34", "--epochs", "15", "--lr", "0.01", "--threads", "1", "--device",
                        "cpu", "--no-register", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "ge2e_classifier" in result.stderr
    checkpoint = load_checkpoint(out)
    assert checkpoint.model == "ge2e_classifier" and checkpoint.task == "classify"
    assert checkpoint.model_options["backbone"] == "resemblyzer:resemblyzer/pretrained.pt"
    assert checkpoint.model_options["finetune"] is False
    assert abs(checkpoint.clip_config["clip_seconds"] - 1.6) < 1e-9 and checkpoint.feature_config["preset"] == "ge2e"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test"]["accuracy"] > 0.6, summary["test"]  # chance: 1/3
    pretrained = build_model("ge2e").encoder.state_dict()
    trained = build_from_checkpoint(checkpoint).encoder.state_dict()
    assert all(torch.equal(pretrained[k], trained[k]) for k in pretrained)


@pytest.mark.slow
def test_train_contrastive_fine_tunes_the_encoder(tmp_path, resemblyzer_dist):
    """train --model ge2e --objective contrastive: the encoder's weights move (finetune=true),
    the embedding keeps the encoder's 256 dimensions with --embedding-dim 256."""
    import torch

    from _train_helpers import make_voice_store
    from vocaltools.checkpoint import build_from_checkpoint, load_checkpoint
    from vocaltools.models.registry import build_model

    store = make_voice_store(tmp_path, n_singers=2, n_songs=2, seconds=2.0, seed=1, preset="ge2e")
    out = tmp_path / "tuned"
    result = invoke_cli("train", str(store.root), "--model", "ge2e", "--target", "singer",
                        "--objective", "contrastive", "--embedding-dim", "256", "--epochs", "1",
                        "--validation-fraction", "0", "--test-fraction", "0",
                        "--pairs-per-epoch", "8", "--batch-size", "4", "--lr", "1e-3",
                        "--threads", "1", "--no-register", "-o", str(out))
    assert result.returncode == 0, result.stderr
    checkpoint = load_checkpoint(out)
    assert checkpoint.model == "ge2e" and checkpoint.task == "embed" and checkpoint.n_classes == 256
    pretrained = build_model("ge2e").encoder.state_dict()
    tuned = build_from_checkpoint(checkpoint).encoder.state_dict()
    assert any(not torch.equal(pretrained[k], tuned[k]) for k in pretrained)


def test_frozen_encoder_memo_equals_the_encoder_and_clears_on_load(resemblyzer_dist):
    import torch

    from vocaltools.models.registry import build_model

    head = build_model("ge2e_classifier", n_classes=3).eval()
    x = torch.rand(5, 1, 40, 160)
    first = head.forward_features(x)
    assert len(head._cache) == 5
    again = head.forward_features(torch.cat([x[2:], torch.rand(1, 1, 40, 160)]))
    assert len(head._cache) == 6
    np.testing.assert_array_equal(again[:3].numpy(), first[2:].numpy())
    with torch.no_grad():
        direct = head.encoder(x[:, 0].transpose(1, 2))
    np.testing.assert_allclose(first.numpy(), direct.numpy(), atol=1e-6)
    state = {k: v.clone() for k, v in head.state_dict().items()}
    state["encoder.linear.bias"] += 1.0
    head.load_state_dict(state)
    assert len(head._cache) == 0
    assert not np.allclose(head.forward_features(x).numpy(), first.numpy(), atol=1e-4)
