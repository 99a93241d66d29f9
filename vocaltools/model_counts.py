"""Parameter counts of the registry's architectures at their paper configuration, cached.

Counting needs a build; models are built on torch's ``meta`` device (shapes only, no memory) and
the counts are cached in ``$VOCALTOOLS_HOME/cache/param-counts.json``, keyed by the software version
and each spec, so ``vocaltools models`` imports no torch once the cache is warm.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Iterable

from vocaltools import __version__
from vocaltools.errors import VocaltoolsError
from vocaltools.formats.io import atomic_path
from vocaltools.models.catalog import ModelSpec


def _key(spec: ModelSpec) -> str:
    return json.dumps({"version": __version__, **asdict(spec)}, sort_keys=True, default=str)


def count_spec(spec: ModelSpec) -> tuple[int | None, int | None]:
    """``(trainable, Keras count)`` of ``spec`` at its paper configuration; ``(None, None)`` when
    the architecture cannot be built (e.g. its module is missing)."""
    import torch

    from vocaltools.models.registry import build_model, count_params, count_params_keras

    try:
        with torch.device("meta"):
            model = build_model(spec.name)
    except (VocaltoolsError, ImportError):
        return None, None
    except (RuntimeError, NotImplementedError, TypeError, ValueError):
        model = build_model(spec.name)  # an operation the meta device lacks: build for real
    return count_params(model), count_params_keras(model)


def param_counts(specs: Iterable[ModelSpec]) -> dict[str, tuple[int | None, int | None]]:
    """``{name: (params, params_keras)}`` for ``specs``, from the cache where it is current."""
    from vocaltools.trained import home

    path = home() / "cache" / "param-counts.json"
    try:
        cache = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        cache = {}
    result: dict[str, tuple[int | None, int | None]] = {}
    changed = False
    for spec in specs:
        key = _key(spec)
        if key in cache:
            result[spec.name] = tuple(cache[key])
            continue
        counts = count_spec(spec)
        result[spec.name] = counts
        if counts[0] is not None:
            cache[key] = list(counts)
            changed = True
    if changed:
        try:
            with atomic_path(path) as tmp:
                tmp.write_text(json.dumps(cache, indent=1) + "\n", encoding="utf-8")
        except OSError:
            pass  # a read-only home: counts are recomputed next time
    return result
