"""The London Philharmonic Orchestra sample library (the Philharmonia Orchestra samples that S4
cites as "London Philharmonic Orchestra Dataset").

Layout: one folder per instrument (``violin/``, ``double bass/``, ``percussion/``, ...; zipped
sub-folders unpacked), files named ``<instrument>_<note>_<length>_<dynamic>_<articulation>.mp3``,
e.g. ``violin_A4_1_forte_arco-normal.mp3``, ``cor-anglais_Cs4_05_piano_normal.mp3``,
``guitar_A2_very-long_forte_normal.mp3`` (sharps are written ``s``; ``note`` may be ``phrase``;
``length`` is 025/05/1/15 (seconds x 10), ``long``, ``very-long`` or ``phrase``).

Fields: ``instrument`` (one of the 19 S4 classes), ``source`` (``lpo``), ``source_instrument`` (the
name as written), ``note``, ``length``, ``dynamic``, ``articulation``. The instrument is read from
the file-name prefix, or from the folder when the prefix is not an instrument. Files of other
instruments (percussion) are skipped unless ``include_other`` is set (then ``instrument`` is the
name as written).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from vocaltools.datasets.layouts.base import FileFieldsLayout
from vocaltools.datasets.layouts.instruments import class_fields, instrument_class


def parse_lpo_name(stem: str) -> dict[str, str]:
    """``violin_A4_1_forte_arco-normal`` -> source_instrument, note, length, dynamic, articulation
    (missing parts are '')."""
    tokens = stem.split("_")
    tokens += [""] * (5 - len(tokens))
    return {"source_instrument": tokens[0], "note": tokens[1], "length": tokens[2],
            "dynamic": tokens[3], "articulation": "_".join(t for t in tokens[4:] if t)}


def lpo_fields(path: Path, root: Path, *, include_other: bool, flute_family: bool
               ) -> dict[str, Any] | str:
    """The fields of one LPO file, or the reason it is skipped."""
    parsed = parse_lpo_name(path.stem)
    cls = instrument_class(parsed["source_instrument"], flute_family=flute_family)
    if cls is None:
        # fall back on the nearest folder that names an instrument
        for folder in reversed(path.relative_to(root).parts[:-1]):
            cls = instrument_class(folder, flute_family=flute_family)
            if cls is not None:
                break
    return class_fields(cls, parsed, source="lpo", include_other=include_other)


@dataclass(frozen=True)
class LPOLayout(FileFieldsLayout):
    """London Philharmonic (Philharmonia) samples: ``<instrument>/<instr>_<note>_<len>_<dyn>_<art>.mp3``."""

    name: ClassVar[str] = "lpo"
    description: ClassVar[str] = ("London Philharmonic (Philharmonia) samples: <instrument>/"
                                  "<instrument>_<note>_<length>_<dynamic>_<articulation>.mp3 "
                                  "(S4, 19 classes)")
    field_names: ClassVar[tuple[str, ...]] = ("instrument", "source", "source_instrument", "note",
                                              "length", "dynamic", "articulation")
    option_help: ClassVar[dict[str, str]] = {
        "extensions": "audio file suffixes to read (comma-separated)",
        "include_other": "keep instruments outside the 19 S4 classes (percussion)",
        "flute_family": "count alto and bass flute as flute",
    }

    extensions: tuple[str, ...] = (".mp3", ".wav", ".flac")
    include_other: bool = False
    flute_family: bool = True

    def file_fields(self, path: Path, root: Path) -> dict[str, Any] | str:
        return lpo_fields(path, root, include_other=self.include_other,
                          flute_family=self.flute_family)
