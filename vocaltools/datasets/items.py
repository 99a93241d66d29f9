"""The unit every dataset reader produces: one audio file with its labels and grouping fields."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping


@dataclass(frozen=True)
class AudioItem:
    """One audio file of a dataset.

    ``item_id`` is the file's path relative to the dataset root without its extension, in posix form
    (``artist/album/01-track``); ``fields`` holds the labels and grouping fields (singer, song_id,
    technique, ...).
    """

    item_id: str
    audio_path: Path
    fields: Mapping[str, Any]
