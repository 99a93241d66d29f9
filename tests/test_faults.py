"""Fault cases a new user meets: lossy files from real encoders, a bad file among good ones, two
files of one name, killed and concurrent runs, damaged stores, linked folders, label manifests
(issue 13, items 2, 3, 4, 8, 9, 10 and 14; the file-system cases of its other items are in
test_faults_io.py).

Tests that need an encoder (sox, lame, ffmpeg from the Debian packages) skip with a reason where
it is absent; those that look for worker processes need /proc (Linux)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile

from conftest import invoke_cli, run_cli
from vocaltools.audio import LOSSY_SHORTFALL_SECONDS, load_audio
from vocaltools.errors import InputError

RATE = 44100


def _tone(path, seconds: float = 3.0, *, f0: float = 220.0, rate: int = RATE):
    t = np.arange(int(seconds * rate)) / rate
    y = 0.3 * np.sin(2 * np.pi * f0 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, y.astype(np.float32), rate)
    return path


def _need(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        pytest.skip(f"{tool} is not installed (Debian package {tool}); .ci/run installs it")
    return found


def _encode(tool: str, source, dest, *args: str) -> None:
    commands = {"sox": [_need("sox"), str(source), *args, str(dest)],
                "lame": [_need("lame"), "--quiet", *args, str(source), str(dest)],
                "ffmpeg": [_need("ffmpeg"), "-nostdin", "-loglevel", "error", "-y", "-i",
                           str(source), *args, str(dest)]}
    done = subprocess.run(commands[tool], capture_output=True, text=True, timeout=120)
    if done.returncode != 0 and tool == "sox" and "mp3" in done.stderr.lower():
        pytest.skip(f"sox cannot write MP3 here ({done.stderr.strip()}); install libsox-fmt-mp3")
    assert done.returncode == 0, done.stderr


# -- item 3: MP3 and M4A from real encoders ----------------------------------------------------

ENCODINGS = {
    "sox.mp3": ("sox", ()),  # no Xing header: its length is an estimate from the file size
    "sox-320k.mp3": ("sox", ("-C", "320")),
    "lame.mp3": ("lame", ()),  # a Xing/Info header with LAME's gapless delay and padding
    "ffmpeg.mp3": ("ffmpeg", ("-c:a", "libmp3lame")),
    "ffmpeg-aac.m4a": ("ffmpeg", ("-c:a", "aac", "-b:a", "96k")),
}


@pytest.mark.parametrize("name", ENCODINGS)
def test_real_encoder_output_is_read_whole(tmp_path, name):
    tool, args = ENCODINGS[name]
    source = _tone(tmp_path / "song.flac", 3.0)
    encoded = tmp_path / name
    if tool == "lame":  # lame reads WAV
        source = _tone(tmp_path / "song.wav", 3.0)
    _encode(tool, source, encoded, *args)
    audio = load_audio(encoded, sample_rate=None)
    # the source's 3 s within the encoders' delay and padding (a frame or two either side)
    assert abs(audio.size / RATE - 3.0) <= LOSSY_SHORTFALL_SECONDS
    middle = audio[RATE // 2:-RATE // 2]  # an abrupt onset rings in AAC's first frame
    assert 0.3 < float(np.abs(middle).max()) < 0.5  # the tone's peak of 0.39, not silence


def test_sox_mp3_is_featurized(tmp_path):
    """The issue's report: ``sox song.flac song.mp3`` then featurize."""
    source = _tone(tmp_path / "a" / "song.flac", 2.0)
    _encode("sox", source, tmp_path / "a" / "song.mp3")
    (tmp_path / "a" / "song.flac").unlink()
    result = invoke_cli("featurize", str(tmp_path / "a" / "song.mp3"), "-o", str(tmp_path / "s"))
    assert result.returncode == 0, result.stderr
    assert "1 written" in result.stderr


def test_mp3_with_cover_art_is_not_taken_for_truncated(tmp_path):
    """An MP3 without a length header whose ID3 tag holds a picture: libsndfile's size-based
    estimate of its length is several times the real one."""
    ffmpeg = _need("ffmpeg")
    plain = tmp_path / "plain.mp3"
    _encode("ffmpeg", _tone(tmp_path / "song.flac", 2.0), plain, "-c:a", "libmp3lame",
            "-write_xing", "0")
    noise = np.random.default_rng(0).integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
    (tmp_path / "cover.rgb").write_bytes(noise.tobytes())
    cover = tmp_path / "cover.png"
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt",
                    "rgb24", "-s", "256x256", "-i", str(tmp_path / "cover.rgb"), "-frames:v", "1",
                    str(cover)], check=True, timeout=60)
    tagged = tmp_path / "tagged.mp3"
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(plain), "-i",
                    str(cover), "-map", "0", "-map", "1", "-c", "copy", "-id3v2_version", "3",
                    "-write_xing", "0", str(tagged)], check=True, timeout=60)
    assert tagged.stat().st_size > 3 * plain.stat().st_size  # the picture dominates the file
    audio = load_audio(tagged, sample_rate=None)
    assert abs(audio.size / RATE - 2.0) <= LOSSY_SHORTFALL_SECONDS


@pytest.mark.parametrize("name", ["lame.mp3", "ffmpeg-faststart.m4a"])
def test_truncated_lossy_files_are_still_refused(tmp_path, name):
    """A cut file whose header states its length (a Xing header; an m4a index in front) is far
    shorter than that, beyond any encoder padding."""
    if name.endswith(".mp3"):
        source = _tone(tmp_path / "song.wav", 3.0)
        _encode("lame", source, tmp_path / name)
    else:
        source = _tone(tmp_path / "song.flac", 3.0)
        _encode("ffmpeg", source, tmp_path / name, "-c:a", "aac", "-movflags", "+faststart")
    data = (tmp_path / name).read_bytes()
    cut = tmp_path / f"cut-{name}"
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(InputError, match=r"cut-.*: truncated (MP3|M4A) file: its header declares"):
        load_audio(cut, sample_rate=None)


def test_a_cut_m4a_without_its_index_is_named_unreadable_not_undecodable(tmp_path):
    """ffmpeg writes an m4a's index (moov) at its end by default: a cut file has none."""
    _encode("ffmpeg", _tone(tmp_path / "song.flac", 2.0), tmp_path / "song.m4a", "-c:a", "aac")
    data = (tmp_path / "song.m4a").read_bytes()
    (tmp_path / "cut.m4a").write_bytes(data[:len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.m4a: not a readable M4A file: ffmpeg cannot decode"):
        load_audio(tmp_path / "cut.m4a", sample_rate=None)


# -- item 2: embed goes on past a bad file -----------------------------------------------------

def test_embed_writes_every_good_item_and_names_every_bad_one(tmp_path):
    from vocaltools.index.embeddings import load_embeddings

    folder = tmp_path / "music"
    for singer, f0 in (("a", 180.0), ("b", 260.0)):
        _tone(folder / singer / "song1.wav", 1.5, f0=f0, rate=16000)
    (folder / "a" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    (folder / "b" / "empty.flac").write_bytes(b"")
    out = tmp_path / "emb.npz"
    result = invoke_cli("embed", str(folder), "--baseline", "mfcc", "--clip-seconds", "1",
                        "-o", str(out))
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2, result.stderr
    assert any("broken.wav" in line for line in errors) and any("empty.flac" in line for line in errors)
    assert "Traceback" not in result.stderr
    embeddings = load_embeddings(out)
    assert sorted(embeddings.item_ids) == ["a/song1", "b/song1"]


def test_embed_of_a_store_goes_on_past_a_damaged_npz(tmp_path):
    from vocaltools.features import get_preset
    from vocaltools.features.pipeline import featurize_inputs
    from vocaltools.formats.store import FeatureStore
    from vocaltools.inference.embed import embed_inputs, mfcc_embedder
    from vocaltools.inference.predict import Failure

    folder = _folder(tmp_path / "music", 3, seconds=1.2)
    store = FeatureStore(tmp_path / "S")
    featurize_inputs([str(folder)], store=store, config=get_preset("wang2018"))
    damaged = store.items()[1]
    (store.root / damaged.features).write_bytes(b"PK\x03\x04 not a whole archive")
    embedder = mfcc_embedder(clip_config={"clip_seconds": 1.0})
    failures: list[Failure] = []
    embeddings = embed_inputs([str(store.root)], embedder=embedder, failures=failures)
    assert embeddings.n_items == 2 and damaged.item_id not in embeddings.item_ids
    assert len(failures) == 1 and f"item {damaged.item_id!r}" in failures[0].message
    assert "not a readable NPZ" in failures[0].message
    with pytest.raises(InputError, match="not a readable NPZ"):  # no list: the first one raises
        embed_inputs([str(store.root)], embedder=embedder)


# -- item 4: a lone file's id is its stem; another file of that name is not taken as done --------

def _manifest(store):
    from vocaltools.formats.jsonl import read_jsonl

    return read_jsonl(store / "manifest.jsonl", kind="item")


def test_another_file_under_a_finished_id_is_an_error_not_a_skip(tmp_path):
    a = _tone(tmp_path / "A" / "song01.flac", 1.0, f0=200.0, rate=16000)
    b = _tone(tmp_path / "B" / "song01.flac", 1.0, f0=300.0, rate=16000)
    store = tmp_path / "S"
    first = invoke_cli("featurize", str(a), "-o", str(store))
    assert first.returncode == 0 and "1 written" in first.stderr, first.stderr
    other = invoke_cli("featurize", str(b), "-o", str(store))
    assert other.returncode == 1, other.stderr
    error = other.stderr.splitlines()[0]
    assert error.startswith(f"error: {b}: item id 'song01' is already in {store}")
    assert str(a) in error and "write to another store" in error and "delete" in error
    assert [r["audio_path"] for r in _manifest(store)] == [str(a)]
    again = invoke_cli("featurize", str(a), "-o", str(store))  # the same file: done
    assert again.returncode == 0 and "0 written, 1 skipped" in again.stderr, again.stderr


def test_a_moved_file_is_recognised_by_its_content_and_a_changed_one_is_not(tmp_path):
    from vocaltools.datasets.items import AudioItem
    from vocaltools.features import get_preset
    from vocaltools.features.pipeline import featurize_items
    from vocaltools.formats.store import FeatureStore

    a = _tone(tmp_path / "A" / "x.flac", 1.0, rate=16000)
    store = FeatureStore(tmp_path / "S")
    config = get_preset("fgnl")
    assert featurize_items([AudioItem("x", a)], store=store, config=config).written == 1
    moved = tmp_path / "C" / "x.flac"
    moved.parent.mkdir()
    moved.write_bytes(a.read_bytes())  # a copy: new path, new mtime, same bytes
    assert featurize_items([AudioItem("x", moved)], store=store, config=config).skipped == 1
    _tone(a, 1.0, f0=330.0, rate=16000)  # rewritten in place
    changed = featurize_items([AudioItem("x", a)], store=store, config=config)
    assert changed.written == 0 and changed.skipped == 0
    assert "changed since it was featurized" in changed.failures[0].message


# -- item 9: a damaged NPZ is redone; one writer at a time ---------------------------------------

def _folder(root, n: int, seconds: float = 1.0):
    for i in range(n):
        _tone(root / f"s{i % 2}" / f"take{i:02d}.flac", seconds, f0=180.0 + 15 * i, rate=16000)
    return root


def test_resume_redoes_a_truncated_or_unreadable_npz(tmp_path):
    from vocaltools.formats.store import FeatureStore

    folder = _folder(tmp_path / "music", 3)
    store = tmp_path / "S"
    assert invoke_cli("featurize", str(folder), "-o", str(store), "-q").returncode == 0
    npz = sorted((store / "items").rglob("*.npz"))
    data = npz[0].read_bytes()
    npz[0].write_bytes(data[:len(data) // 2])  # truncated
    npz[1].write_bytes(b"")  # emptied (a crash before the data reached the disk)
    again = invoke_cli("featurize", str(folder), "-o", str(store))
    assert again.returncode == 0, again.stderr
    assert "2 written, 1 skipped" in again.stderr
    items = FeatureStore(store).items()
    assert len(items) == 3
    for item in items:
        assert FeatureStore(store).load_arrays(item)["logmel"].shape[-1] == item.n_frames


def test_a_second_writer_is_told_who_holds_the_store(tmp_path):
    import os

    from vocaltools.formats.store import FeatureStore

    folder = _folder(tmp_path / "music", 2)
    store = FeatureStore(tmp_path / "S")
    with store.locked(command="featurize"):
        refused = run_cli("featurize", str(folder), "-o", str(store.root))
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        refused.stderr.strip().splitlines()[0]], refused.stderr  # one line, no traceback
    assert f"in use by another run (featurize, pid {os.getpid()} on " in refused.stderr
    assert not store.manifest_path.exists()
    done = run_cli("featurize", str(folder), "-o", str(store.root))  # released: it runs
    assert done.returncode == 0 and "2 written" in done.stderr, done.stderr


@pytest.mark.slow
def test_two_concurrent_featurize_runs_write_each_item_once(tmp_path):
    import os
    import sys

    from conftest import ROOT

    folder = _folder(tmp_path / "music", 6)
    store = tmp_path / "S"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "vocaltools", "featurize", str(folder), "-o", str(store)]
    runs = [subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [(run.wait(timeout=300), run.stderr.read()) for run in runs]
    for run in runs:
        run.stderr.close()
    ids = [r["item_id"] for r in _manifest(store)]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 6, (ids, outcomes)
    # whichever came second either found the store locked or every item done
    for code, stderr in outcomes:
        assert (code == 0) or ("in use by another run" in stderr), stderr


# -- item 8: workers die with their parent -------------------------------------------------------

def _children(pid: int) -> list[int]:
    from pathlib import Path

    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    from pathlib import Path

    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its exit status waits for a reaper


@pytest.mark.slow
def test_kill_9_of_featurize_jobs_2_leaves_no_workers_and_resumes(tmp_path):
    import os
    import signal
    import sys
    import time
    from pathlib import Path

    from conftest import ROOT

    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc (Linux) to find the worker processes")
    folder = _folder(tmp_path / "music", 16, seconds=6.0)
    store = tmp_path / "S"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    run = subprocess.Popen([sys.executable, "-m", "vocaltools", "featurize", str(folder), "-o",
                            str(store), "--jobs", "2", "-q"], env=env, stderr=subprocess.DEVNULL)
    manifest = store / "manifest.jsonl"
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while time.monotonic() < deadline and run.poll() is None:
        workers = _children(run.pid)
        if len(workers) >= 2 and manifest.is_file() and manifest.stat().st_size > 0:
            break
        time.sleep(0.02)
    assert run.poll() is None, "featurize finished before it could be killed; give it more work"
    assert len(workers) >= 2
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.05)
    left = [w for w in workers if _alive(w)]
    for pid in left:  # do not leave them behind when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not left, f"workers {left} outlived their parent"
    done_before = len(_manifest(store))
    assert 0 < done_before < 16
    resumed = run_cli("featurize", str(folder), "-o", str(store), "--jobs", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{16 - done_before} written, {done_before} skipped" in resumed.stderr
    ids = [r["item_id"] for r in _manifest(store)]
    assert len(ids) == len(set(ids)) == 16


# -- item 10: symlinked folders are followed, each real folder once -----------------------------

def test_symlinked_folders_are_followed_once(tmp_path):
    from vocaltools.datasets.inputs import resolve_inputs
    from vocaltools.datasets.layouts.base import iter_files

    music = tmp_path / "music"
    _tone(music / "alto" / "song1.wav", 0.5, rate=8000)
    _tone(tmp_path / "elsewhere" / "bass" / "song1.wav", 0.5, rate=8000)
    (music / "bass").symlink_to(tmp_path / "elsewhere" / "bass", target_is_directory=True)
    (music / "alto" / "loop").symlink_to(music, target_is_directory=True)  # a loop
    (music / "zz-again").symlink_to(tmp_path / "elsewhere" / "bass", target_is_directory=True)
    resolved = resolve_inputs([str(music)], labels="dirname")
    assert [(i.item_id, i.fields["label"]) for i in resolved.items] == [
        ("alto/song1", "alto"), ("bass/song1", "bass")]
    assert not resolved.failures
    assert [p.relative_to(music).as_posix() for p in iter_files(music, extensions=[".wav"])] == [
        "alto/song1.wav", "bass/song1.wav"]
    result = invoke_cli("featurize", str(music), "-o", str(tmp_path / "S"))
    assert result.returncode == 0 and "2 written" in result.stderr, result.stderr


# -- item 14: a metadata CSV is a manifest -------------------------------------------------------

def test_a_label_csv_is_a_manifest(tmp_path):
    from vocaltools.features import get_preset
    from vocaltools.features.pipeline import featurize_inputs
    from vocaltools.formats.store import FeatureStore

    config = get_preset("fgnl")

    data = tmp_path / "data"
    for name in ("a/one.wav", "a/two.wav", "b/three.wav", "b/unlisted.wav"):
        _tone(data / name, 0.5, rate=8000)
    csv_path = data / "meta.csv"
    csv_path.write_text("path,singer\na/one.wav,x\na/two.wav,x\nb/three.wav,y\n")
    alone = invoke_cli("featurize", "--labels", f"csv:{csv_path}", "-o", str(tmp_path / "rows"))
    assert alone.returncode == 0 and "3 written" in alone.stderr, alone.stderr
    items = FeatureStore(tmp_path / "rows").items()
    assert sorted((i.item_id, i.fields["singer"]) for i in items) == [
        ("a/one", "x"), ("a/two", "x"), ("b/three", "y")]
    folder = invoke_cli("featurize", str(data), "--labels", f"csv:{csv_path}", "-o",
                        str(tmp_path / "folder"))
    assert folder.returncode == 0, folder.stderr
    assert "1 file(s) of the inputs are not listed in" in folder.stderr
    assert "3 written" in folder.stderr and "error:" not in folder.stderr
    strict = featurize_inputs([str(data)], labels=f"csv:{csv_path}", strict=True, config=config,
                              store=FeatureStore(tmp_path / "strict"))
    assert strict.written == 3 and [f.message for f in strict.failures] == [
        f"{data / 'b' / 'unlisted.wav'}: not listed in the label CSV {csv_path}"]
    (data / "a" / "two.wav").unlink()
    missing = featurize_inputs([], labels=f"csv:{csv_path}", config=config,
                               store=FeatureStore(tmp_path / "gone"))
    assert missing.written == 2 and [f.message for f in missing.failures] == [
        f"{data / 'a' / 'two.wav'}: no such file (listed in {csv_path})"]
    usage = invoke_cli("featurize", "-o", str(tmp_path / "none"))
    assert usage.returncode == 2 and "--labels csv:FILE" in usage.stderr
