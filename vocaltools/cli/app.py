"""The Typer application and its one error boundary.

Each command lives in its own thin module (``vocaltools/cli/<command>.py``) that turns flags into a
library call; heavy libraries are imported inside the command functions only.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Optional

import typer

from vocaltools import __version__
from vocaltools.cli import (dataset, embed, evaluate, featurize, knn, merge, models, predict,
                            separate, synth, train, vote)

app = typer.Typer(
    name="vocaltools",
    help="Identify singers, embed singing voices, classify singing techniques and recognise "
         "instruments from audio files. Commands read and write NPZ and JSONL files, so they pipe "
         "together ('-' is stdin/stdout).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain Click help: rich formatting costs ~0.2 s of start-up
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vocaltools {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
) -> None:
    """vocaltools: singing-voice and instrument recognition from the command line."""


app.command("featurize")(featurize.featurize)
app.command("separate")(separate.separate)
app.command("train")(train.train)
app.command("predict")(predict.predict)
app.command("vote")(vote.vote)
app.command("evaluate")(evaluate.evaluate)
app.command("embed")(embed.embed)
app.add_typer(knn.app, name="knn")
app.command("models")(models.models)
app.add_typer(dataset.app, name="dataset")
app.add_typer(synth.app, name="synth")
app.command("merge")(merge.merge)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: expected errors print one line on stderr and exit 1.

    Expected are every :class:`~vocaltools.errors.VocaltoolsError` and every operating-system error
    on reading or writing (a read-only folder, a full disk, a path too long): one line naming the
    path and the reason."""
    from vocaltools.errors import VocaltoolsError, describe_os_error

    def fail(message: str) -> None:
        if os.environ.get("RANK", "0") == "0":  # under torchrun every rank fails alike: say it once
            print(f"error: {message}", file=sys.stderr)
        sys.exit(1)

    try:
        app(args=argv, prog_name="vocaltools")
    except VocaltoolsError as error:
        fail(str(error))
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # the reader of our stdout went away (e.g. `| head`): not an error of ours
        sys.stderr.close()
        sys.exit(0)
    except OSError as error:
        fail(describe_os_error(error))
