"""`vocaltools merge`: the outputs of sharded runs (feature stores, embeddings files) -> one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def merge(
    sources: Annotated[list[Path], typer.Argument(
        help="Outputs of 'featurize --shard K/N' (feature stores) or of 'embed --shard K/N' "
             "(embeddings .npz files), all of one kind.")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Destination: a store folder (new, or an existing store with the "
                               "same feature settings), or an embeddings .npz file ('-' = "
                               "stdout).")],
    kind: Annotated[str, typer.Option(
        "--kind", help="What the sources are: auto (a folder with store.json is a store, an NPZ "
                       "with an embeddings meta an embeddings file), store or embeddings.")] = "auto",
    link: Annotated[bool, typer.Option(
        "--link/--copy", help="Stores: hard-link the NPZ files into the destination (copying "
                              "when a link is impossible), or always copy them.")] = True,
) -> None:
    """Merge the outputs of sharded runs into one store or embeddings file.

    Stores: feature settings must be equal; an item found in several stores must have identical
    features. Embeddings: the metas (model, layer, features, clips) must be equal apart from the
    shard, item ids must be unique; items are written sorted by item id. Separate --shard runs
    share one --out-dir and need no merge; JSONL outputs of predict --shard are joined with cat.
    """
    from vocaltools.merging import merge_outputs

    summary = merge_outputs(sources=sources, dest=output, kind=kind, link=link)
    if summary.kind == "store":
        print(f"merged {summary.n_items} items from {summary.n_sources} stores into {output}"
              f" ({summary.n_duplicates} duplicates kept once, {summary.n_incomplete} unfinished "
              "items skipped)", file=sys.stderr)
    else:
        print(f"merged {summary.n_items} items from {summary.n_sources} embeddings files into "
              f"{output}", file=sys.stderr)
    if summary.missing_shards:
        print(f"warning: no source holds shard {', '.join(summary.missing_shards)}; the merge "
              "is partial", file=sys.stderr)
