"""Human-readable tables (rich) for the commands; imported lazily by them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence


def print_report(reports: Sequence[Any], summary: dict[str, Any], pooled: Any = None) -> None:
    """A table of the scalar metrics per run (and mean/std/best over runs; with ``pooled``, the
    folds of a cross-validation and their pooled scores) on the terminal; on stderr when stdout is
    a pipe or file."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    stream = sys.stdout if sys.stdout.isatty() else sys.stderr
    # a pipe or log file gets the whole table rather than 80 truncated columns
    console = Console(file=stream, width=None if stream.isatty() else 120)
    metrics = ["n", "accuracy", "f1_weighted", "f1_macro", "balanced_accuracy", "precision_macro",
               "recall_macro", "top2", "top3"]
    headers = ["n", "acc", "F1w", "F1m", "bacc", "Pm", "Rm", "top2", "top3"]
    # runs are numbered in the first column and named in the caption: eleven columns of numbers
    # that never wrap fit an 80-column terminal, whatever the length of the file names
    runs = "; ".join(f"{i} = {Path(r.source).name}" for i, r in enumerate(reports, start=1))
    table = Table(title="vocaltools evaluate", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
                  caption=(f"runs: {runs}. " if len(reports) > 1 else f"{runs[4:]}: ")
                  + "acc accuracy, F1w/F1m weighted/macro F1, bacc balanced accuracy, Pm/Rm "
                    "macro precision/recall")
    several = len(reports) > 1 or pooled is not None
    if several:
        table.add_column("run", no_wrap=True)
    table.add_column("level", no_wrap=True)
    for name in headers:
        table.add_column(name, justify="right", no_wrap=True)

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        return str(value) if isinstance(value, int) else f"{value:.3f}"

    for number, report in enumerate(reports, start=1):
        name = f"fold {number - 1}" if pooled is not None else str(number)
        for level, scores in (("clip", report.clip), ("item", report.item)):
            if scores is not None:
                row = scores.summary()
                table.add_row(*([name] if several else []), level,
                              *(cell(row[m]) for m in metrics))
    if len(reports) > 1:
        for level in ("clip", "item"):
            agg = summary["aggregate"][level]
            if agg:
                for stat in ("mean", "std", "best"):
                    table.add_row(stat, level, "", *(cell(agg[m][stat]) if m in agg else "-"
                                                     for m in metrics[1:]))
    if pooled is not None:
        for level, scores in (("clip", pooled.clip), ("item", pooled.item)):
            if scores is not None:
                row = scores.summary()
                table.add_row("pooled", level, *(cell(row[m]) for m in metrics))
    console.print(table)
