"""The seed papers' dataset layouts, by name.

``LAYOUTS[name]`` is a ready-to-use layout (default options) with ``.name``, ``.description`` and
``.scan(root) -> list[AudioItem]``; ``vocaltools featurize --labels NAME`` and ``vocaltools dataset
scan NAME ROOT`` use them. :func:`get_layout` adds ``KEY=VALUE`` options and suggests the closest
name for a typo. Plain folders (``dirname``) and CSV files (``csv:FILE``) are read by
:mod:`vocaltools.datasets.inputs`, not here. See docs/datasets.md.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from vocaltools.datasets.layouts.artist20 import Artist20Layout
from vocaltools.datasets.layouts.base import Layout, ScanResult, Skipped, with_options
from vocaltools.datasets.layouts.damp import DampBalancedLayout, DampLayout
from vocaltools.datasets.layouts.gtsinger import GTSingerDemoLayout
from vocaltools.datasets.layouts.iowa import IowaLayout
from vocaltools.datasets.layouts.lpo import LPOLayout
from vocaltools.datasets.layouts.orchestral import OrchestralLayout
from vocaltools.datasets.layouts.vocalset import VocalSetLayout
from vocaltools.errors import ConfigError, did_you_mean

LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (
    Artist20Layout(), VocalSetLayout(), DampLayout(), DampBalancedLayout(), LPOLayout(),
    IowaLayout(), OrchestralLayout(), GTSingerDemoLayout())}


def get_layout(name: str, options: Mapping[str, str] | Iterable[str] = ()) -> Layout:
    """The layout called ``name`` with ``options`` (``{key: text}`` or ``["key=text"]``) applied."""
    if name not in LAYOUTS:
        raise ConfigError(f"unknown dataset layout {name!r} (layouts: {', '.join(LAYOUTS)})"
                          f"{did_you_mean(name, LAYOUTS)}")
    return with_options(LAYOUTS[name], options)


__all__ = ["LAYOUTS", "Layout", "ScanResult", "Skipped", "get_layout", "with_options"]
