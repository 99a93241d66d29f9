"""A cache of separated vocals, so that ``--separate METHOD`` costs one separation per file.

Entries are keyed by the input's absolute path, size and modification time plus the separator's
resolved configuration; changing any of them makes a new entry. The default folder is
``$VOCALTOOLS_HOME/cache/separation`` (``~/.local/share/vocaltools`` when unset).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from vocaltools.separation.base import Separator

CACHE_VERSION = 1


def vocaltools_home() -> Path:
    """``$VOCALTOOLS_HOME`` or ``~/.local/share/vocaltools``."""
    home = os.environ.get("VOCALTOOLS_HOME")
    return Path(home).expanduser() if home else Path.home() / ".local" / "share" / "vocaltools"


def default_cache_dir() -> Path:
    return vocaltools_home() / "cache" / "separation"


def cache_key(path: str | os.PathLike, *, separator: Separator,
              weights: str | os.PathLike | None = None) -> str:
    """Hex SHA-256 of the input's identity (absolute path, size, mtime) and the method config."""
    from vocaltools.separation.files import read_info

    path = Path(path).resolve()
    read_info(path)  # a clear InputError for a missing or unreadable file
    stat = path.stat()
    identity: dict[str, Any] = {
        "cache_version": CACHE_VERSION, "path": str(path), "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns, "config": separator.describe(),
        "weights": str(Path(weights).resolve()) if weights is not None else None,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()


def cached_vocals(path: str | os.PathLike, *, method: str = "harmonic",
                  cache_dir: str | os.PathLike | None = None,
                  weights: str | os.PathLike | None = None,
                  options: dict[str, Any] | None = None,
                  separator: Separator | None = None) -> Path:
    """The separated vocals of ``path`` (a mono FLAC at the separator's processing rate: what reads
    it resamples to its feature rate anyway), computed on the first call and read from the cache
    afterwards.

    >>> # vocals = cached_vocals("song.flac", method="harmonic")   # then load it like any audio file
    """
    from vocaltools.separation.files import separate_file
    from vocaltools.separation.registry import get_separator

    if separator is None:
        separator = get_separator(method, weights=weights, **(options or {}))
    key = cache_key(path, separator=separator, weights=weights)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    stems = separate_file(path, separator=separator, out_dir=root / key[:2],
                          template=f"{key}.{{source}}.flac", sources=("vocals",),
                          stem_rate="processing")
    return stems.vocals  # type: ignore[return-value]  # requested, so never None
