"""`vocaltools featurize` and the library behind it: inputs, labels, bad files, resume, jobs."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from conftest import invoke_cli, shared_data
from vocaltools.datasets.inputs import resolve_inputs
from vocaltools.errors import InputError
from vocaltools.features import get_preset
from vocaltools.features.pipeline import featurize_items
from vocaltools.formats.jsonl import read_jsonl
from vocaltools.formats.store import FeatureStore
from vocaltools.synth import make_singer_dataset


@pytest.fixture(scope="module")
def singers(tmp_path_factory):
    root = tmp_path_factory.mktemp("singers")
    make_singer_dataset(root, n_singers=2, n_songs=2, seconds=0.8, sample_rate=16000, seed=1)
    return root


def _bad_folder(root, singers):
    good = sorted(singers.rglob("*.flac"))[:3]
    for path in good:
        (root / path.name).write_bytes(path.read_bytes())
    (root / "notes.wav").write_text("not audio at all\n" * 50)
    (root / "empty.wav").write_bytes(b"")
    data = good[0].read_bytes()
    (root / "cut.flac").write_bytes(data[: len(data) // 2])
    return [p.stem for p in good]


def test_bad_files_are_listed_and_resume_skips_finished(tmp_path, singers):
    folder = tmp_path / "in"
    folder.mkdir()
    good = _bad_folder(folder, singers)
    store = tmp_path / "store"
    first = invoke_cli("featurize", str(folder), "-o", str(store), "--labels", "none")
    assert first.returncode == 1, first.stderr
    lines = first.stderr.splitlines()
    assert len(lines) == 4 and all(line.startswith("error: ") for line in lines[:3])
    assert lines[0].startswith(f"error: {folder / 'cut.flac'}: truncated or corrupt FLAC file")
    assert lines[1] == f"error: {folder / 'empty.wav'}: empty file (0 bytes); expected audio"
    assert lines[2].startswith(f"error: {folder / 'notes.wav'}: not a readable WAV audio file "
                               "(format not recognised")
    assert "featurize: 3 written, 0 skipped" in first.stderr and "3 failed" in first.stderr
    assert "Traceback" not in first.stderr
    assert sorted(FeatureStore(store).finished_ids()) == sorted(good)
    second = invoke_cli("featurize", str(folder), "-o", str(store), "--labels", "none")
    assert second.returncode == 1
    assert "featurize: 0 written, 3 skipped" in second.stderr and "3 failed" in second.stderr
    assert len(read_jsonl(store / "manifest.jsonl", kind="item")) == 3
    third = invoke_cli("featurize", str(folder / "*.flac"), "-o", str(store), "-p", "nasrullah")
    assert third.returncode == 1 and "other feature settings" in third.stderr


def test_csv_labels_and_store_contents(tmp_path, singers):
    store = tmp_path / "store"
    result = invoke_cli("featurize", str(singers), "--labels", f"csv:{singers / 'metadata.csv'}",
                        "-o", str(store), "--jobs", "2")
    assert result.returncode == 0, result.stderr
    assert "featurize: 8 written, 0 skipped" in result.stderr
    records = {r["item_id"]: r for r in read_jsonl(store / "manifest.jsonl", kind="item")}
    assert len(records) == 8
    record = records["XX-Bass-1/song01_control"]
    assert record["fields"]["singer"] == "XX-Bass-1" and record["fields"]["take"] == "Control"
    assert record["fields"]["technique_group"] == "Vibrato" and "path" not in record["fields"]
    assert record["n_frames"] == 1 + int(0.8 * 16000) // 512
    meta = json.loads((store / "store.json").read_text())
    assert meta["feature_config"] == get_preset("fgnl").to_dict()
    arrays = FeatureStore(store).load_arrays(FeatureStore(store).items()[0])
    assert arrays["logmel"].shape == (1, 128, record["n_frames"])


def test_dirname_labels_globs_and_stdin(tmp_path, singers):
    pattern = str(singers / "XX-Bass-1" / "*_control.flac")
    resolved = resolve_inputs([pattern], labels="dirname")
    assert [i.item_id for i in resolved.items] == ["song01_control", "song02_control"]
    assert all(i.fields == {"label": "XX-Bass-1"} for i in resolved.items)
    both = resolve_inputs([str(singers / "*" / "song01_control.flac")], labels="dirname")
    assert [i.item_id for i in both.items] == ["XX-Bass-1/song01_control",
                                               "XX-Soprano-2/song01_control"]
    listing = f"{singers / 'XX-Soprano-2' / 'song02_breathy.flac'}\n\n{tmp_path / 'nope.wav'}\n"
    from_stdin = resolve_inputs(["-"], labels="dirname", stdin=io.StringIO(listing))
    assert [i.item_id for i in from_stdin.items] == ["song02_breathy"]
    assert [f.reason for f in from_stdin.failures] == ["no such file or folder"]
    store = tmp_path / "store"
    result = invoke_cli("featurize", "-", "-o", str(store), "-q", input=listing)
    assert result.returncode == 1
    assert result.stderr == f"error: {tmp_path / 'nope.wav'}: no such file or folder\n"
    assert FeatureStore(store).finished_ids() == {"song02_breathy"}
    nothing = resolve_inputs([str(tmp_path / "*.ogg")], labels="none")
    assert nothing.failures[0].reason == "the pattern matched no files"


def test_label_errors(tmp_path, singers):
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("file,singer\na.wav,x\n")
    with pytest.raises(InputError, match="needs a 'path' column"):
        resolve_inputs([str(singers)], labels=f"csv:{csv_path}")
    partial = tmp_path / "partial.csv"
    partial.write_text(f"path,singer\n{singers / 'XX-Bass-1' / 'song01_control.flac'},a\n")
    resolved = resolve_inputs([str(singers / "XX-Bass-1")], labels=f"csv:{partial}")
    assert [i.item_id for i in resolved.items] == ["song01_control"]
    assert len(resolved.unlisted) == 3 and not resolved.failures  # left out, not failed
    strict = resolve_inputs([str(singers / "XX-Bass-1")], labels=f"csv:{partial}", strict=True)
    assert all("not listed in the label CSV" in f.reason for f in strict.failures)
    assert len(strict.failures) == 3
    scanned = tmp_path / "scanned.csv"  # the shape of 'vocaltools dataset scan -o FILE.csv'
    scanned.write_text(f"path,item_id,singer\n{singers / 'XX-Bass-1' / 'song01_control.flac'},"
                       "bass/one,a\n")
    resolved = resolve_inputs([str(singers / "XX-Bass-1" / "song01_control.flac")],
                              labels=f"csv:{scanned}")
    assert [(i.item_id, dict(i.fields)) for i in resolved.items] == [("bass/one", {"singer": "a"})]
    result = invoke_cli("featurize", str(singers), "-o", str(tmp_path / "s"), "--labels", "dirnme")
    assert result.returncode == 1
    assert "unknown --labels 'dirnme'; valid: dirname, csv:FILE, none" in result.stderr
    assert "did you mean 'dirname'" in result.stderr
    result = invoke_cli("featurize", str(singers), "-o", str(tmp_path / "s"), "--preset", "wang")
    assert result.returncode == 2 and "unknown feature preset 'wang'" in result.stderr
    result = invoke_cli("featurize", str(singers), "--jobs", "0", "-o", str(tmp_path / "s"))
    assert result.returncode == 2


def test_duplicate_item_ids_are_an_error(tmp_path, singers):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        src = singers / "XX-Bass-1" / "song01_control.flac"
        (tmp_path / name / "take.flac").write_bytes(src.read_bytes())
    with pytest.raises(InputError, match="two inputs give the item id 'take'"):
        resolve_inputs([str(tmp_path / "a"), str(tmp_path / "b")], labels="none")


def test_library_parallel_equals_serial(tmp_path, singers):
    items = resolve_inputs([str(singers)], labels="dirname").items
    config = get_preset("fgnl")
    serial = featurize_items(items, store=FeatureStore(tmp_path / "one"), config=config, jobs=1)
    events = []
    parallel = featurize_items(items, store=FeatureStore(tmp_path / "two"), config=config, jobs=2,
                               on_progress=events.append)
    assert serial.written == parallel.written == 8 and not parallel.failures
    assert sorted(e.done for e in events) == list(range(1, 9)) and events[0].total == 8
    one, two = FeatureStore(tmp_path / "one"), FeatureStore(tmp_path / "two")
    by_id = {item.item_id: item for item in two.items()}
    for item in one.items():
        # worker processes may run other BLAS thread counts: equal to a few float32 ulps
        np.testing.assert_allclose(one.load_arrays(item)["logmel"],
                                   two.load_arrays(by_id[item.item_id])["logmel"], rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_gtsinger_demo_writes_119_items(tmp_path):
    data = shared_data("gtsinger-demo")
    store = tmp_path / "store"
    result = invoke_cli("featurize", str(data / "audio"), "--labels",
                        f"csv:{data / 'metadata.csv'}", "--preset", "fgnl", "-o", str(store),
                        "--jobs", "2")
    assert result.returncode == 0, result.stderr
    items = FeatureStore(store).items()
    assert len(items) == 119
    assert {i.fields["singer"] for i in items} and len({i.fields["singer"] for i in items}) == 20
    assert all(i.item_id.count("/") == 1 for i in items)


def test_layout_labels_dispatch_to_registered_layouts(tmp_path, singers, monkeypatch):
    import sys
    import types

    from vocaltools.datasets.items import AudioItem

    class FakeLayout:
        def scan(self, root):
            return [AudioItem("x/one", root / "XX-Bass-1" / "song01_control.flac", {"singer": "x"})]

    module = types.ModuleType("vocaltools.datasets.layouts")
    module.LAYOUTS = {"fake20": FakeLayout()}
    monkeypatch.setitem(sys.modules, "vocaltools.datasets.layouts", module)
    resolved = resolve_inputs([str(singers)], labels="fake20")
    assert [(i.item_id, i.fields) for i in resolved.items] == [("x/one", {"singer": "x"})]
    with pytest.raises(InputError, match=r"unknown --labels 'fake2'; valid: dirname, csv:FILE, "
                                         r"none, fake20; did you mean 'fake20'"):
        resolve_inputs([str(singers)], labels="fake2")
    with pytest.raises(InputError, match="give exactly one folder"):
        resolve_inputs([str(singers), str(singers)], labels="fake20")
    with pytest.raises(InputError, match="layouts take no options"):
        resolve_inputs([str(singers)], labels="fake20:split=official")
    seen = []
    module.get_layout = lambda name, options: seen.append((name, options)) or FakeLayout()
    assert len(resolve_inputs([str(singers)], labels="fake20:a=1,b=2").items) == 1
    assert seen == [("fake20", ["a=1", "b=2"])]


def test_config_file_instead_of_preset(tmp_path, singers):
    from vocaltools.features import FeatureConfig, LogMel

    config = FeatureConfig(16000, (LogMel(n_mels=40, db="power"),))
    path = tmp_path / "features.json"
    path.write_text(json.dumps(config.to_dict()))
    store = tmp_path / "store"
    result = invoke_cli("featurize", str(singers / "XX-Bass-1"), "--config", str(path), "-o",
                        str(store), "-q")
    assert result.returncode == 0 and result.stderr == ""
    item = FeatureStore(store).items()[0]
    assert FeatureStore(store).load_arrays(item)["logmel"].shape[:2] == (1, 40)
    both = invoke_cli("featurize", str(singers), "--config", str(path), "-p", "fgnl", "-o",
                      str(store))
    assert both.returncode == 1 and "either --preset or --config" in both.stderr


def test_item_ids_that_would_leave_the_store_fail(tmp_path, singers):
    from vocaltools.datasets.items import AudioItem

    audio = singers / "XX-Bass-1" / "song01_control.flac"
    items = [AudioItem("../escape", audio), AudioItem("/abs", audio), AudioItem("ok/one", audio)]
    summary = featurize_items(items, store=FeatureStore(tmp_path / "store"),
                              config=get_preset("fgnl"))
    assert summary.written == 1 and summary.failed == 2
    assert all("invalid item id" in f.message for f in summary.failures)
    assert not (tmp_path / "escape.npz").exists()


def test_featurize_torch_device_matches_numpy_engine(tmp_path):
    import numpy as np

    from vocaltools.formats.store import FeatureStore
    from vocaltools.synth import make_singer_dataset

    make_singer_dataset(tmp_path / "audio", n_singers=1, n_songs=1, seconds=2.0)
    for name, extra in (("np", []), ("torch", ["--device", "cpu"])):
        result = invoke_cli("featurize", str(tmp_path / "audio"), "-o", str(tmp_path / name),
                            "--quiet", *extra)
        assert result.returncode == 0, result.stderr
    a, b = FeatureStore(tmp_path / "np"), FeatureStore(tmp_path / "torch")
    for item in a.items():
        other = {i.item_id: i for i in b.items()}[item.item_id]
        np.testing.assert_allclose(a.load_arrays(item)["logmel"], b.load_arrays(other)["logmel"],
                                   atol=1e-2)
