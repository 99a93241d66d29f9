"""`vocaltools models`."""

from __future__ import annotations

from vocaltools.cli.common import not_available


def models() -> None:
    """Not available yet."""
    not_available("models")
