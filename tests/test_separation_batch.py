"""The batch of `separate` as a library call: the same files and ids as every other command,
worker processes that give the stems of one process, errors per file."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from test_separation import RATE, synthetic_mix, write_audio
from vocaltools.datasets.inputs import list_audio_files, resolve_inputs
from vocaltools.separation import separate_items
from vocaltools.separation.batch import audio_durations, resolve_batch


def _collection(tmp_path):
    mixture, _, _ = synthetic_mix(seconds=1.0)
    write_audio(tmp_path / "in" / "a.wav", mixture)
    write_audio(tmp_path / "in" / "singer" / "b.flac", mixture)
    (tmp_path / "in" / "broken.wav").write_text("not audio")
    return resolve_inputs([str(tmp_path / "in")], labels="none").items


def test_separate_sees_the_files_and_ids_of_the_other_commands(tmp_path):
    items = _collection(tmp_path)
    listed = list_audio_files([tmp_path / "in"])
    assert [(item.item_id, item.audio_path) for item in items] == listed
    assert [item.item_id for item in items] == ["a", "broken", "singer/b"]


def _summary(results) -> tuple[int, int, list[str]]:
    """(separated, skipped, failed files) of a batch's results."""
    return (sum(r.ok and not r.skipped for r in results), sum(r.skipped for r in results),
            [str(r.item.audio_path) for r in results if not r.ok])


def test_workers_write_the_stems_of_one_process_and_go_on_past_a_bad_file(tmp_path):
    items = _collection(tmp_path)
    seen: list[float] = []
    one = list(separate_items(items, out_dir=tmp_path / "one", method="repet",
                              options={"sample_rate": 8000}, on_progress=seen.append))
    two = list(separate_items(items, out_dir=tmp_path / "two", method="repet",
                              options={"sample_rate": 8000}, jobs=2))
    for results in (one, two):
        assert [r.item for r in results] == list(items)  # input order
        assert _summary(results) == (2, 0, [str(items[1].audio_path)])
        assert "not a readable WAV audio file" in results[1].error
    for name in ("a.vocals.flac", "singer/b.accompaniment.flac"):
        a, rate = sf.read(tmp_path / "one" / name)
        b, _ = sf.read(tmp_path / "two" / name)
        assert rate == RATE and np.max(np.abs(a - b)) < 1e-6
    assert abs(sum(seen) - 2.0) < 0.05  # seconds of audio separated, reported as they finish
    assert audio_durations(items)[items[1].audio_path] == 0.0
    again = list(separate_items(items[:1], out_dir=tmp_path / "two", method="repet",
                                options={"sample_rate": 8000}, jobs=2))
    assert _summary(again) == (0, 1, [])


def test_resolve_batch_checks_the_whole_collection_then_takes_the_shard(tmp_path):
    import pytest

    from vocaltools.errors import ConfigError

    _collection(tmp_path)
    missing = tmp_path / "gone.wav"
    whole = resolve_batch([tmp_path / "in", missing], out_dir=tmp_path / "out")
    assert [i.item_id for i in whole.items] == ["a", "broken", "singer/b"]
    assert [f.path for f in whole.failures] == [str(missing)]
    shards = [resolve_batch([tmp_path / "in"], out_dir=tmp_path / "out", shard=f"{k}/2")
              for k in (1, 2)]
    assert sorted(i.item_id for s in shards for i in s.items) == ["a", "broken", "singer/b"]
    with pytest.raises(ConfigError, match="would both be written to"):  # b and singer/b by name
        write_audio(tmp_path / "in" / "b.wav", synthetic_mix(seconds=0.5)[0])
        resolve_batch([tmp_path / "in"], out_dir=tmp_path / "out", template="{name}.{source}.flac",
                      shard="1/2")
