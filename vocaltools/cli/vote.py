"""`vocaltools vote`: clip predictions -> one answer per item."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def vote(
    input: Annotated[Path, typer.Argument(
        help="Prediction records (JSONL from 'vocaltools predict'); '-' reads stdin.",
        allow_dash=True)] = Path("-"),
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Where to write one vote record per item; '-' is stdout.",
        allow_dash=True)] = Path("-"),
    method: Annotated[str, typer.Option(
        help="s1: keep clips with max probability > threshold (all if none), most frequent label, "
             "ties to the lowest class index; majority: most frequent label over all clips; "
             "mean: highest mean probability.")] = "s1",
    threshold: Annotated[float, typer.Option(
        help="Confidence a clip needs to be kept by the s1 rule (strictly greater).")] = 0.5,
) -> None:
    """Vote clip predictions into one label per item (song)."""
    from vocaltools.formats.jsonl import read_jsonl, write_jsonl
    from vocaltools.inference.vote import vote_items

    records = read_jsonl(str(input), kind="prediction")
    votes = vote_items(records, method=method, threshold=threshold)
    write_jsonl(str(output), (v.to_record() for v in votes))
