"""Vocal/accompaniment separation.

``harmonic`` (pitch-informed harmonic masking weighed with REPET-SIM, no weights) is the default;
``repet`` (REPET-SIM soft masks) and ``hpss`` (a baseline) are weight-free too;
``umx`` (Open-Unmix) and ``demucs`` load weights from a local folder and need their optional
package.

Library entry points:

- :func:`separate_file` -> :class:`SeparatedStems` (stem files named by a template, atomic writes,
  chunked overlap-add in bounded memory, finished outputs skipped);
- :func:`separate_items` -> a :class:`SeparatedItem` per file (a batch, in worker processes with
  ``jobs``, going on past bad files);
- :func:`cached_vocals` -> path of the vocals of a file in the cache (for ``--separate METHOD``);
- :func:`get_separator` and ``Separator.separate_array`` for in-memory arrays;
- :func:`si_sdr` / :func:`si_sdr_improvement` for evaluation.
"""

from vocaltools.lazy import lazy_exports

#: where each public name lives; a module is imported when one of its names is first used, so
#: that importing the registry (the CLI's --help reads its method names) costs no NumPy
_EXPORTS = {
    "SOURCES": "base", "Separator": "base", "StemArrays": "base",
    "cached_vocals": "cache", "default_cache_dir": "cache",
    "separate_chunked": "chunked", "separate_stream": "chunked",
    "DEFAULT_TEMPLATE": "files", "SeparatedStems": "files", "output_paths": "files",
    "separate_file": "files",
    "si_sdr": "metrics", "si_sdr_improvement": "metrics",
    "DEFAULT_METHOD": "registry", "get_separator": "registry", "list_methods": "registry",
    "parse_options": "registry",
    "SeparatedItem": "batch", "separate_items": "batch",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
