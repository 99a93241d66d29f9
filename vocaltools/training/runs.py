"""Several seeded runs of one training setting, reported as mean, std and best.

With one seed the run writes MODEL_DIR directly. With several, run ``s`` writes
``MODEL_DIR/runs/seed-<s>/`` and MODEL_DIR receives the files of the run selected on validation
(never on test) plus a ``summary.json`` with every run's metrics and their mean / std / best.
Under torchrun only rank 0 reads and writes MODEL_DIR; the other ranks follow its decisions.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from vocaltools.formats.io import atomic_path
from vocaltools.formats.store import FeatureStore
from vocaltools.training import distributed
from vocaltools.training.config import TrainConfig
from vocaltools.training.loop import Progress, TrainResult, train_model
from vocaltools.training.model_folder import write_summary

# S1 repeats every experiment with seeds 0, 21 and 42
DEFAULT_SEED_STEP = 21
RUN_FILES = ("checkpoint.pt", "labels.txt", "history.jsonl", "training-curve.png")
AGGREGATED = ("accuracy", "f1_weighted", "f1_macro", "balanced_accuracy", "top2_accuracy",
              "top3_accuracy", "loss")


def run_seeds(*, seed: int, runs: int) -> list[int]:
    """``runs`` seeds starting at ``seed`` in steps of 21 (0, 21, 42 for S1's three runs)."""
    return [seed + DEFAULT_SEED_STEP * i for i in range(runs)]


def aggregate_metrics(per_run: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """``{metric: {mean, std, best}}`` over runs (best = lowest for ``loss``, else highest)."""
    result: dict[str, dict[str, float]] = {}
    for metric in AGGREGATED:
        values = [float(m[metric]) for m in per_run if m.get(metric) is not None]
        if not values:
            continue
        best = min(values) if metric == "loss" else max(values)
        result[metric] = {"mean": float(np.mean(values)), "std": float(np.std(values)),
                          "best": best, "n_runs": len(values)}
    return result


def _validation_score(summary: Mapping[str, Any]) -> float:
    validation = summary.get("validation") or {}
    if summary.get("selection") == "val_loss" and "loss" in validation:
        return -validation["loss"]
    if summary.get("selection") == "val_accuracy" and "accuracy" in validation:
        return validation["accuracy"]
    if "f1_weighted" in validation:
        return validation["f1_weighted"]
    return 0.0


def _finished_summary(run_dir: Path, config: TrainConfig) -> dict[str, Any] | None:
    """The summary of a finished run of exactly ``config`` in ``run_dir``, else None."""
    from vocaltools.training.loop import STATE_NAME

    path = run_dir / "summary.json"
    if not path.is_file() or (run_dir / STATE_NAME).exists() or not (run_dir / "checkpoint.pt").is_file():
        return None
    summary = json.loads(path.read_text(encoding="utf-8"))
    same = json.dumps(summary.get("config"), sort_keys=True) == \
        json.dumps(json.loads(json.dumps(config.to_dict(), default=str)), sort_keys=True)
    return summary if same else None


def train_runs(*, store: FeatureStore, config: TrainConfig, split: Mapping[str, str],
               model_dir: str | Path, seeds: Sequence[int],
               progress: Callable[[int, Progress], None] | None = None,
               name: str | None = None) -> TrainResult:
    """Train once per seed; ``progress(seed, event)`` reports each run's progress."""
    model_dir = Path(model_dir)
    if len(seeds) == 1:
        report = (lambda event: progress(seeds[0], event)) if progress else None
        return train_model(store=store, config=replace(config, seed=seeds[0]), split=split,
                           model_dir=model_dir, progress=report, name=name)
    context = distributed.current()
    summaries: list[dict[str, Any]] = []
    for seed in seeds:
        run_dir = model_dir / "runs" / f"seed-{seed}"
        finished = _finished_summary(run_dir, replace(config, seed=seed)) if context.is_main else None
        finished = distributed.broadcast_object(finished, context=context)
        if finished is not None:  # a resumed multi-run call keeps the runs already done
            summaries.append({"seed": seed, **finished})
            continue
        report = (lambda event, s=seed: progress(s, event)) if progress else None
        result = train_model(store=store, config=replace(config, seed=seed), split=split,
                             model_dir=run_dir, progress=report, name=name)
        if not result.finished:
            return TrainResult(model_dir, False, {"seed": seed, **result.summary})
        summaries.append({"seed": seed, **result.summary})
    chosen = max(summaries, key=_validation_score)
    chosen_dir = model_dir / "runs" / f"seed-{chosen['seed']}"
    for file_name in RUN_FILES + ("split.jsonl",):
        source = chosen_dir / file_name
        if context.is_main and source.is_file():
            with atomic_path(model_dir / file_name) as tmp:
                shutil.copyfile(source, tmp)
    summary = {
        **{k: v for k, v in chosen.items() if k not in ("validation", "test")},
        "runs": [{"seed": s["seed"], "best_epoch": s["best_epoch"], "validation": s["validation"],
                  "test": s["test"]} for s in summaries],
        "selected_seed": chosen["seed"],
        "selected_by": f"validation ({chosen.get('selection')})",
        "validation": chosen["validation"], "test": chosen["test"],
        "aggregate": {"validation": aggregate_metrics([s["validation"] for s in summaries]),
                      "test": aggregate_metrics([s["test"] for s in summaries])},
    }
    if context.is_main:
        write_summary(model_dir, summary)
    return TrainResult(model_dir, True, summary)
