"""Item lists on disk: what ``vocaltools dataset scan`` writes and ``vocaltools dataset split`` reads.

- CSV: columns ``path`` (the audio file, relative to the CSV's folder; absolute when written to
  stdout), ``item_id`` and one column per field. ``vocaltools featurize --labels csv:FILE`` reads it.
- JSONL: one ``"vocaltools.audio_item/1"`` record per item: ``item_id``, ``audio_path`` (relative to
  the JSONL's folder; absolute on stdout) and ``fields``.

:func:`read_items` also reads a feature store (its folder or its ``manifest.jsonl``), so a split can be
made from exactly the items that were featurized.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from vocaltools.datasets.items import AudioItem
from vocaltools.errors import FormatError, InputError
from vocaltools.formats.io import open_text_read, open_text_write
from vocaltools.formats.jsonl import iter_jsonl, make_record

AUDIO_ITEM = "audio_item"


def _relative(path: Path, out: str | os.PathLike) -> str:
    if str(out) == "-":
        return Path(path).resolve().as_posix()
    base = Path(out).resolve().parent
    return Path(os.path.relpath(Path(path).resolve(), base)).as_posix()


def field_columns(items: Sequence[AudioItem], preferred: Iterable[str] = ()) -> list[str]:
    """Field names for a table: ``preferred`` first (those present), then the rest sorted."""
    present: dict[str, None] = {}
    for item in items:
        for key in item.fields:
            present[key] = None
    first = [name for name in preferred if name in present]
    return first + sorted(k for k in present if k not in first)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def write_items_csv(items: Sequence[AudioItem], path: str | os.PathLike, *,
                    field_names: Iterable[str] = ()) -> int:
    """Write ``items`` as CSV (path, item_id, fields...); returns the number of rows."""
    columns = field_columns(items, field_names)
    reserved = {"path", "item_id"} & set(columns)
    if reserved:
        raise InputError(f"fields named {', '.join(sorted(reserved))} clash with the CSV's own "
                         "columns")
    with open_text_write(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["path", "item_id", *columns])
        for item in items:
            writer.writerow([_relative(item.audio_path, path), item.item_id,
                             *(_cell(item.fields.get(c)) for c in columns)])
    return len(items)


def write_items_jsonl(items: Sequence[AudioItem], path: str | os.PathLike) -> int:
    """Write ``items`` as ``vocaltools.audio_item/1`` records; returns the number written."""
    from vocaltools.formats.jsonl import write_jsonl

    return write_jsonl(path, (make_record(AUDIO_ITEM, item_id=item.item_id,
                                          audio_path=_relative(item.audio_path, path),
                                          fields=dict(item.fields)) for item in items))


def write_items(items: Sequence[AudioItem], path: str | os.PathLike, *,
                field_names: Iterable[str] = ()) -> int:
    """CSV when ``path`` ends in ``.csv`` (or ``.csv.gz``), JSONL otherwise (``-`` = JSONL on
    stdout)."""
    name = str(path).lower()
    if name.endswith(".csv") or name.endswith(".csv.gz"):
        return write_items_csv(items, path, field_names=field_names)
    return write_items_jsonl(items, path)


def _read_csv(path: Path | str) -> list[AudioItem]:
    base = Path(".") if str(path) == "-" else Path(path).parent
    with open_text_read(path) as handle:
        text = handle.read()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if not reader.fieldnames or ("path" not in reader.fieldnames
                                 and "item_id" not in reader.fieldnames):
        raise FormatError(f"{path}: a CSV item list needs a 'path' or 'item_id' column "
                          f"(columns: {', '.join(reader.fieldnames or [])})")
    items = []
    for number, row in enumerate(reader, start=2):
        audio = row.get("path") or ""
        item_id = row.get("item_id") or Path(audio).with_suffix("").as_posix()
        if not item_id:
            raise FormatError(f"{path}:{number}: empty item_id and path")
        fields = {k: v for k, v in row.items() if k not in ("path", "item_id") and k is not None}
        items.append(AudioItem(item_id=item_id, audio_path=base / audio, fields=fields))
    return items


def read_items(path: str | os.PathLike) -> list[AudioItem]:
    """Items (id, audio path, fields) of an item list: a scan CSV or JSONL, a feature store folder or
    its ``manifest.jsonl`` (``-`` = JSONL on stdin)."""
    source = Path(path)
    if str(path) != "-" and source.is_dir():
        manifest = source / "manifest.jsonl"
        if not manifest.is_file():
            raise InputError(f"{source}: a folder given as item list must be a feature store "
                             "(with manifest.jsonl)")
        source = manifest
    elif str(path) != "-" and not source.is_file():
        raise InputError(f"{source}: no such file; give a CSV or JSONL item list from "
                         "'vocaltools dataset scan' or a feature store")
    name = str(source).lower()
    if name.endswith(".csv") or name.endswith(".csv.gz"):
        items = _read_csv(source if str(path) != "-" else "-")
    else:
        base = Path(".") if str(path) == "-" else source.parent
        items = []
        for record in iter_jsonl(source if str(path) != "-" else "-",
                                 kind=(AUDIO_ITEM, "item")):
            try:
                items.append(AudioItem(item_id=str(record["item_id"]),
                                       audio_path=base / str(record.get("audio_path", "")),
                                       fields=dict(record.get("fields") or {})))
            except KeyError as error:
                raise FormatError(f"{source}: record without {error}") from error
    unique: dict[str, AudioItem] = {}
    for item in items:
        if item.item_id in unique and source.name != "manifest.jsonl":
            raise FormatError(f"{source}: item {item.item_id!r} is listed twice")
        unique[item.item_id] = item  # a store's manifest: the latest record of an item wins
    return list(unique.values())
