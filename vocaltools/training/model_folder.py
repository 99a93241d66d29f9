"""What ``train -o MODEL_DIR`` may do with a folder that already holds a run.

``MODEL_DIR/run.json`` (``vocaltools.run/1``) records the identity of the run that owns the folder:
the objective, the training configuration without its logistics (device, precision, threads,
workers, compile, epochs per call), the seeds and a digest of the split. Before training:

- an empty or new folder, or one whose run failed before its first epoch, is claimed for this
  run (``new``);
- a folder of the same run that finished is left alone (``finished``: "already trained");
- a folder of the same run that did not finish resumes (``resume``);
- a folder of another run, or model files whose run is unknown, are refused with a
  :class:`~vocaltools.errors.ConfigError` that names the differences, unless ``overwrite``, which
  removes the files of the old run first (only those: nothing else in the folder is touched).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from vocaltools.errors import ConfigError
from vocaltools.formats.io import atomic_path, check_folder_target
from vocaltools.formats.jsonl import make_record, write_jsonl
from vocaltools.formats.schema import schema_tag

if TYPE_CHECKING:
    from vocaltools.checkpoint import Checkpoint

RUN_FILE = "run.json"
STATE_FILE = "train_state.pt"  # vocaltools.training.loop.STATE_NAME (not imported: torch)
#: the files a training run writes into its folder (and ``runs/`` with several seeds)
MODEL_FILES = ("checkpoint.pt", "labels.txt", "split.jsonl", "history.jsonl", "training-curve.png",
               "summary.json", STATE_FILE, RUN_FILE)
#: files that hold a run's progress; without any of them (a run that failed before its first
#: epoch) the folder is claimed anew
PROGRESS_FILES = ("checkpoint.pt", "history.jsonl", "summary.json", STATE_FILE, "runs/")


def run_identity(*, objective: str, config: Mapping[str, Any], seeds: Sequence[int],
                 split: Mapping[str, str], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What must match for a folder's run to be this run. ``config`` is
    :meth:`TrainConfig.to_dict` (logistics already left out); device and precision are left out
    here (a run may resume on another device); ``extra`` holds objective-specific settings."""
    settings = {k: v for k, v in dict(config).items() if k not in ("device", "precision")}
    digest = hashlib.sha256(json.dumps(sorted(split.items())).encode()).hexdigest()[:16]
    identity = {"objective": objective, "config": settings, "seeds": list(seeds),
                "split": {"n_items": len(split), "sha256": digest}, **dict(extra or {})}
    return json.loads(json.dumps(identity, default=str))  # as it reads back from JSON


def _differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    found = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping) and key != "split":
            found.extend(_differences(a, b, prefix=f"{prefix}{key}."))
        elif a != b:
            shown = (lambda v: "another split" if key == "split" else json.dumps(v))
            found.append(f"{prefix}{key} {shown(a)} -> {shown(b)}" if key != "split"
                         else "the split differs")
    return found


def _present(model_dir: Path) -> list[str]:
    names = [name for name in MODEL_FILES if (model_dir / name).exists()]
    if (model_dir / "runs").is_dir():
        names.append("runs/")
    return names


def is_finished(model_dir: str | os.PathLike) -> bool:
    """The folder holds a finished model: checkpoint and summary, and no resumable state."""
    model_dir = Path(model_dir)
    return ((model_dir / "checkpoint.pt").is_file() and (model_dir / "summary.json").is_file()
            and not (model_dir / STATE_FILE).exists())


def prepare_model_folder(model_dir: str | os.PathLike, identity: Mapping[str, Any], *,
                         overwrite: bool = False) -> str:
    """``"new"``, ``"resume"`` or ``"finished"`` for a run of ``identity`` in ``model_dir`` (see
    the module docstring); a new run's ``run.json`` is written before it starts."""
    model_dir = check_folder_target(model_dir, what="a model folder")
    present = _present(model_dir) if model_dir.is_dir() else []
    if present and not set(present) & set(PROGRESS_FILES):
        overwrite = True  # nothing trained yet: a failed start leaves nothing to keep
    if present and overwrite:
        for name in present:
            path = model_dir / name.rstrip("/")
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        present = []
    if present:
        saved = None
        if (model_dir / RUN_FILE).is_file():
            try:
                saved = json.loads((model_dir / RUN_FILE).read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                saved = None
        if not isinstance(saved, dict) or "identity" not in saved:
            raise ConfigError(f"{model_dir}: holds model files ({', '.join(present)}) of a run "
                              "whose settings are not recorded; --overwrite to replace them, or "
                              "give another -o folder")
        differences = _differences(saved["identity"], identity)
        if differences:
            raise ConfigError(f"{model_dir}: holds a run of other settings ("
                              f"{'; '.join(differences[:4])}"
                              f"{'; ...' if len(differences) > 4 else ''}); --overwrite to "
                              "replace it, or give another -o folder")
        return "finished" if is_finished(model_dir) else "resume"
    model_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(model_dir / RUN_FILE) as tmp:
        tmp.write_text(json.dumps({"schema": schema_tag("run"), "identity": dict(identity)},
                                  indent=2) + "\n", encoding="utf-8")
    return "new"


@dataclass(frozen=True)
class EpochRecord:
    """One line of ``history.jsonl`` (``vocaltools.history/1``); the contrastive objective has no
    accuracy or F1 (``None``)."""

    epoch: int
    stage: str
    train_loss: float
    val_loss: float | None
    val_accuracy: float | None
    val_f1: float | None
    lr: float
    seconds: float
    improved: bool

    def to_record(self) -> dict[str, Any]:
        return make_record("history", **self.__dict__)


def write_history(model_dir: str | os.PathLike, history: Sequence[EpochRecord]) -> None:
    """``MODEL_DIR/history.jsonl``: one record per epoch so far."""
    write_jsonl(Path(model_dir) / "history.jsonl", (r.to_record() for r in history))


def write_summary(model_dir: str | os.PathLike, summary: Mapping[str, Any]) -> None:
    """``MODEL_DIR/summary.json`` (atomic)."""
    with atomic_path(Path(model_dir) / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")


def write_model_folder(model_dir: str | os.PathLike, *, checkpoint: "Checkpoint",
                       history: Sequence[EpochRecord], title: str,
                       selected_epoch: int | None) -> None:
    """The files of a finished run: ``checkpoint.pt``, ``labels.txt`` (the checkpoint's labels),
    ``history.jsonl``, ``training-curve.png`` and, last, ``summary.json`` (the checkpoint's
    summary): a folder with a summary is whole. ``run.json`` is written before the run starts
    (:func:`prepare_model_folder`) and ``split.jsonl`` by the run's set-up."""
    from vocaltools.checkpoint import save_checkpoint

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model_dir, checkpoint)
    with atomic_path(model_dir / "labels.txt") as tmp:
        tmp.write_text("".join(f"{label}\n" for label in checkpoint.labels), encoding="utf-8")
    write_history(model_dir, history)
    plot_history(history, model_dir / "training-curve.png", title=title,
                 selected_epoch=selected_epoch)
    write_summary(model_dir, checkpoint.summary)


def plot_history(history: Sequence[EpochRecord], path: Path, *, title: str,
                 selected_epoch: int | None = None) -> None:
    """Training and validation loss (left) and validation accuracy / F1 (right) per epoch; a dashed
    line marks the selected epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    epochs = [r.epoch for r in history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [r.train_loss for r in history], label="train loss")
    if any(r.val_loss is not None for r in history):
        left.plot(epochs, [r.val_loss if r.val_loss is not None else np.nan for r in history],
                  label="validation loss")
    if any(r.val_accuracy is not None for r in history):  # the contrastive objective has none
        right.plot(epochs, [r.val_accuracy if r.val_accuracy is not None else np.nan for r in history],
                   label="validation accuracy")
        right.plot(epochs, [r.val_f1 if r.val_f1 is not None else np.nan for r in history],
                   label="validation weighted F1")
    if selected_epoch is not None:
        for axis in (left, right):
            axis.axvline(selected_epoch, color="grey", linestyle="--", linewidth=1,
                         label="selected" if axis is left else None)
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.legend()
    right.set_xlabel("epoch")
    right.set_ylim(0, 1)
    if right.get_legend_handles_labels()[0]:
        right.legend()
    else:
        right.set_visible(False)
    figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=80)
    plt.close(figure)
