"""`vocaltools evaluate`: predictions or votes with their true labels -> metrics."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer


def evaluate(
    inputs: Annotated[list[Path], typer.Argument(
        help="Prediction or vote records (JSONL), one file per run; '-' reads stdin.",
        allow_dash=True)] = None,  # type: ignore[assignment]
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Write the report JSON here ('-' is stdout).",
        allow_dash=True)] = None,
    confusion: Annotated[Optional[Path], typer.Option(
        help="Write the item-level confusion matrix of the first run as PNG.")] = None,
    vote_method: Annotated[str, typer.Option(
        help="How clip predictions are voted into items: s1, majority or mean.")] = "s1",
    folds: Annotated[bool, typer.Option(
        "--folds", help="The inputs are the folds of one cross-validation (fold 0 first): report "
                        "each fold, their mean and std, and all folds' predictions scored "
                        "together ('pooled').")] = False,
) -> None:
    """Score predictions or votes against their true labels (clip and item level).

    Several inputs are aggregated as mean, std and best over runs; with --folds as the folds of one
    cross-validation (mean and std over folds, plus the pooled scores)."""
    import json

    from vocaltools.cli.render import print_report
    from vocaltools.evaluation.report import evaluate_records, summarize_runs
    from vocaltools.formats.jsonl import read_jsonl
    from vocaltools.formats.io import open_text_write

    sources = [str(p) for p in (inputs or [Path("-")])]
    records = [read_jsonl(source, kind=("prediction", "vote")) for source in sources]
    reports = [evaluate_records(run, source=source, vote_method=vote_method)
               for run, source in zip(records, sources)]
    pooled = None
    if folds:
        from vocaltools.evaluation.report import pool_folds, summarize_folds

        pooled = pool_folds(records, sources=sources, vote_method=vote_method)
        summary = summarize_folds(reports, pooled)
    else:
        summary = summarize_runs(reports)
    if confusion is not None:
        from vocaltools.evaluation.plots import plot_confusion

        item = reports[0].item
        plot_confusion(item.confusion, item.labels, confusion, title="item level")
    text = json.dumps(summary, indent=2)
    if output is not None:
        with open_text_write(str(output)) as handle:
            handle.write(text + "\n")
    if sys.stdout.isatty() or (output is not None and str(output) != "-"):
        print_report(reports, summary, pooled=pooled)
    elif output is None:
        print(text)
