"""`vocaltools predict`."""

from __future__ import annotations

from vocaltools.cli.common import not_available


def predict() -> None:
    """Not available yet."""
    not_available("predict")
