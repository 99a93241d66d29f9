"""S4's training set: London Philharmonic (Philharmonia) and University of Iowa MIS samples under one
root, mapped onto the 19 S4 instrument classes.

Each file is read with the naming of its library, told apart by the name itself: Iowa names are
dot-separated (``Violin.arco.ff.sulG.A4.stereo.aif``), Philharmonia names underscore-separated
(``violin_A4_1_forte_arco-normal.mp3``). A typical root holds ``philharmonia/`` and ``iowa/``, but any
arrangement of folders works. Fields: the union of both layouts' fields ('' where a library has no
such field), ``source`` being ``lpo`` or ``iowa``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from vocaltools.datasets.layouts.base import FileFieldsLayout
from vocaltools.datasets.layouts.iowa import IowaLayout, iowa_fields
from vocaltools.datasets.layouts.lpo import LPOLayout, lpo_fields

_FIELDS = tuple(dict.fromkeys(LPOLayout.field_names + IowaLayout.field_names))


@dataclass(frozen=True)
class OrchestralLayout(FileFieldsLayout):
    """Philharmonia + Iowa MIS samples under one root (S4's 19 classes)."""

    name: ClassVar[str] = "s4-instruments"
    description: ClassVar[str] = ("London Philharmonic (*_*.mp3) and Iowa MIS (*.*.aif) samples "
                                  "under one root, mapped onto the 19 S4 classes")
    field_names: ClassVar[tuple[str, ...]] = _FIELDS
    option_help: ClassVar[dict[str, str]] = {
        "extensions": "audio file suffixes to read (comma-separated)",
        "include_other": "keep instruments outside the 19 S4 classes",
        "flute_family": "count alto and bass flute as flute",
    }

    extensions: tuple[str, ...] = (".mp3", ".aif", ".aiff", ".wav", ".flac")
    include_other: bool = False
    flute_family: bool = True

    def file_fields(self, path: Path, root: Path) -> dict[str, Any] | str:
        if path.stem.count(".") >= 2:
            fields = iowa_fields(path, include_other=self.include_other,
                                 flute_family=self.flute_family)
        else:
            fields = lpo_fields(path, root, include_other=self.include_other,
                                flute_family=self.flute_family)
        if isinstance(fields, str):
            return fields
        return {name: fields.get(name, "") for name in _FIELDS}
