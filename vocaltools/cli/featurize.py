"""`vocaltools featurize`."""

from __future__ import annotations

from vocaltools.cli.common import not_available


def featurize() -> None:
    """Not available yet."""
    not_available("featurize")
