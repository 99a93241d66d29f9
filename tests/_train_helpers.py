"""Learnable feature stores written directly as arrays (no audio), for training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vocaltools.formats.store import FeatureStore

N_BINS = 128


def make_store(root: Path, *, n_classes: int = 3, songs_per_class: int = 4, seconds: float = 3.0,
               seed: int = 0) -> FeatureStore:
    """A store of the ``fgnl`` preset whose items carry ``singer`` (the label) and ``song_id``;
    class ``c`` has a bright band at its own frequency rows, under noise."""
    from vocaltools.features import get_preset

    config = get_preset("fgnl")
    store = FeatureStore(root)
    store.create(feature_config=config.to_dict())
    rng = np.random.default_rng(seed)
    n_frames = int(seconds * config.frames_per_second) + 1
    band = N_BINS // n_classes
    for c in range(n_classes):
        for s in range(songs_per_class):
            x = rng.normal(0.0, 1.0, size=(1, N_BINS, n_frames)).astype(np.float32)
            x[:, c * band:c * band + band // 2, :] += 3.0
            store.write_item(item_id=f"c{c}-song{s}", audio_path=f"c{c}/song{s}.wav",
                             arrays={"logmel": x}, duration_s=seconds,
                             fields={"singer": f"singer{c}", "song_id": f"c{c}-s{s}"},
                             meta={"feature_config": config.to_dict()})
    return store
