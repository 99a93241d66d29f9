"""`vocaltools synth`: the project's own test audio (synthetic singers, soundfont notes)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Write the project's own labelled audio: synthetic singers and soundfont "
                       "instrument notes (no network, deterministic for a seed).",
                  no_args_is_help=True, rich_markup_mode=None)


@app.command("singers")
def singers(
    output: Annotated[Path, typer.Argument(help="Folder to write <singer>/<song>_<take>.flac and "
                                                "metadata.csv into.")],
    n_singers: Annotated[int, typer.Option(min=1, help="Number of singers.")] = 4,
    n_songs: Annotated[int, typer.Option(min=1, help="Songs per singer (each sung in a Control "
                                                     "take and a technique take).")] = 3,
    seconds: Annotated[float, typer.Option(min=0.5, help="Length of every take.")] = 6.0,
    sample_rate: Annotated[int, typer.Option(help="Sample rate of the files (Hz).")] = 22050,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Synthetic singers in the layout of the GTSinger demo (metadata.csv with singer, song_id,
    take, technique_group)."""
    from vocaltools.synth import make_singer_dataset

    items = make_singer_dataset(output, n_singers=n_singers, n_songs=n_songs, seconds=seconds,
                                sample_rate=sample_rate, seed=seed)
    total = sum(item.duration_s for item in items)
    print(f"wrote {len(items)} files ({total:.0f} s) and metadata.csv to {output}", file=sys.stderr)


@app.command("notes")
def notes(
    output: Annotated[Path, typer.Argument(help="Folder to write <instrument>/<note>_<velocity>"
                                                ".flac into.")],
    instruments: Annotated[str, typer.Option(
        help="Comma-separated S4 instruments with a General-MIDI program, or 'all'.")] = "all",
    note_range: Annotated[str, typer.Option(
        help="MIDI notes as FIRST:LAST[:STEP] (inclusive).")] = "55:79:2",
    velocities: Annotated[str, typer.Option(help="Comma-separated MIDI velocities.")] = "60,100",
    seconds: Annotated[float, typer.Option(min=0.1, help="Length of every note file.")] = 1.0,
    sample_rate: Annotated[int, typer.Option(help="Sample rate of the files (Hz).")] = 22050,
) -> None:
    """Instrument notes rendered from the General-MIDI soundfont that pretty_midi ships."""
    from vocaltools.errors import InputError
    from vocaltools.synth import GM_PROGRAMS, render_notes

    names = list(GM_PROGRAMS) if instruments == "all" else [
        name.strip() for name in instruments.split(",") if name.strip()]
    try:
        parts = [int(p) for p in note_range.split(":")]
        first, last = parts[0], parts[1]
        step = parts[2] if len(parts) > 2 else 1
        note_list = list(range(first, last + 1, step))
        velocity_list = [int(v) for v in velocities.split(",")]
    except (ValueError, IndexError) as error:
        raise InputError(f"--note-range {note_range!r} / --velocities {velocities!r}: expected "
                         "FIRST:LAST[:STEP] and comma-separated integers") from error
    rendered = render_notes(output, instruments=names, notes=note_list, velocities=velocity_list,
                            seconds=seconds, sample_rate=sample_rate)
    print(f"wrote {len(rendered)} notes of {len(names)} instruments to {output}", file=sys.stderr)
