"""Soundfont phrases, the rendered training store, a miniature of the bundled instruments model
trained end to end, and the shipped model itself."""

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import invoke_cli, shared_data
from vocaltools.errors import ConfigError

FIXTURES = Path(__file__).parent / "data"


def _renderer():
    pytest.importorskip("tinysoundfont", reason="tinysoundfont is not installed")
    pytest.importorskip("pretty_midi", reason="pretty_midi (its TimGM6mb soundfont) is not installed")
    from vocaltools.phrases import PhraseRenderer

    return PhraseRenderer("timgm6mb")


def test_phrases_are_deterministic_and_in_range():
    from vocaltools.phrases import RANGES, iter_phrases

    renderer = _renderer()
    a = renderer.phrase("violin", style="melody", seconds=1.5, seed=3)
    b = renderer.phrase("violin", style="melody", seconds=1.5, seed=3)
    assert a.audio.dtype == np.float32 and a.audio.shape == (int(1.5 * 22050),)
    np.testing.assert_array_equal(a.audio, b.audio)
    assert float(np.abs(a.audio).max()) > 1e-3
    low, high = RANGES["violin"]
    assert a.notes and all(low <= n <= high for n in a.notes)
    chords = renderer.phrase("guitar", style="chords", seconds=2.0, seed=0)
    assert chords.style == "chords" and len(chords.notes) >= 3
    # a bowed instrument asked for chords plays a melody instead
    assert renderer.phrase("cello", style="chords", seconds=1.0, seed=0).style == "melody"
    phrases = list(iter_phrases(renderer, instruments=["flute", "guitar"], n_phrases=3, seconds=1.0))
    assert [p.instrument for p in phrases] == ["flute"] * 3 + ["guitar"] * 3
    assert {p.program for p in phrases if p.instrument == "guitar"} == {24, 25}
    with pytest.raises(ConfigError, match="did you mean 'violin'"):
        renderer.presets("violn")
    with pytest.raises(ConfigError, match="unknown phrase style"):
        renderer.phrase("violin", style="trill", seconds=1.0, seed=0)


def test_miniature_of_the_bundled_model_trains_and_exports(tmp_path):
    """The retrain pipeline at toy size: phrases of 3 instruments from TimGM6mb with the room
    augmentation -> the musicnn preset -> mel_cnn on the power mel -> above chance on phrases of
    another seed -> joined with musicnn's tags -> export -> the bundled files load and give the
    same answers."""
    import torch

    from vocaltools.bundled import ModelCard, export_bundled, load_bundled
    from vocaltools.checkpoint import build_from_checkpoint, load_checkpoint, save_checkpoint
    from vocaltools.datasets.rendered import phrase_split, render_phrase_store
    from vocaltools.features import get_preset
    from vocaltools.models.tagprior import tag_prior_checkpoint
    from vocaltools.segments import ClipConfig, clip_windows, cut_clip
    from vocaltools.training.config import make_train_config
    from vocaltools.training.loop import train_model

    _renderer()
    instruments = ["flute", "trumpet", "guitar"]
    preset = get_preset("musicnn")
    train = render_phrase_store(tmp_path / "train", soundfonts=["timgm6mb"], instruments=instruments,
                                n_phrases=8, seconds=2.0, copies=1, seed=0, feature_config=preset)
    assert train.n_items == 24 and train.instruments == tuple(instruments)
    fields = train.store.items()[0].fields
    assert {"instrument", "soundfont", "preset", "style", "phrase_key"} <= set(fields)
    split = phrase_split(train.store, validation_fraction=0.25)
    assert sum(v == "validation" for v in split.values()) == 6
    config = make_train_config(model="mel_cnn", target="instrument", epochs=6, lr=3e-3,
                               batch_size=16, patience=None, device="cpu", threads=1,
                               clip_seconds=1.0, hop_seconds=0.5, precise_bn=256,
                               model_options={"widths": [8, 16, 32], "hidden": 32, "power_db": True})
    result = train_model(store=train.store, config=config, split=split, model_dir=tmp_path / "m")
    assert result.finished

    test = render_phrase_store(tmp_path / "test", soundfonts=["timgm6mb"], instruments=instruments,
                               n_phrases=4, seconds=2.0, copies=1, seed=7, feature_config=preset)
    model = build_from_checkpoint(load_checkpoint(tmp_path / "m"))
    labels = load_checkpoint(tmp_path / "m").labels
    clip = ClipConfig(clip_seconds=1.0, hop_seconds=0.5)
    x, y = [], []
    for item in test.store.items():
        array = test.store.load_arrays(item)["logmel"]
        for window in clip_windows(n_frames=array.shape[-1], frames_per_second=16000 / 256, config=clip):
            x.append(cut_clip(array, window))
            y.append(labels.index(item.fields["instrument"]))
    with torch.no_grad():
        logits = model(torch.from_numpy(np.stack(x)))
    accuracy = float((logits.argmax(1).numpy() == np.array(y)).mean())
    assert accuracy > 0.55, f"accuracy {accuracy:.2f} on unseen phrases (chance 0.33)"

    save_checkpoint(tmp_path / "joined", tag_prior_checkpoint(load_checkpoint(tmp_path / "m")))
    joined = build_from_checkpoint(load_checkpoint(tmp_path / "joined"))
    card = ModelCard(description="miniature", training_data="TimGM6mb phrases", licence="test only",
                     attribution="-", figures={"accuracy": accuracy}, script="this test")
    export_bundled(tmp_path / "joined", "mini", card, folder=tmp_path / "bundled", dtype="float16")
    rebuilt = build_from_checkpoint(load_bundled("mini", folder=tmp_path / "bundled"))
    with torch.no_grad():
        expected, again = joined(torch.from_numpy(np.stack(x))), rebuilt(torch.from_numpy(np.stack(x)))
    assert torch.allclose(torch.softmax(again, 1), torch.softmax(expected, 1), atol=2e-2)


# rendered by: benchmarks/experiments/instruments_bundled.py fixture INSTRUMENT fluidr3 OUT.flac
SHIPPED = [("saxophone-fluidr3.flac", "saxophone"), ("guitar-fluidr3.flac", "guitar"),
           ("double-bass-fluidr3.flac", "double-bass")]


def _predict_file(path) -> str:
    """The bundled model's answer for ``path``, run as ``vocaltools predict FILE --model
    instruments`` on a fresh home (no registry): the mean of its clip probabilities."""
    result = invoke_cli("predict", str(path), "--model", "instruments", "-o", "-",
                        "--device", "cpu", "--threads", "1")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert records and all(r["model"] == "instruments" for r in records)
    mean = np.mean([r["probabilities"] for r in records], axis=0)
    labels = records[0]["labels"]
    return labels[int(np.argmax(mean))], dict(zip(labels, np.round(mean, 3)))


@pytest.mark.parametrize("fixture, expected", SHIPPED)
def test_shipped_instruments_model_answers_a_known_input(fixture, expected):
    """The bundled model by name, on phrases rendered from FluidR3_GM (MIT) through the room
    augmentation with a seed (101) that no training phrase has. (Renders are not what the
    shipped model is good at: musicnn's tags, learnt from real music, misread several
    instruments' soundfont samples; the violin, flute and cello fixtures of the same seed are
    answered flute, cor-anglais and violin, docs/results-instruments.md.)"""
    from vocaltools.bundled import bundled_path

    if bundled_path("instruments") is None:
        pytest.fail("the bundled instruments model is missing from vocaltools/bundled/")
    answer, probabilities = _predict_file(FIXTURES / fixture)
    assert answer == expected, probabilities


@pytest.mark.parametrize("stem, expected", [("flute-A4", "flute"), ("cello-double", "cello"),
                                            ("trumpet-A4", "trumpet")])
def test_shipped_instruments_model_names_real_recordings(stem, expected):
    """Three of the sms-tools recordings (CC BY 4.0) that the shipped model names (4 of 9 in all;
    docs/results-instruments.md)."""
    answer, probabilities = _predict_file(shared_data("sms-tools-sounds") / f"{stem}.flac")
    assert answer == expected, probabilities


def test_models_lists_the_bundled_instruments_model():
    result = invoke_cli("models", "--json", "--no-params")
    assert result.returncode == 0, result.stderr
    (row,) = [r for r in json.loads(result.stdout) if r["kind"] == "bundled" and r["name"] == "instruments"]
    assert row["task"] == "classify" and row["n_classes"] == len(row["labels"]) >= 7
    assert "MIT" in row["licence"] and "FluidR3" in row["training_data"]
    assert row["figures"] and "instruments_bundled.py" in row["script"]
    assert row["n_bytes"] < 4_000_000


def test_mel_cnn_follows_the_model_contract_at_any_length():
    import torch

    from vocaltools.models.registry import build_model, example_input, get_spec

    torch.manual_seed(0)
    model = build_model("mel_cnn", n_classes=5).eval()
    x = example_input(get_spec("mel_cnn"), batch=2)
    with torch.no_grad():
        features = model.forward_features(x)
        torch.testing.assert_close(model.classifier(features), model(x))
        assert model(torch.randn(2, 1, 64, 130)).shape == (2, 5)  # longer clips work too
        # the clip's level is removed: a gain (a dB offset) does not change the answer
        torch.testing.assert_close(model(x + 12.0), model(x), atol=1e-4, rtol=1e-4)
    assert features.shape == (2, 128)


def test_mel_cnn_band_norm_removes_a_fixed_filter_and_masks_act_in_training_only():
    import torch

    from vocaltools.models.registry import build_model

    torch.manual_seed(0)
    x = torch.randn(3, 1, 64, 44) * 10.0
    # a microphone's or room's response: a constant dB offset per mel band
    filter_db = torch.linspace(-12.0, 6.0, 64).view(1, 1, 64, 1) + 3.0 * torch.sin(torch.arange(64.0)).view(1, 1, 64, 1)
    banded = build_model("mel_cnn", n_classes=4, band_norm=True).eval()
    plain = build_model("mel_cnn", n_classes=4).eval()
    with torch.no_grad():
        torch.testing.assert_close(banded(x + filter_db), banded(x), atol=1e-4, rtol=1e-4)
        assert float((plain(x + filter_db) - plain(x)).abs().max()) > 1e-3  # clip_norm alone does not
    masked = build_model("mel_cnn", n_classes=4, freq_masks=2, freq_mask_bands=8, time_masks=2,
                         time_mask_frames=8)
    masked.load_state_dict(plain.state_dict())
    masked.eval()
    with torch.no_grad():
        torch.testing.assert_close(masked(x), plain(x), atol=1e-6, rtol=1e-6)  # eval: no masks


def test_pcen_is_librosas_started_at_the_first_frame_and_mel_cnn_reads_it_from_db():
    import librosa
    import scipy.signal
    import torch

    from vocaltools.models.melcnn import pcen
    from vocaltools.models.registry import build_model

    rng = np.random.default_rng(0)
    power = rng.random((64, 44)) * 1e3 + 1.0
    t = 0.4 * 22050 / 512
    b = (np.sqrt(1 + 4 * t ** 2) - 1) / (2 * t ** 2)
    state = scipy.signal.lfilter_zi([b], [1, b - 1])[0] * power[:, :1]  # smoother = first frame
    reference = librosa.pcen(power, sr=22050, hop_length=512, zi=state)
    ours = pcen(torch.from_numpy(power)[None, None], frames_per_second=22050 / 512)[0, 0]
    np.testing.assert_allclose(ours.numpy(), reference, rtol=1e-9, atol=1e-9)

    db = torch.from_numpy(20 * np.log10(power / power.max())).float()[None, None]
    model = build_model("mel_cnn", n_classes=3, pcen=True).eval()
    unnormalised = build_model("mel_cnn", n_classes=3, clip_norm=False).eval()
    unnormalised.load_state_dict(model.state_dict())
    seen = pcen(torch.pow(10.0, db / 20.0) * 2.0 ** 31, frames_per_second=22050 / 512)
    with torch.no_grad():  # the network sees PCEN of the power that the dB values encode
        torch.testing.assert_close(model(db), unnormalised(seen))


def test_spec_mask_zeroes_whole_bands_and_frames_within_the_width():
    import torch

    from vocaltools.models.melcnn import spec_mask

    torch.manual_seed(1)
    x = torch.ones(50, 1, 64, 44)
    bands = spec_mask(x, n_masks=2, width=8, dim=2)
    zeroed = (bands == 0).all(dim=3)[:, 0]  # [clip, band]: a band is zeroed in every frame or none
    assert torch.equal((bands == 0).any(dim=3)[:, 0], zeroed)
    assert 0 < int(zeroed.sum(dim=1).max()) <= 16 and float(zeroed.float().mean()) > 0.01
    frames = spec_mask(x, n_masks=1, width=5, dim=3)
    per_clip = (frames == 0).all(dim=2)[:, 0].sum(dim=1)
    assert int(per_clip.max()) <= 5 and int(per_clip.min()) >= 0 and int(per_clip.sum()) > 0
    assert torch.equal(spec_mask(x, n_masks=0, width=8, dim=2), x)


def test_an_ensemble_answers_the_mean_probability_of_its_members(tmp_path):
    import torch

    from vocaltools.checkpoint import Checkpoint, build_from_checkpoint, load_checkpoint, save_checkpoint
    from vocaltools.errors import ModelError
    from vocaltools.models.ensemble import ensemble_checkpoint
    from vocaltools.models.registry import build_model

    def member(seed, labels=("a", "b", "c")):
        torch.manual_seed(seed)
        model = build_model("mel_cnn", n_classes=3, widths=[4, 8])
        return Checkpoint(model="mel_cnn", model_options={"widths": [4, 8]}, n_classes=3,
                          task="classify", inputs=("logmel",), labels=labels, target="instrument",
                          feature_config={"preset": "instruments"}, clip_config={"clip_seconds": 1.0},
                          state_dict=model.state_dict())

    members = [member(0), member(1), member(2)]
    joined = ensemble_checkpoint(members)
    assert joined.model == "mel_cnn_ensemble" and joined.model_options["n_members"] == 3
    save_checkpoint(tmp_path / "ensemble.pt", joined)
    ensemble = build_from_checkpoint(load_checkpoint(tmp_path / "ensemble.pt"))
    x = torch.randn(5, 1, 64, 44)
    with torch.no_grad():
        expected = torch.stack([torch.softmax(build_from_checkpoint(m)(x), dim=1) for m in members]).mean(0)
        torch.testing.assert_close(torch.softmax(ensemble(x), dim=1), expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(ModelError, match="differs from member 0 in labels"):
        ensemble_checkpoint([member(0), member(1, labels=("a", "b", "d"))])
