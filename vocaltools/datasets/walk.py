"""Walking a folder tree for files: hidden names skipped, symlinked folders followed.

A linked folder (a singer's folder linked into a collection) is searched like any other, under the
path that reaches it through the link; a folder reached a second time (a link loop, or two links to
one folder) is searched once, under the first path the walk reaches it by (folders in sorted
order, depth first), so no file is found twice and no loop runs for ever.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

#: folder names never searched besides dot names: macOS archive debris
SKIPPED_FOLDERS = frozenset({"__MACOSX"})


def _hidden(name: str) -> bool:
    return name.startswith(".")


def walk_folder(root: str | os.PathLike) -> Iterator[tuple[Path, list[str]]]:
    """``(folder, file names)`` for ``root`` and every folder below it, top down, folders and
    names sorted, dot names and :data:`SKIPPED_FOLDERS` skipped; symlinked folders are followed,
    each real folder once (see the module docstring)."""
    seen: set[tuple[int, int]] = set()
    for current, dirs, files in os.walk(root, followlinks=True):
        try:
            status = os.stat(current)
        except OSError:
            dirs[:] = []
            continue
        key = (status.st_dev, status.st_ino)
        if key in seen:  # reached before: a loop, or a second link to one folder
            dirs[:] = []
            continue
        seen.add(key)
        dirs[:] = sorted(d for d in dirs if not _hidden(d) and d not in SKIPPED_FOLDERS)
        yield Path(current), sorted(f for f in files if not _hidden(f))


def find_files(root: str | os.PathLike, *, extensions: Iterable[str]) -> list[Path]:
    """Files below ``root`` whose suffix (case-insensitive) is one of ``extensions`` (``.wav``),
    in walk order (:func:`walk_folder`)."""
    wanted = {e.lower() for e in extensions}
    return [folder / name for folder, names in walk_folder(root) for name in names
            if os.path.splitext(name)[1].lower() in wanted]
