"""`vocaltools vote`."""

from __future__ import annotations

from vocaltools.cli.common import not_available


def vote() -> None:
    """Not available yet."""
    not_available("vote")
