"""separate --shard K/N: shards sharing one output folder write exactly the stem files of one whole
run (same names, same samples), never the same file; a template whose files would collide is
refused by every shard before anything is written."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from vocaltools.cli.app import app
from vocaltools.errors import ConfigError
from vocaltools.sharding import select_shard

RATE = 8000


def _write_songs(root, names):
    """Short mixtures: a repeating 'accompaniment' pulse plus a gliding 'voice', 0.5 s each."""
    t = np.arange(RATE // 2) / RATE
    for i, name in enumerate(names):
        voice = 0.3 * np.sin(2 * np.pi * (220 + 40 * i) * t * (1 + 0.1 * t))
        beat = 0.3 * (np.sin(2 * np.pi * 4 * t) > 0.9) * np.sin(2 * np.pi * 880 * t)
        path = root / f"{name}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, (voice + beat).astype(np.float32), RATE)


def _separate(*args):
    result = CliRunner().invoke(app, ["separate", *map(str, args), "-O", "sample_rate=8000"])
    return result


def _stems(folder):
    return {p.relative_to(folder).as_posix(): sf.read(p, dtype="float32")[0]
            for p in sorted(folder.rglob("*.flac"))}


def test_separate_shards_in_one_folder_equal_the_whole_run(tmp_path):
    names = ["a/one", "a/two", "b/three", "b/four", "five", "six"]
    _write_songs(tmp_path / "in", names)
    whole = _separate(tmp_path / "in", "-o", tmp_path / "whole")
    assert whole.exit_code == 0, whole.output
    counts = []
    for k in (1, 2, 3):
        result = _separate(tmp_path / "in", "-o", tmp_path / "shared", "--shard", f"{k}/3")
        assert result.exit_code == 0, result.output
        assert f"(shard {k}/3)" in result.output
        counts.append(int(result.output.split("separated ")[1].split(" ")[0]))
        expected = sorted(select_shard(names, shard=f"{k}/3"))  # the key is the relpath
        assert counts[-1] == len(expected)
    assert sum(counts) == len(names)  # every file in exactly one shard
    sharded, reference = _stems(tmp_path / "shared"), _stems(tmp_path / "whole")
    assert sorted(sharded) == sorted(reference) == sorted(
        f"{n}.{s}.flac" for n in names for s in ("vocals", "accompaniment"))
    for name, audio in reference.items():
        np.testing.assert_array_equal(sharded[name], audio)
    # a second pass of one shard skips its files
    again = _separate(tmp_path / "in", "-o", tmp_path / "shared", "--shard", "1/3")
    assert "separated 0 file(s)" in again.output


def test_every_shard_refuses_colliding_outputs(tmp_path):
    _write_songs(tmp_path / "in", ["a/song", "b/song"])
    for shard in ("1/2", "2/2"):
        result = _separate(tmp_path / "in", "-o", tmp_path / "out", "-t", "{name}.{source}.flac",
                           "--shard", shard)
        assert isinstance(result.exception, ConfigError), result.output
        assert "would both be written to" in str(result.exception)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.flac"))
    bad = _separate(tmp_path / "in", "-o", tmp_path / "out", "--shard", "2/1")
    assert bad.exit_code == 2 and "2/1" in bad.output  # a usage error


@pytest.mark.parametrize("template", ["{relpath}.{source}.flac", "{parent}/{name}.{source}.wav"])
def test_distinct_templates_pass_the_check(tmp_path, template):
    from vocaltools.separation.files import check_distinct_outputs

    inputs = [(tmp_path / "a" / "song.wav", "a/song"), (tmp_path / "b" / "song.wav", "b/song")]
    check_distinct_outputs(inputs, out_dir=tmp_path, template=template)
    with pytest.raises(ConfigError, match="song.wav and .*song.wav would both be written"):
        check_distinct_outputs(inputs, out_dir=tmp_path, template="{name}.{source}.flac")
