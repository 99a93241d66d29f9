"""Streaming features (iter_feature_blocks) and predict on streamed blocks (ClipCutter): the same
values and the same records as the whole-item path, for any block size and item length."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile

from vocaltools.features import compute_features, featurize_file, get_preset
from vocaltools.features.compute import iter_feature_blocks
from vocaltools.segments import ClipConfig, clip_windows, cut_clip

FAMILIES = ("fgnl", "wang2018", "yamamoto2022", "wise-stft", "wise-cqt")


def _song(path, seconds: float, *, sample_rate: int = 44100, seed: int = 0):
    """A tone, a quiet stretch (so that top_db clipping bites) and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    y = 0.3 * np.sin(2 * np.pi * 330 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.7 * t))
    y += 0.003 * rng.standard_normal(t.size)
    y[int(0.4 * t.size):int(0.55 * t.size)] = 1e-7 * rng.standard_normal(int(0.55 * t.size) - int(0.4 * t.size))
    soundfile.write(path, y.astype(np.float32), sample_rate)
    return path


def _config(name: str):
    """A preset, or "cqt-db": a small CQT in dB (top_db 80: two passes, as no preset has it)."""
    from vocaltools.features import Cqt, FeatureConfig

    if name == "cqt-db":
        return FeatureConfig(22050, (Cqt(n_bins_total=48, bins_per_octave=12, fmin=130.8, scale="db"),))
    return get_preset(name)


def _concatenate(blocks):
    names = blocks[0].arrays
    return {name: np.concatenate([b.arrays[name] for b in blocks], axis=-1) for name in names}


@pytest.mark.parametrize("name", FAMILIES + ("cqt-db",))
def test_stream_concatenation_equals_featurize_file(tmp_path, name, monkeypatch):
    import vocaltools.audio

    path = _song(tmp_path / "song.wav", 2.3)
    config = _config(name)
    block_seconds = 0.25 if "cqt" not in name else 1.0  # CQT blocks carry 2 s of context
    expected = featurize_file(path, config=config, block_seconds=block_seconds)
    decodes = []
    real = vocaltools.audio.iter_audio_blocks
    monkeypatch.setattr(vocaltools.audio, "iter_audio_blocks",
                        lambda *a, **k: decodes.append(1) or real(*a, **k))
    for cache_bytes in (0, math.inf) if name != "wise-cqt" else (0,):  # recomputed / kept
        decodes.clear()
        blocks = list(iter_feature_blocks(path, config=config, block_seconds=block_seconds,
                                          cache_bytes=cache_bytes))
        two_pass = name != "wise-stft" and name != "wise-cqt"  # linear STFT / CQT need no levels
        assert len(decodes) == (2 if two_pass and cache_bytes == 0 else 1)
        frames = round(block_seconds * config.frames_per_second)
        assert [b.start_frame for b in blocks] == [i * frames for i in range(len(blocks))]
        assert all(b.n_frames == frames for b in blocks[:-1]) and len(blocks) >= 3
        assert blocks[-1].n_samples == round(expected.duration_s * config.sample_rate)
        assert config.n_frames(blocks[-1].n_samples) == expected.n_frames
        got = _concatenate(blocks)
        assert set(got) == set(expected.arrays)
        for key, value in expected.arrays.items():
            assert got[key].dtype == np.float32 and got[key].shape == value.shape
            # the same arithmetic on the same block shapes; a few float32 ulps of slack so that
            # another CPU's SIMD or BLAS kernels cannot fail it
            np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["wang2018", "yamamoto2022"])
def test_streamed_levels_are_the_whole_item_levels(tmp_path, name):
    """ref="max" and top_db refer to the item's maximum, not the block's (librosa on the whole song)."""
    import librosa

    from vocaltools.audio import load_audio

    path = _song(tmp_path / "song.wav", 2.3)
    config = get_preset(name)
    y = load_audio(path, sample_rate=config.sample_rate)
    got = _concatenate(list(iter_feature_blocks(path, config=config, block_seconds=0.25, cache_bytes=0)))
    if name == "wang2018":
        mel = librosa.feature.melspectrogram(y=y, sr=22050, n_fft=2048, hop_length=512, n_mels=96,
                                             pad_mode="constant")
        expected = librosa.power_to_db(mel, ref=np.max, top_db=60.0)[None] + 60.0
        # clipping bites: the peak is 0 dB + 60 and the floor 60 dB below it (float32 log10 and
        # the float64 reference differ by a few ulps, by CPU)
        assert got["logmel"].max() == pytest.approx(60.0, abs=1e-4)
        assert got["logmel"].min() == pytest.approx(0.0, abs=1e-4)
    else:
        expected = np.stack([librosa.amplitude_to_db(np.abs(librosa.stft(
            y, n_fft=2048, hop_length=512, win_length=w, pad_mode="constant")), ref=1.0, top_db=80.0)
            for w in (2048, 1024, 512)])
        peaks = got["multires"].max(axis=(1, 2))
        np.testing.assert_allclose(got["multires"].min(axis=(1, 2)), peaks - np.float32(80), rtol=0, atol=1e-4)
    np.testing.assert_allclose(got[next(iter(got))], expected, atol=2e-3 * np.abs(expected).max())


def test_stream_memory_does_not_grow_with_the_file(tmp_path):
    """Two passes (cache_bytes=0) of a multi-resolution front end (per-channel levels) over 100 s
    and 200 s: the same peak, while the whole features of the longer file are 13 MB larger (8 kHz
    files: the decoder's fixed read size is reached by both)."""
    import tracemalloc

    from vocaltools.features import FeatureConfig, MultiRes

    rate = 8000
    config = FeatureConfig(rate, (MultiRes(n_fft=512, hop_length=128, win_lengths=(512, 256)),))
    peaks, frames = [], []
    for seconds in (1, 100, 200):  # the first run fills caches (windows, FFT plans)
        path = tmp_path / f"{seconds}.wav"
        noise = np.random.default_rng(0).standard_normal(rate * seconds).astype(np.float32)
        soundfile.write(path, 0.1 * noise, rate, subtype="PCM_16")
        del noise
        n_frames = 0
        tracemalloc.start()
        for block in iter_feature_blocks(path, config=config, block_seconds=5.0, cache_bytes=0):
            n_frames += block.n_frames
            del block
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        frames.append(n_frames)
    assert frames[1:] == [1 + rate * 100 // 128, 1 + rate * 200 // 128]
    growth = 2 * 257 * (frames[2] - frames[1]) * 4
    assert peaks[2] - peaks[1] < 0.05 * growth, f"peaks {peaks[1] / 1e6:.2f} / {peaks[2] / 1e6:.2f} MB"


def test_compute_features_is_unchanged_by_the_engine():
    config = get_preset("wang2018")
    y = np.zeros(22050, dtype=np.float32)
    y[5000:6000] = 0.5
    (value,) = compute_features(y, sample_rate=22050, config=config).values()
    assert value.shape == (1, 96, 44)
    assert value.max() == pytest.approx(60.0, abs=1e-4) and value.min() == pytest.approx(0.0, abs=1e-4)


# -- ClipCutter -----------------------------------------------------------------------------

CLIPS = [ClipConfig(clip_seconds=1.0), ClipConfig(clip_seconds=1.0, hop_seconds=0.3, drop_last=True),
         ClipConfig(clip_seconds=0.5, hop_seconds=1.3), ClipConfig(clip_seconds=1.0, pad_short=False),
         ClipConfig(clip_seconds=1.0, drop_last=True)]


@pytest.mark.parametrize("clip", CLIPS, ids=str)
def test_clip_cutter_equals_whole_item_windows(clip):
    from vocaltools.inference.predict import ClipCutter

    rng = np.random.default_rng(0)
    fps = 10.0
    for n_frames in (1, 5, 9, 10, 11, 13, 20, 23, 37):
        whole = rng.standard_normal((2, 3, n_frames)).astype(np.float32)
        expected = [(w, cut_clip(whole, w)) for w in clip_windows(n_frames=n_frames, frames_per_second=fps,
                                                                   config=clip)]
        for block in (1, 3, 7, 10, 64):
            cutter = ClipCutter(clip=clip, frames_per_second=fps)
            got = []
            for start in range(0, n_frames, block):
                got.extend(cutter.add(whole[..., start:start + block]))
            got.extend(cutter.finish())
            assert [w for w, _ in got] == [w for w, _ in expected], (n_frames, block)
            for (_, a), (_, b) in zip(got, expected):
                np.testing.assert_array_equal(a, b)


# -- predict ----------------------------------------------------------------------------------

def _tiny_model(tmp_path, preset: str, clip: ClipConfig):
    """A tiny_cnn with random weights (seed 0) for ``preset``'s features, loaded on the CPU."""
    import torch

    from vocaltools.checkpoint import Checkpoint, save_checkpoint
    from vocaltools.inference.predict import load_model
    from vocaltools.models.registry import build_model

    config = get_preset(preset)
    channels = sum(fe.n_channels for fe in config.front_ends)
    torch.manual_seed(0)
    options = {"in_channels": channels, "width": 4}
    module = build_model("tiny_cnn", n_classes=3, **options)
    save_checkpoint(tmp_path / f"model-{preset}", Checkpoint(
        model="tiny_cnn", model_options=options, n_classes=3, task="classify", inputs=config.names,
        labels=("a", "b", "c"), target="label", feature_config=config.to_dict(),
        clip_config=clip.to_dict(), state_dict=module.state_dict()))
    return load_model(tmp_path / f"model-{preset}", device="cpu")


def _whole_item_predictions(model, items, *, batch_size, block_seconds):
    """The whole-item path predict took before streaming: featurize the whole file, cut every clip
    window, batch clips across files."""
    import torch

    from vocaltools.errors import InputError, VocaltoolsError
    from vocaltools.features import FeatureConfig
    from vocaltools.inference.predict import ClipPrediction
    from vocaltools.training.data import stack_inputs

    config = FeatureConfig.from_dict(dict(model.checkpoint.feature_config))
    xs, metas, out, failed = [], [], [], []

    def flush():
        with torch.no_grad():
            p = torch.softmax(model.module(torch.from_numpy(np.stack(xs))).float(), dim=1).numpy()
        out.extend(ClipPrediction(i.item_id, i.source, c, s, e, row, i.fields, i.store)
                   for (i, c, s, e), row in zip(metas, p))
        xs.clear()
        metas.clear()

    for item in items:
        try:
            arrays = featurize_file(item.source, config=config, block_seconds=block_seconds).arrays
            stacked = stack_inputs(arrays, inputs=model.checkpoint.inputs, where=item.source)
            windows = clip_windows(n_frames=stacked.shape[-1], frames_per_second=model.frames_per_second,
                                   config=model.clip)
            if not windows:
                raise InputError("short")
        except VocaltoolsError:
            failed.append(item.source)
            continue
        for w in windows:
            xs.append(cut_clip(stacked, w))
            metas.append((item, w.clip_index, w.start_frame / model.frames_per_second,
                          min(w.end_frame, stacked.shape[-1]) / model.frames_per_second))
            if len(xs) == batch_size:
                flush()
    if xs:
        flush()
    return out, failed


def _records(predictions, model):
    return [p.to_record(labels=model.labels, target="label", model="m", top_k=2) for p in predictions]


def _assert_same_records(got, expected):
    """The same records; probabilities to 1e-5 (clips batched with other clips, or in batches of
    another size, may round differently in the last float32 bits)."""
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        plain = {k: v for k, v in a.items() if k not in ("probabilities", "top")}
        assert plain == {k: v for k, v in b.items() if k not in ("probabilities", "top")}
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-5)
        assert [t["label"] for t in a["top"]] == [t["label"] for t in b["top"]]
        assert [t["probability"] for t in a["top"]] == pytest.approx(
            [t["probability"] for t in b["top"]], abs=1e-5)


@pytest.mark.parametrize("preset,clip", [
    ("fgnl", ClipConfig(clip_seconds=0.5)),
    ("wang2018", ClipConfig(clip_seconds=0.6, hop_seconds=0.25, drop_last=True)),
    ("yamamoto2022", ClipConfig(clip_seconds=0.4, hop_seconds=0.7, pad_short=False)),
])
def test_predict_on_streamed_blocks_gives_the_whole_item_records(tmp_path, preset, clip):
    from vocaltools.inference.predict import Failure, collect_inputs, predict_items

    model = _tiny_model(tmp_path, preset, clip)
    # shorter than a clip, about one clip, several clips; and a file that cannot be read
    paths = [_song(tmp_path / f"{i}-{s}.wav", s, seed=i) for i, s in enumerate((0.3, 0.62, 2.1, 1.35))]
    bad = tmp_path / "5-bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    items = collect_inputs(paths[:2] + [bad] + paths[2:])
    for block_seconds in (0.15, 60.0):  # blocks shorter than a clip; the whole file in one block
        failures: list[Failure] = []
        got = list(predict_items(model, items, batch_size=3, failures=failures,
                                 block_seconds=block_seconds))
        expected, failed = _whole_item_predictions(model, items, batch_size=3,
                                                   block_seconds=block_seconds)
        _assert_same_records(_records(got, model), _records(expected, model))
        assert [f.source for f in failures] == failed
        assert str(bad) in failed
        assert (str(paths[0]) in failed) == (not clip.pad_short)  # 0.3 s is shorter than the clip
        assert len(got) >= 5


def test_predict_drops_the_clips_of_an_item_that_fails_midway(tmp_path, monkeypatch):
    """An item whose decoding fails after some blocks gives no record and leaves the next items'
    records as they would be without it."""
    import vocaltools.inference.predict as predict
    from vocaltools.errors import InputError
    from vocaltools.inference.predict import Failure, collect_inputs, predict_items

    model = _tiny_model(tmp_path, "wise-stft", ClipConfig(clip_seconds=0.2))
    paths = [_song(tmp_path / f"{i}.wav", 1.0, seed=i) for i in range(3)]
    items = collect_inputs(paths)
    real = predict._item_blocks

    def failing(model_, item, *, block_seconds):
        for n, arrays in enumerate(real(model_, item, block_seconds=block_seconds)):
            if item.item_id == "1" and n == 3:
                raise InputError("truncated")
            yield arrays

    expected = _records(predict_items(model, [items[0], items[2]], batch_size=4, block_seconds=0.1), model)
    monkeypatch.setattr(predict, "_item_blocks", failing)
    failures: list[Failure] = []
    got = _records(predict_items(model, items, batch_size=4, failures=failures, block_seconds=0.1), model)
    assert [f.message for f in failures] == ["truncated"]
    assert [r["item_id"] for r in got] == [r["item_id"] for r in expected]
    _assert_same_records(got, expected)
    with pytest.raises(InputError, match="truncated"):
        list(predict_items(model, items, batch_size=4, block_seconds=0.1))


def test_predict_store_items_still_work(tmp_path):
    from _train_helpers import make_store

    from vocaltools.inference.predict import collect_inputs, predict_items

    store = make_store(tmp_path / "store", n_classes=2, songs_per_class=1, seconds=2.0)
    model = _tiny_model(tmp_path, "fgnl", ClipConfig(clip_seconds=0.5))
    got = list(predict_items(model, collect_inputs([store.root]), batch_size=5))
    assert len(got) == 2 * 3  # 63 frames -> 3 clips of 16 frames per item
    assert [p.clip_index for p in got[:3]] == [0, 1, 2]
