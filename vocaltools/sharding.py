"""Splitting a collection over machines (``--shard K/N``).

Shard ``K`` of ``N`` (1-based) keeps an item by one of two rules:

- ``"hash"`` (default): ``1 + int(sha256(item_id)[:8 bytes]) % N``. The assignment of an item depends
  on its id and ``N`` only (never on Python's salted ``hash``, the machine, or the other items), so
  shards agree even when machines list the collection differently or files are added later. Shard
  sizes are balanced only on average (binomial spread: about ``sqrt(n/N)`` items).
- ``"index"``: sort the ids, then item ``i`` goes to shard ``1 + i % N``: sizes differ by at most
  one, but every machine must see exactly the same list of ids.

Either way every item lands in exactly one of the ``N`` shards. The commands that take ``--shard``
(``featurize``, ``separate``, ``predict``, ``embed``) use the ``"hash"`` rule on their item id;
:mod:`vocaltools.merging` joins what the shards wrote.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Callable, Iterable, TypeVar

from vocaltools.errors import InputError

T = TypeVar("T")

SHARD_METHODS = ("hash", "index")
_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __post_init__(self):
        if not 1 <= self.index <= self.count:
            raise InputError(f"shard {self.index}/{self.count}: K must lie in 1..N")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"K/N"`` -> :class:`Shard`; :class:`InputError` unless ``1 <= K <= N``.

    >>> parse_shard("2/8")
    Shard(index=2, count=8)
    """
    match = _SHARD_RE.match(str(text))
    if not match:
        raise InputError(f"invalid shard {text!r}: expected K/N with 1 <= K <= N, e.g. 1/4 "
                         "(the first of 4 shards)")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise InputError(f"invalid shard {text!r}: K must lie in 1..N and N >= 1 (shards are "
                         f"numbered from 1), e.g. 1/{max(count, 1)}")
    return Shard(index, count)


def shard_of(item_id: str, count: int) -> int:
    """The 1-based shard of ``item_id`` among ``count`` under the ``"hash"`` rule."""
    if count < 1:
        raise InputError(f"the number of shards must be >= 1; got {count}")
    digest = hashlib.sha256(str(item_id).encode("utf-8")).digest()
    return 1 + int.from_bytes(digest[:8], "big") % count


def select_shard(items: Iterable[T], *, shard: Shard | str, key: Callable[[T], str] = str,
                 method: str = "hash") -> list[T]:
    """The items of ``shard`` in their input order. ``key`` gives an item's id (default: ``str``).

    ``method``: ``"hash"`` or ``"index"`` (see the module docstring)."""
    if isinstance(shard, str):
        shard = parse_shard(shard)
    items = list(items)
    if method == "hash":
        return [item for item in items if shard_of(key(item), shard.count) == shard.index]
    if method == "index":
        ids = sorted({key(item) for item in items})
        rank = {item_id: i for i, item_id in enumerate(ids)}
        return [item for item in items if 1 + rank[key(item)] % shard.count == shard.index]
    raise InputError(f"unknown shard method {method!r}; valid: {', '.join(SHARD_METHODS)}")
