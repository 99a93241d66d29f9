"""The README's pipeline on synthetic audio: featurize -> train -> predict, asserting learning."""

from pathlib import Path

import pytest

from conftest import invoke_cli
from vocaltools.formats.jsonl import read_jsonl

#: split seeds trained; the test asserts on their mean, not on one chosen seed
SPLIT_SEEDS = (0, 1, 2)


def _held_out_clip_accuracy(store: Path, model: Path, predictions: Path) -> float:
    """Predict the model's test songs, read as audio files (predict featurizes them with the
    model's settings), and score each clip's top label against the file's singer folder."""
    test_ids = {r["item_id"] for r in read_jsonl(model / "split.jsonl") if r["split"] == "test"}
    test_audio = sorted(r["audio_path"] for r in read_jsonl(store / "manifest.jsonl")
                        if r["item_id"] in test_ids)
    assert len(test_audio) == 6  # one song (two takes) of each singer
    done = invoke_cli("predict", *test_audio, "--model", str(model), "-o", str(predictions),
                      "--threads", "1")
    assert done.returncode == 0, done.stderr
    records = read_jsonl(predictions, kind="prediction")
    assert len(records[0]["labels"]) == 3 and {r["source"] for r in records} == set(test_audio)
    correct = [r["top"][0]["label"] == Path(r["source"]).parent.name for r in records]
    return sum(correct) / len(correct)


@pytest.mark.slow
def test_featurize_train_predict_learns_synthetic_singers(tmp_path):
    """Three synthetic singers, four songs each (a Control and a Vibrato take), split by song.

    benchmarks/e2e_split_seeds.py runs this pipeline for split seeds 0-9: single runs score
    0.33-1.00 on the held-out clips (mean 0.79; chance 1/3), the mean of any three consecutive
    seeds 0.67-0.87. So the test trains three seeds and asserts on their mean, which no measured
    choice of seeds brings below 0.6. (With songs in three technique groups, a singer's held-out
    technique is often one never seen in training, and the mean falls to 0.70.)"""
    from vocaltools.synth import make_singer_dataset

    audio = tmp_path / "audio"
    make_singer_dataset(audio, n_singers=3, n_songs=4, techniques=("Vibrato",), seconds=4.0,
                        sample_rate=16000, seed=0)
    store = tmp_path / "store"
    done = invoke_cli("featurize", str(audio), "-o", str(store), "--preset", "fgnl",
                      "--labels", f"csv:{audio / 'metadata.csv'}", "--quiet")
    assert done.returncode == 0, done.stderr
    accuracies = []
    for seed in SPLIT_SEEDS:
        model = tmp_path / f"model-{seed}"
        done = invoke_cli("train", str(store), "--model", "tiny_cnn", "--target", "singer",
                          "-o", str(model), "--split-by", "singer,song_id", "--split-seed",
                          str(seed), "--clip-seconds", "1", "--epochs", "12", "--lr", "0.01",
                          "--batch-size", "8", "--threads", "1", "--quiet")
        assert done.returncode == 0, done.stderr
        accuracies.append(_held_out_clip_accuracy(store, model, tmp_path / f"pred-{seed}.jsonl"))
    assert sum(accuracies) / len(accuracies) > 0.6, accuracies  # chance is 1/3
