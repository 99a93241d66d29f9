"""Vocal/accompaniment separation.

``harmonic`` (pitch-informed harmonic masking weighed with REPET-SIM, no weights) is the default;
``repet`` (REPET-SIM soft masks) and ``hpss`` (a baseline) are weight-free too;
``umx`` (Open-Unmix) and ``demucs`` load weights from a local folder and need their optional
package.

Library entry points:

- :func:`separate_file` -> :class:`SeparatedStems` (stem files named by a template, atomic writes,
  chunked overlap-add in bounded memory, finished outputs skipped);
- :func:`cached_vocals` -> path of the vocals of a file in the cache (for ``--separate METHOD``);
- :func:`get_separator` and ``Separator.separate_array`` for in-memory arrays;
- :func:`si_sdr` / :func:`si_sdr_improvement` for evaluation.
"""

from vocaltools.separation.base import SOURCES, Separator, StemArrays
from vocaltools.separation.cache import cached_vocals, default_cache_dir
from vocaltools.separation.chunked import separate_chunked, separate_stream
from vocaltools.separation.files import (DEFAULT_TEMPLATE, SeparatedStems, output_paths,
                                         separate_file)
from vocaltools.separation.metrics import si_sdr, si_sdr_improvement
from vocaltools.separation.registry import (DEFAULT_METHOD, get_separator, list_methods,
                                            parse_options)

__all__ = ["SOURCES", "Separator", "StemArrays", "cached_vocals", "default_cache_dir",
           "separate_chunked", "separate_stream", "DEFAULT_TEMPLATE", "SeparatedStems",
           "output_paths", "separate_file", "si_sdr", "si_sdr_improvement", "DEFAULT_METHOD",
           "get_separator", "list_methods", "parse_options"]
