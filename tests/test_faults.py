"""Fault cases a new user meets: lossy files from real encoders, a bad file among good ones, two
files of one name, killed and concurrent runs, damaged stores, linked folders, label manifests.

Tests that need an encoder (sox, lame, ffmpeg from the Debian packages) skip with a reason where
it is absent."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile

from conftest import run_cli
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
    result = run_cli("featurize", str(tmp_path / "a" / "song.mp3"), "-o", str(tmp_path / "s"))
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


# -- item 2: embed goes on past a bad file -----------------------------------------------------

def test_embed_writes_every_good_item_and_names_every_bad_one(tmp_path):
    from vocaltools.index.embeddings import load_embeddings

    folder = tmp_path / "music"
    for singer, f0 in (("a", 180.0), ("b", 260.0)):
        _tone(folder / singer / "song1.wav", 1.5, f0=f0, rate=16000)
    (folder / "a" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    (folder / "b" / "empty.flac").write_bytes(b"")
    out = tmp_path / "emb.npz"
    result = run_cli("embed", str(folder), "--baseline", "mfcc", "--clip-seconds", "1",
                     "-o", str(out))
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2, result.stderr
    assert any("broken.wav" in line for line in errors) and any("empty.flac" in line for line in errors)
    assert "Traceback" not in result.stderr
    embeddings = load_embeddings(out)
    assert sorted(embeddings.item_ids) == ["a/song1", "b/song1"]
