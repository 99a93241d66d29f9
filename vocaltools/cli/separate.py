"""`vocaltools separate`."""

from __future__ import annotations

from vocaltools.cli.common import not_available


def separate() -> None:
    """Not available yet."""
    not_available("separate")
