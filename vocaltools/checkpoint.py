"""Plain-data checkpoints: a dict of Python scalars, lists, dicts and tensors, saved with
``torch.save`` and loaded with ``torch.load(weights_only=True)``. No Python class is pickled, so a
checkpoint loads whatever the code around it becomes; the model is rebuilt from the registry by name
and options.

Keys of a checkpoint (``format == "vocaltools.checkpoint"``, ``version == 1``)::

    software, model, model_options, n_classes, task, inputs, labels, target, feature_config,
    clip_config, summary, state_dict
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from vocaltools import __version__
from vocaltools.errors import ModelError
from vocaltools.formats.io import atomic_path

if TYPE_CHECKING:
    from vocaltools.features.config import FeatureConfig
    from vocaltools.segments import ClipConfig

FORMAT = "vocaltools.checkpoint"
VERSION = 1
CHECKPOINT_NAME = "checkpoint.pt"


@dataclass(frozen=True)
class Checkpoint:
    """A trained model as plain data.

    ``labels[label_index]`` is the label string of output ``label_index``; ``inputs`` names the
    feature arrays stacked on the channel axis; ``feature_config`` is the ``FeatureConfig.to_dict()``
    the model was trained on (predict featurizes audio with it); ``clip_config`` is
    ``ClipConfig.to_dict()``; ``state_dict`` holds tensors only. :attr:`features` and
    :attr:`clip` are those two configs typed, parsed once, on first use (a config that cannot be
    parsed is a :class:`ModelError` then), and kept.
    """

    model: str
    model_options: Mapping[str, Any]
    n_classes: int
    task: str
    inputs: tuple[str, ...]
    labels: tuple[str, ...]
    target: str
    feature_config: Mapping[str, Any]
    clip_config: Mapping[str, Any]
    state_dict: Mapping[str, Any]
    summary: Mapping[str, Any] = field(default_factory=dict)
    software: str = f"vocaltools {__version__}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION, "software": self.software,
            "model": self.model, "model_options": _plain(self.model_options),
            "n_classes": int(self.n_classes), "task": self.task, "inputs": list(self.inputs),
            "labels": list(self.labels), "target": self.target,
            "feature_config": _plain(self.feature_config), "clip_config": _plain(self.clip_config),
            "summary": _plain(self.summary), "state_dict": dict(self.state_dict),
        }

    @functools.cached_property
    def features(self) -> FeatureConfig:
        """:attr:`feature_config` as a :class:`~vocaltools.features.config.FeatureConfig`."""
        from vocaltools.errors import ConfigError
        from vocaltools.features.config import FeatureConfig

        try:
            return FeatureConfig.from_dict(dict(self.feature_config))
        except ConfigError as error:
            raise ModelError(f"{self.model} checkpoint: its feature config cannot be read "
                             f"({error})") from error

    @functools.cached_property
    def clip(self) -> ClipConfig:
        """:attr:`clip_config` as a :class:`~vocaltools.segments.ClipConfig`."""
        from vocaltools.errors import ConfigError
        from vocaltools.segments import ClipConfig

        try:
            return ClipConfig.from_dict(dict(self.clip_config))
        except (ConfigError, TypeError, ValueError) as error:
            raise ModelError(f"{self.model} checkpoint: its clip config cannot be read "
                             f"({error})") from error


def _plain(value: Any) -> Any:
    """Plain containers only (tuples become lists, numpy scalars Python numbers)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def checkpoint_path(path: str | os.PathLike) -> Path:
    """``path`` itself when it is a file, ``path/checkpoint.pt`` when it is a model folder."""
    p = Path(path)
    return p / CHECKPOINT_NAME if p.is_dir() else p


def save_checkpoint(path: str | os.PathLike, checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` atomically; returns the file written."""
    import torch

    target = checkpoint_path(path)
    state = {k: v.detach().cpu().clone() for k, v in checkpoint.state_dict.items()}
    data = checkpoint.to_dict()
    data["state_dict"] = state
    with atomic_path(target) as tmp:
        torch.save(data, tmp)
    return target


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint file (or a model folder holding ``checkpoint.pt``) safely. A ``.json``
    file is a bundled model's card, read with its ``.safetensors`` weights
    (:mod:`vocaltools.bundled`)."""
    import pickle

    import torch

    target = checkpoint_path(path)
    if target.suffix == ".json":
        from vocaltools.bundled import read_bundled

        return read_bundled(target)
    if not target.is_file():
        raise ModelError(f"{target}: no such checkpoint; give a model folder written by "
                         "'vocaltools train' or its checkpoint.pt")
    try:
        data = torch.load(target, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        text = str(error)
        if "Unsupported global" not in text:  # no pickled code, but no valid checkpoint either
            detail = text.partition("WeightsUnpickler error:")[2] or text
            reason = next((line.strip() for line in detail.splitlines() if line.strip()), "?")
            raise ModelError(f"{target}: not a readable vocaltools checkpoint ({reason})") from error
        # torch's text suggests weights_only=False, i.e. running the file's code: never do that
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
        what = f" (it names {found.group(1)})" if found else ""
        raise ModelError(f"{target}: refused: the file holds pickled Python objects{what} beyond "
                         "the tensors and plain data of a vocaltools checkpoint, and loading it "
                         "could run code") from error
    except (RuntimeError, EOFError, OSError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ModelError(f"{target}: not a readable vocaltools checkpoint ({reason})") from error
    return checkpoint_from_dict(data, source=target)


def checkpoint_from_dict(data: Any, *, source: str | os.PathLike) -> Checkpoint:
    """The :class:`Checkpoint` of a plain dict as :meth:`Checkpoint.to_dict` writes it (with its
    ``state_dict``); ``source`` names the file in error messages."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelError(f"{source}: not a vocaltools checkpoint (no format {FORMAT!r})")
    if int(data.get("version", 0)) > VERSION:
        raise ModelError(f"{source}: checkpoint version {data['version']} is newer than this "
                         f"vocaltools reads (up to {VERSION}); upgrade vocaltools")
    try:
        return Checkpoint(
            model=data["model"], model_options=data.get("model_options") or {},
            n_classes=int(data["n_classes"]), task=data.get("task", "classify"),
            inputs=tuple(data["inputs"]), labels=tuple(data["labels"]), target=data["target"],
            feature_config=data["feature_config"], clip_config=data["clip_config"],
            state_dict=data["state_dict"], summary=data.get("summary") or {},
            software=data.get("software", "unknown"))
    except KeyError as error:
        raise ModelError(f"{source}: checkpoint lacks the key {error}") from error


def build_from_checkpoint(checkpoint: Checkpoint, *, where: str | os.PathLike | None = None):
    """The registry model of ``checkpoint`` with its weights loaded, in eval mode; weights of
    another architecture are a one-line :class:`ModelError` naming ``where`` (the file)."""
    from vocaltools.models.registry import build_model

    model = build_model(checkpoint.model, n_classes=checkpoint.n_classes,
                        **dict(checkpoint.model_options))
    expected = model.state_dict()
    given = dict(checkpoint.state_dict)
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    reshaped = [k for k in expected if k in given and tuple(getattr(given[k], "shape", ())) !=
                tuple(expected[k].shape)]
    if missing or unexpected or reshaped:
        counts = [f"{len(keys)} {what} (e.g. {keys[0]!r})" for keys, what in (
            (missing, "missing"), (unexpected, "unexpected"), (reshaped, "of another shape"))
            if keys]
        raise ModelError(f"{where or 'checkpoint'}: its weights are not those of a "
                         f"{checkpoint.model} with its recorded options ({', '.join(counts)} of "
                         f"{len(expected)} tensors); it was written for another architecture or "
                         "by another version of the model")
    try:
        model.load_state_dict(given)
    except RuntimeError as error:
        reason = (str(error).strip().splitlines() or ["?"])[0]
        raise ModelError(f"{where or 'checkpoint'}: its weights do not fit {checkpoint.model} "
                         f"({reason})") from error
    return model.eval()
