"""Schema-tagged JSON Lines: one record a line, each with ``"schema": "vocaltools.<kind>/<v>"``."""

from __future__ import annotations

import json
import math
import os
from typing import Any, Iterable, Iterator

from vocaltools.errors import FormatError
from vocaltools.formats.io import open_text_read, open_text_write
from vocaltools.formats.schema import check_schema, schema_tag


def make_record(kind: str, **fields: Any) -> dict[str, Any]:
    """A record of ``kind`` with its schema tag first."""
    return {"schema": schema_tag(kind), **fields}


def _clean(value: Any) -> Any:
    """JSON-safe values: numpy scalars to Python, non-finite floats to None."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def dumps_record(record: dict[str, Any]) -> str:
    return json.dumps(_clean(record), ensure_ascii=False, separators=(",", ":"))


def iter_jsonl(path: str | os.PathLike, *, kind: str | tuple[str, ...] | None = None
               ) -> Iterator[dict[str, Any]]:
    """Records of ``path`` (``-`` = stdin, ``.gz`` by suffix). With ``kind``, every record's schema
    is checked; errors cite ``path:line``. Blank lines are skipped."""
    with open_text_read(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{'<stdin>' if str(path) == '-' else path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise FormatError(f"{where}: not a JSON record ({error.msg})") from error
            if not isinstance(record, dict):
                raise FormatError(f"{where}: expected a JSON object, got {type(record).__name__}")
            if kind is not None:
                check_schema(record.get("schema"), expected=kind, where=where)
            yield record


def read_jsonl(path: str | os.PathLike, *, kind: str | tuple[str, ...] | None = None
               ) -> list[dict[str, Any]]:
    return list(iter_jsonl(path, kind=kind))


def write_jsonl(path: str | os.PathLike, records: Iterable[dict[str, Any]]) -> int:
    """Write ``records`` (atomically unless ``-``); returns how many were written."""
    count = 0
    with open_text_write(path) as handle:
        for record in records:
            handle.write(dumps_record(record) + "\n")
            count += 1
    return count
