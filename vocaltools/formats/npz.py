"""NPZ files with a JSON ``meta`` entry (schema, version, producing config, sample rate, software
version). Loaded with ``allow_pickle=False``; object arrays are never written."""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from vocaltools import __version__
from vocaltools.errors import FormatError
from vocaltools.formats.io import atomic_path, read_bytes, write_bytes
from vocaltools.formats.schema import check_schema, schema_tag


@dataclass(frozen=True)
class NpzFile:
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]


def save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], *, kind: str,
             meta: Mapping[str, Any] | None = None, compress: bool = False) -> None:
    """Write ``arrays`` and a ``meta`` JSON string tagged with ``kind`` atomically (``-`` = stdout)."""
    if "meta" in arrays:
        raise ValueError("'meta' is reserved for the JSON meta entry")
    full_meta = {"schema": schema_tag(kind), "software": f"vocaltools {__version__}", **(meta or {})}
    payload = {name: np.asarray(value) for name, value in arrays.items()}
    for name, value in payload.items():
        if value.dtype == object:
            raise ValueError(f"array {name!r} has dtype object; NPZ files never hold pickles")
    payload["meta"] = np.array(json.dumps(full_meta))
    saver = np.savez_compressed if compress else np.savez
    if str(path) == "-":
        buffer = io.BytesIO()
        saver(buffer, **payload)
        write_bytes("-", buffer.getvalue())
        return
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            saver(handle, **payload)


def load_npz(path: str | os.PathLike, *, kind: str | tuple[str, ...]) -> NpzFile:
    """Read an NPZ written by :func:`save_npz`, checking its schema (``-`` = stdin)."""
    where = "<stdin>" if str(path) == "-" else str(path)
    try:
        source = io.BytesIO(read_bytes(path)) if str(path) == "-" else path
        with np.load(source, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except FileNotFoundError as error:
        raise FormatError(f"{where}: no such file") from error
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise FormatError(f"{where}: not a readable NPZ file ({error})") from error
    if "meta" not in arrays:
        raise FormatError(f"{where}: no 'meta' entry; not written by vocaltools")
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except json.JSONDecodeError as error:
        raise FormatError(f"{where}: 'meta' is not JSON") from error
    check_schema(meta.get("schema"), expected=kind, where=where)
    return NpzFile(arrays=arrays, meta=meta)
