"""Learnable feature stores written directly as arrays (no audio), for training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vocaltools.formats.store import FeatureStore

N_BINS = 128


def make_store(root: Path, *, n_classes: int = 3, songs_per_class: int = 4, seconds: float = 3.0,
               seed: int = 0, offset: float = 0.0) -> FeatureStore:
    """A store of the ``fgnl`` preset whose items carry ``singer`` (the label) and ``song_id``;
    class ``c`` has a bright band at its own frequency rows, under noise (mean ``offset``)."""
    from vocaltools.features import get_preset

    config = get_preset("fgnl")
    store = FeatureStore(root)
    store.create(feature_config=config.to_dict())
    rng = np.random.default_rng(seed)
    n_frames = int(seconds * config.frames_per_second) + 1
    band = N_BINS // n_classes
    for c in range(n_classes):
        for s in range(songs_per_class):
            x = rng.normal(offset, 1.0, size=(1, N_BINS, n_frames)).astype(np.float32)
            x[:, c * band:c * band + band // 2, :] += 3.0
            store.write_item(item_id=f"c{c}-song{s}", audio_path=f"c{c}/song{s}.wav",
                             arrays={"logmel": x}, duration_s=seconds,
                             fields={"singer": f"singer{c}", "song_id": f"c{c}-s{s}"},
                             meta={"feature_config": config.to_dict()})
    return store


def train_tiny_model(root: Path, *, songs_per_class: int, epochs: int,
                     held_out_fraction: float) -> tuple[Path, Path]:
    """A tiny_cnn singer classifier (width 4) on a 2-singer :func:`make_store` under ``root``:
    ``(store root, model folder)``; ``held_out_fraction`` of the songs each go to validation and
    test."""
    from vocaltools.datasets.splits import select_fold, split_groups
    from vocaltools.training.config import make_train_config
    from vocaltools.training.loop import train_model

    store = make_store(root / "store", n_classes=2, songs_per_class=songs_per_class, seconds=3.0)
    split = select_fold(split_groups(store.items(), by="song_id", stratify="singer", seed=0,
                                     validation_fraction=held_out_fraction,
                                     test_fraction=held_out_fraction))
    config = make_train_config(model="tiny_cnn", target="singer", clip_seconds=1.0, epochs=epochs,
                               batch_size=8, device="cpu", model_options={"width": 4},
                               threads=1, precise_bn=0)
    train_model(store=store, config=config, split=split, model_dir=root / "model")
    return store.root, root / "model"


def make_voice_store(root: Path, *, n_singers: int, n_songs: int, seconds: float, seed: int,
                     preset: str = "wang2018") -> FeatureStore:
    """A store featurized from the project's synthetic singers (``root/audio`` holds the FLAC
    files, ``root/store`` the store); items carry ``singer``, ``song_key`` (singer/song) and
    ``take``, ids are ``singer__file``."""
    from vocaltools.features import featurize_file, get_preset
    from vocaltools.synth import make_singer_dataset

    items = make_singer_dataset(root / "audio", n_singers=n_singers, n_songs=n_songs,
                                seconds=seconds, seed=seed)
    config = get_preset(preset)
    store = FeatureStore(root / "store")
    store.create(feature_config=config.to_dict())
    for item in items:
        result = featurize_file(root / "audio" / item.path, config=config)
        store.write_item(item_id=item.path.removesuffix(".flac").replace("/", "__"),
                         audio_path=str(root / "audio" / item.path), arrays=result.arrays,
                         duration_s=result.duration_s,
                         fields={"singer": item.singer, "song_key": f"{item.singer}/{item.song_id}",
                                 "take": item.take}, meta={})
    return store
