"""JSONL, NPZ and feature-store round trips; schema checks; atomic writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vocaltools.errors import FormatError, InputError
from vocaltools.formats.jsonl import make_record, read_jsonl, write_jsonl
from vocaltools.formats.npz import load_npz, save_npz
from vocaltools.formats.store import FeatureStore


def test_jsonl_round_trip_plain_and_gzip(tmp_path):
    records = [make_record("split", item_id=f"a/{i}", split="train", score=np.float32(0.5))
               for i in range(3)]
    for name in ("s.jsonl", "s.jsonl.gz"):
        assert write_jsonl(tmp_path / name, records) == 3
        back = read_jsonl(tmp_path / name, kind="split")
        assert [r["item_id"] for r in back] == ["a/0", "a/1", "a/2"]
        assert back[0]["schema"] == "vocaltools.split/1" and back[0]["score"] == 0.5


def test_jsonl_errors_cite_path_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(make_record("split", item_id="a", split="x")) + "\n{oops\n")
    with pytest.raises(FormatError, match=r"bad.jsonl:2: not a JSON record"):
        read_jsonl(path, kind="split")


def test_jsonl_non_finite_floats_become_null(tmp_path):
    write_jsonl(tmp_path / "x.jsonl", [make_record("split", item_id="a", split="t", v=float("nan"))])
    assert read_jsonl(tmp_path / "x.jsonl")[0]["v"] is None


def test_npz_round_trip_with_meta(tmp_path):
    arrays = {"logmel": np.random.default_rng(0).random((1, 4, 5), dtype=np.float32),
              "ids": np.array(["a", "bb"])}
    save_npz(tmp_path / "x.npz", arrays, kind="features", meta={"sample_rate": 16000})
    loaded = load_npz(tmp_path / "x.npz", kind="features")
    assert np.array_equal(loaded.arrays["logmel"], arrays["logmel"])
    assert loaded.arrays["ids"].tolist() == ["a", "bb"]
    assert loaded.meta["sample_rate"] == 16000 and loaded.meta["schema"] == "vocaltools.features/1"
    assert loaded.meta["software"].startswith("vocaltools ")


def test_npz_refuses_objects_newer_versions_and_foreign_files(tmp_path):
    with pytest.raises(ValueError, match="dtype object"):
        save_npz(tmp_path / "o.npz", {"x": np.array([{}], dtype=object)}, kind="features")
    np.savez(tmp_path / "new.npz", x=np.zeros(2),
             meta=np.array(json.dumps({"schema": "vocaltools.features/7"})))
    with pytest.raises(FormatError, match="newer than this vocaltools reads"):
        load_npz(tmp_path / "new.npz", kind="features")
    np.savez(tmp_path / "plain.npz", x=np.zeros(2))
    with pytest.raises(FormatError, match="no 'meta' entry"):
        load_npz(tmp_path / "plain.npz", kind="features")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(FormatError, match="not a readable NPZ"):
        load_npz(tmp_path / "text.npz", kind="features")


def test_atomic_write_leaves_no_partial_file(tmp_path):
    def records():
        yield make_record("split", item_id="a", split="train")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_jsonl(tmp_path / "out.jsonl", records())
    assert list(tmp_path.iterdir()) == []


def test_store_write_resume_and_config_guard(tmp_path):
    store = FeatureStore(tmp_path / "store")
    with pytest.raises(InputError, match="not a feature store"):
        store.read_meta()
    store.create(feature_config={"preset": "fgnl", "sample_rate": 16000})
    store.write_item(item_id="singer/song_1", audio_path="/x/singer/song_1.flac",
                     arrays={"logmel": np.zeros((1, 128, 10), np.float32)}, duration_s=0.3,
                     fields={"singer": "singer"}, meta={})
    reopened = FeatureStore(tmp_path / "store")
    assert reopened.finished_ids() == {"singer/song_1"}
    item = reopened.items()[0]
    assert item.n_frames == 10 and item.fields == {"singer": "singer"}
    assert reopened.load_arrays(item)["logmel"].shape == (1, 128, 10)
    store.create(feature_config={"preset": "fgnl", "sample_rate": 16000})  # same config: fine
    with pytest.raises(InputError, match="other feature settings"):
        store.create(feature_config={"preset": "nasrullah", "sample_rate": 16000})


def test_store_drops_a_torn_manifest_line(tmp_path):
    store = FeatureStore(tmp_path / "store")
    store.create(feature_config={"preset": "fgnl"})
    for item_id in ("a", "b"):
        store.write_item(item_id=item_id, audio_path=f"/x/{item_id}.flac",
                         arrays={"logmel": np.zeros((1, 2, 3), np.float32)}, duration_s=0.1,
                         fields={}, meta={})
    text = store.manifest_path.read_text()
    store.manifest_path.write_text(text[: len(text) - 20])  # crash in the middle of line 2
    assert store.finished_ids() == {"a"}
    store.write_item(item_id="b", audio_path="/x/b.flac",
                     arrays={"logmel": np.zeros((1, 2, 3), np.float32)}, duration_s=0.1,
                     fields={}, meta={})
    assert store.finished_ids() == {"a", "b"}


def test_atomic_writes_get_the_usual_file_mode(tmp_path):
    import os
    import stat

    write_jsonl(tmp_path / "x.jsonl", [make_record("split", item_id="a", split="train")])
    mode = stat.S_IMODE(os.stat(tmp_path / "x.jsonl").st_mode)
    mask = os.umask(0)
    os.umask(mask)
    assert mode == 0o666 & ~mask


def test_atomic_writes_leave_devices_and_pipes_in_place(tmp_path):
    """A named pipe (like `-o /dev/null`, not used here: a regression would replace the device)
    is written into, never renamed over."""
    import os
    import threading

    from vocaltools.formats.io import atomic_path

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    with atomic_path(fifo) as target:
        target.write_text("through the pipe\n")
    reader.join(timeout=10)
    assert got == ["through the pipe\n"] and not fifo.is_file()
