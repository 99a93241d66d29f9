"""The user's registry of trained models: names for model folders, and a default model.

Layout (``$VOCALTOOLS_HOME``, default ``~/.local/share/vocaltools``)::

    trained/<name>.json   {"name", "path" (absolute model folder), "model", "target", "n_classes",
                           "labels", "registered"}
    trained/default       the default model's name (one line)

Entries point at model folders; nothing is copied. ``vocaltools train`` registers its output.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vocaltools.errors import InputError, ModelError, did_you_mean
from vocaltools.formats.io import atomic_path

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def home() -> Path:
    """``$VOCALTOOLS_HOME`` or ``~/.local/share/vocaltools``."""
    value = os.environ.get("VOCALTOOLS_HOME")
    return Path(value) if value else Path.home() / ".local" / "share" / "vocaltools"


def registry_dir() -> Path:
    return home() / "trained"


@dataclass(frozen=True)
class TrainedModel:
    """One registry entry."""

    name: str
    path: str
    model: str
    target: str
    n_classes: int
    labels: tuple[str, ...]
    registered: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        return data


def check_name(name: str) -> None:
    """A registry name: letters, digits, ".", "_" and "-"."""
    if not NAME_PATTERN.match(name):
        raise InputError(f"invalid model name {name!r}: use letters, digits, '.', '_' and '-', "
                         "starting with a letter or digit")


def register(*, name: str, model_dir: str | os.PathLike) -> TrainedModel:
    """Register the model folder ``model_dir`` (holding ``checkpoint.pt``) as ``name``; an entry of
    the same name is replaced."""
    from vocaltools.checkpoint import checkpoint_path, load_checkpoint

    check_name(name)
    path = Path(model_dir).resolve()
    checkpoint = load_checkpoint(checkpoint_path(path))
    entry = TrainedModel(name=name, path=str(path), model=checkpoint.model, target=checkpoint.target,
                         n_classes=checkpoint.n_classes, labels=tuple(checkpoint.labels),
                         registered=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    with atomic_path(registry_dir() / f"{name}.json") as tmp:
        tmp.write_text(json.dumps(entry.to_dict(), indent=2) + "\n", encoding="utf-8")
    return entry


def list_trained() -> list[TrainedModel]:
    """Every registered model, sorted by name."""
    folder = registry_dir()
    if not folder.is_dir():
        return []
    entries = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            data["labels"] = tuple(data.get("labels", ()))
            entries.append(TrainedModel(**data))
        except (json.JSONDecodeError, TypeError) as error:
            raise ModelError(f"{path}: damaged registry entry ({error}); delete it and register "
                             "the model again") from error
    return entries


def get_trained(name: str) -> TrainedModel:
    """The entry called ``name``; :class:`ModelError` listing the registered names otherwise."""
    for entry in list_trained():
        if entry.name == name:
            return entry
    names = [e.name for e in list_trained()]
    known = ", ".join(names) if names else "none yet (train one with 'vocaltools train')"
    raise ModelError(f"no trained model called {name!r}; registered models: {known}; or give "
                     f"the path of a model folder{did_you_mean(name, names)}")


def set_default(name: str) -> TrainedModel:
    """Make ``name`` the model that ``predict`` uses without ``--model``."""
    entry = get_trained(name)
    with atomic_path(registry_dir() / "default") as tmp:
        tmp.write_text(name + "\n", encoding="utf-8")
    return entry


def default_name() -> str | None:
    path = registry_dir() / "default"
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8").strip() or None


def resolve_model(name_or_path: str | os.PathLike | None) -> Path:
    """The checkpoint file for a model folder or checkpoint file, else a registered name, else a
    bundled model's name (its ``NAME.json``, which ``load_checkpoint`` reads); ``None`` means the
    default model."""
    from vocaltools.checkpoint import checkpoint_path

    if name_or_path is None:
        name = default_name()
        if name is None:
            raise ModelError("no model given and no default model set; pass --model NAME_OR_PATH "
                             "or set one with 'vocaltools models --set-default NAME'")
        name_or_path = name
    text = str(name_or_path)
    path = Path(text)
    if path.exists():
        target = checkpoint_path(path)
        if not target.is_file():
            raise ModelError(f"{path}: no checkpoint.pt in this folder; give a folder written by "
                             "'vocaltools train'")
        return target
    if NAME_PATTERN.match(text):
        entry = next((e for e in list_trained() if e.name == text), None)
        if entry is not None:
            target = checkpoint_path(Path(entry.path))
            if not target.is_file():
                raise ModelError(f"trained model {text!r} points at {entry.path}, which holds no "
                                 "checkpoint any more; train it again or register another folder")
            return target
        from vocaltools.bundled import bundled_names, bundled_path

        bundled = bundled_path(text)
        if bundled is not None:
            return bundled
        names = [e.name for e in list_trained()] + bundled_names()
        raise ModelError(f"no model called {text!r} (registered models: "
                         f"{', '.join(e.name for e in list_trained()) or 'none'}; bundled models: "
                         f"{', '.join(bundled_names()) or 'none'}; or give the path of a model "
                         f"folder){did_you_mean(text, names)}")
    raise ModelError(f"{text}: no such model folder or checkpoint file")
