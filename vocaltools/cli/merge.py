"""`vocaltools merge`: feature stores of sharded runs -> one store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def merge(
    sources: Annotated[list[Path], typer.Argument(
        help="Feature stores to merge (e.g. one per 'featurize --shard K/N' run).")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Destination store: a new folder, or an existing store with the "
                               "same feature settings.")],
    link: Annotated[bool, typer.Option(
        "--link/--copy", help="Hard-link the NPZ files into the destination (copying when a link "
                              "is impossible), or always copy them.")] = True,
) -> None:
    """Merge the feature stores of sharded runs into one store.

    Feature settings must be equal; an item found in several stores must have identical features.
    JSONL outputs of sharded predict/embed runs need no merge command: 'cat' them.
    """
    from vocaltools.sharding import merge_stores

    summary = merge_stores(sources=sources, dest=output, link=link)
    typer.echo(f"merged {summary.n_items} items from {summary.n_sources} stores into {output}"
               f" ({summary.n_duplicates} duplicates kept once, {summary.n_incomplete} unfinished "
               "items skipped)", err=True)
