"""The unit of every dataset: one audio file with an id and its label fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping


@dataclass(frozen=True)
class AudioItem:
    """One audio file to featurize.

    ``item_id`` is the file's path relative to its input root, without extension, with ``/``
    separators (``"DE-Soprano-1/song02_control"``); it is unique within a run. ``fields`` holds the
    labels and grouping fields (``singer``, ``song_id``, ``technique``, ...) as plain JSON values.
    """

    item_id: str
    audio_path: Path
    fields: Mapping[str, Any] = field(default_factory=dict)
