"""Datasets: :class:`AudioItem` (one file, its id and label fields), resolving command-line inputs
and labels into items (:mod:`vocaltools.datasets.inputs`), and the paper datasets' folder layouts
(:mod:`vocaltools.datasets.layouts`)."""

from vocaltools.datasets.items import AudioItem

__all__ = ["AudioItem"]
