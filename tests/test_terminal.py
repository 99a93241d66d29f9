"""What a person sees: commands run with stdout on a pseudo-terminal of 80 columns print readable
lines (JSONL in a pipe); binary data never goes to a terminal; plots keep their legends; separated
stems keep the input's sample rate unless asked otherwise."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios

import numpy as np
import pytest
import soundfile as sf

from _train_helpers import train_tiny_model
from conftest import ROOT, invoke_cli


def run_tty(*args: str, columns: int = 80, cwd=None) -> tuple[int, str, str]:
    """``python -m vocaltools ARGS`` with stdout on a pseudo-terminal of ``columns`` columns:
    ``(exit status, stdout, stderr)``."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": str(columns), "TERM": "dumb"}
    process = subprocess.Popen([sys.executable, "-m", "vocaltools", *args], stdin=subprocess.DEVNULL,
                               stdout=slave, stderr=subprocess.PIPE, env=env, cwd=cwd)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError as error:  # EIO: the child closed the terminal
            if error.errno != errno.EIO:
                raise
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    stderr = process.stderr.read().decode()
    process.wait(timeout=300)
    return process.returncode, b"".join(chunks).decode().replace("\r\n", "\n"), stderr


@pytest.fixture(scope="module")
def predictions(tmp_path_factory):
    """A tiny model's clip predictions of its own store: ``(root, model_dir, predictions.jsonl)``."""
    root = tmp_path_factory.mktemp("terminal")
    store_root, _ = train_tiny_model(root, songs_per_class=2, epochs=1, held_out_fraction=0.25)
    result = invoke_cli("predict", str(store_root), "--model", str(root / "model"),
                        "-o", str(root / "predictions.jsonl"), "--threads", "1")
    assert result.returncode == 0, result.stderr
    return root, root / "model", root / "predictions.jsonl"


def test_vote_prints_one_line_per_item_on_a_terminal_and_jsonl_in_a_pipe(predictions):
    _, _, path = predictions
    status, out, err = run_tty("vote", str(path))
    assert status == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("c") and "(confidence " in line
                                   and "s1 vote of 2 clips; true singer" in line for line in lines)
    piped = invoke_cli("vote", str(path))
    assert [json.loads(line)["schema"] for line in piped.stdout.splitlines()] == ["vocaltools.vote/1"] * 4


def test_predict_line_says_what_its_number_is(predictions, tmp_path):
    _, model_dir, _ = predictions
    song = tmp_path / "song.wav"
    t = np.arange(32000) / 16000
    sf.write(song, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    status, out, err = run_tty("predict", str(song), "--model", str(model_dir), "--threads", "1")
    assert status == 0, err
    assert " (mean probability 0." in out and " over 1 clip)" in out, out


def test_evaluate_table_fits_80_columns(predictions):
    _, _, path = predictions
    status, out, err = run_tty("evaluate", str(path), str(path))  # two runs: the widest table
    assert status == 0, err
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= 80, out
    assert "runs: 1 = predictions.jsonl; 2 = predictions.jsonl" in " ".join(out.split())


def _embeddings(root):
    from vocaltools.index.embeddings import make_embedding_set, save_embeddings

    rng = np.random.default_rng(0)
    ids = [f"s{s}/song{i}" for s in range(2) for i in range(3)]
    labels = [item.split("/")[0] for item in ids]
    centres = {"s0": np.array([1.0, 0, 0, 0]), "s1": np.array([0, 1.0, 0, 0])}
    vectors = np.stack([centres[label] + 0.05 * rng.normal(size=4) for label in labels])
    save_embeddings(root / "emb.npz", make_embedding_set(
        clip_embeddings=vectors, clip_item=np.arange(len(ids)), clip_start_s=np.zeros(len(ids)),
        item_ids=ids, labels=labels, fields={"singer": labels}, meta={"embedder": "test"}))
    return root / "emb.npz"


def test_knn_query_and_identify_print_lines_on_a_terminal(tmp_path):
    emb = _embeddings(tmp_path)
    built = invoke_cli("knn", "build", str(emb), "-o", str(tmp_path / "index.npz"))
    assert built.returncode == 0, built.stderr
    status, out, err = run_tty("knn", "query", str(tmp_path / "index.npz"), str(emb), "-k", "2")
    assert status == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 6 and lines[0].startswith("s0/song0 (s0): 1. s0/song0 (s0, squared distance ")
    status, out, err = run_tty("knn", "identify", str(tmp_path / "index.npz"), str(emb), "-k", "3",
                               "--closed-set")
    assert status == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 6 and lines[3].startswith("s1/song0: s1 (confidence ") and "; true s1)" in lines[3]
    piped = invoke_cli("knn", "query", str(tmp_path / "index.npz"), str(emb), "-k", "2")
    assert json.loads(piped.stdout.splitlines()[0])["schema"] == "vocaltools.neighbors/1"


def test_embed_refuses_to_write_npz_to_a_terminal(tmp_path):
    song = tmp_path / "song.wav"
    sf.write(song, (0.3 * np.sin(np.arange(16000) / 5)).astype(np.float32), 16000)
    status, out, err = run_tty("embed", str(song), "--baseline", "mfcc", "-o", "-")
    assert status == 1 and out == "", (out, err)
    assert "error: -o -: refusing to write a binary NPZ to the terminal" in err


def test_tsne_legend_is_inside_the_image(tmp_path):
    from PIL import Image

    from vocaltools.index.tsne import TsneMap, plot_tsne

    rng = np.random.default_rng(0)
    labels = [f"a-much-longer-singer-name-of-forty-chars-{i % 12}" for i in range(60)]
    techniques = [f"technique-{i % 3}" for i in range(60)]
    tsne = TsneMap(coordinates=rng.normal(size=(60, 2)), perplexity=5.0)
    plot_tsne(tsne, colors=labels, markers=techniques, path=tmp_path / "map.png",
              color_name="singer", marker_name="technique")
    pixels = np.asarray(Image.open(tmp_path / "map.png").convert("L"))
    assert pixels[:, -3:].min() > 250  # a white margin at the right edge: no text cut off


def test_separate_writes_stems_at_the_input_rate_unless_asked(tmp_path):
    song = tmp_path / "mix.wav"
    t = np.arange(2 * 44100) / 44100
    sf.write(song, (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 44100)
    result = invoke_cli("separate", str(song), "-o", str(tmp_path / "a"))
    assert result.returncode == 0 and "(at each input's sample rate)" in result.stderr
    info = sf.info(str(tmp_path / "a" / "mix.vocals.flac"))
    assert info.samplerate == 44100 and info.frames == 2 * 44100
    result = invoke_cli("separate", str(song), "-o", str(tmp_path / "b"), "--stem-rate",
                        "processing")
    assert result.returncode == 0 and "(at the separator's 22050 Hz)" in result.stderr
    assert sf.info(str(tmp_path / "b" / "mix.vocals.flac")).samplerate == 22050
