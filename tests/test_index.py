"""FAISS index, open-set identification, leave-one-out kNN evaluation, t-SNE, and the knn CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import invoke_cli
from vocaltools.errors import ConfigError, FormatError, InputError
from vocaltools.index.embeddings import (center_vectors, filter_items, l2_normalize,
                                         load_embeddings, make_embedding_set, mean_vector,
                                         save_embeddings, select_vectors, standardize)
from vocaltools.index.evaluate import loo_knn_accuracy, vote
from vocaltools.index.faiss_index import IndexConfig, build_index, load_index
from vocaltools.index.identify import UNKNOWN, calibrate_threshold, calibration_trials, identify


def voices(n_singers: int, n_items: int, *, dim: int = 16, spread: float = 0.15, seed: int = 0,
           offset: int = 0):
    """Synthetic voices: one Gaussian cluster per singer on a sphere of radius 1."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_singers, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = np.concatenate([c + spread * rng.normal(size=(n_items, dim)) / np.sqrt(dim)
                              for c in centres]).astype(np.float32)
    labels = [f"singer{offset + s}" for s in range(n_singers) for _ in range(n_items)]
    return vectors, labels


def two_songs_each(labels):
    """A ``song_key`` field giving every label's items two songs, alternating."""
    return {"song_key": [f"{label}/s{i % 2}" for i, label in enumerate(labels)]}


def embedding_set(vectors, labels, *, clips_per_item: int = 2, fields=None, seed: int = 0,
                  normalize: bool = False):
    rng = np.random.default_rng(seed)
    clips = np.repeat(vectors, clips_per_item, axis=0)
    clips = clips + 0.01 * rng.normal(size=clips.shape).astype(np.float32)
    n = len(vectors)
    return make_embedding_set(
        clip_embeddings=clips, clip_item=np.repeat(np.arange(n), clips_per_item),
        clip_start_s=np.tile(np.arange(clips_per_item) * 1.2, n),
        item_ids=[f"item{i:03d}" for i in range(n)], labels=labels,
        fields={"singer": labels, **(fields or {})}, meta={"baseline": "synthetic",
                                                           "label_field": "singer"},
        normalize=normalize)


@pytest.mark.parametrize("kind", ["exact", "ivf", "hnsw"])
def test_every_kind_finds_each_vector_itself(kind):
    vectors, labels = voices(8, 20)
    index = build_index(vectors, item_ids=[f"i{j}" for j in range(len(vectors))], labels=labels,
                        config=IndexConfig(kind=kind, nlist=8, nprobe=8))
    results = index.search(vectors[:30], k=5)
    assert [r[0].item_id for r in results] == [f"i{j}" for j in range(30)]
    assert all(r[0].distance == pytest.approx(0.0, abs=1e-5) for r in results)
    assert all(len(r) == 5 and r[0].distance <= r[-1].distance for r in results)


def test_index_round_trip_and_add(tmp_path):
    vectors, labels = voices(4, 5)
    index = build_index(vectors, item_ids=[f"i{j}" for j in range(20)], labels=labels,
                        fields={"song": [f"s{j % 3}" for j in range(20)]},
                        meta={"calibration": None, "level": "item"})
    index.save(tmp_path / "index.npz")
    loaded = load_index(tmp_path / "index.npz")
    assert loaded.item_ids == index.item_ids and loaded.labels == index.labels
    assert loaded.fields == index.fields and loaded.meta["level"] == "item"
    before = [[n.item_id for n in r] for r in index.search(vectors, k=3)]
    assert [[n.item_id for n in r] for r in loaded.search(vectors, k=3)] == before
    extra, extra_labels = voices(1, 3, seed=5, offset=9)
    loaded.add(extra, item_ids=["new0", "new1", "new2"], labels=extra_labels)
    assert len(loaded) == 23 and loaded.fields["song"][-1] == ""
    assert loaded.search(extra[:1], k=1)[0][0].item_id == "new0"
    with pytest.raises(InputError, match="dimension 3 does not match the index's 16"):
        loaded.search(np.zeros((1, 3), np.float32), k=1)


def test_index_config_and_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'hnsw'"):
        IndexConfig(kind="hsnw")
    vectors, labels = voices(2, 3)
    with pytest.raises(InputError, match="needs at least 50 training vectors"):
        build_index(vectors, item_ids=list("abcdef"), labels=labels,
                    config=IndexConfig(kind="ivf", nlist=50))
    path = tmp_path / "emb.npz"
    save_embeddings(path, embedding_set(vectors, labels))
    with pytest.raises(FormatError, match="expected a index record, got 'embeddings'"):
        load_index(path)


def test_embeddings_file_round_trip_has_no_object_arrays(tmp_path):
    vectors, labels = voices(3, 4)
    emb = embedding_set(vectors, labels, fields={"song": ["x"] * 12})
    save_embeddings(tmp_path / "emb.npz", emb)
    with np.load(tmp_path / "emb.npz", allow_pickle=False) as data:
        assert all(data[name].dtype != object for name in data.files)
        assert data["item_ids"].dtype.kind == "U" and data["field_values"].dtype.kind == "U"
    loaded = load_embeddings(tmp_path / "emb.npz")
    np.testing.assert_array_equal(loaded.clip_embeddings, emb.clip_embeddings)
    np.testing.assert_array_equal(loaded.clip_item, emb.clip_item)
    np.testing.assert_allclose(loaded.clip_start_s, emb.clip_start_s, rtol=0, atol=1e-9)
    assert loaded.meta["baseline"] == "synthetic" and loaded.meta["label_field"] == "singer"
    assert loaded.item_ids == emb.item_ids and loaded.labels == tuple(labels)
    assert loaded.fields["song"] == ("x",) * 12
    np.testing.assert_allclose(loaded.item_embeddings, emb.item_embeddings)
    # item embeddings are the means of their clips
    np.testing.assert_allclose(loaded.item_embeddings[0], loaded.clip_embeddings[:2].mean(0),
                               rtol=1e-5)
    clips = select_vectors(loaded, level="clip")
    assert clips.ids[1] == "item000@1.20" and clips.labels[2] == labels[1]


def test_normalize_and_filter():
    vectors, labels = voices(3, 4)
    emb = make_embedding_set(clip_embeddings=3 * vectors, clip_item=np.arange(12),
                             clip_start_s=np.zeros(12), item_ids=[str(i) for i in range(12)],
                             labels=labels, fields={"singer": labels}, meta={}, normalize=True)
    np.testing.assert_allclose(np.linalg.norm(emb.item_embeddings, axis=1), 1.0, rtol=1e-5)
    kept = filter_items(emb, where_not=["singer=singer1"])
    assert kept.n_items == 8 and "singer1" not in kept.labels
    assert kept.clip_item.max() == 7 and len(kept.clip_embeddings) == 8
    both = filter_items(emb, where=["singer=singer0|singer2"])
    assert set(both.labels) == {"singer0", "singer2"} and both.n_items == 8
    with pytest.raises(InputError, match="expected FIELD=VALUE"):
        filter_items(emb, where=["singer"])
    with pytest.raises(InputError, match="unknown field 'song'"):
        filter_items(emb, where=["song=a"])
    z = standardize(np.array([[1.0, 5.0], [3.0, 5.0]]))
    np.testing.assert_allclose(z, [[-1.0, 0.0], [1.0, 0.0]])


def test_vote_majority_and_nearest_tie_break():
    assert vote(["a", "b", "b"]) == ("b", 2)
    assert vote(["a", "b", "b", "a"]) == ("a", 2)  # tie: the nearest wins
    with pytest.raises(InputError):
        vote([])


def test_loo_knn_separates_singers_and_exposes_song_effect():
    vectors, labels = voices(6, 8, spread=0.2)
    results = loo_knn_accuracy(vectors, labels=labels, ks=[1, 3, 5], by="singer")
    assert [r.k for r in results] == [1, 3, 5] and all(r.accuracy == 1.0 for r in results)
    shuffled = list(np.random.default_rng(0).permutation(labels))
    chance = loo_knn_accuracy(vectors, labels=shuffled, ks=[1])[0]
    assert chance.accuracy < 0.5
    # "song effect": vectors cluster by song; each singer sings every song once
    # (equidistant songs, so that once a song is excluded only the singer part decides)
    songs = 2.0 * np.eye(4)
    singer_part, _ = voices(5, 1, spread=0.0, seed=4)
    song_vectors = np.array([np.concatenate([songs[s], 0.3 * singer_part[g]])
                             for g in range(5) for s in range(4)], dtype=np.float32)
    singers = [f"g{g}" for g in range(5) for s in range(4)]
    song_names = [f"s{s}" for g in range(5) for s in range(4)]
    fields = {"singer": singers, "song": song_names}
    by_song = loo_knn_accuracy(song_vectors, labels=song_names, ks=[1], fields=fields)[0]
    by_singer = loo_knn_accuracy(song_vectors, labels=singers, ks=[1], fields=fields)[0]
    assert by_song.accuracy == 1.0 and by_singer.accuracy == 0.0
    # excluding same-song neighbours removes the song's pull: singers become identifiable
    other_songs = loo_knn_accuracy(song_vectors, labels=singers, ks=[1], fields=fields,
                                   exclude_same=["song"])[0]
    assert other_songs.accuracy == 1.0 and other_songs.n_answerable == 20
    with pytest.raises(InputError, match="unknown field"):
        loo_knn_accuracy(song_vectors, labels=singers, ks=[1], exclude_same=["take"])


def test_identify_answers_unknown_for_a_never_enrolled_voice():
    enrolled, labels = voices(10, 6, spread=0.3, seed=1)
    calibration = calibrate_threshold(enrolled, labels=labels)
    assert calibration.known_accept_rate > 0.9 and calibration.unknown_reject_rate > 0.9
    index = build_index(enrolled, item_ids=[f"e{i}" for i in range(60)], labels=labels)
    # new recordings of enrolled singers (same centres, fresh noise) and two strangers
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(10, 16))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    known = (centres[:3] + 0.3 * rng.normal(size=(3, 16)) / 4).astype(np.float32)
    strangers, _ = voices(2, 1, spread=0.0, seed=99)
    queries = np.concatenate([known, strangers])
    decisions = identify(index, queries, query_ids=["k0", "k1", "k2", "x0", "x1"], k=5,
                         threshold=calibration.threshold)
    assert [d.label for d in decisions[:3]] == ["singer0", "singer1", "singer2"]
    assert [d.label for d in decisions[3:]] == [UNKNOWN, UNKNOWN]
    assert all(0.0 <= d.confidence <= 1.0 for d in decisions)
    assert decisions[3].candidate.startswith("singer")
    closed = identify(index, strangers, query_ids=["x0", "x1"], threshold=None)
    assert all(d.label != UNKNOWN for d in closed)
    with pytest.raises(InputError, match="at least two labels"):
        calibrate_threshold(enrolled[:3], labels=["a", "a", "a"])


def test_knn_cli_build_query_identify_evaluate(tmp_path):
    enrolled, labels = voices(5, 6, spread=0.3, seed=2)
    strangers, stranger_labels = voices(2, 3, spread=0.3, seed=77, offset=50)
    emb = tmp_path / "emb.npz"
    save_embeddings(emb, embedding_set(np.concatenate([enrolled, strangers]),
                                       labels + stranger_labels,
                                       fields={"song": [f"s{i % 3}" for i in range(36)]}))
    index = tmp_path / "index.npz"
    held_out = ["--where-not", "singer=singer50", "--where-not", "singer=singer51"]
    result = invoke_cli("knn", "build", str(emb), "-o", str(index), *held_out)
    assert result.returncode == 0, result.stderr
    assert "indexed 30 item vectors of dim 16" in result.stderr and "threshold" in result.stderr
    result = invoke_cli("knn", "query", str(index), str(emb), "-k", "3", "--where", "singer=singer0")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 6 and records[0]["schema"] == "vocaltools.neighbors/1"
    assert records[0]["neighbors"][0]["item_id"] == records[0]["query_id"]
    assert len(records[0]["neighbors"]) == 3
    result = invoke_cli("knn", "identify", str(index), str(emb), "--where", "singer=singer50")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["label"] for r in records] == ["unknown"] * 3
    assert records[0]["schema"] == "vocaltools.identity/1" and records[0]["true_label"] == "singer50"
    result = invoke_cli("knn", "evaluate", str(emb), "--by", "singer,song", "--k", "1,3")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["by"], r["k"]) for r in records] == [("singer", 1), ("singer", 3), ("song", 1),
                                                    ("song", 3)]
    assert records[0]["accuracy"] == 1.0 and records[0]["schema"] == "vocaltools.report/1"
    result = invoke_cli("knn", "build", str(emb), "-o", str(index), "--kind", "ivff")
    assert result.returncode == 1 and "did you mean 'ivf'" in result.stderr


@pytest.mark.slow
def test_knn_cli_tsne_writes_png(tmp_path):
    vectors, labels = voices(4, 5)
    emb = tmp_path / "emb.npz"
    save_embeddings(emb, embedding_set(vectors, labels, fields={"song": ["a", "b"] * 10}))
    result = invoke_cli("knn", "tsne", str(emb), "--color", "singer", "--marker", "song",
                     "-o", str(tmp_path / "map.png"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = invoke_cli("knn", "tsne", str(emb), "--color", "voice", "-o", str(tmp_path / "x.png"))
    assert result.returncode == 1 and "unknown field 'voice'" in result.stderr


def test_calibration_by_group_ignores_takes_of_the_same_song():
    # every singer: two songs x two near-identical takes; songs of a singer differ more
    rng = np.random.default_rng(4)
    vectors, labels, songs = [], [], []
    for singer in range(6):
        centre = 3 * rng.normal(size=8)
        for song in range(2):
            song_centre = centre + rng.normal(size=8)
            for _ in range(2):
                vectors.append(song_centre + 0.01 * rng.normal(size=8))
                labels.append(f"g{singer}")
                songs.append(f"g{singer}/s{song}")
    vectors = np.array(vectors, dtype=np.float32)
    by_item = calibrate_threshold(vectors, labels=labels)
    by_song = calibrate_threshold(vectors, labels=labels, groups=songs)
    assert by_song.threshold > by_item.threshold and by_song.known_accept_rate == 1.0
    takes, _ = calibration_trials(vectors, labels)
    other_songs, _ = calibration_trials(vectors, labels, songs)
    assert other_songs.min() > 10 * takes.max()


def test_open_set_calibration_warns_without_trials_across_songs():
    from vocaltools.index.identify import calibrate_open_set

    vectors, labels = voices(4, 4, spread=0.3, seed=3)
    one_song = [f"{label}/s0" for label in labels]
    fallback = calibrate_open_set(vectors, labels=labels, groups=one_song, group_field="song_key")
    assert fallback.n_labels_with_trials == 0 and fallback.calibration.groups is None
    assert "no enrolled label has two or more song_key values" in fallback.warnings[0]
    some = [f"{label}/s{i % 2 if label != 'singer0' else 0}" for i, label in enumerate(labels)]
    partial = calibrate_open_set(vectors, labels=labels, groups=some, group_field="song_key")
    assert partial.n_labels_with_trials == 3 and partial.calibration.groups == "song_key"
    assert "1 of 4 enrolled labels have a single song_key" in partial.warnings[0]
    assert partial.calibration.n_known == 12  # singer0's four items give no known trial


def test_knn_build_calibrates_across_songs_by_default(tmp_path):
    vectors, labels = voices(3, 4, spread=0.3, seed=5)
    emb = tmp_path / "emb.npz"
    save_embeddings(emb, embedding_set(vectors, labels, fields=two_songs_each(labels)))
    result = invoke_cli("knn", "build", str(emb), "-o", str(tmp_path / "i.npz"))
    assert result.returncode == 0, result.stderr
    assert "another song_key of the same label" in result.stderr
    assert "expected rates: known accepted" in result.stderr
    from vocaltools.index.faiss_index import load_index

    assert load_index(tmp_path / "i.npz").meta["calibration"]["groups"] == "song_key"
    result = invoke_cli("knn", "build", str(emb), "-o", str(tmp_path / "j.npz"), "--calibrate-by", "none")
    assert "another enrolled item of the same label" in result.stderr
    result = invoke_cli("knn", "build", str(emb), "-o", str(tmp_path / "k.npz"), "--calibrate-by", "song")
    assert result.returncode == 1 and "did you mean 'song_key'" in result.stderr


def shifted_voices(seed: int = 6):
    """Unit-length voices that share one large common direction (as GE2E's do), with songs."""
    vectors, labels = voices(6, 4, spread=0.4, seed=seed)
    common = np.zeros(vectors.shape[1], np.float32)
    common[0] = 3.0
    return l2_normalize(vectors + common), labels


def test_centre_is_applied_identically_to_enrolled_items_and_queries(tmp_path):
    vectors, labels = shifted_voices()
    ids = [f"i{j}" for j in range(len(vectors))]
    centre = mean_vector(vectors)
    np.testing.assert_allclose(centre, vectors.astype(np.float64).mean(axis=0), atol=1e-6)
    index = build_index(vectors, item_ids=ids, labels=labels, center=centre,
                        fields={"song": [f"s{j % 2}" for j in range(len(vectors))]})
    prepared = center_vectors(vectors, centre)
    np.testing.assert_allclose(np.linalg.norm(prepared, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(index.prepare(vectors), prepared, atol=1e-6)
    # a raw enrolled vector, given as a query, is found at distance 0: the same transform ran
    results = index.search(vectors, k=3)
    assert [r[0].item_id for r in results] == ids
    assert all(r[0].distance == pytest.approx(0.0, abs=1e-5) for r in results)
    expected = ((prepared[1] - prepared[:1]) ** 2).sum()
    found = {n.item_id: n.distance for n in index.search(vectors[1:2], k=len(ids))[0]}
    assert found["i0"] == pytest.approx(float(expected), rel=1e-4, abs=1e-6)
    # the raw-space distance differs: without the transform the test above would fail
    assert float(((vectors[1] - vectors[0]) ** 2).sum()) != pytest.approx(float(expected), rel=0.05)
    index.save(tmp_path / "c.npz")
    loaded = load_index(tmp_path / "c.npz")
    np.testing.assert_allclose(loaded.center, centre, atol=0)
    again = loaded.search(vectors, k=3)
    for before, after in zip(results, again):
        assert [n.item_id for n in after] == [n.item_id for n in before]
        assert [n.distance for n in after] == pytest.approx([n.distance for n in before], abs=1e-6)
    extra = l2_normalize(vectors[:1] + 0.05)
    loaded.add(extra, item_ids=["new"], labels=["singer0"])
    assert loaded.search(extra, k=1)[0][0].item_id == "new"
    assert loaded.search(extra, k=1)[0][0].distance == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(InputError, match="center: dimension 3 does not match"):
        build_index(vectors, item_ids=ids, labels=labels, center=np.zeros(3, np.float32))


def test_knn_build_centres_normalised_embeddings_by_default(tmp_path):
    vectors, labels = shifted_voices()
    fields = two_songs_each(labels)
    unit, raw = tmp_path / "unit.npz", tmp_path / "raw.npz"
    save_embeddings(unit, embedding_set(vectors, labels, fields=fields, normalize=True))
    save_embeddings(raw, embedding_set(vectors, labels, fields=fields))
    items = load_embeddings(unit).item_embeddings
    result = invoke_cli("knn", "build", str(unit), "-o", str(tmp_path / "on.npz"))
    assert result.returncode == 0, result.stderr
    assert "(exact, centred)" in result.stderr
    on = load_index(tmp_path / "on.npz")
    np.testing.assert_allclose(on.center, items.astype(np.float64).mean(axis=0), atol=1e-6)
    assert on.meta["center"] == {"source": "mean of the enrolled item vectors", "n_vectors": 24}
    assert on.meta["calibration"]["groups"] == "song_key"
    for flag, path, has_centre in [("--no-center", unit, False), (None, raw, False),
                                   ("--center", raw, True)]:
        out = tmp_path / f"{flag}-{path.stem}.npz"
        result = invoke_cli("knn", "build", str(path), "-o", str(out), *([flag] if flag else []))
        assert result.returncode == 0, result.stderr
        built = load_index(out)
        assert (built.center is not None) is has_centre and (built.meta["center"] is not None) is has_centre
    # the stored threshold is on the centred scale: queries are centred before they are judged
    result = invoke_cli("knn", "identify", str(tmp_path / "on.npz"), str(unit), "-k", "1")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(r["nearest_distance"] == pytest.approx(0.0, abs=1e-5) for r in records)
    assert [r["label"] for r in records] == list(labels)


def test_index_written_without_a_centre_still_loads_and_answers(tmp_path):
    vectors, labels = voices(3, 4, spread=0.3, seed=8)
    emb = tmp_path / "emb.npz"
    save_embeddings(emb, embedding_set(vectors, labels))
    # an index as written before centring existed: no center array, no meta["center"]
    index = build_index(vectors, item_ids=[f"item{i:03d}" for i in range(12)], labels=labels,
                        meta={"level": "item", "calibration": {"threshold": 0.5}})
    index.save(tmp_path / "old.npz")
    with np.load(tmp_path / "old.npz", allow_pickle=False) as data:
        assert "center" not in data.files and '"center"' not in str(data["meta"])
    loaded = load_index(tmp_path / "old.npz")
    assert loaded.center is None and loaded.threshold == pytest.approx(0.5)
    np.testing.assert_allclose(loaded.prepare(vectors), vectors, atol=0)
    result = invoke_cli("knn", "identify", str(tmp_path / "old.npz"), str(emb), "-k", "1")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["label"] for r in records] == list(labels)
    assert all(r["threshold"] == pytest.approx(0.5) for r in records)


def test_enrol_embeddings_warns_and_centres_clips():
    from vocaltools.index.enrol import describe_enrolment, enrol_embeddings

    vectors, labels = shifted_voices()
    source = embedding_set(vectors, labels, normalize=True)  # no song field
    enrolment = enrol_embeddings(source, level="clip")
    assert enrolment.index.meta["center"] == {"source": "mean of the enrolled clip vectors",
                                              "n_vectors": 48}
    np.testing.assert_allclose(enrolment.index.center,
                               source.clip_embeddings.astype(np.float64).mean(axis=0), atol=1e-6)
    assert enrolment.calibration["groups"] == "item_id" and enrolment.warnings == ()
    by_item = enrol_embeddings(source)
    assert "carry no song field" in by_item.warnings[0] and by_item.calibration["groups"] is None
    assert "(exact, centred)" in describe_enrolment(by_item, output="x.npz")
    lonely = enrol_embeddings(embedding_set(vectors[:4], ["solo"] * 4), calibrate_by="none")
    assert lonely.calibration is None and lonely.index.center is None
    assert lonely.warnings[0].startswith("no open-set threshold stored: calibrating")
    with pytest.raises(InputError, match="did you mean 'singer'"):
        enrol_embeddings(source, calibrate_by="singr")


def _hand_as_norm(vectors, labels, query, row, top):
    """AS-norm of ``query`` against enrolled row ``row``, by explicit loops over the cohort."""
    def score(a, b):
        return -float(((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2).sum())

    def stats(vector, skip_labels):
        cohort = sorted((score(vector, v) for v, label in zip(vectors, labels)
                         if label not in skip_labels), reverse=True)[:top]
        return np.mean(cohort), np.std(cohort)

    s = score(query, vectors[row])
    mean_q, std_q = stats(query, {labels[row]})
    mean_e, std_e = stats(vectors[row], {labels[row]})
    return 0.5 * ((s - mean_q) / std_q + (s - mean_e) / std_e)


def test_as_norm_scores_match_a_hand_computation():
    from vocaltools.index.score_norm import as_norm_trials, query_scores, top_cohort_stats

    vectors, labels = voices(5, 4, spread=0.5, seed=11)
    queries, _ = voices(2, 3, spread=0.5, seed=12)
    rows = np.array([3, 7, 0, 19, 12, 5])
    got = query_scores(queries, rows, vectors, labels, top=6)
    want = [_hand_as_norm(vectors, labels, q, r, 6) for q, r in zip(queries, rows)]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    # leave-one-out trials: item 0's known trial is its nearest same-label item; its unknown
    # trial its nearest other-label item, both cohorts without either label
    known, unknown = as_norm_trials(vectors, labels, top=6)
    assert len(known) == len(unknown) == 20
    d = ((vectors[:, None].astype(np.float64) - vectors[None]) ** 2).sum(-1)
    same = [j for j in range(20) if labels[j] == labels[0] and j != 0]
    j = min(same, key=lambda r: d[0, r])
    assert known[0] == pytest.approx(_hand_as_norm(vectors, labels, vectors[0], j, 6), abs=1e-6)
    j = min((r for r in range(20) if labels[r] != labels[0]), key=lambda r: d[0, r])
    skip = {labels[0], labels[j]}
    cohort_0 = sorted((-d[0, r] for r in range(20) if labels[r] not in skip), reverse=True)[:6]
    cohort_j = sorted((-d[j, r] for r in range(20) if labels[r] not in skip), reverse=True)[:6]
    want = 0.5 * ((-d[0, j] - np.mean(cohort_0)) / np.std(cohort_0)
                  + (-d[0, j] - np.mean(cohort_j)) / np.std(cohort_j))
    assert unknown[0] == pytest.approx(want, abs=1e-6)
    mean, std = top_cohort_stats(np.array([[3.0, 1.0, 2.0, 9.0]]),
                                 np.array([[False, False, False, True]]), top=2)
    assert mean[0] == pytest.approx(2.5) and std[0] == pytest.approx(0.5)


def test_as_norm_index_round_trip_and_identify_use_the_normalised_score(tmp_path):
    from vocaltools.index.enrol import enrol_embeddings

    vectors, labels = voices(6, 4, spread=0.4, seed=13)
    songs = [f"{label}/s{i % 2}" for i, label in enumerate(labels)]
    enrolment = enrol_embeddings(embedding_set(vectors, labels, fields={"song_key": songs}),
                                 cohort_top=8)
    index = enrolment.index
    assert index.meta["score_norm"]["method"] == "as-norm" and index.meta["score_norm"]["top"] == 8
    assert enrolment.calibration["method"] == "loo-as-norm-midway-eer-balanced"
    index.save(tmp_path / "i.npz")
    loaded = load_index(tmp_path / "i.npz")
    assert loaded.meta["score_norm"] == index.meta["score_norm"]
    assert loaded.threshold == pytest.approx(index.threshold, abs=1e-9)
    queries, _ = voices(6, 1, spread=0.6, seed=13)  # near the enrolled singers' centres
    before = identify(index, queries, query_ids=list("abcdef"), k=1, threshold=index.threshold)
    after = identify(loaded, queries, query_ids=list("abcdef"), k=1, threshold=loaded.threshold)
    for b, a in zip(before, after):
        assert a.label == b.label and a.score == pytest.approx(b.score, abs=1e-6)
    rows = [loaded.item_ids.index(d.neighbors[0].item_id) for d in after]
    enrolled = loaded.enrolled_vectors()  # the item means of the clips, as enrolled
    want = [_hand_as_norm(enrolled, labels, q, r, 8) for q, r in zip(queries, rows)]
    np.testing.assert_allclose([d.score for d in after], want, atol=1e-5)
    # the threshold is a minimum score: one just above a query's score rejects it
    strict = identify(loaded, queries[:1], query_ids=["a"], k=1, threshold=after[0].score + 0.01)
    loose = identify(loaded, queries[:1], query_ids=["a"], k=1, threshold=after[0].score - 0.01)
    assert strict[0].label == UNKNOWN and loose[0].label != UNKNOWN
    assert strict[0].confidence == pytest.approx(0.01, abs=1e-6)


def test_knn_build_score_norm_switch_and_old_indexes_score_by_distance(tmp_path):
    vectors, labels = voices(4, 4, spread=0.4, seed=14)
    emb = tmp_path / "emb.npz"
    save_embeddings(emb, embedding_set(vectors, labels, fields=two_songs_each(labels)))
    result = invoke_cli("knn", "build", str(emb), "-o", str(tmp_path / "a.npz"))
    assert result.returncode == 0 and "(AS-norm score)" in result.stderr, result.stderr
    result = invoke_cli("knn", "build", str(emb), "-o", str(tmp_path / "d.npz"),
                        "--score-norm", "none")
    assert result.returncode == 0 and "(squared distance)" in result.stderr, result.stderr
    distance_index = load_index(tmp_path / "d.npz")
    assert distance_index.meta["score_norm"] is None
    assert distance_index.meta["calibration"]["method"] == "loo-balanced-accuracy"
    result = invoke_cli("knn", "identify", str(tmp_path / "a.npz"), str(emb), "-k", "1")
    assert all(json.loads(line)["score"] is not None for line in result.stdout.splitlines())
    # an index as written before score normalisation existed: no meta["score_norm"]
    del distance_index.meta["score_norm"]
    distance_index.save(tmp_path / "old.npz")
    result = invoke_cli("knn", "identify", str(tmp_path / "old.npz"), str(emb), "-k", "1",
                        "--threshold", "1e-9")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(r["score"] is None for r in records)
    # every query is its own nearest item at distance ~0 <= 1e-9: accepted by the distance rule
    assert [r["label"] for r in records] == list(labels)
    result = invoke_cli("knn", "build", str(emb), "-o", str(tmp_path / "x.npz"),
                        "--score-norm", "asnorm")
    assert result.returncode == 1 and "did you mean 'as-norm'" in result.stderr


def test_as_norm_falls_back_to_distance_with_two_labels():
    from vocaltools.index.enrol import enrol_embeddings

    vectors, labels = voices(2, 4, spread=0.4, seed=15)
    enrolment = enrol_embeddings(embedding_set(vectors, labels), calibrate_by="none")
    assert enrolment.index.meta["score_norm"] is None
    assert enrolment.calibration["method"] == "loo-balanced-accuracy"
    assert "AS-norm needs at least 3 enrolled labels" in enrolment.warnings[0]
