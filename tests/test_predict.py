import json

import numpy as np
import pytest
import soundfile as sf

from _train_helpers import make_store
from conftest import invoke_cli
from vocaltools.datasets.splits import select_fold, split_groups
from vocaltools.errors import InputError
from vocaltools.formats.jsonl import read_jsonl
from vocaltools.formats.store import FeatureStore
from vocaltools.inference.predict import (ClipPrediction, collect_inputs, load_model, predict_items,
                                          summarise_items)
from vocaltools.training.config import make_train_config
from vocaltools.training.loop import train_model


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny_cnn trained for a few epochs on a learnable store: ``(store, model_dir)``."""
    root = tmp_path_factory.mktemp("predict")
    store = make_store(root / "store", n_classes=3, songs_per_class=4, seconds=6.0)
    split = select_fold(split_groups(store.items(), by="song_id", stratify="singer", seed=0,
                                     validation_fraction=0.25, test_fraction=0.25))
    config = make_train_config(model="tiny_cnn", target="singer", clip_seconds=1.0, epochs=10,
                               batch_size=8, lr=1e-2, patience=0, device="cpu",
                               model_options={"width": 8}, threads=1)
    train_model(store=store, config=config, split=split, model_dir=root / "model")
    return store, root / "model"


def _wav(path, seconds, sample_rate=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    audio = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.normal(size=t.size)
    sf.write(path, audio.astype(np.float32), sample_rate)
    return path


def test_store_items_give_one_record_per_clip(trained):
    store, model_dir = trained
    model = load_model(model_dir, device="cpu")
    items = collect_inputs([store.root])
    predictions = list(predict_items(model, items, batch_size=5))
    # 6 s at 31.25 frames/s = 188 frames -> 5 clips of 32 frames per item
    assert len(predictions) == 5 * len(store.items())
    record = predictions[1].to_record(labels=model.labels, target="singer", model=model.name, top_k=2)
    assert record["schema"] == "vocaltools.prediction/1"
    assert record["clip_index"] == 1 and record["start_s"] == pytest.approx(32 / 31.25)
    assert record["end_s"] == pytest.approx(64 / 31.25)
    assert len(record["top"]) == 2 and record["top"][0]["probability"] >= record["top"][1]["probability"]
    assert sum(record["probabilities"]) == pytest.approx(1.0, abs=1e-4)
    assert record["labels"] == ["singer0", "singer1", "singer2"] and record["target"] == "singer"
    assert record["true_label"] == record["fields"]["singer"]
    correct = np.mean([model.labels[int(np.argmax(p.probabilities))] == p.fields["singer"]
                       for p in predictions])
    assert correct > 0.6  # chance is 1/3


def test_audio_is_featurized_with_the_model_settings(trained, tmp_path):
    _, model_dir = trained
    song = _wav(tmp_path / "song.wav", 2.5, sample_rate=22050)  # resampled to the model's 16 kHz
    out = tmp_path / "out.jsonl"
    result = invoke_cli("predict", str(song), "--model", str(model_dir), "-o", str(out),
                        "--threads", "1")
    assert result.returncode == 0, result.stderr
    records = read_jsonl(out, kind="prediction")
    assert [r["clip_index"] for r in records] == [0, 1]  # 2.5 s -> 79 frames -> 2 clips of 32
    assert records[0]["item_id"] == "song" and records[0]["true_label"] is None
    assert records[0]["model"] == "model"


def test_batch_goes_on_past_a_bad_file(trained, tmp_path):
    _, model_dir = trained
    good = _wav(tmp_path / "good.wav", 1.5)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    result = invoke_cli("predict", str(bad), str(good), "--model", str(model_dir), "-o", "-",
                        "--threads", "1")
    assert result.returncode == 1
    assert "bad.wav" in result.stderr and "1 of 2 input(s) failed" in result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records and all(r["item_id"] == "good" for r in records)


def test_store_with_other_features_is_refused(trained, tmp_path):
    from vocaltools.features import get_preset

    _, model_dir = trained
    other = FeatureStore(tmp_path / "other")
    other.create(feature_config=get_preset("wang2018").to_dict())
    other.write_item(item_id="x", audio_path="x.wav", arrays={"logmel": np.zeros((1, 96, 300), np.float32)},
                     duration_s=7.0, fields={}, meta={})
    model = load_model(model_dir, device="cpu")
    with pytest.raises(InputError, match="--preset fgnl"):
        list(predict_items(model, collect_inputs([other.root])))


def test_missing_inputs_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        collect_inputs([tmp_path / "nothing.wav"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no audio files"):
        collect_inputs([tmp_path / "empty"])


def test_folders_are_searched_recursively(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    _wav(tmp_path / "a" / "b" / "x.flac", 0.2)
    _wav(tmp_path / "a" / "y.wav", 0.2)
    (tmp_path / "a" / "notes.txt").write_text("not audio")
    items = collect_inputs([tmp_path / "a"])
    assert [i.item_id for i in items] == ["b/x", "y"]


def test_files_of_one_name_in_two_folders_stay_two_items(tmp_path):
    """`predict */song.flac | vote` must not vote two singers' songs as one item."""
    for singer in ("alto", "bass"):
        (tmp_path / singer).mkdir()
        _wav(tmp_path / singer / "song.flac", 0.2)
    assert [i.item_id for i in collect_inputs([tmp_path / "alto" / "song.flac"])] == ["song"]
    items = collect_inputs([tmp_path / "alto" / "song.flac", tmp_path / "bass" / "song.flac"])
    assert [i.item_id for i in items] == ["alto/song", "bass/song"]


def test_one_line_answer_is_the_mean_probability_vote():
    def clip(item_id, p):
        return ClipPrediction(item_id, f"{item_id}.wav", 0, 0.0, 1.0, np.array(p, np.float32), {})

    answers = list(summarise_items([clip("a", [0.6, 0.4]), clip("a", [0.1, 0.9]), clip("b", [0.8, 0.2])],
                                   labels=["x", "y"]))
    assert [(a.item_id, a.label, a.n_clips) for a in answers] == [("a", "y", 2), ("b", "x", 1)]
    assert answers[0].confidence == pytest.approx(0.65)


def test_subset_predicts_the_test_items_of_the_model_split(trained, tmp_path):
    store, model_dir = trained
    result = invoke_cli("predict", str(store.root), "--model", str(model_dir), "--subset", "test",
                        "-o", "-", "--threads", "1")
    assert result.returncode == 0, result.stderr
    ids = {json.loads(line)["item_id"] for line in result.stdout.splitlines()}
    split = read_jsonl(model_dir / "split.jsonl")
    assert ids == {r["item_id"] for r in split if r["split"] == "test"}


def test_sharded_predictions_concatenate_to_the_whole_run(trained, tmp_path):
    import json


    store, model_dir = trained
    outputs = []
    for shard in ("all", "1/2", "2/2"):
        extra = [] if shard == "all" else ["--shard", shard]
        result = invoke_cli("predict", str(store.root), "--model", str(model_dir), "-o", "-",
                            "--threads", "1", *extra)
        assert result.returncode == 0, result.stderr
        outputs.append([json.loads(line) for line in result.stdout.splitlines()])
    whole, first, second = outputs
    key = lambda r: (r["item_id"], r["clip_index"])  # noqa: E731
    assert first and second
    assert sorted(map(key, first + second)) == sorted(map(key, whole))
