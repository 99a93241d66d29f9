"""Bundled models: trained models that ship inside the package and are used by name
(``vocaltools predict cello.wav --model instruments``) with no other step.

Each bundled model is two files in this folder::

    NAME.safetensors   the state dict (tensors only, plain data)
    NAME.json          {"schema": "vocaltools.bundled/1", "name", "checkpoint" (the checkpoint's
                        metadata as Checkpoint.to_dict() writes it, without the state dict),
                        "card" (ModelCard), "weights" {"file", "sha256", "n_bytes", "dtype"}}

:func:`load_bundled` returns the same :class:`~vocaltools.checkpoint.Checkpoint` as
:func:`~vocaltools.checkpoint.load_checkpoint`; :func:`export_bundled` writes the two files from a
model folder written by ``vocaltools train``. Every bundled model's card names the script that
retrains it from data that may be redistributed, and the figures it reached.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from vocaltools.errors import InputError, ModelError, did_you_mean

SCHEMA = "vocaltools.bundled/1"
SCHEMA_VERSION = 1
BUNDLED_DIR = Path(__file__).resolve().parent
DTYPES = ("float32", "float16")
CARD_FIELDS = ("description", "training_data", "licence", "attribution", "figures", "script")


@dataclass(frozen=True)
class ModelCard:
    """What a bundled model is, what it was trained on and what it reached.

    ``figures`` maps a figure's name (with its evaluation set, e.g.
    ``"fsd-instruments 7 S4 classes: file accuracy"``) to its value; ``script`` is the command
    that retrains the model from scratch."""

    description: str
    training_data: str
    licence: str
    attribution: str
    figures: Mapping[str, Any] = field(default_factory=dict)
    script: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["figures"] = dict(self.figures)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "card") -> "ModelCard":
        missing = [name for name in CARD_FIELDS if name not in data]
        if missing:
            raise InputError(f"{source}: the model card lacks {', '.join(missing)}; a card has "
                             f"{', '.join(CARD_FIELDS)}")
        unknown = sorted(set(data) - set(CARD_FIELDS))
        if unknown:
            raise InputError(f"{source}: unknown model card fields {', '.join(unknown)}; a card "
                             f"has {', '.join(CARD_FIELDS)}")
        if not isinstance(data["figures"], Mapping):
            raise InputError(f"{source}: the card's figures must be a mapping of name to value")
        return cls(**{name: data[name] for name in CARD_FIELDS})


@dataclass(frozen=True)
class BundledModel:
    """One bundled model as listed (read from its JSON only; the weights are not loaded)."""

    name: str
    model: str
    task: str
    target: str
    labels: tuple[str, ...]
    card: ModelCard
    path: str  # NAME.json
    weights: str  # NAME.safetensors
    n_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "task": self.task, "target": self.target,
                "n_classes": len(self.labels), "labels": list(self.labels),
                **self.card.to_dict(), "path": self.path, "weights": self.weights,
                "n_bytes": self.n_bytes}


def _folder(folder: str | os.PathLike | None) -> Path:
    return BUNDLED_DIR if folder is None else Path(folder)


def _read_card_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ModelError(f"{path}: not a readable bundled model ({error})") from error
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith("vocaltools.bundled/"):
        raise ModelError(f"{path}: not a bundled model (no schema {SCHEMA!r})")
    try:
        version = int(str(data["schema"]).rsplit("/", 1)[1])
    except ValueError as error:
        raise ModelError(f"{path}: unreadable schema {data['schema']!r}") from error
    if version > SCHEMA_VERSION:
        raise ModelError(f"{path}: bundled model version {version} is newer than this vocaltools "
                         f"reads (up to {SCHEMA_VERSION}); upgrade vocaltools")
    for key in ("name", "checkpoint", "card", "weights"):
        if key not in data:
            raise ModelError(f"{path}: the bundled model lacks the key {key!r}")
    return data


def _entry(path: Path, data: Mapping[str, Any]) -> BundledModel:
    checkpoint = data["checkpoint"]
    weights = path.parent / data["weights"]["file"]
    try:
        card = ModelCard.from_dict(data["card"], source=str(path))
    except InputError as error:
        raise ModelError(str(error)) from error
    return BundledModel(name=data["name"], model=checkpoint["model"],
                        task=checkpoint.get("task", "classify"), target=checkpoint["target"],
                        labels=tuple(checkpoint["labels"]), card=card, path=str(path),
                        weights=str(weights), n_bytes=int(data["weights"].get("n_bytes", 0)))


def list_bundled(*, folder: str | os.PathLike | None = None) -> list[BundledModel]:
    """Every bundled model (of the package, or of ``folder``), sorted by name."""
    root = _folder(folder)
    if not root.is_dir():
        return []
    return [_entry(path, _read_card_file(path)) for path in sorted(root.glob("*.json"))]


def bundled_names(*, folder: str | os.PathLike | None = None) -> list[str]:
    return [path.stem for path in sorted(_folder(folder).glob("*.json"))]


def bundled_path(name: str, *, folder: str | os.PathLike | None = None) -> Path | None:
    """The ``NAME.json`` of bundled model ``name``, or ``None`` when there is none."""
    path = _folder(folder) / f"{name}.json"
    return path if path.is_file() else None


def get_bundled(name: str, *, folder: str | os.PathLike | None = None) -> BundledModel:
    """The listing of bundled model ``name``; :class:`ModelError` naming the bundled models
    otherwise."""
    path = bundled_path(name, folder=folder)
    if path is None:
        names = bundled_names(folder=folder)
        raise ModelError(f"no bundled model called {name!r} (bundled models: "
                         f"{', '.join(names) or 'none'}){did_you_mean(name, names)}")
    return _entry(path, _read_card_file(path))


def load_bundled(name: str, *, folder: str | os.PathLike | None = None):
    """The :class:`~vocaltools.checkpoint.Checkpoint` of bundled model ``name``."""
    get_bundled(name, folder=folder)  # a clear error for unknown names
    return read_bundled(_folder(folder) / f"{name}.json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_bundled(path: str | os.PathLike):
    """The :class:`~vocaltools.checkpoint.Checkpoint` of the bundled model whose JSON is
    ``path``: its weights are checked against the recorded SHA-256 and floating tensors are
    returned as float32."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from vocaltools.checkpoint import checkpoint_from_dict

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such bundled model")
    data = _read_card_file(path)
    weights = path.parent / data["weights"]["file"]
    if not weights.is_file():
        raise ModelError(f"{path}: its weights {weights.name} are missing; reinstall vocaltools "
                         "or re-export the model")
    expected = data["weights"].get("sha256")
    if expected and _sha256(weights) != expected:
        raise ModelError(f"{weights}: the weights do not match the SHA-256 recorded in "
                         f"{path.name}; the file is damaged or belongs to another export")
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError) as error:
        raise ModelError(f"{weights}: not readable safetensors ({error})") from error
    state = {key: value.to(torch.float32) if value.is_floating_point() else value
             for key, value in state.items()}
    return checkpoint_from_dict({**data["checkpoint"], "state_dict": state}, source=path)


def export_bundled(model_dir: str | os.PathLike, name: str, card: ModelCard | Mapping[str, Any], *,
                   folder: str | os.PathLike | None = None, dtype: str = "float32") -> BundledModel:
    """Write ``NAME.safetensors`` and ``NAME.json`` (into the package's bundled folder, or
    ``folder``) from the model folder or checkpoint file ``model_dir``; returns the listing.

    ``dtype="float16"`` halves the file by storing floating tensors at half precision (they are
    read back as float32)."""
    import torch
    from safetensors.torch import save_file

    from vocaltools.checkpoint import load_checkpoint
    from vocaltools.formats.io import atomic_path
    from vocaltools.trained import check_name

    check_name(name)
    if dtype not in DTYPES:
        raise InputError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    if not isinstance(card, ModelCard):
        card = ModelCard.from_dict(card)
    checkpoint = load_checkpoint(model_dir)
    cast = torch.float16 if dtype == "float16" else torch.float32
    # safetensors refuses tensors that share memory: every tensor is copied on its own
    state = {key: (value.detach().to(cast) if value.is_floating_point() else value.detach())
             .contiguous().clone() for key, value in checkpoint.state_dict.items()}
    root = _folder(folder)
    weights = root / f"{name}.safetensors"
    with atomic_path(weights) as tmp:
        save_file(state, str(tmp), metadata={"format": SCHEMA, "name": name})
        os.chmod(tmp, 0o644)  # safetensors writes a new file with the temporary file's 0600
    meta = checkpoint.to_dict()
    del meta["state_dict"]
    data = {"schema": SCHEMA, "name": name, "checkpoint": meta, "card": card.to_dict(),
            "weights": {"file": weights.name, "sha256": _sha256(weights),
                        "n_bytes": weights.stat().st_size, "dtype": dtype}}
    path = root / f"{name}.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return _entry(path, data)
