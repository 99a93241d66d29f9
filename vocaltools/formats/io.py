"""Opening paths: ``-`` for stdin/stdout, gzip by ``.gz`` suffix, atomic writes."""

from __future__ import annotations

import contextlib
import gzip
import os
import sys
import tempfile
from pathlib import Path
from typing import IO, Iterator

from vocaltools.errors import InputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds,
    so an interrupted write never leaves a half file that looks whole. A target that exists and
    is not a regular file (``/dev/null``, ``/dev/stdout``, a named pipe) is written in place:
    renaming onto it would replace the device."""
    target = Path(path)
    try:
        if target.exists() and not target.is_file() and not target.is_dir():
            yield target
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            os.replace(tmp_path, target)
        finally:
            tmp_path.unlink(missing_ok=True)
    except OSError as error:
        if error.filename is None or str(error.filename).startswith(str(target.parent / ".")):
            error.filename = str(target)  # a failed write (a full disk) names the file it was for
            error.filename2 = None
        raise


def check_folder_target(path: str | os.PathLike, *, what: str) -> Path:
    """``path`` as a folder to create or write into: an :class:`InputError` when it exists and is
    not a folder (``-o`` naming a file where ``what``, e.g. "a feature store folder", is wanted)."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise InputError(f"{target}: exists and is not a folder; expected {what} (to create, or "
                         "to resume); give a folder path")
    return target


@contextlib.contextmanager
def open_text_read(path: str | os.PathLike) -> Iterator[IO[str]]:
    """Open ``path`` for reading text; ``-`` is stdin, ``.gz`` is decompressed."""
    if str(path) == "-":
        yield sys.stdin
        return
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rt", encoding="utf-8") as handle:
        yield handle


@contextlib.contextmanager
def open_text_write(path: str | os.PathLike) -> Iterator[IO[str]]:
    """Open ``path`` for writing text atomically; ``-`` is stdout, ``.gz`` is compressed."""
    if str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    with atomic_path(path) as tmp:
        if str(path).endswith(".gz"):
            with gzip.open(tmp, "wt", encoding="utf-8") as handle:
                yield handle
        else:
            with open(tmp, "w", encoding="utf-8") as handle:
                yield handle


def read_bytes(path: str | os.PathLike) -> bytes:
    """All bytes of ``path`` (``-`` is stdin)."""
    if str(path) == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (``-`` is stdout)."""
    if str(path) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
