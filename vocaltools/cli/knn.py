"""`vocaltools knn`: FAISS index of embeddings."""

from __future__ import annotations

import typer

from vocaltools.cli.common import not_available

app = typer.Typer(help="Build, query and evaluate a FAISS index of embeddings.", no_args_is_help=True)


@app.command("build")
def build() -> None:
    """Not available yet."""
    not_available("knn build")
