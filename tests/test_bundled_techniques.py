"""The bundled model ``techniques`` (S3 on the VocalSet excerpts): its card, and per-clip
predictions by name, as on a fresh install."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from conftest import invoke_cli, shared_data
from vocaltools.bundled import get_bundled, load_bundled

TECHNIQUES = ["belt", "breathy", "straight", "vibrato", "vocal_fry"]
#: the bundled model's answers for the first belt, breathy, straight, vibrato, vocal_fry clip of m2
KNOWN_ANSWERS = ["vibrato", "breathy", "straight", "vibrato", "vocal_fry"]


def test_card_names_the_data_its_licence_and_the_script():
    entry = get_bundled("techniques")
    assert entry.model == "oblong_dc_late" and entry.target == "technique"
    assert list(entry.labels) == TECHNIQUES
    assert "CC BY 4.0" in entry.card.licence and "VocalSet" in entry.card.attribution
    assert "Wilkins" in entry.card.attribution
    assert entry.card.script.startswith("python scripts/train_bundled_techniques.py")
    assert any("leave-one-singer-out" in name for name in entry.card.figures)
    checkpoint = load_bundled("techniques")
    assert checkpoint.feature_config["preset"] == "yamamoto2022"
    assert checkpoint.feature_config["sample_rate"] == 44100
    assert checkpoint.clip_config["clip_seconds"] == pytest.approx(1.0, abs=1e-9)
    config = checkpoint.summary["config"]
    assert config["strategy"] == "joint" and config["select"] == "last"
    assert config["alpha"] == pytest.approx(0.2, abs=1e-9)
    # BatchNorm statistics recomputed over every training clip: all 120, all four singers
    assert config["precise_bn"] >= 120 and checkpoint.summary["n_clips"]["train"] == 120


def test_models_lists_it_with_the_attribution():
    done = invoke_cli("models")
    assert done.returncode == 0, done.stderr
    assert "bundled model techniques" in done.stdout and "VocalSet" in done.stdout
    assert "CC BY 4.0" in done.stdout


def test_predict_by_name_gives_one_record_per_clip(tmp_path):
    sample_rate = 44100
    t = np.arange(int(2.5 * sample_rate)) / sample_rate
    f0 = 330.0 * (1 + 0.02 * np.sin(2 * np.pi * 5.5 * t))  # a vibrato tone
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    tone = sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.2
    path = tmp_path / "tone.flac"
    sf.write(path, tone.astype(np.float32), sample_rate)
    done = invoke_cli("predict", str(path), "--model", "techniques", "-o", "-")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == 2  # two whole 1-s clips
    for record in records:
        assert record["labels"] == TECHNIQUES
        assert abs(sum(record["probabilities"]) - 1) < 1e-4
        assert record["top"][0]["label"] in TECHNIQUES


def test_predict_vocalset_clips_it_was_trained_on():
    """The first clip of each technique of singer m2 (all in its training data): the shipped
    weights, read back through the package and run on the audio through the model's own front
    end, give the answers the exported model gave (4 of 5 right: after 30 epochs it fits 20 of
    m2's 30 clips). Retraining the bundled model changes KNOWN_ANSWERS."""
    root = shared_data("vocalset-excerpts")
    clips = [sorted((root / "audio" / "m2").glob(f"*_{technique}_*.flac"))[0]
             for technique in TECHNIQUES]
    done = invoke_cli("predict", *map(str, clips), "--model", "techniques", "-o", "-")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == 5  # one 1-s clip per file
    answers = {r["item_id"].rsplit("/", 1)[-1]: r["top"][0]["label"] for r in records}
    assert [answers[clip.stem] for clip in clips] == KNOWN_ANSWERS, answers
