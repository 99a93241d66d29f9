"""`vocaltools train`."""

from __future__ import annotations

from vocaltools.cli.common import not_available


def train() -> None:
    """Not available yet."""
    not_available("train")
