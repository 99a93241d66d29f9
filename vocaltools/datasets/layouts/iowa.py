"""The University of Iowa Musical Instrument Samples (MIS).

Files are named by dot-separated tokens, the instrument first, e.g.
``Violin.arco.ff.sulG.A4.stereo.aif``, ``Flute.nonvib.ff.A4.stereo.aif``,
``BbClar.ff.C4B4.aiff``, ``AltoSax.NoVib.mf.C4B4.aiff``, ``Bass.pizz.ff.sulE.C2B2.aiff``; the
note is a single pitch (``A4``, ``Bb3``) in the older releases and a range (``C4B4``: one chromatic
run per file) in the 2012 re-edit. Folders are not read.

Fields: ``instrument`` (one of the 19 S4 classes), ``source`` (``iowa``), ``source_instrument``,
``articulation`` (arco/pizz or ''), ``vibrato`` (vib/nonvib or ''), ``dynamic`` (pp/mf/ff ...),
``string`` (sulG ...), ``note`` (pitch or range), ``channels`` (stereo/mono or ''), ``other`` (any
remaining tokens, dot-joined). Instruments outside the 19 (piano, marimba, ...) are skipped unless
``include_other`` is set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from vocaltools.datasets.layouts.base import FileFieldsLayout
from vocaltools.datasets.layouts.instruments import class_fields, instrument_class

_NOTE = re.compile(r"^[A-G][b#]?\d(?:[A-G][b#]?\d)?$")
_DYNAMICS = {"ppp", "pp", "p", "mp", "mf", "f", "ff", "fff"}
_ARTICULATIONS = {"arco", "pizz", "pizzicato", "legato", "staccato", "tremolo", "harm"}
_VIBRATO = {"vib": "vib", "nonvib": "nonvib", "novib": "nonvib", "non-vib": "nonvib"}
_CHANNELS = {"stereo", "mono"}


def parse_iowa_name(stem: str) -> dict[str, str]:
    """``Violin.arco.ff.sulG.A4.stereo`` -> source_instrument, articulation, vibrato, dynamic,
    string, note, channels, other."""
    tokens = [t for t in stem.split(".") if t]
    fields = {"source_instrument": tokens[0] if tokens else "", "articulation": "", "vibrato": "",
              "dynamic": "", "string": "", "note": "", "channels": ""}
    other = []
    for token in tokens[1:]:
        lowered = token.lower()
        if lowered in _DYNAMICS and not fields["dynamic"]:
            fields["dynamic"] = lowered
        elif lowered in _ARTICULATIONS and not fields["articulation"]:
            fields["articulation"] = lowered
        elif lowered in _VIBRATO and not fields["vibrato"]:
            fields["vibrato"] = _VIBRATO[lowered]
        elif lowered.startswith("sul") and not fields["string"]:
            fields["string"] = "sul" + token[3:].lstrip("_").upper()
        elif _NOTE.match(token) and not fields["note"]:
            fields["note"] = token
        elif lowered in _CHANNELS and not fields["channels"]:
            fields["channels"] = lowered
        else:
            other.append(token)
    fields["other"] = ".".join(other)
    return fields


def iowa_fields(path: Path, *, include_other: bool, flute_family: bool) -> dict[str, Any] | str:
    """The fields of one Iowa MIS file, or the reason it is skipped."""
    parsed = parse_iowa_name(path.stem)
    cls = instrument_class(parsed["source_instrument"], flute_family=flute_family)
    return class_fields(cls, parsed, source="iowa", include_other=include_other)


@dataclass(frozen=True)
class IowaLayout(FileFieldsLayout):
    """University of Iowa MIS: ``<Instrument>.<tokens>.<note>[.stereo].aif`` anywhere under ROOT."""

    name: ClassVar[str] = "iowa"
    description: ClassVar[str] = ("University of Iowa MIS: **/<Instrument>.<articulation>.<dynamic>."
                                  "[sulX.]<note>[.stereo].aif[f] (S4, 19 classes)")
    field_names: ClassVar[tuple[str, ...]] = ("instrument", "source", "source_instrument",
                                              "articulation", "vibrato", "dynamic", "string",
                                              "note", "channels", "other")
    option_help: ClassVar[dict[str, str]] = {
        "extensions": "audio file suffixes to read (comma-separated)",
        "include_other": "keep instruments outside the 19 S4 classes (piano, percussion, ...)",
        "flute_family": "count alto and bass flute as flute",
    }

    extensions: tuple[str, ...] = (".aif", ".aiff", ".wav", ".flac")
    include_other: bool = False
    flute_family: bool = True

    def file_fields(self, path: Path, root: Path) -> dict[str, Any] | str:
        return iowa_fields(path, include_other=self.include_other,
                           flute_family=self.flute_family)
