"""`vocaltools evaluate`."""

from __future__ import annotations

from vocaltools.cli.common import not_available


def evaluate() -> None:
    """Not available yet."""
    not_available("evaluate")
