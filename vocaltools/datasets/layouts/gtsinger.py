"""The GTSinger demo pack in the shared data folder (``gtsinger-demo/``).

Layout: ``audio/<singer>/<song_id>_<take>.flac`` and ``metadata.csv`` with columns path, singer,
language, voice_part, song_id, song, take, technique_group, style, duration_s, source_file.

Fields: every CSV column but ``path`` (as text), plus ``song_key`` = ``<singer>/<song_id>``: song ids
restart for every singer (``song01`` of one singer is not ``song01`` of another), so split by
``song_key`` (``--scheme group --by song_key``) to keep every take of a song on one side.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from vocaltools.datasets.items import AudioItem
from vocaltools.datasets.layouts.base import Layout, Skipped, item_id_of, read_csv_rows
from vocaltools.errors import InputError

_COLUMNS = ("singer", "language", "voice_part", "song_id", "song", "take", "technique_group",
            "style", "duration_s", "source_file")


@dataclass(frozen=True)
class GTSingerDemoLayout(Layout):
    """GTSinger demo pack: ``metadata.csv`` + ``audio/<singer>/<song_id>_<take>.flac``."""

    name: ClassVar[str] = "gtsinger-demo"
    description: ClassVar[str] = ("GTSinger demo pack: metadata.csv + audio/<singer>/"
                                  "<song_id>_<take>.flac (singer and technique labels)")
    field_names: ClassVar[tuple[str, ...]] = _COLUMNS + ("song_key",)
    option_help: ClassVar[dict[str, str]] = {"metadata": "metadata CSV relative to ROOT"}

    metadata: str = "metadata.csv"

    def _scan(self, root: Path) -> tuple[list[AudioItem], list[Skipped]]:
        table = root / self.metadata
        if not table.is_file():
            raise InputError(f"{table}: not found; the GTSinger demo pack has metadata.csv at its "
                             "root (or set the option metadata=FILE)")
        rows = read_csv_rows(table)
        items: list[AudioItem] = []
        skipped: list[Skipped] = []
        for number, row in enumerate(rows, start=2):
            missing = [c for c in ("path", "singer", "song_id") if not row.get(c)]
            if missing:
                raise InputError(f"{table}:{number}: missing {', '.join(missing)}")
            path = root / row["path"]
            if ".." in Path(row["path"]).parts or Path(row["path"]).is_absolute():
                raise InputError(f"{table}:{number}: path {row['path']!r} must lie inside "
                                 f"{root}")
            if not path.is_file():
                skipped.append(Skipped(row["path"], f"listed in {table.name}:{number} but absent"))
                continue
            fields = {k: v for k, v in row.items() if k != "path"}
            fields["song_key"] = f"{row['singer']}/{row['song_id']}"
            items.append(AudioItem(item_id=item_id_of(path, root), audio_path=path,
                                   fields=fields))
        return items, skipped
