"""`vocaltools embed`."""

from __future__ import annotations

from vocaltools.cli.common import not_available


def embed() -> None:
    """Not available yet."""
    not_available("embed")
