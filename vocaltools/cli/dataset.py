"""`vocaltools dataset`: read dataset layouts and write manifests and splits."""

from __future__ import annotations

import typer

from vocaltools.cli.common import not_available

app = typer.Typer(help="Read the seed papers' dataset layouts; write item lists and splits.",
                  no_args_is_help=True)


@app.command("scan")
def scan() -> None:
    """Not available yet."""
    not_available("dataset scan")
