"""Schema tags: every record and NPZ meta carries ``"schema": "vocaltools.<kind>/<version>"``.

Readers accept their own and older versions and refuse newer ones with a message to upgrade.
"""

from __future__ import annotations

from vocaltools.errors import FormatError

# kind -> current version written by this software
VERSIONS: dict[str, int] = {
    "item": 1,        # manifest.jsonl record of a feature store
    "store": 1,       # store.json of a feature store
    "features": 1,    # per-item NPZ of a feature store
    "prediction": 1,  # predict: one record per clip
    "vote": 1,        # vote: one record per item
    "split": 1,       # one record per item: item_id, split
    "history": 1,     # train: one record per epoch
    "report": 1,      # evaluate
    "embeddings": 1,  # embed NPZ
    "neighbors": 1,   # knn query
    "identity": 1,    # knn identify
    "index": 1,       # knn index meta
    "audio_item": 1,  # dataset scan: one audio file with its fields
    "run": 1,         # train: run.json, the identity of the run that owns a model folder
}


def schema_tag(kind: str) -> str:
    """``"vocaltools.<kind>/<version>"`` for the current version of ``kind``."""
    return f"vocaltools.{kind}/{VERSIONS[kind]}"


def parse_schema(tag: object, *, where: str) -> tuple[str, int]:
    """Split a schema tag into ``(kind, version)``; :class:`FormatError` if malformed."""
    if not isinstance(tag, str) or not tag.startswith("vocaltools.") or "/" not in tag:
        raise FormatError(f"{where}: missing or malformed schema tag {tag!r}; "
                          "expected 'vocaltools.<kind>/<version>'")
    kind, _, version = tag[len("vocaltools."):].partition("/")
    try:
        return kind, int(version)
    except ValueError as error:
        raise FormatError(f"{where}: malformed schema version in {tag!r}") from error


def check_schema(tag: object, *, expected: str | tuple[str, ...], where: str) -> tuple[str, int]:
    """Check that ``tag`` is one of the ``expected`` kinds at a version this software reads."""
    kind, version = parse_schema(tag, where=where)
    kinds = (expected,) if isinstance(expected, str) else expected
    if kind not in kinds:
        raise FormatError(f"{where}: expected a {' or '.join(kinds)} record, got {kind!r}")
    if version > VERSIONS[kind]:
        raise FormatError(f"{where}: {kind} version {version} is newer than this vocaltools reads "
                          f"(up to {VERSIONS[kind]}); upgrade vocaltools to read it")
    return kind, version
