"""DAMP and DAMP-balanced (Smule Sing! karaoke performances, CCRMA/Zenodo).

Neither release's file layout is fixed by the S2 paper, so the layout is an option:

- with a metadata CSV (option ``metadata``: a path relative to ROOT; ``auto`` = the only ``*.csv``
  directly in ROOT, if there is exactly one), each audio file is matched to the row whose
  performance column equals its file stem (or whose path column, without extension, equals its
  path relative to ROOT); the singer and song come from the columns named by the options
  ``singer_column`` / ``song_column`` (or the first of the usual names present: account_id,
  user_id, singer, ... / song, song_name, title, arr_key, ...);
- without one, the folders give the fields: ``folder_fields`` names the folder levels between ROOT
  and the file, e.g. ``singer`` for ``<singer>/<performance>.m4a`` (the DAMP default) or
  ``song,singer`` for ``<song>/<singer>/<performance>.m4a``.

Fields: ``singer``, ``song``, ``performance`` (the file stem) and ``recording_index`` (0-based rank of
the performance among the singer's, by item id: S2's 10-fold cross-validation puts recording k of
every singer in fold k). DAMP-balanced adds ``song_index``: the 1-based position of the song in the
14-song list of S2 Appendix A (option ``songs``), matched on the song name (case, spaces and
punctuation ignored; a bare number 1..14 is taken as the index).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from vocaltools.datasets.items import AudioItem
from vocaltools.datasets.layouts.base import (Layout, Skipped, item_id_of, iter_files, pick_column,
                                              read_csv_rows)
from vocaltools.errors import ConfigError, InputError

#: DAMP-balanced's 14 songs in the index order of S2 Appendix A (first 6 train, next 4 validation,
#: last 4 test), as "title - artist"
DAMP_BALANCED_SONGS: tuple[str, ...] = (
    "one call away - Charlie Puth", "say you won't let go - James Arthur",
    "all of me - John Legend", "closer - The Chainsmokers", "seven years - Lukas Graham",
    "despacito - Luis Fonsi", "more than words - Extreme", "lost boy - Ruth B.",
    "love yourself - Justin Bieber", "rockabye - Clean Bandit",
    "part of your world - Jodi Benson", "when I was your man - Bruno Mars",
    "chandelier - Sia", "cups - Anna Kendrick")

_PERFORMANCE_COLUMNS = ("perf_key", "performance", "performance_id", "performance_key",
                        "perf_id", "file", "filename", "audio", "path")
_SINGER_COLUMNS = ("account_id", "user_id", "singer", "singer_id", "player_id", "user")
_SONG_COLUMNS = ("song", "song_name", "title", "song_title", "arr_key", "song_id", "arrangement")


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


@dataclass(frozen=True)
class DampLayout(Layout):
    """DAMP: performances under ROOT, singer/song from a metadata CSV or from the folders."""

    name: ClassVar[str] = "damp"
    description: ClassVar[str] = ("DAMP: <singer>/<performance>.m4a, or any files plus a metadata "
                                  "CSV (S2 singer classification; 10-fold CV)")
    field_names: ClassVar[tuple[str, ...]] = ("singer", "song", "performance", "recording_index")
    option_help: ClassVar[dict[str, str]] = {
        "metadata": "metadata CSV relative to ROOT; 'auto' = the only *.csv in ROOT; '' = none",
        "folder_fields": "without metadata: the fields named by the folder levels above each "
                         "file (comma-separated, e.g. singer or song,singer)",
        "performance_column": "metadata column matched to the file stem ('' = guess)",
        "singer_column": "metadata column of the singer ('' = guess)",
        "song_column": "metadata column of the song ('' = guess)",
        "extensions": "audio file suffixes to read (comma-separated)",
    }

    metadata: str = "auto"
    folder_fields: tuple[str, ...] = ("singer",)
    performance_column: str = ""
    singer_column: str = ""
    song_column: str = ""
    extensions: tuple[str, ...] = (".m4a", ".wav", ".flac", ".mp3", ".ogg", ".aac")

    # -- metadata ------------------------------------------------------------------------------

    def _metadata_path(self, root: Path) -> Path | None:
        if self.metadata == "auto":
            found = sorted(p for p in root.glob("*.csv") if not p.name.startswith("."))
            return found[0] if len(found) == 1 else None
        if not self.metadata:
            return None
        path = root / self.metadata
        if not path.is_file():
            raise InputError(f"{path}: metadata file not found; set the option metadata=FILE "
                             "(relative to ROOT) or metadata= for folder names only")
        return path

    def _metadata_rows(self, path: Path) -> dict[str, dict[str, str]]:
        rows = read_csv_rows(path)
        if not rows:
            raise InputError(f"{path}: no rows")
        columns = list(rows[0])
        perf = pick_column(columns, wanted=self.performance_column,
                           candidates=_PERFORMANCE_COLUMNS, where=str(path),
                           what="performance (file name)", option="performance_column")
        singer = pick_column(columns, wanted=self.singer_column, candidates=_SINGER_COLUMNS,
                             where=str(path), what="singer", option="singer_column")
        song = pick_column(columns, wanted=self.song_column, candidates=_SONG_COLUMNS,
                           where=str(path), what="song", option="song_column")
        by_key: dict[str, dict[str, str]] = {}
        for number, row in enumerate(rows, start=2):
            key = Path(row[perf]).with_suffix("").as_posix() if row[perf] else ""
            if not key:
                raise InputError(f"{path}:{number}: empty {perf!r}")
            by_key[key] = {"singer": row[singer], "song": row[song]}
        return by_key

    # -- scan ----------------------------------------------------------------------------------

    def _base_fields(self, root: Path) -> tuple[list[tuple[Path, dict[str, Any]]], list[Skipped]]:
        metadata = self._metadata_path(root)
        lookup = self._metadata_rows(metadata) if metadata else None
        found: list[tuple[Path, dict[str, Any]]] = []
        skipped: list[Skipped] = []
        for path in iter_files(root, extensions=self.extensions):
            relative = path.relative_to(root)
            where = relative.as_posix()
            fields: dict[str, Any] = {"singer": "", "song": "", "performance": path.stem}
            if lookup is not None:
                row = lookup.get(relative.with_suffix("").as_posix()) or lookup.get(path.stem)
                if row is None:
                    skipped.append(Skipped(where, f"no row for {path.stem!r} in {metadata.name}"))
                    continue
                fields.update(row)
            else:
                folders = relative.parts[:-1]
                if len(folders) != len(self.folder_fields):
                    skipped.append(Skipped(where, "not at "
                                           + "/".join(f"<{f}>" for f in self.folder_fields)
                                           + "/<performance>"))
                    continue
                for name, value in zip(self.folder_fields, folders):
                    if name not in ("singer", "song"):
                        raise ConfigError(f"layout {self.name}: folder_fields may name singer "
                                          f"and song, got {name!r}")
                    fields[name] = value
            if not fields["singer"]:
                skipped.append(Skipped(where, "no singer"))
                continue
            found.append((path, fields))
        return found, skipped

    def _scan(self, root: Path) -> tuple[list[AudioItem], list[Skipped]]:
        found, skipped = self._base_fields(root)
        items = [AudioItem(item_id=item_id_of(path, root), audio_path=path, fields=fields)
                 for path, fields in found]
        return _with_recording_index(items), skipped


def _with_recording_index(items: list[AudioItem]) -> list[AudioItem]:
    by_singer: dict[str, list[AudioItem]] = defaultdict(list)
    for item in sorted(items, key=lambda i: i.item_id):
        by_singer[str(item.fields["singer"])].append(item)
    out = []
    for singer_items in by_singer.values():
        for index, item in enumerate(singer_items):
            out.append(AudioItem(item_id=item.item_id, audio_path=item.audio_path,
                                 fields={**item.fields, "recording_index": index}))
    return out


@dataclass(frozen=True)
class DampBalancedLayout(DampLayout):
    """DAMP-balanced: DAMP's format plus each song's index in the 14-song list of S2."""

    name: ClassVar[str] = "damp-balanced"
    description: ClassVar[str] = ("DAMP-balanced: performances + metadata CSV (or <song>/<singer>/"
                                  "<performance>.m4a) of 14 songs (S2 embedding; 6/4/4 song split)")
    field_names: ClassVar[tuple[str, ...]] = ("singer", "song", "song_index", "performance",
                                              "recording_index")
    option_help: ClassVar[dict[str, str]] = {
        **DampLayout.option_help,
        "songs": "the 14 songs in index order ('title - artist' or 'title', comma-separated)",
    }

    folder_fields: tuple[str, ...] = ("song", "singer")
    songs: tuple[str, ...] = DAMP_BALANCED_SONGS

    def song_index(self, song: str) -> int | None:
        """1-based index of ``song`` in :attr:`songs`, or None."""
        text = song.strip()
        if text.isdigit() and 1 <= int(text) <= len(self.songs):
            return int(text)
        key = _norm(text)
        for index, entry in enumerate(self.songs, start=1):
            title = entry.rsplit(" - ", 1)[0]
            if key in (_norm(entry), _norm(title)):
                return index
        return None

    def _scan(self, root: Path) -> tuple[list[AudioItem], list[Skipped]]:
        found, skipped = self._base_fields(root)
        items = []
        for path, fields in found:
            index = self.song_index(str(fields["song"]))
            if index is None:
                skipped.append(Skipped(path.relative_to(root).as_posix(),
                                       f"song {fields['song']!r} is not one of the 14 "
                                       "DAMP-balanced songs (option songs)"))
                continue
            items.append(AudioItem(item_id=item_id_of(path, root), audio_path=path,
                                   fields={**fields, "song_index": index}))
        return _with_recording_index(items), skipped
