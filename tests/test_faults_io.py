"""Faults of the file system and of the input, through the real CLI: every one is a single
``error:`` line naming the path and the reason (exit 1), never a traceback; usage errors exit 2.

Read-only and full file systems are small tmpfs mounts, which need root (and a kernel that lets
this process mount); elsewhere those tests skip with the reason. Silent and too-short audio are
refused by every command that reads audio (featurize, predict, embed, separate) with the checks of
:func:`vocaltools.audio.check_signal`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from _train_helpers import make_store, train_tiny_model
from conftest import invoke_cli

RATE = 16000


def _tone(path: Path, seconds: float, *, amplitude: float = 0.3, rate: int = RATE) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate)
    return path


def _one_error_line(result: subprocess.CompletedProcess, *needles: str) -> str:
    """The stderr of a run that failed with exactly one ``error:`` line holding ``needles``."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], result.stderr
    return errors[0]


@contextlib.contextmanager
def _tmpfs(where: Path, *options: str):
    """A small tmpfs mounted at ``where`` (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny_cnn classifier of the fgnl preset (16 kHz audio), trained for two epochs."""
    _, model = train_tiny_model(tmp_path_factory.mktemp("faults-model"), songs_per_class=3,
                                epochs=2, held_out_fraction=0.2)
    return model


# -- usage errors ----------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("featurize", "x.wav", "-o", "s", "--shard", "0/4"),
    ("featurize", "x.wav", "-o", "s", "--preset", "nope"),
    ("predict", "x.wav", "--top-k", "0"),
    ("embed", "x.wav", "--baseline", "mfcc", "-o", "e.npz", "--shard", "5/4"),
    ("separate", "x.wav", "-o", "stems", "--shard", "1/0"),
], ids=lambda args: " ".join(args[:1] + args[-2:]))
def test_usage_errors_exit_2(args, tmp_path):
    result = invoke_cli(*args, cwd=tmp_path)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert f"Invalid value for '{args[-2]}'" in result.stderr and "Traceback" not in result.stderr


# -- the file system ------------------------------------------------------------------------

def test_read_only_output_folder_is_one_error_line(tmp_path):
    song = _tone(tmp_path / "song.wav", 1.0)
    if os.geteuid() == 0:
        context = _tmpfs(tmp_path / "ro", "ro", "size=1m")
    else:  # without root, permissions make a folder read-only
        (tmp_path / "ro").mkdir(mode=0o555)
        context = contextlib.nullcontext(tmp_path / "ro")
    with context as folder:
        result = invoke_cli("featurize", str(song), "-o", str(folder / "store"), "-q")
        line = _one_error_line(result, str(folder / "store"))
        assert "Read-only file system" in line or "Permission denied" in line


def test_full_disk_fails_each_item_and_goes_on(tmp_path):
    songs = tmp_path / "in"
    songs.mkdir()
    for name in ("a", "b"):  # each item's features (~100 KB) overflow the 24 KB file system
        _tone(songs / f"{name}.wav", 3.0)
    with _tmpfs(tmp_path / "full", "size=24k") as folder:
        result = invoke_cli("featurize", str(songs), "-o", str(folder / "store"), "--labels",
                            "none")
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 2, result.stderr  # both items tried: the batch went on
        assert all("No space left on device" in line and ".npz" in line for line in errors)
        assert "0 written" in result.stderr and "2 failed" in result.stderr


def test_full_device_on_output_names_the_file(model_dir, tmp_path):
    song = _tone(tmp_path / "song.wav", 1.5)
    result = invoke_cli("predict", str(song), "--model", str(model_dir), "-o", "/dev/full",
                        "--threads", "1")
    _one_error_line(result, "/dev/full: No space left on device")


def test_output_naming_a_file_where_a_folder_is_wanted(tmp_path):
    song = _tone(tmp_path / "song.wav", 1.0)
    store = make_store(tmp_path / "store", n_classes=2, songs_per_class=2, seconds=2.0).root
    taken = tmp_path / "taken"
    taken.write_text("a file\n")
    for args in (("featurize", str(song), "-o", str(taken)),
                 ("separate", str(song), "-o", str(taken)),
                 ("train", str(store), "--model", "tiny_cnn", "--target", "singer", "-o",
                  str(taken))):
        _one_error_line(invoke_cli(*args), f"{taken}: exists and is not a folder")
    assert taken.read_text() == "a file\n"


def test_model_folder_given_as_a_store(model_dir, tmp_path):
    result = invoke_cli("train", str(model_dir), "--model", "tiny_cnn", "--target", "singer",
                        "-o", str(tmp_path / "m"))
    _one_error_line(result, f"{model_dir}: a model folder", "not a feature store")
    result = invoke_cli("predict", str(model_dir), "--model", str(model_dir))
    _one_error_line(result, f"{model_dir}: a model folder", f"give it with --model {model_dir}")


def test_path_longer_than_the_file_system_allows(tmp_path):
    song = _tone(tmp_path / "song.wav", 1.0)
    long_name = tmp_path / ("x" * 300)
    _one_error_line(invoke_cli("featurize", str(song), "-o", str(long_name), "-q"),
                    "File name too long")


def test_binary_stdin_to_featurize(tmp_path):
    song = _tone(tmp_path / "song.wav", 0.5)
    result = invoke_cli("featurize", "-", "-o", str(tmp_path / "store"), input=song.read_bytes())
    result.stderr = result.stderr.decode()
    _one_error_line(result, "stdin: binary data")
    listed = invoke_cli("featurize", "-", "-o", str(tmp_path / "store"), "-q", input=f"{song}\n")
    assert listed.returncode == 0, listed.stderr


# -- silence and too-short audio ------------------------------------------------------------

@pytest.fixture()
def bad_audio(tmp_path):
    """``{case: path}``: digital silence, a dithered near-silence, and a file shorter than 0.1 s."""
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(2 * RATE, np.float32), RATE)
    hiss = tmp_path / "hiss.wav"
    sf.write(hiss, np.random.default_rng(0).normal(0, 1e-4, 2 * RATE).astype(np.float32), RATE)
    short = _tone(tmp_path / "short.wav", 0.05)
    return {"silent": silence, "hiss": hiss, "too short": short}


@pytest.mark.parametrize("case", ["silent", "hiss", "too short"])
def test_predict_refuses_silent_and_too_short_files(case, bad_audio, model_dir, tmp_path):
    good = _tone(tmp_path / "good.wav", 1.5)
    result = invoke_cli("predict", str(bad_audio[case]), str(good), "--model", str(model_dir),
                        "-o", "-", "--threads", "1")
    assert result.returncode == 1, result.stderr
    reason = "too short" if case == "too short" else "silent"
    assert f"error: {bad_audio[case]}: {reason}" in result.stderr, result.stderr
    assert "1 of 2 input(s) failed" in result.stderr
    assert result.stdout and all('"item_id":"good"' in line for line in result.stdout.splitlines())


@pytest.mark.parametrize("command", ["featurize", "embed", "separate"])
def test_every_command_that_reads_audio_refuses_silence(command, bad_audio, tmp_path):
    path = str(bad_audio["silent"])
    args = {"featurize": ("featurize", path, "-o", str(tmp_path / "store"), "-q"),
            "embed": ("embed", path, "--baseline", "mfcc", "-o", str(tmp_path / "e.npz")),
            "separate": ("separate", path, "-o", str(tmp_path / "stems"), "-q")}[command]
    result = invoke_cli(*args)
    assert result.returncode == 1, result.stderr
    assert f"{path}: silent: its peak level is -inf dBFS, below -60 dBFS" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "e.npz").exists() and not list(tmp_path.glob("stems/**/*.flac"))


# -- messages: one line each ----------------------------------------------------------------

class _Payload:
    """Unpickling calls ``print('pwned')``: what a malicious checkpoint would do with os.system."""

    def __reduce__(self):
        return (print, ("pwned",))


def test_a_malicious_pickle_is_refused_in_one_line(tmp_path):
    import torch

    evil = tmp_path / "evil.pt"
    torch.save({"format": "vocaltools.checkpoint", "payload": _Payload()}, evil)
    song = _tone(tmp_path / "song.wav", 1.0)
    result = invoke_cli("predict", str(song), "--model", str(evil))
    line = _one_error_line(result, f"{evil}: refused: the file holds pickled Python objects",
                           "(it names print)")
    assert len(result.stderr.strip().splitlines()) == 1 and "weights_only" not in result.stderr
    assert "pwned" not in result.stdout + line


def test_a_checkpoint_of_another_architecture_is_one_line(model_dir, tmp_path):
    import dataclasses

    from vocaltools.checkpoint import load_checkpoint, save_checkpoint

    checkpoint = load_checkpoint(model_dir)
    wider = dataclasses.replace(checkpoint, model_options={**checkpoint.model_options, "width": 8})
    other = save_checkpoint(tmp_path / "other.pt", wider)
    song = _tone(tmp_path / "song.wav", 1.0)
    result = invoke_cli("predict", str(song), "--model", str(other))
    _one_error_line(result, f"{other}: its weights are not those of a tiny_cnn", "of another shape")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_store_of_another_preset_is_one_line(model_dir, tmp_path):
    from vocaltools.features import get_preset
    from vocaltools.formats.store import FeatureStore

    other = FeatureStore(tmp_path / "other")
    other.create(feature_config=get_preset("wang2018").to_dict())
    for index in range(3):
        other.write_item(item_id=f"x{index}", audio_path="x.wav", duration_s=3.0, fields={},
                         arrays={"logmel": np.zeros((1, 96, 100), np.float32)}, meta={})
    result = invoke_cli("predict", str(other.root), "--model", str(model_dir), "-o", "-")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith(f"error: {other.root}: features were computed with 'wang2018'")
    assert lines[1] == "error: 3 of 3 input(s) failed"
