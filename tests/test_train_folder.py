"""`train -o MODEL`: a finished run is left alone, another run's folder is refused (--overwrite
replaces it), an interrupted run resumes; the contrastive objective honours or refuses every flag
and writes what the help promises."""

from __future__ import annotations

import json
import shutil

import pytest

from _train_helpers import make_store
from conftest import invoke_cli

FAST = ("--model", "tiny_cnn", "--clip-seconds", "1", "--epochs", "2", "--option", "width=4",
        "--precise-bn", "0", "--threads", "1", "--no-register", "-q")
CONTRASTIVE = ("--model", "tiny_cnn", "--clip-seconds", "1", "--epochs", "2", "--option",
               "width=4", "--threads", "1", "--no-register", "-q", "--objective", "contrastive",
               "--pairs-per-epoch", "32", "--target", "singer")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("train-folder") / "store", n_classes=2,
                      songs_per_class=3, seconds=3.0).root


def _train(store, out, *extra):
    return invoke_cli("train", str(store), *FAST, "-o", str(out), *extra)


@pytest.fixture(scope="module")
def finished(store, tmp_path_factory):
    """A finished run of ``--target singer`` (copied by each test that changes it)."""
    out = tmp_path_factory.mktemp("finished") / "model"
    result = _train(store, out, "--target", "singer")
    assert result.returncode == 0, result.stderr
    return out


def test_a_finished_run_is_left_alone(store, finished, tmp_path):
    out = tmp_path / "model"
    shutil.copytree(finished, out)
    stamp = (out / "checkpoint.pt").stat().st_mtime_ns
    again = _train(store, out, "--target", "singer")
    assert again.returncode == 0, again.stderr
    assert "already trained with these settings; --overwrite to replace it" in again.stderr
    assert (out / "checkpoint.pt").stat().st_mtime_ns == stamp


def test_a_folder_of_other_settings_is_refused_and_overwrite_replaces_it(store, finished, tmp_path):
    out = tmp_path / "model"
    shutil.copytree(finished, out)
    stamp = (out / "checkpoint.pt").stat().st_mtime_ns
    other = _train(store, out, "--target", "song_id")
    assert other.returncode == 1 and "Traceback" not in other.stderr
    assert f"error: {out}: holds a run of other settings (config.target \"singer\" -> " \
           "\"song_id\"" in other.stderr and "--overwrite" in other.stderr
    assert (out / "checkpoint.pt").stat().st_mtime_ns == stamp
    replaced = _train(store, out, "--target", "song_id", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads((out / "summary.json").read_text())["target"] == "song_id"


def test_an_interrupted_run_resumes(store, tmp_path):
    out = tmp_path / "model"
    first = _train(store, out, "--target", "singer", "--max-epochs", "1")
    assert first.returncode == 0 and (out / "train_state.pt").is_file(), first.stderr
    second = _train(store, out, "--target", "singer")
    assert second.returncode == 0 and "already trained" not in second.stderr
    assert not (out / "train_state.pt").exists()
    assert len((out / "history.jsonl").read_text().splitlines()) == 2


def test_a_run_that_failed_before_its_first_epoch_does_not_claim_the_folder(store, tmp_path):
    out = tmp_path / "model"
    too_long = _train(store, out, "--target", "singer", "--clip-seconds", "100", "--skip-short")
    assert too_long.returncode == 1 and "no training clip" in too_long.stderr, too_long.stderr
    assert (out / "run.json").is_file()  # claimed before the clips were cut
    fixed = _train(store, out, "--target", "singer")
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads((out / "run.json").read_text())["identity"]["config"]["clip"][
        "clip_seconds"] == 1.0


def test_model_files_of_an_unknown_run_are_refused(store, tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"from another tool")
    result = _train(store, out, "--target", "singer")
    assert result.returncode == 1 and "settings are not recorded" in result.stderr
    assert (out / "checkpoint.pt").read_bytes() == b"from another tool"


@pytest.mark.parametrize("flag", [("--runs", "3"), ("--optimizer", "sgd"), ("--select", "val_f1"),
                                  ("--alpha", "0.5"), ("--max-epochs", "1"), ("--workers", "2"),
                                  ("--precision", "bf16"), ("--strategy", "crt_wc")],
                         ids=lambda flag: flag[0])
def test_contrastive_refuses_the_flags_it_cannot_honour(flag, store, tmp_path):
    result = invoke_cli("train", str(store), *CONTRASTIVE, "-o", str(tmp_path / "m"), *flag)
    assert result.returncode == 1, result.stderr
    assert f"error: --objective contrastive does not take {flag[0]} (" in result.stderr
    assert not (tmp_path / "m").exists()


def test_contrastive_writes_what_the_help_promises(store, tmp_path):
    out = tmp_path / "m"
    result = invoke_cli("train", str(store), *CONTRASTIVE, "-o", str(out), "--device", "cpu",
                        "--precision", "fp32", "--runs", "1")
    assert result.returncode == 0, result.stderr
    for name in ("checkpoint.pt", "labels.txt", "split.jsonl", "history.jsonl",
                 "training-curve.png", "summary.json", "run.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "summary.json").read_text())["device"] == "cpu"
    again = invoke_cli("train", str(store), *CONTRASTIVE, "-o", str(out))
    assert again.returncode == 0 and "already trained" in again.stderr
