"""`vocaltools dataset`: read dataset layouts and write item lists and splits."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(help="Read the seed papers' dataset layouts; write item lists and splits.",
                  no_args_is_help=True)


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr)


@app.command("layouts")
def layouts(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per layout "
                                                          "(name, description, fields, options).")
                       ] = False,
) -> None:
    """List the dataset layouts with their fields and options."""
    import json

    from vocaltools.datasets.layouts import LAYOUTS

    for layout in LAYOUTS.values():
        options = {key: list(value) if isinstance(value, tuple) else value
                   for key, value in layout.options().items()}
        if as_json:
            print(json.dumps({"name": layout.name, "description": layout.description,
                              "fields": list(layout.field_names), "options": options}))
            continue
        print(f"{layout.name}\n  {layout.description}\n  fields: {', '.join(layout.field_names)}")
        for key, value in options.items():
            shown = ",".join(value) if isinstance(value, list) else value
            print(f"  --option {key}={shown}  {layout.option_help.get(key, '')}")


@app.command("scan")
def scan(
    layout: Annotated[str, typer.Argument(help="Dataset layout (see 'vocaltools dataset layouts').")],
    root: Annotated[Path, typer.Argument(help="Root folder of the dataset as downloaded.")],
    output: Annotated[str, typer.Option("--output", "-o", help=(
        "Item list to write: FILE.csv (path relative to the CSV, item_id, fields; for 'featurize "
        "--labels csv:FILE.csv') or FILE.jsonl[.gz]; '-' = JSONL on stdout."))] = "-",
    option: Annotated[Optional[list[str]], typer.Option("--option", "-O", help=(
        "Layout option KEY=VALUE (repeatable); see 'vocaltools dataset layouts'."))] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary on stderr.")] = False,
) -> None:
    """Scan a dataset folder into an item list with every label and grouping field."""
    from vocaltools.datasets.itemlist import write_items
    from vocaltools.datasets.layouts import get_layout

    chosen = get_layout(layout, option or [])
    result = chosen.scan_report(root)
    count = write_items(list(result.items), output, field_names=chosen.field_names)
    _say(f"{chosen.name}: {count} items, {len(result.skipped)} files skipped"
         + ("" if output == "-" else f" -> {output}"), quiet)
    for skipped in result.skipped[:10]:
        _say(f"  skipped {skipped.path}: {skipped.reason}", quiet)
    if len(result.skipped) > 10:
        _say(f"  ... and {len(result.skipped) - 10} more", quiet)


def _ints(text: str, name: str) -> tuple[int, ...]:
    from vocaltools.errors import ConfigError

    values: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, sep, high = part.partition("-")
        try:
            values.extend(range(int(low), int(high) + 1) if sep else [int(low)])
        except ValueError as error:
            raise ConfigError(f"{name}: expected numbers like 1-6 or 7,8,9, got {text!r}"
                              ) from error
    return tuple(values)


@app.command("split")
def split(
    items: Annotated[str, typer.Argument(help=(
        "Item list: CSV or JSONL from 'dataset scan', or a feature store (folder or its "
        "manifest.jsonl); '-' = JSONL on stdin."))],
    scheme: Annotated[str, typer.Option("--scheme", "-s", help=(
        "album (S1), vocalset (S3), damp-balanced (S2), stratified (S4), kfold (S2), group."))],
    by: Annotated[Optional[str], typer.Option("--by", help=(
        "Main field: artist (album), class (stratified), group field(s), comma-separated "
        "(group), singer (kfold, damp-balanced), validation strata (vocalset). Defaults per "
        "scheme."))] = None,
    group: Annotated[Optional[str], typer.Option("--group", help=(
        "Second field: album (album), recording order (kfold), singer (vocalset), song index "
        "(damp-balanced)."))] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (splits are reproducible "
                                                     "across machines).")] = 0,
    test_fraction: Annotated[float, typer.Option("--test-fraction", help=(
        "Share of items (stratified) or groups (group) for test."))] = 0.1,
    validation_fraction: Annotated[float, typer.Option("--validation-fraction", help=(
        "Share of the rest for validation (stratified, group, vocalset; kfold --hold-out group: "
        "of the other groups, rounded)."))] = 0.1,
    stratify: Annotated[Optional[str], typer.Option("--stratify", help=(
        "group: when every group holds one value of this field (e.g. singer), take the "
        "fractions per value, so every class has groups on every side."))] = None,
    folds: Annotated[Optional[int], typer.Option("--folds", help=(
        "Number of folds (kfold) [default: 10; with --hold-out group one per value of --by].")
    )] = None,
    hold_out: Annotated[str, typer.Option("--hold-out", help=(
        "kfold: 'recording' (S2: recording k of every --by group is test in fold k; groups are on "
        "both sides) or 'group' (whole --by groups are test in turn: '--by singer --hold-out "
        "group' is leave-one-singer-out; --validation-fraction of the other groups validate)."))
    ] = "recording",
    test_singers: Annotated[Optional[str], typer.Option("--test-singers", help=(
        "Test singers of the vocalset scheme (comma-separated) [default: the items' "
        "official_split field, else f2,f8,m3,m5,m10]."))] = None,
    train_songs: Annotated[str, typer.Option("--train-songs", help=(
        "damp-balanced training song indexes."))] = "1-6",
    validation_songs: Annotated[str, typer.Option("--validation-songs", help=(
        "damp-balanced validation song indexes."))] = "7-10",
    test_songs: Annotated[str, typer.Option("--test-songs", help=(
        "damp-balanced test song indexes."))] = "11-14",
    keep: Annotated[Optional[list[str]], typer.Option("--keep", help=(
        "Split only items whose FIELD is one of the values: FIELD=V1,V2,... (repeatable); the "
        "others are left out of the split file, so train does not use them."))] = None,
    fold: Annotated[Optional[int], typer.Option("--fold", help=(
        "kfold: write only this fold (0-based)."))] = None,
    output: Annotated[str, typer.Option("--output", "-o", help=(
        "Split file (vocaltools.split/1 JSONL, .gz by suffix); '-' = stdout. With kfold, a name "
        "containing {fold} writes one file per fold (split-{fold}.jsonl), each usable by "
        "'train --split'."))] = "-",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary on stderr.")] = False,
) -> None:
    """Split an item list into train/validation/test (or folds) and write the split file."""
    from vocaltools.datasets.itemlist import read_items
    from vocaltools.datasets.splits import SplitConfig, count_split, make_split, write_split
    from vocaltools.errors import ConfigError

    kept: dict[str, tuple[str, ...]] = {}
    for entry in keep or []:
        field, sep, values = entry.partition("=")
        if not sep or not field.strip() or not values.strip():
            raise ConfigError(f"--keep {entry!r}: expected FIELD=V1,V2,...")
        kept[field.strip()] = tuple(v.strip() for v in values.split(",") if v.strip())
    config = SplitConfig(
        scheme=scheme, seed=seed, by=by, group=group, test_fraction=test_fraction,
        validation_fraction=validation_fraction, n_folds=folds, stratify=stratify,
        hold_out=hold_out,
        test_singers=None if test_singers is None else tuple(
            s.strip() for s in test_singers.split(",") if s.strip()),
        train_songs=_ints(train_songs, "--train-songs"),
        validation_songs=_ints(validation_songs, "--validation-songs"),
        test_songs=_ints(test_songs, "--test-songs"), keep=kept)
    if fold is not None and scheme != "kfold":
        raise ConfigError(f"--fold {fold}: expected the kfold scheme")
    if "{fold}" in output and scheme != "kfold":
        raise ConfigError("an output name with {fold} needs --scheme kfold")
    assignments = make_split(read_items(items), config)
    if fold is not None:
        n_folds = len({a.fold for a in assignments})
        if not 0 <= fold < n_folds:
            raise ConfigError(f"--fold {fold}: expected a fold in 0..{n_folds - 1}")
        assignments = [a for a in assignments if a.fold == fold]
    if "{fold}" in output:
        for number in sorted({a.fold for a in assignments}):
            path = output.replace("{fold}", str(number))
            write_split([a for a in assignments if a.fold == number], path)
            _say(f"fold {number} -> {path}", quiet)
    else:
        write_split(assignments, output)
    for fold_number, counts in count_split(assignments).items():
        label = scheme + ("" if fold_number is None else f" fold {fold_number}")
        _say(f"{label}: " + ", ".join(f"{side} {counts.get(side, 0)}"
                                     for side in ("train", "validation", "test")), quiet)
