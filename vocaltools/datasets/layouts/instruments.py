"""The 19 instrument classes of S4 and the names the two sample libraries use for them.

``instrument_class(name)`` maps a London Philharmonic (Philharmonia) folder or file-name prefix
(``double-bass``, ``cor anglais``, ``contrabassoon``) or a University of Iowa MIS name token
(``Bass``, ``BbClar``, ``Horn``, ``AltoSax``, ``TenorTrombone``) onto one of :data:`S4_CLASSES`, or
None when the instrument is not one of them (percussion, piano, marimba, ...).
"""

from __future__ import annotations

import re
from typing import Any

#: the 19 orchestral instrument classes of S4, in the paper's (alphabetical) order
S4_CLASSES: tuple[str, ...] = (
    "banjo", "bass-clarinet", "bassoon", "cello", "clarinet", "contra-bassoon", "cor-anglais",
    "double-bass", "flute", "french-horn", "guitar", "mandolin", "oboe", "saxophone", "trombone",
    "trumpet", "tuba", "viola", "violin")

# keys are names lower-cased with every non-letter removed
_ALIASES: dict[str, str] = {
    # Philharmonia spellings
    "bassclarinet": "bass-clarinet", "contrabassoon": "contra-bassoon",
    "doublebassoon": "contra-bassoon", "coranglais": "cor-anglais", "englishhorn": "cor-anglais",
    "doublebass": "double-bass", "contrabass": "double-bass", "frenchhorn": "french-horn",
    # Iowa MIS name tokens
    "bass": "double-bass", "bassarco": "double-bass", "basspizz": "double-bass",
    "bbclar": "clarinet", "bbclarinet": "clarinet", "ebclar": "clarinet", "ebclarinet": "clarinet",
    "clarinet": "clarinet", "bassclar": "bass-clarinet",
    "horn": "french-horn", "bbtrumpet": "trumpet", "ctrumpet": "trumpet",
    "trombone": "trombone", "tenortrombone": "trombone", "basstrombone": "trombone",
    "tbone": "trombone", "basstuba": "tuba",
    "sax": "saxophone", "altosax": "saxophone", "sopsax": "saxophone", "sopranosax": "saxophone",
    "tenorsax": "saxophone", "baritonesax": "saxophone", "barisax": "saxophone",
    "altosaxophone": "saxophone", "sopranosaxophone": "saxophone",
}
# alto and bass flutes count as flute unless the caller excludes them
_FLUTE_FAMILY = {"altoflute": "flute", "bassflute": "flute"}


def _key(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def class_fields(cls: str | None, parsed: dict[str, Any], *, source: str,
                 include_other: bool) -> dict[str, Any] | str:
    """The fields of a sample file whose S4 class is ``cls`` (``None``: outside the 19): the
    class, ``source`` and the ``parsed`` name fields; or the reason it is skipped (outside the 19
    and ``include_other`` is off; with it on, the file's own instrument name is its class)."""
    if cls is None:
        if not include_other:
            return f"instrument {parsed['source_instrument']!r} is not one of the 19 S4 classes"
        cls = parsed["source_instrument"]
    return {"instrument": cls, "source": source, **parsed}


def instrument_class(name: str, *, flute_family: bool = True) -> str | None:
    """The S4 class of an instrument name, or None when it is not one of the 19."""
    key = _key(name)
    for cls in S4_CLASSES:
        if key == _key(cls):
            return cls
    if key in _ALIASES:
        return _ALIASES[key]
    if flute_family and key in _FLUTE_FAMILY:
        return _FLUTE_FAMILY[key]
    return None
