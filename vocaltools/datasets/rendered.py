"""A feature store of rendered instrument phrases: training data that anyone can regenerate.

Every phrase (:mod:`vocaltools.phrases`) is rendered once per soundfont and written as ``copies``
items, each through its own draw of the augmentation (:mod:`vocaltools.augment`), then
featurized. Item ids are ``<soundfont>/<instrument>/<phrase>-<copy>``; item fields:
``instrument`` (the S4 class), ``soundfont``, ``preset`` (``bank:program``), ``style``, and
``phrase_key`` (``<soundfont>/<instrument>/<phrase>``) to split by, so the copies of one phrase are
never on both sides of a split.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from vocaltools.augment import ROOM, AugmentConfig, augment
from vocaltools.formats.store import FeatureStore


@dataclass(frozen=True)
class RenderedSet:
    """What :func:`render_phrase_store` wrote."""

    store: FeatureStore
    n_items: int
    n_phrases: int
    seconds_of_audio: float
    instruments: tuple[str, ...]
    skipped: tuple[str, ...]  # "<soundfont>/<instrument>": no preset or only silent renders


def render_phrase_store(root: str | os.PathLike, *, soundfonts: Sequence[str],
                        instruments: Sequence[str], n_phrases: int, seconds: float = 3.0,
                        copies: int = 1, augment_config: AugmentConfig = ROOM,
                        feature_config=None, seed: int = 0,
                        progress: Callable[[str], None] | None = None) -> RenderedSet:
    """Render ``n_phrases`` phrases of every instrument from every soundfont into the feature
    store ``root`` (``feature_config``: a :class:`~vocaltools.features.FeatureConfig`, default
    the ``instruments`` preset). Deterministic for ``seed``."""
    from vocaltools.features import get_preset
    from vocaltools.features.compute import compute_features
    from vocaltools.phrases import PhraseRenderer, iter_phrases

    config = feature_config or get_preset("instruments")
    store = FeatureStore(root)
    store.create(feature_config=config.to_dict(),
                 extra={"rendered": {"soundfonts": list(soundfonts), "n_phrases": n_phrases,
                                     "seconds": seconds, "copies": copies, "seed": seed,
                                     "augment": augment_config.to_dict()}})
    done = store.finished_ids()
    n_items = n_phrases_total = 0
    audio_seconds = 0.0
    seen: set[str] = set()
    skipped: list[str] = []
    for font_index, font in enumerate(soundfonts):
        renderer = PhraseRenderer(font, sample_rate=config.sample_rate)
        for instrument in instruments:
            count = 0
            for index, phrase in enumerate(iter_phrases(renderer, instruments=[instrument],
                                                        n_phrases=n_phrases, seconds=seconds,
                                                        seed=seed)):
                count += 1
                n_phrases_total += 1
                key = f"{font}/{instrument}/{index:03d}"
                for copy in range(copies):
                    item_id = f"{key}-{copy}"
                    n_items += 1
                    audio_seconds += seconds
                    if item_id in done:
                        continue
                    rng = np.random.default_rng([seed, font_index, index, copy,
                                                 sum(map(ord, instrument))])
                    audio = augment(phrase.audio, sample_rate=phrase.sample_rate,
                                    config=augment_config, rng=rng)
                    arrays = compute_features(audio, sample_rate=phrase.sample_rate, config=config)
                    store.write_item(item_id=item_id, audio_path=f"rendered:{item_id}",
                                     arrays=arrays, duration_s=audio.size / phrase.sample_rate,
                                     fields={"instrument": instrument, "soundfont": font,
                                             "preset": f"{phrase.bank}:{phrase.program}",
                                             "style": phrase.style, "phrase_key": key},
                                     meta={"feature_config": config.to_dict()})
            if count:
                seen.add(instrument)
            else:
                skipped.append(f"{font}/{instrument}")
            if progress:
                progress(f"{font}/{instrument}: {count} phrases")
    return RenderedSet(store, n_items, n_phrases_total, audio_seconds,
                       tuple(i for i in instruments if i in seen), tuple(skipped))


def phrase_split(store: FeatureStore, *, validation_fraction: float = 0.1, seed: int = 0
                 ) -> Mapping[str, str]:
    """item_id -> ``train`` or ``validation``: whole phrases (all their copies) go to validation,
    the same fraction of each instrument's phrases."""
    import random

    by_instrument: dict[str, list[str]] = {}
    keys: dict[str, str] = {}
    for item in store.items():
        key = str(item.fields["phrase_key"])
        keys[item.item_id] = key
        group = by_instrument.setdefault(str(item.fields["instrument"]), [])
        if key not in group:
            group.append(key)
    held: set[str] = set()
    rng = random.Random(seed)
    for instrument in sorted(by_instrument):
        group = sorted(by_instrument[instrument])
        rng.shuffle(group)
        n = int(round(validation_fraction * len(group)))
        held.update(group[:n])
    return {item_id: ("validation" if key in held else "train") for item_id, key in keys.items()}
