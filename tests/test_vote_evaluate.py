"""vote and evaluate: the S1 rule, the alternatives, metrics and the CLI pipe."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import invoke_cli
from vocaltools.errors import InputError
from vocaltools.evaluation.metrics import aggregate, score
from vocaltools.formats.jsonl import make_record, write_jsonl
from vocaltools.inference.vote import vote_items, vote_probabilities

LABELS = ["a", "b", "c"]


def clip(item_id, probabilities, true_label="a", index=0):
    probabilities = list(probabilities)
    best = int(np.argmax(probabilities))
    return make_record("prediction", item_id=item_id, clip_index=index, start_s=5.0 * index,
                       end_s=5.0 * index + 5, top=[{"label": LABELS[best], "label_index": best,
                                                    "probability": probabilities[best]}],
                       probabilities=probabilities, labels=LABELS, target="singer",
                       true_label=true_label, fields={"singer": true_label}, model="m")


def test_s1_rule_keeps_only_confident_clips():
    # two unconfident 'b' clips, one confident 'c' clip: S1 keeps only the 'c' clip
    probs = np.array([[0.3, 0.45, 0.25], [0.3, 0.45, 0.25], [0.1, 0.2, 0.7]])
    assert vote_probabilities(probs, method="s1")[0] == 2
    assert vote_probabilities(probs, method="majority")[0] == 1
    index, mean, n_kept = vote_probabilities(probs, method="s1")
    assert n_kept == 1 and np.allclose(mean, probs[2])


def test_s1_rule_threshold_is_strict_and_falls_back_to_all():
    probs = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.0, 0.5, 0.5]])
    index, _, n_kept = vote_probabilities(probs, method="s1")
    assert n_kept == 3 and index == 1  # clip labels 0, 1, 1 (argmax takes the first maximum)


def test_ties_go_to_the_lowest_class_index():
    probs = np.array([[0.1, 0.0, 0.9], [0.9, 0.1, 0.0]])
    assert vote_probabilities(probs, method="s1")[0] == 0
    assert vote_probabilities(probs, method="majority")[0] == 0


def test_mean_rule():
    probs = np.array([[0.6, 0.4, 0.0], [0.0, 0.55, 0.45], [0.0, 0.55, 0.45]])
    assert vote_probabilities(probs, method="mean")[0] == 1


def test_unknown_method_is_an_input_error():
    with pytest.raises(InputError, match="unknown vote method 'median'"):
        vote_probabilities(np.ones((1, 3)) / 3, method="median")


def test_vote_items_groups_interleaved_records_in_first_seen_order():
    records = [clip("s2", [0.1, 0.8, 0.1], "b"), clip("s1", [0.9, 0.05, 0.05]),
               clip("s2", [0.1, 0.7, 0.2], "b", 1)]
    votes = vote_items(records)
    assert [v.item_id for v in votes] == ["s2", "s1"]
    assert [v.label for v in votes] == ["b", "a"]
    assert votes[0].n_clips == 2 and votes[0].true_label == "b"


def test_scores_match_hand_computation():
    s = score(true_labels=["a", "a", "b", "c"], predicted_labels=["a", "b", "b", "c"],
              labels=LABELS, probabilities=np.array([[.8, .1, .1], [.4, .5, .1], [0, 1, 0],
                                                     [.2, .3, .5]]))
    assert s.accuracy == pytest.approx(0.75)
    # per class F1: a 2/3, b 2/3, c 1 ; supports 2, 1, 1
    assert s.f1_macro == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert s.f1_weighted == pytest.approx((2 * 2 / 3 + 2 / 3 + 1) / 4)
    assert s.balanced_accuracy == pytest.approx((0.5 + 1 + 1) / 3)
    assert s.top2 == pytest.approx(1.0)
    assert s.confusion == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_unseen_true_labels_count_as_errors():
    s = score(true_labels=["a", "zz"], predicted_labels=["a", "a"], labels=LABELS)
    assert s.accuracy == 0.5 and "zz" in s.labels


def test_aggregate_mean_std_best():
    agg = aggregate([{"accuracy": 0.5}, {"accuracy": 0.7}])
    assert agg["accuracy"] == {"mean": pytest.approx(0.6), "std": pytest.approx(0.1),
                               "best": 0.7, "n_runs": 2}


def test_vote_and_evaluate_pipe(tmp_path):
    records = [clip("s1", [0.9, 0.05, 0.05], "a"), clip("s1", [0.2, 0.7, 0.1], "a", 1),
               clip("s2", [0.1, 0.8, 0.1], "b"), clip("s3", [0.6, 0.3, 0.1], "c")]
    predictions = tmp_path / "pred.jsonl"
    write_jsonl(predictions, records)
    voted = invoke_cli("vote", str(predictions))
    assert voted.returncode == 0, voted.stderr
    votes = [json.loads(line) for line in voted.stdout.splitlines()]
    assert [v["label"] for v in votes] == ["a", "b", "a"]
    assert all(v["schema"] == "vocaltools.vote/1" for v in votes)
    report = invoke_cli("evaluate", "-", "--confusion", str(tmp_path / "cm.png"), input=voted.stdout)
    assert report.returncode == 0, report.stderr
    summary = json.loads(report.stdout)
    assert summary["runs"][0]["item"]["accuracy"] == pytest.approx(2 / 3)
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"
    both = invoke_cli("evaluate", str(predictions), str(predictions), "-o", str(tmp_path / "r.json"))
    assert both.returncode == 0, both.stderr
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["aggregate"]["clip"]["accuracy"]["mean"] == pytest.approx(0.5)
    assert saved["aggregate"]["item"]["accuracy"]["n_runs"] == 2
    assert "F1w" in both.stderr  # the table goes to stderr when stdout is not a terminal


def test_vote_rejects_other_records(tmp_path):
    path = tmp_path / "x.jsonl"
    write_jsonl(path, [make_record("split", item_id="a", split="train")])
    result = invoke_cli("vote", str(path))
    assert result.returncode == 1
    assert "expected a prediction record" in result.stderr and "x.jsonl:1" in result.stderr


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"schema": "vocaltools.prediction/99", "item_id": "a"}) + "\n")
    result = invoke_cli("vote", str(path))
    assert result.returncode == 1 and "upgrade vocaltools" in result.stderr


def test_evaluate_folds_reports_each_fold_mean_std_and_pooled(tmp_path):
    fold0 = [clip("s1", [0.9, 0.05, 0.05], "a"), clip("s2", [0.1, 0.8, 0.1], "b")]  # 2 of 2
    fold1 = [clip("s3", [0.6, 0.3, 0.1], "c"), clip("s4", [0.2, 0.1, 0.7], "c"),
             clip("s5", [0.5, 0.4, 0.1], "b")]  # 1 of 3
    paths = [tmp_path / "fold-0.jsonl", tmp_path / "fold-1.jsonl"]
    write_jsonl(paths[0], fold0)
    write_jsonl(paths[1], fold1)
    done = invoke_cli("evaluate", "--folds", *map(str, paths), "-o", str(tmp_path / "cv.json"))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "cv.json").read_text())
    assert [run["fold"] for run in report["runs"]] == [0, 1] and report["n_folds"] == 2
    accuracy = report["aggregate"]["clip"]["accuracy"]
    assert accuracy["mean"] == pytest.approx((1 + 1 / 3) / 2, abs=1e-9)
    assert accuracy["std"] == pytest.approx((1 - 1 / 3) / 2, abs=1e-9)
    assert report["pooled"]["clip"]["n"] == 5
    assert report["pooled"]["clip"]["accuracy"] == pytest.approx(3 / 5, abs=1e-9)
    assert "pooled" in done.stderr and "fold 1" in done.stderr
    overlap = tmp_path / "again.jsonl"
    write_jsonl(overlap, [clip("s1", [0.9, 0.05, 0.05], "a")])
    bad = invoke_cli("evaluate", "--folds", str(paths[0]), str(overlap))
    assert bad.returncode == 1 and "is in two folds" in bad.stderr
