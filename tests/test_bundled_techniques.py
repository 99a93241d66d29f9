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
    assert checkpoint.summary["stage"] == "joint"  # the stage-1 model of a cRT-WC run
    assert checkpoint.summary["config"]["alpha"] == pytest.approx(0.2, abs=1e-9)
    assert checkpoint.summary["batch_norm_recalibrated"]["n_clips"] == 120


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


def test_predict_a_vocalset_clip():
    root = shared_data("vocalset-excerpts")
    clip = sorted((root / "audio" / "m2").glob("*vibrato*.flac"))[0]
    done = invoke_cli("predict", str(clip), "--model", "techniques", "-o", "-")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == 1 and records[0]["top"][0]["label"] in TECHNIQUES
