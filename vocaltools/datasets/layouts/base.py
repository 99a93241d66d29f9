"""What every dataset layout shares: options as dataclass fields, file walking, item ids.

A layout is a frozen dataclass. Its fields are its options (every field has a default, so the
registry holds ready-to-use instances); :func:`with_options` returns a copy with options parsed from
``KEY=VALUE`` strings, as the CLI's ``--option`` gives them. ``scan(root)`` returns the items;
``scan_report(root)`` also returns the files it skipped and why.
"""

from __future__ import annotations

import abc
import csv
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator, Mapping

from vocaltools.datasets.items import AudioItem
from vocaltools.errors import ConfigError, InputError, did_you_mean


@dataclass(frozen=True)
class Skipped:
    """A file under the dataset root that the layout did not turn into an item, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class ScanResult:
    """The items a layout found (sorted by ``item_id``) and the files it skipped."""

    items: tuple[AudioItem, ...]
    skipped: tuple[Skipped, ...]


@dataclass(frozen=True)
class Layout(abc.ABC):
    """Base class of the dataset layouts. Subclasses set the class variables and ``_scan``."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: the fields every item carries (labels and grouping fields), in CSV column order
    field_names: ClassVar[tuple[str, ...]] = ()
    #: help text of each option (dataclass field)
    option_help: ClassVar[Mapping[str, str]] = {}

    def scan(self, root: Path) -> list[AudioItem]:
        """The items under ``root``, sorted by ``item_id``."""
        return list(self.scan_report(root).items)

    def scan_report(self, root: Path) -> ScanResult:
        """The items under ``root`` and the files skipped, with reasons."""
        root = Path(root)
        if not root.is_dir():
            raise InputError(f"{root}: no such folder; give the root folder of the {self.name} "
                             "dataset")
        items, skipped = self._scan(root)
        ids: dict[str, AudioItem] = {}
        for item in items:
            if item.item_id in ids:
                raise InputError(f"{root}: two audio files share the item id {item.item_id!r} "
                                 f"({ids[item.item_id].audio_path.name}, {item.audio_path.name}); "
                                 "keep one format of each file")
            ids[item.item_id] = item
        if not ids:
            reasons = "; ".join(f"{s.path}: {s.reason}" for s in skipped[:3])
            raise InputError(f"{root}: found no {self.name} audio files"
                             + (f" ({reasons})" if reasons else "")
                             + f". Expected layout: {self.description}")
        return ScanResult(items=tuple(ids[k] for k in sorted(ids)),
                          skipped=tuple(sorted(skipped, key=lambda s: s.path)))

    @abc.abstractmethod
    def _scan(self, root: Path) -> tuple[list[AudioItem], list[Skipped]]:
        """Items (any order) and skipped files of ``root``, which exists."""

    def options(self) -> dict[str, Any]:
        """The current option values, by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


# -- options ---------------------------------------------------------------------------------------

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_value(layout: Layout, key: str, text: str) -> Any:
    default = getattr(layout, key)
    if isinstance(default, bool):
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"layout {layout.name}: option {key} expects true or false, got {text!r}")
    for kind, expected in ((int, "an integer"), (float, "a number")):
        if isinstance(default, kind):
            try:
                return kind(text)
            except ValueError as error:
                raise ConfigError(f"layout {layout.name}: option {key} expects {expected}, "
                                  f"got {text!r}") from error
    if isinstance(default, tuple):
        return tuple(part.strip() for part in text.split(",") if part.strip())
    return text


def with_options(layout: Layout, options: Mapping[str, str] | Iterable[str]) -> Layout:
    """A copy of ``layout`` with options set from ``{key: text}`` or ``["key=text", ...]``.

    Text is converted to the option's type (bool: true/false, int, float, comma-separated tuple).
    """
    if not isinstance(options, Mapping):
        parsed: dict[str, str] = {}
        for entry in options:
            key, sep, value = entry.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"layout option {entry!r} is not KEY=VALUE")
            parsed[key.strip()] = value
        options = parsed
    valid = [f.name for f in dataclasses.fields(layout)]
    changes: dict[str, Any] = {}
    for key, text in options.items():
        if key not in valid:
            raise ConfigError(f"layout {layout.name} has no option {key!r} (options: "
                              f"{', '.join(valid) or 'none'}){did_you_mean(key, valid)}")
        changes[key] = _parse_value(layout, key, str(text))
    return dataclasses.replace(layout, **changes)


# -- helpers for the layouts -----------------------------------------------------------------------

def iter_files(root: Path, *, extensions: Iterable[str]) -> Iterator[Path]:
    """Files under ``root`` whose suffix (case-insensitive) is one of ``extensions`` (``.wav``),
    sorted, skipping hidden files and folders and following symlinked folders
    (:func:`vocaltools.datasets.walk.find_files`)."""
    from vocaltools.datasets.walk import find_files

    return iter(sorted(find_files(root, extensions=extensions)))


def item_id_of(path: Path, root: Path) -> str:
    """``path`` relative to ``root``, without extension, in posix form."""
    return path.relative_to(root).with_suffix("").as_posix()


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file with a header (UTF-8, BOM tolerated); cells stripped."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None:
                raise InputError(f"{path}: empty CSV file; expected a header row")
            return [{(k or "").strip(): (v or "").strip() for k, v in row.items()}
                    for row in reader]
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error})") from error
    except (UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"{path}: not a readable UTF-8 CSV file ({error})") from error


def pick_column(columns: Iterable[str], *, wanted: str, candidates: Iterable[str], where: str,
                what: str, option: str) -> str:
    """The column named ``wanted``, or else the first of ``candidates`` present (case-insensitive)."""
    columns = list(columns)
    lowered = {c.lower(): c for c in columns}
    if wanted:
        if wanted.lower() in lowered:
            return lowered[wanted.lower()]
        raise InputError(f"{where}: no column {wanted!r} for the {what} (columns: "
                         f"{', '.join(columns)}); set the option {option}=COLUMN")
    for candidate in candidates:
        if candidate.lower() in lowered:
            return lowered[candidate.lower()]
    raise InputError(f"{where}: cannot tell which column holds the {what} (columns: "
                     f"{', '.join(columns)}); set the option {option}=COLUMN")


@dataclass(frozen=True)
class FileFieldsLayout(Layout):
    """A layout that reads every audio file under ROOT whose suffix is in ``extensions`` and takes
    its fields from the file's own name and folders: subclasses give :meth:`file_fields`."""

    extensions: tuple[str, ...] = ()

    @abc.abstractmethod
    def file_fields(self, path: Path, root: Path) -> Mapping[str, Any] | str:
        """The fields of ``path``, or the reason it is skipped."""

    def _scan(self, root: Path) -> tuple[list[AudioItem], list[Skipped]]:
        items: list[AudioItem] = []
        skipped: list[Skipped] = []
        for path in iter_files(root, extensions=self.extensions):
            fields = self.file_fields(path, root)
            if isinstance(fields, str):
                skipped.append(Skipped(path.relative_to(root).as_posix(), fields))
                continue
            items.append(AudioItem(item_id=item_id_of(path, root), audio_path=path,
                                   fields=dict(fields)))
        return items, skipped
