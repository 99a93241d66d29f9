"""From command-line inputs to :class:`AudioItem` records.

Inputs are files, folders (searched recursively for :data:`~vocaltools.audio.AUDIO_EXTENSIONS`,
hidden names skipped, symlinked folders followed: :mod:`vocaltools.datasets.walk`), glob patterns
(``"data/**/*.flac"``, expanded here so quoting works), and
``-`` (newline-separated inputs on stdin). Item ids are paths relative to the input root without
extension: a folder is the root of the files found in it; named files, glob matches and stdin paths
share one root, the deepest folder containing them all.

Labels (``--labels``):

- ``dirname``: ``fields = {"label": <name of the file's folder>}``;
- ``csv:FILE``: a CSV whose ``path`` column names each audio file relative to the CSV's folder;
  the other columns become fields (strings); an ``item_id`` column, where present (as written by
  ``vocaltools dataset scan -o FILE.csv``), gives the item ids, else they are the paths relative to
  the input folder (the CSV's folder when the CSV is the only input). The CSV is a manifest: with no
  other input, its rows are the items; with files or folders too, the listed files among them are,
  and the others are counted as ``unlisted`` (failures with ``strict``);
- ``none``: no fields;
- any other name: a dataset layout from :data:`vocaltools.datasets.layouts.LAYOUTS`, whose
  ``scan(root)`` lists the items of the one folder given as input; ``NAME:KEY=VALUE,KEY=VALUE``
  sets layout options (through ``layouts.get_layout``).

Problems with single inputs (a missing path, a pattern without matches, a missing listed file) are
collected as :class:`InputFailure` so that a batch goes on; problems with the request itself (a
malformed CSV, an unknown label scheme, clashing item ids) raise :class:`InputError`.
"""

from __future__ import annotations

import csv
import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence, TextIO

from vocaltools.audio import AUDIO_EXTENSIONS
from vocaltools.datasets.items import AudioItem
from vocaltools.errors import InputError, did_you_mean

BUILTIN_LABELS = ("dirname", "csv:FILE", "none")


@dataclass(frozen=True)
class InputFailure:
    """An input that yields no item: ``path`` and a ``reason`` that says why."""

    path: str
    reason: str

    @property
    def message(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class ResolvedInputs:
    """Items, per-input failures, and the files of the inputs that a label CSV does not list
    (``unlisted``; they are not items)."""

    items: tuple[AudioItem, ...]
    failures: tuple[InputFailure, ...]
    unlisted: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Found:
    root: Path
    path: Path


def _is_glob(text: str) -> bool:
    return any(char in text for char in "*?[")


def _scan_folder(folder: Path, extensions: Sequence[str]) -> list[Path]:
    from vocaltools.datasets.walk import find_files

    return find_files(folder, extensions=extensions)


def read_input_list(handle: TextIO, *, where: str = "stdin") -> list[str]:
    """Newline-separated inputs (blank lines and ``#`` comments skipped); binary data (audio piped
    in by mistake) is an :class:`InputError`, not a list of odd paths."""
    try:
        text = handle.read()
    except UnicodeDecodeError as error:
        raise InputError(f"{where}: binary data, not text ({error.reason} at byte {error.start}); "
                         f"{_INPUT_LIST_HINT}") from error
    # control characters other than tab and line ends never occur in a list of paths
    control = next((c for c in text if (ord(c) < 32 and c not in "\t\n\r") or ord(c) == 127), None)
    if control is not None:
        raise InputError(f"{where}: binary data, not a list of inputs (a control character "
                         f"{control!r}); {_INPUT_LIST_HINT}")
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


_INPUT_LIST_HINT = ("'-' reads audio paths, folders or patterns, one per line (e.g. find music -name "
                    "'*.flac' | vocaltools featurize - ...); give audio files as arguments")


def expand_inputs(inputs: Sequence[str], *, stdin: TextIO | None = None,
                  extensions: Sequence[str] = AUDIO_EXTENSIONS
                  ) -> tuple[list[_Found], list[InputFailure]]:
    """Files with their roots, in input order (duplicates of one file dropped), and failures."""
    import sys

    entries: list[str] = []
    for text in inputs:
        if text == "-":
            entries.extend(read_input_list(stdin if stdin is not None else sys.stdin))
        else:
            entries.append(text)
    failures: list[InputFailure] = []
    loose: list[Path] = []
    found: list[_Found] = []
    for text in entries:
        if _is_glob(text) and not Path(text).exists():
            matches = sorted(glob.glob(text, recursive=True))
            files = [Path(m) for m in matches if Path(m).is_file()]
            for match in matches:
                if Path(match).is_dir():
                    found.extend(_Found(Path(os.path.abspath(match)), Path(os.path.abspath(f)))
                                 for f in _scan_folder(Path(match), extensions))
            if not matches:
                failures.append(InputFailure(text, "the pattern matched no files"))
            loose.extend(files)
            continue
        path = Path(text)
        if path.is_dir():
            files = _scan_folder(path, extensions)
            if not files:
                failures.append(InputFailure(text, f"no audio files in this folder (looked for "
                                                   f"{', '.join(extensions)})"))
            root = Path(os.path.abspath(path))
            found.extend(_Found(root, Path(os.path.abspath(f))) for f in files)
        elif path.exists():
            loose.append(path)
        else:
            failures.append(InputFailure(text, "no such file or folder"))
    if loose:
        absolute = [Path(os.path.abspath(p)) for p in loose]
        root = Path(os.path.commonpath([str(p.parent) for p in absolute]))
        found.extend(_Found(root, p) for p in absolute)
    seen: set[Path] = set()
    unique = []
    for entry in found:
        if entry.path not in seen:
            seen.add(entry.path)
            unique.append(entry)
    return unique, failures


def item_id_for(path: Path, root: Path) -> str:
    """``path`` relative to ``root``, without extension, ``/``-separated."""
    relative = path.relative_to(root)
    return relative.with_suffix("").as_posix()


def loose_file_ids(paths: Sequence[str | os.PathLike]) -> list[str]:
    """Item ids of audio files given one by one: their paths relative to the folder they share,
    without extension, as ``featurize`` names them (one file: its stem; ``a/song.wav`` and
    ``b/song.wav``: ``a/song`` and ``b/song``, never one id for two files)."""
    if not paths:
        return []
    absolute = [Path(os.path.abspath(p)) for p in paths]
    root = Path(os.path.commonpath([str(p.parent) for p in absolute]))
    return [item_id_for(p, root) for p in absolute]


def _check_unique(items: Iterable[AudioItem]) -> list[AudioItem]:
    by_id: dict[str, AudioItem] = {}
    for item in items:
        if item.item_id in by_id:
            raise InputError(f"two inputs give the item id {item.item_id!r}: "
                             f"{by_id[item.item_id].audio_path} and {item.audio_path}; item ids are "
                             "paths relative to their input folder without extension, so give the "
                             "common parent folder instead, or rename one file")
        by_id[item.item_id] = item
    return list(by_id.values())


def _read_label_csv(csv_path: Path) -> dict[Path, dict[str, str]]:
    if not csv_path.is_file():
        raise InputError(f"{csv_path}: no such label CSV (from --labels csv:{csv_path})")
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        if "path" not in columns:
            raise InputError(f"{csv_path}: a label CSV needs a 'path' column (the audio file "
                             f"relative to the CSV); its columns are {columns}")
        rows: dict[Path, dict[str, str]] = {}
        for number, row in enumerate(reader, start=2):
            if None in row or not row.get("path"):
                raise InputError(f"{csv_path}:{number}: malformed row (missing path or extra cells)")
            full = Path(os.path.abspath(csv_path.parent / row["path"]))
            rows[full] = {k: v for k, v in row.items() if k != "path"}
    return rows


def _layouts_module():
    """``vocaltools.datasets.layouts`` (imported on first use), or None where it is absent."""
    import importlib

    try:
        return importlib.import_module("vocaltools.datasets.layouts")
    except ModuleNotFoundError as error:
        if error.name not in ("vocaltools.datasets.layouts",):
            raise
        return None


def _layouts() -> dict:
    module = _layouts_module()
    return dict(getattr(module, "LAYOUTS", {})) if module is not None else {}


def label_choices() -> list[str]:
    """Valid ``--labels`` values (built-in schemes and registered layouts)."""
    return [*BUILTIN_LABELS, *sorted(_layouts())]


def resolve_inputs(inputs: Sequence[str], *, labels: str = "dirname", stdin: TextIO | None = None,
                   strict: bool = False) -> ResolvedInputs:
    """Items (with label fields) and per-input failures for ``inputs`` (see module docstring).
    ``strict``: a file of the inputs that the label CSV does not list is a failure."""
    if labels.startswith("csv:"):
        return _resolve_csv(inputs, Path(labels[len("csv:"):]), stdin=stdin, strict=strict)
    if not inputs:
        raise InputError("no inputs: give audio files, folders or '-' (or --labels csv:FILE to "
                         "featurize the rows of a metadata CSV)")
    if labels in ("dirname", "none"):
        found, failures = expand_inputs(inputs, stdin=stdin)
        items: list[AudioItem] = []
        for entry in found:
            fields = {"label": entry.path.parent.name} if labels == "dirname" else {}
            items.append(AudioItem(item_id_for(entry.path, entry.root), entry.path, fields))
        return ResolvedInputs(tuple(_check_unique(items)), tuple(failures))
    return _resolve_layout(inputs, labels)


def _resolve_csv(inputs: Sequence[str], csv_path: Path, *, stdin: TextIO | None,
                 strict: bool) -> ResolvedInputs:
    """The items of a label CSV: its rows (no inputs), or the listed files among the inputs."""
    rows = _read_label_csv(csv_path)
    failures: list[InputFailure] = []
    unlisted: list[str] = []
    if inputs:
        found, failures = expand_inputs(inputs, stdin=stdin)
        listed = []
        for entry in found:
            if entry.path in rows:
                listed.append(entry)
            elif strict:
                failures.append(InputFailure(str(entry.path), f"not listed in the label CSV "
                                                              f"{csv_path}"))
            else:
                unlisted.append(str(entry.path))
    else:
        root = Path(os.path.abspath(csv_path.parent))
        listed = []
        for path in rows:
            if not path.exists():
                failures.append(InputFailure(str(path), f"no such file (listed in {csv_path})"))
            else:
                listed.append(_Found(root, path))
    items: list[AudioItem] = []
    for entry in listed:
        fields = dict(rows[entry.path])
        item_id = fields.pop("item_id", "")
        if not item_id:
            try:
                item_id = item_id_for(entry.path, entry.root)
            except ValueError:  # a row outside the CSV's folder ("../x.wav", an absolute path)
                failures.append(InputFailure(str(entry.path), f"outside the folder of {csv_path}; "
                                             "give it an item_id column, or the folder as input"))
                continue
        items.append(AudioItem(item_id, entry.path, fields))
    return ResolvedInputs(tuple(_check_unique(items)), tuple(failures), tuple(unlisted))


def _resolve_layout(inputs: Sequence[str], spec: str) -> ResolvedInputs:
    name, _, option_text = spec.partition(":")
    options = [text for text in option_text.split(",") if text]
    layouts = _layouts()
    if name not in layouts:
        valid = label_choices()
        hint = did_you_mean(name, valid)
        extra = "" if layouts else " (no dataset layouts are installed in this version)"
        raise InputError(f"unknown --labels {name!r}; valid: {', '.join(valid)}{extra}{hint}")
    if len(inputs) != 1 or not Path(inputs[0]).is_dir():
        raise InputError(f"--labels {name} reads a dataset folder: give exactly one folder "
                         f"(got {list(inputs)})")
    layout = layouts[name]
    if options:
        get_layout = getattr(_layouts_module(), "get_layout", None)
        if get_layout is None:
            raise InputError(f"--labels {spec}: this version's layouts take no options")
        layout = get_layout(name, options)
    items = layout.scan(Path(inputs[0]))
    return ResolvedInputs(tuple(_check_unique(items)), ())
