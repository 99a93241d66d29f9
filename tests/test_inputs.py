"""One resolver for every command that reads audio: the same files, ids and failures for featurize,
predict, embed and separate; feature stores checked against a model once."""

from __future__ import annotations

import numpy as np
import pytest

from vocaltools.audio import AUDIO_EXTENSIONS
from vocaltools.datasets.inputs import (check_store_matches, list_audio_files, resolve_inputs,
                                        store_features)
from vocaltools.errors import InputError
from vocaltools.features import get_preset
from vocaltools.formats.store import FeatureStore
from vocaltools.inference.predict import Failure, collect_inputs


@pytest.fixture()
def music(tmp_path):
    """A folder with a file of every audio extension (listing reads no audio), a nested one and
    a text file."""
    root = tmp_path / "music"
    (root / "live").mkdir(parents=True)
    for extension in AUDIO_EXTENSIONS:
        (root / f"song{extension.replace('.', '_')}{extension}").write_bytes(b"x")
    (root / "live" / "encore.wav").write_bytes(b"x")
    (root / "notes.txt").write_text("not audio")
    return root


def test_predict_and_featurize_see_the_same_files(music):
    featurized = [(item.item_id, str(item.audio_path))
                  for item in resolve_inputs([str(music)], labels="none").items]
    predicted = [(item.item_id, item.source) for item in collect_inputs([music])]
    assert predicted == featurized == [(i, str(p)) for i, p in list_audio_files([music])]
    ids = [item_id for item_id, _ in featurized]
    for extension in (".aac", ".wma", ".mp4", ".m4a", ".mp3"):  # the lists once drifted here
        assert f"song_{extension[1:]}" in ids
    assert "live/encore" in ids and ids == sorted(ids) and len(ids) == len(AUDIO_EXTENSIONS) + 1


def test_loose_files_share_one_root_in_input_order(tmp_path):
    for name in ("alto", "bass"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "song.flac").write_bytes(b"x")
    files = [tmp_path / "bass" / "song.flac", tmp_path / "alto" / "song.flac"]
    assert [i for i, _ in list_audio_files(files)] == ["bass/song", "alto/song"]
    assert [i for i, _ in list_audio_files(files[:1])] == ["song"]


def test_missing_inputs_are_failures_that_let_the_batch_go_on(music, tmp_path):
    failures: list[Failure] = []
    items = collect_inputs([music, tmp_path / "gone.wav"], failures=failures)
    assert len(items) == len(AUDIO_EXTENSIONS) + 1
    assert [(f.source, f.message) for f in failures] == [
        (str(tmp_path / "gone.wav"), f"{tmp_path / 'gone.wav'}: no such file or folder")]
    with pytest.raises(InputError, match="gone.wav: no such file or folder"):
        collect_inputs([music, tmp_path / "gone.wav"])


def _store(root, config) -> FeatureStore:
    store = FeatureStore(root)
    store.create(feature_config=config)
    store.write_item(item_id="x", audio_path="x.wav", duration_s=1.0, fields={"singer": "a"},
                     arrays={"logmel": np.zeros((1, 128, 40), np.float32)}, meta={})
    return store


def test_stores_are_kept_as_stores_only_where_asked(music, tmp_path):
    store = _store(tmp_path / "store", get_preset("fgnl").to_dict())
    resolved = resolve_inputs([str(store.root), str(music)], labels="none", stores=True)
    assert [s.root for s in resolved.stores] == [store.root]
    assert len(resolved.items) == len(AUDIO_EXTENSIONS) + 1
    items = collect_inputs([music, store.root])
    assert (items[0].item_id, items[0].store) == ("x", str(store.root))  # stores first
    # featurize reads audio only: a store folder holds none
    plain = resolve_inputs([str(store.root)], labels="none")
    assert plain.items == () and "no audio files" in plain.failures[0].reason


def test_a_model_folder_is_refused_with_a_hint(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "checkpoint.pt").write_bytes(b"x")
    with pytest.raises(InputError, match="a model folder .*give it with --model"):
        collect_inputs([tmp_path / "model"], failures=[])


def test_one_store_check_compares_typed_settings(tmp_path):
    fgnl = get_preset("fgnl")
    older = fgnl.to_dict()
    del older["front_ends"][0]["offset_db"]  # a key left at its default: the same features
    store = _store(tmp_path / "older", older)
    assert store_features(store) == fgnl
    check_store_matches(store, features=fgnl, model="m")
    other = _store(tmp_path / "other", get_preset("wang2018").to_dict())
    with pytest.raises(InputError, match=r"features were computed with 'wang2018', but the model "
                                         r"'m' was trained on 'fgnl'.*--preset fgnl"):
        check_store_matches(other, features=fgnl, model="m")
