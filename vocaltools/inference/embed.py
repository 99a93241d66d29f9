"""Embed items clip by clip with a trained model (or the MFCC-statistics baseline).

An item's features (``float32 [channels, n_bins, n_frames]``) are cut into the clip windows the
model was trained with; every clip is embedded, and the item embedding is the mean of its clip
embeddings (S2's "performance embedding"), optionally L2-normalised.

Which vector is the embedding:

- a model trained as an embedding (checkpoint task ``embed``, e.g. a siamese ``cnn_shallow`` with
  ``head="embed"``): its output, ``forward(x)``;
- any classifier: its penultimate layer, ``forward_features(x)`` (``layer="features"``).

Inputs are feature stores (``vocaltools featurize``) or audio files, which are featurized with the
model's own feature configuration so that the two can never mismatch. An item that cannot be
embedded (unreadable audio, a damaged NPZ, too short for a clip) is recorded and skipped when a
``failures`` list is given (the CLI writes every good item, names every bad one and exits 1), else
raised. With a shard ``K/N``
(:mod:`vocaltools.sharding`, ``"hash"`` rule on the item id) only that shard's items are read,
and the meta records ``"shard": "K/N"``; :mod:`vocaltools.merging` joins the shards' files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from vocaltools.errors import InputError, ModelError, VocaltoolsError
from vocaltools.index.embeddings import EmbeddingSet, make_embedding_set
from vocaltools.inference.predict import Failure
from vocaltools.segments import ClipConfig
from vocaltools.sharding import Shard, parse_shard, select_shard

if TYPE_CHECKING:
    from vocaltools.datasets.items import AudioItem
    from vocaltools.features.config import FeatureConfig
    from vocaltools.formats.store import FeatureStore

LAYERS = ("auto", "output", "features")


@dataclass(frozen=True)
class ItemFeatures:
    """One item to embed: its stacked model input and its fields."""

    item_id: str
    features: np.ndarray  # float32 [channels, n_bins, n_frames]
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Embedder:
    """A clip embedder: ``embed(float32 [n, channels, n_bins, clip_frames]) -> [n, dim]``, the
    feature arrays it reads, how items are cut into clips, and what to write into the meta."""

    embed: Callable[[np.ndarray], np.ndarray]
    inputs: tuple[str, ...]
    clip: ClipConfig
    features: FeatureConfig | None  # None: any (the baseline reads whatever it gets)
    label_field: str
    meta: Mapping[str, Any]


def embed_batch(model, clips: np.ndarray, *, layer: str = "output", batch_size: int = 64,
                device: "str | torch.device | None" = None) -> np.ndarray:
    """Embed clips with a torch model in eval mode, in float32 on ``device`` (None: where the
    model's parameters are).

    ``float32 [n, channels, n_bins, n_frames] -> [n, dim]``; ``layer="output"`` uses
    ``model(x)``, ``layer="features"`` ``model.forward_features(x)``."""
    import torch

    from vocaltools.device import resolve_device

    if layer not in ("output", "features"):
        raise InputError(f"unknown layer {layer!r}; expected 'output' or 'features'")
    if layer == "features" and not hasattr(model, "forward_features"):
        raise ModelError(f"{type(model).__name__} has no forward_features; use layer='output'")
    if device is None:
        parameter = next(model.parameters(), None)
        target = parameter.device if parameter is not None else torch.device("cpu")
    else:
        target = resolve_device(device)
    model.to(target).eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, len(clips), batch_size):
            x = torch.as_tensor(np.ascontiguousarray(clips[start:start + batch_size], dtype=np.float32))
            x = x.to(target)
            y = model.forward_features(x) if layer == "features" else model(x)
            outputs.append(y.reshape(len(x), -1).float().cpu().numpy())
    if not outputs:
        raise InputError("no clips to embed")
    return np.concatenate(outputs).astype(np.float32)


def embed_items(items: Iterable[ItemFeatures | Failure], *, embedder: Embedder,
                frames_per_second: float, normalize: bool = False,
                on_item: Callable[[str], None] | None = None,
                failures: list[Failure] | None = None) -> EmbeddingSet:
    """Embed every item clip by clip (see the module docstring) into an :class:`EmbeddingSet`.

    Items too short for a clip are padded by repetition when the clip config says ``pad_short``;
    an item that still yields no clip is a failure naming it. ``items`` may hold :class:`Failure`
    records of items that could not be read. With a ``failures`` list, failures are appended to
    it and the other items go on; without one, the first raises :class:`InputError`."""
    from vocaltools.segments import clip_windows, cut_clip

    clip_config = embedder.clip
    clip_vectors, clip_item, clip_start = [], [], []
    item_ids: list[str] = []
    item_fields: list[Mapping[str, Any]] = []

    def fail(failure: Failure) -> None:
        if failures is None:
            raise InputError(failure.message)
        failures.append(failure)

    for item in items:
        if isinstance(item, Failure):
            fail(item)
            continue
        windows = clip_windows(n_frames=int(item.features.shape[-1]),
                               frames_per_second=frames_per_second, config=clip_config)
        if not windows:
            fail(Failure(item.item_id, f"item {item.item_id!r}: {item.features.shape[-1]} frames "
                                       f"give no clip of {clip_config.clip_seconds} s"))
            continue
        clips = np.stack([cut_clip(item.features, w) for w in windows])
        clip_vectors.append(embedder.embed(clips))
        clip_item.extend([len(item_ids)] * len(windows))
        clip_start.extend(w.start_frame / frames_per_second for w in windows)
        item_ids.append(item.item_id)
        item_fields.append(dict(item.fields))
        if on_item is not None:
            on_item(item.item_id)
    if not item_ids:
        raise InputError("no items to embed" if not failures else
                         f"none of the inputs could be embedded ({len(failures)} failed)")
    if len(set(item_ids)) != len(item_ids):
        from collections import Counter

        duplicate = next(i for i, count in Counter(item_ids).items() if count > 1)
        raise InputError(f"item id {duplicate!r} occurs twice among the inputs; item ids must be "
                         "unique (give each store or file once)")
    names = sorted({name for fields in item_fields for name in fields})
    fields = {name: [str(f.get(name, "")) if f.get(name) is not None else "" for f in item_fields]
              for name in names}
    labels = [str(f.get(embedder.label_field, "") or "") for f in item_fields]
    return make_embedding_set(
        clip_embeddings=np.concatenate(clip_vectors), clip_item=np.array(clip_item),
        clip_start_s=np.array(clip_start), item_ids=item_ids, labels=labels, fields=fields,
        meta={**dict(embedder.meta), "label_field": embedder.label_field,
              "clip_config": embedder.clip.to_dict(),
              "feature_config": embedder.features.to_dict() if embedder.features else {}},
        normalize=normalize)


# ---------------------------------------------------------------------------------------------
# Embedders: a trained model's layer, or the MFCC baseline.

def model_embedder(name_or_path: str, *, layer: str = "auto", label_field: str | None = None,
                   batch_size: int = 64, device: str = "auto") -> Embedder:
    """An :class:`Embedder` from a trained model (a registered name or a checkpoint path) or a
    pretrained registry model (``ge2e``: its weights, feature preset and partial utterances), run
    in float32 on ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``).

    ``layer="auto"`` is ``output`` for an embedding model (task ``embed``) and ``features`` (the
    penultimate layer) for a classifier."""
    if layer not in LAYERS:
        raise InputError(f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}")
    from vocaltools.checkpoint import build_from_checkpoint
    from vocaltools.device import resolve_device
    from vocaltools.models.pretrained import load_model_checkpoint

    torch_device = resolve_device(device)  # a bad name or a missing GPU fails before loading
    checkpoint = load_model_checkpoint(name_or_path)
    model = build_from_checkpoint(checkpoint, where=name_or_path).to(torch_device)
    if layer == "auto":
        layer = "output" if checkpoint.task == "embed" else "features"
    return Embedder(
        embed=lambda clips: embed_batch(model, clips, layer=layer, batch_size=batch_size,
                                        device=torch_device),
        inputs=tuple(checkpoint.inputs), clip=checkpoint.clip, features=checkpoint.features,
        label_field=label_field or checkpoint.target or "singer",
        meta={"embedder": "model", "model": checkpoint.model, "model_path": str(name_or_path),
              "task": checkpoint.task, "layer": layer,
              "model_options": dict(checkpoint.model_options)})


def mfcc_embedder(*, clip_config: ClipConfig | Mapping[str, Any], input_name: str = "logmel",
                  label_field: str = "singer", n_mfcc: int = 20) -> Embedder:
    """The MFCC-statistics baseline (:mod:`vocaltools.baselines`) as an :class:`Embedder`;
    ``clip_config`` a :class:`ClipConfig` or its ``to_dict()``."""
    from vocaltools.baselines import MfccStatsConfig, embed_clips_mfcc

    config = MfccStatsConfig(n_mfcc=n_mfcc)
    clip = clip_config if isinstance(clip_config, ClipConfig) else ClipConfig.from_dict(clip_config)
    return Embedder(embed=lambda clips: embed_clips_mfcc(clips, config=config),
                    inputs=(input_name,), clip=clip, features=None,
                    label_field=label_field,
                    meta={"embedder": "baseline", "baseline": "mfcc", "input": input_name,
                          "baseline_config": config.to_dict()})


# ---------------------------------------------------------------------------------------------
# Sources: feature stores and audio files.

def _stack(arrays: Mapping[str, np.ndarray], embedder: Embedder, where: str) -> np.ndarray:
    from vocaltools.training.data import stack_inputs

    return stack_inputs(arrays, inputs=embedder.inputs, where=where,
                        model=str(embedder.meta.get("model", "")))


def iter_store_items(store: FeatureStore, *, embedder: Embedder,
                     shard: Shard | None = None) -> tuple[float, Iterator[ItemFeatures]]:
    """``(frames_per_second, items)`` of a feature store, checking that its feature settings are
    the model's; with ``shard``, only its items (chosen before their arrays are read)."""
    from vocaltools.datasets.inputs import check_store_matches, store_features

    if embedder.features is not None:
        name = embedder.meta.get("model_path") or embedder.meta.get("model")
        check_store_matches(store, features=embedder.features, model=str(name))
        features = embedder.features
    else:
        features = store_features(store)

    records = store.items()
    if shard is not None:
        records = select_shard(records, shard=shard, key=lambda item: item.item_id)

    def items() -> Iterator[ItemFeatures | Failure]:
        for item in records:
            where = f"{store.root}: item {item.item_id!r}"
            try:
                stacked = _stack(store.load_arrays(item), embedder, where)
            except (VocaltoolsError, OSError) as error:
                yield _failure(where, error)
                continue
            yield ItemFeatures(item.item_id, stacked, dict(item.fields))

    return features.frames_per_second, items()


def _failure(source: str, error: Exception) -> Failure:
    """A :class:`Failure` whose message names ``source`` once."""
    if isinstance(error, OSError):
        text = f"{error.strerror or error}"
    else:
        text = str(error)
    return Failure(source, text if text.startswith(source) else f"{source}: {text}")


def iter_audio_items(audio: Sequence[AudioItem], *, embedder: Embedder, features: FeatureConfig,
                     shard: Shard | None = None) -> tuple[float, Iterator[ItemFeatures]]:
    """``(frames_per_second, items)`` of audio items (as
    :func:`~vocaltools.datasets.inputs.resolve_inputs` finds them, with its item ids) featurized
    with ``features``; the parent folder's name is kept as the field ``folder``. With ``shard``,
    only its files are featurized."""
    from vocaltools.audio import DEFAULT_MIN_PEAK_DB, DEFAULT_MIN_SECONDS
    from vocaltools.features import featurize_file

    named = [(item.item_id, item.audio_path) for item in audio]
    if shard is not None:
        named = select_shard(named, shard=shard, key=lambda pair: pair[0])

    def items() -> Iterator[ItemFeatures | Failure]:
        for item_id, p in named:
            try:
                arrays = featurize_file(p, config=features, min_seconds=DEFAULT_MIN_SECONDS,
                                        min_peak_db=DEFAULT_MIN_PEAK_DB).arrays
                stacked = _stack(arrays, embedder, str(p))
            except (VocaltoolsError, OSError) as error:
                yield _failure(str(p), error)
                continue
            yield ItemFeatures(item_id, stacked, {"folder": p.parent.name})

    return features.frames_per_second, items()


def embed_inputs(inputs: Sequence[str | os.PathLike], *, embedder: Embedder,
                 normalize: bool = False, baseline_preset: str = "wang2018",
                 shard: Shard | str | None = None,
                 on_item: Callable[[str], None] | None = None,
                 failures: list[Failure] | None = None) -> EmbeddingSet:
    """Embed feature stores and/or audio files (all with one frame rate) into one set.

    ``shard`` ``"K/N"``: only the items of shard K of N (recorded in the meta as ``shard``); a
    shard that holds no item raises :class:`InputError`. ``failures``: see :func:`embed_items`;
    when no item at all succeeds, :class:`InputError` is raised after they are recorded."""
    if not inputs:
        raise InputError("no inputs: give feature stores or audio files")
    if isinstance(shard, str):
        shard = parse_shard(shard)
    if shard is not None:
        embedder = replace(embedder, meta={**dict(embedder.meta), "shard": str(shard)})
    from vocaltools.datasets.inputs import resolve_inputs

    resolved = resolve_inputs(inputs, labels="none", stores=True)
    missing = [Failure(failure.path, failure.message) for failure in resolved.failures]
    sources: list[tuple[float, Iterator[ItemFeatures | Failure]]] = [
        iter_store_items(store, embedder=embedder, shard=shard) for store in resolved.stores]
    if resolved.items:
        features = embedder.features
        if features is None:
            from vocaltools.features import get_preset

            features = get_preset(baseline_preset)
        sources.append(iter_audio_items(resolved.items, embedder=embedder, features=features,
                                        shard=shard))
    if not sources:  # only inputs that yield nothing: a missing path, a folder without audio
        sources.append((0.0, iter(())))
    rates = {round(rate, 6) for rate, _ in sources}
    if len(rates) > 1:
        raise InputError(f"the inputs have different frame rates {sorted(rates)} frames/s; embed "
                         "stores made with one feature preset together")

    n_read = 0

    def chained() -> Iterator[ItemFeatures | Failure]:
        nonlocal n_read
        yield from missing
        for _, items in sources:
            for item in items:
                n_read += 1
                yield item

    try:
        return embed_items(chained(), embedder=embedder, frames_per_second=sources[0][0],
                           normalize=normalize, on_item=on_item, failures=failures)
    except InputError:
        if shard is None or n_read:
            raise
        raise InputError(f"shard {shard} holds none of the inputs' items; split them into fewer "
                         "shards (N at most the number of items), or skip this shard") from None
