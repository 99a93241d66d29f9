"""From command-line inputs to :class:`AudioItem` records.

One resolver for every command that reads audio (featurize, predict, embed, separate).

Inputs are files, folders (searched recursively for :data:`~vocaltools.audio.AUDIO_EXTENSIONS`,
hidden names skipped, symlinked folders followed: :mod:`vocaltools.datasets.walk`), glob patterns
(``"data/**/*.flac"``, expanded here so quoting works), ``-`` (newline-separated inputs on stdin)
and, for the commands that read features (``stores=True``), feature stores (folders holding
:data:`~vocaltools.formats.store.STORE_META`), whose items are read rather than featurized. Item ids
(:func:`item_id_for`) are paths relative to the input root without extension: a folder is the root
of the files found in it; named files, glob matches and stdin paths share one root, the deepest
folder containing them all. Files come in input order (a folder's sorted by path), each file once.

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
malformed CSV, an unknown label scheme, clashing item ids, a model folder given as audio) raise
:class:`InputError`. :func:`check_store_matches` is the one check that a store holds the features a
model was trained on.
"""

from __future__ import annotations

import csv
import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence, TextIO

from vocaltools.audio import AUDIO_EXTENSIONS
from vocaltools.datasets.items import AudioItem
from vocaltools.errors import InputError, did_you_mean

if TYPE_CHECKING:
    from vocaltools.features.config import FeatureConfig
    from vocaltools.formats.store import FeatureStore

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
    """Audio items, per-input failures, the files of the inputs that a label CSV does not list
    (``unlisted``; they are not items) and, with ``stores=True``, the feature stores among the
    inputs (in input order)."""

    items: tuple[AudioItem, ...]
    failures: tuple[InputFailure, ...]
    unlisted: tuple[str, ...] = ()
    stores: tuple[FeatureStore, ...] = ()


@dataclass(frozen=True)
class _Found:
    root: Path | None  # None: a loose file, whose root is shared with the other loose files
    path: Path


@dataclass(frozen=True)
class ExpandedInputs:
    """What :func:`expand_inputs` found: files with their roots, stores, failures."""

    found: tuple[_Found, ...]
    stores: tuple[FeatureStore, ...]
    failures: tuple[InputFailure, ...]


def _is_glob(text: str) -> bool:
    return any(char in text for char in "*?[")


def _scan_folder(folder: Path, extensions: Sequence[str]) -> list[Path]:
    from vocaltools.datasets.walk import find_files

    return sorted(find_files(folder, extensions=extensions))  # by path, whatever the walk


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
                  extensions: Sequence[str] = AUDIO_EXTENSIONS,
                  stores: bool = False) -> ExpandedInputs:
    """Files with their roots, in input order (duplicates of one file dropped), feature stores
    (``stores=True``; else a store folder is searched for audio like any folder) and failures.
    A model folder among the inputs is an :class:`InputError`: it is never audio."""
    import sys

    from vocaltools.checkpoint import CHECKPOINT_NAME
    from vocaltools.formats.store import FeatureStore

    entries: list[str] = []
    for text in inputs:
        if text == "-":
            entries.extend(read_input_list(stdin if stdin is not None else sys.stdin))
        else:
            entries.append(text)
    failures: list[InputFailure] = []
    found: list[_Found] = []
    store_list: list[FeatureStore] = []
    for text in entries:
        if _is_glob(text) and not Path(text).exists():
            matches = sorted(glob.glob(text, recursive=True))
            for match in matches:
                if Path(match).is_dir():
                    found.extend(_Found(Path(os.path.abspath(match)), Path(os.path.abspath(f)))
                                 for f in _scan_folder(Path(match), extensions))
                elif Path(match).is_file():
                    found.append(_Found(None, Path(os.path.abspath(match))))
            if not matches:
                failures.append(InputFailure(text, "the pattern matched no files"))
            continue
        path = Path(text)
        if path.is_dir() and stores and FeatureStore(path).exists():
            store_list.append(FeatureStore(path))
        elif path.is_dir() and (path / CHECKPOINT_NAME).is_file():
            hint = f"; give it with --model {path}" if stores else ""
            raise InputError(f"{path}: a model folder (it holds {CHECKPOINT_NAME}), not audio"
                             f"{' or a feature store' if stores else ''}{hint}")
        elif path.is_dir():
            files = _scan_folder(path, extensions)
            if not files:
                failures.append(InputFailure(text, f"no audio files in this folder (looked for "
                                                   f"{', '.join(extensions)})"))
            root = Path(os.path.abspath(path))
            found.extend(_Found(root, Path(os.path.abspath(f))) for f in files)
        elif path.exists():
            found.append(_Found(None, Path(os.path.abspath(path))))
        else:
            failures.append(InputFailure(text, "no such file or folder"))
    loose = [entry.path for entry in found if entry.root is None]
    if loose:
        loose_root = Path(os.path.commonpath([str(p.parent) for p in loose]))
        found = [_Found(loose_root, entry.path) if entry.root is None else entry
                 for entry in found]
    seen: set[Path] = set()
    unique = []
    for entry in found:
        if entry.path not in seen:
            seen.add(entry.path)
            unique.append(entry)
    return ExpandedInputs(tuple(unique), tuple(store_list), tuple(failures))


def list_audio_files(inputs: Sequence[str | os.PathLike], *, stdin: TextIO | None = None
                     ) -> list[tuple[str, Path]]:
    """``(item_id, file)`` of every audio file that ``inputs`` name, as every command sees them
    (failures left out)."""
    expanded = expand_inputs([str(p) for p in inputs], stdin=stdin)
    return [(item_id_for(entry.path, entry.root), entry.path) for entry in expanded.found]


def store_features(store: FeatureStore) -> FeatureConfig:
    """The feature settings ``store`` was made with (its :data:`STORE_META`), typed."""
    from vocaltools.errors import ConfigError
    from vocaltools.features.config import FeatureConfig

    try:
        return FeatureConfig.from_dict(store.feature_config())
    except ConfigError as error:
        raise InputError(f"{store.root}: its feature settings cannot be read ({error})") from error


def check_store_matches(store: FeatureStore, *, features: FeatureConfig, model: str) -> None:
    """A store must hold the features the model ``model`` was trained on (``features``): the
    same settings, compared as typed configs, so that keys a store leaves at their defaults do
    not count."""
    have = store_features(store)
    if have == features:
        return
    want = features.preset
    got = have.preset if have.preset != want else f"{have.preset} with other settings"
    raise InputError(f"{store.root}: features were computed with {got!r}, but the model "
                     f"{model!r} was trained on {want!r}; give the audio files instead (they are "
                     f"featurized with the model's settings) or featurize again with "
                     f"'--preset {want}'")


def item_id_for(path: Path, root: Path) -> str:
    """``path`` relative to ``root``, without extension, ``/``-separated."""
    relative = path.relative_to(root)
    return relative.with_suffix("").as_posix()


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


def resolve_inputs(inputs: Sequence[str | os.PathLike], *, labels: str = "dirname",
                   stdin: TextIO | None = None, strict: bool = False,
                   stores: bool = False) -> ResolvedInputs:
    """Items (with label fields) and per-input failures for ``inputs`` (see module docstring).
    ``strict``: a file of the inputs that the label CSV does not list is a failure. ``stores``:
    feature stores among the inputs are kept as stores (with ``dirname`` or ``none`` labels)."""
    inputs = [str(text) for text in inputs]
    if labels.startswith("csv:"):
        return _resolve_csv(inputs, Path(labels[len("csv:"):]), stdin=stdin, strict=strict)
    if not inputs:
        what = "feature stores, audio files, folders or '-'" if stores else (
            "audio files, folders or '-' (or --labels csv:FILE to featurize the rows of a "
            "metadata CSV)")
        raise InputError(f"no inputs: give {what}")
    if labels in ("dirname", "none"):
        expanded = expand_inputs(inputs, stdin=stdin, stores=stores)
        items: list[AudioItem] = []
        for entry in expanded.found:
            fields = {"label": entry.path.parent.name} if labels == "dirname" else {}
            items.append(AudioItem(item_id_for(entry.path, entry.root), entry.path, fields))
        return ResolvedInputs(tuple(_check_unique(items)), expanded.failures,
                              stores=expanded.stores)
    return _resolve_layout(inputs, labels)


def _resolve_csv(inputs: Sequence[str], csv_path: Path, *, stdin: TextIO | None,
                 strict: bool) -> ResolvedInputs:
    """The items of a label CSV: its rows (no inputs), or the listed files among the inputs."""
    rows = _read_label_csv(csv_path)
    failures: list[InputFailure] = []
    unlisted: list[str] = []
    if inputs:
        expanded = expand_inputs(inputs, stdin=stdin)
        failures = list(expanded.failures)
        listed = []
        for entry in expanded.found:
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
