"""artist20 (Ellis 2007): 1,413 songs of 20 artists, 6 albums each, as distributed.

Layout (``artist20-mp3s-32k.tgz``)::

    artist20/mp3s-32k/<artist>/<album>/<NN>-<Track_Title>.mp3     32 kbps mono mp3
    artist20/lists/...                                              (not read)

ROOT may be ``artist20/`` (then ``mp3s-32k/`` is found inside it) or the ``mp3s-32k/`` folder
itself. Fields: ``artist``, ``album``, ``song`` (the track title, underscores as spaces), ``track``
(the leading number, 0 when absent) and ``song_id`` (``artist/album/file-stem``, the same whatever
ROOT is). Scanning reads names only; nothing is decoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from vocaltools.datasets.items import AudioItem
from vocaltools.datasets.layouts.base import Layout, Skipped, item_id_of, iter_files

_TRACK = re.compile(r"^(\d+)[-_ .]+(.*)$")


@dataclass(frozen=True)
class Artist20Layout(Layout):
    """artist20 as distributed: ``[mp3s-32k/]<artist>/<album>/<NN-Title>.mp3``."""

    name: ClassVar[str] = "artist20"
    description: ClassVar[str] = ("artist20: [artist20/][mp3s-32k/]<artist>/<album>/<NN-Title>.mp3 "
                                  "(S1 singer identification; album split)")
    field_names: ClassVar[tuple[str, ...]] = ("artist", "album", "song", "track", "song_id")
    option_help: ClassVar[dict[str, str]] = {
        "audio_dir": "sub-folder of ROOT that holds the artist folders; '' = ROOT, or "
                     "'mp3s-32k' when ROOT contains it",
        "extensions": "audio file suffixes to read (comma-separated)",
    }

    audio_dir: str = ""
    extensions: tuple[str, ...] = (".mp3", ".wav", ".flac")

    def _scan(self, root: Path) -> tuple[list[AudioItem], list[Skipped]]:
        base = root / self.audio_dir if self.audio_dir else root
        if not self.audio_dir and (root / "mp3s-32k").is_dir():
            base = root / "mp3s-32k"
        items: list[AudioItem] = []
        skipped: list[Skipped] = []
        for path in iter_files(base, extensions=self.extensions):
            parts = path.relative_to(base).parts
            if len(parts) != 3:
                skipped.append(Skipped(path.relative_to(root).as_posix(),
                                       "not at <artist>/<album>/<track>"))
                continue
            artist, album, filename = parts
            stem = Path(filename).stem
            match = _TRACK.match(stem)
            track, title = (int(match.group(1)), match.group(2)) if match else (0, stem)
            items.append(AudioItem(
                item_id=item_id_of(path, root), audio_path=path,
                fields={"artist": artist, "album": album, "song": title.replace("_", " "),
                        "track": track, "song_id": f"{artist}/{album}/{stem}"}))
        return items, skipped
