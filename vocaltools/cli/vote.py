"""`vocaltools vote`: clip predictions -> one answer per item."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def vote(
    input: Annotated[Path, typer.Argument(
        help="Prediction records (JSONL from 'vocaltools predict'); '-' reads stdin.",
        allow_dash=True)] = Path("-"),
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", help="Where to write one vote record per item ('-' = stdout). Without "
                               "it, a terminal gets one line per item and a pipe gets JSONL.",
        show_default=False)] = None,
    method: Annotated[str, typer.Option(
        help="s1: keep clips with max probability > threshold (all if none), most frequent label, "
             "ties to the lowest class index; majority: most frequent label over all clips; "
             "mean: highest mean probability.")] = "s1",
    threshold: Annotated[float, typer.Option(
        help="Confidence a clip needs to be kept by the s1 rule (strictly greater).")] = 0.5,
) -> None:
    """Vote clip predictions into one label per item (song)."""
    from vocaltools.cli.common import write_records
    from vocaltools.formats.jsonl import read_jsonl
    from vocaltools.inference.vote import vote_items

    records = read_jsonl(str(input), kind="prediction")
    votes = vote_items(records, method=method, threshold=threshold)

    def human(record) -> str:
        truth = "" if record["true_label"] is None else f"; true {record['true_label']}"
        return (f"{record['item_id']}: {record['label']} (confidence {record['confidence']:.2f}, "
                f"{record['method']} vote of {record['n_clips']} clip"
                f"{'s' if record['n_clips'] != 1 else ''}{truth})")

    write_records(output, (v.to_record() for v in votes), human=human)
