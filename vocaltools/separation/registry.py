"""Separators by name. ``harmonic`` is the weight-free default; ``repet`` and ``hpss`` are
weight-free alternatives;
``umx`` (Open-Unmix) and ``demucs`` need their optional package and weights in a local folder.

Options are the fields of each method's config dataclass; unknown names list the valid ones.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vocaltools.errors import ConfigError, did_you_mean

if TYPE_CHECKING:  # the registry itself stays light: the CLI reads its names for --help
    from vocaltools.separation.base import Separator

DEFAULT_METHOD = "harmonic"


@dataclass(frozen=True)
class MethodSpec:
    """One registered separation method: its config and separator classes live in ``module``
    under the names ``config_name`` and ``separator_name``, imported when first used (so that
    listing the methods imports no separator)."""
    name: str
    summary: str
    needs_weights: bool
    module: str
    config_name: str
    separator_name: str

    def config_class(self) -> type:
        return getattr(importlib.import_module(self.module), self.config_name)

    def factory(self, config: Any, weights: Path | None, device: str) -> Separator:
        """The separator with ``config``; ``weights`` and ``device`` go to the pretrained ones."""
        separator_class = getattr(importlib.import_module(self.module), self.separator_name)
        if self.needs_weights:
            return separator_class(config, weights=weights, device=device)
        return separator_class(config)


_PACKAGE = "vocaltools.separation"

METHODS: dict[str, MethodSpec] = {
    "harmonic": MethodSpec("harmonic", "pitch-informed harmonic masking: a comb at the harmonics "
                           "of the tracked predominant f0, weighed with REPET-SIM (no weights)",
                           False, f"{_PACKAGE}.harmonic", "HarmonicConfig", "HarmonicSeparator"),
    "repet": MethodSpec("repet", "REPET-SIM similarity filtering with soft masks (no weights)",
                        False, f"{_PACKAGE}.repet", "RepetConfig", "RepetSeparator"),
    "hpss": MethodSpec("hpss", "two-stage harmonic/percussive separation (no weights, baseline)",
                       False, f"{_PACKAGE}.hpss", "HpssConfig", "HpssSeparator"),
    "umx": MethodSpec("umx", "Open-Unmix (e.g. umxhq), weights from --weights DIR; needs "
                      "'pip install openunmix'", True, f"{_PACKAGE}.umx", "UmxConfig",
                      "UmxSeparator"),
    "demucs": MethodSpec("demucs", "Demucs, weights from --weights DIR; needs 'pip install demucs'",
                         True, f"{_PACKAGE}.demucs_backend", "DemucsConfig", "DemucsSeparator"),
}


def list_methods() -> list[MethodSpec]:
    return list(METHODS.values())


def get_method(name: str) -> MethodSpec:
    """The :class:`MethodSpec` called ``name``; :class:`ConfigError` naming the valid ones."""
    if name not in METHODS:
        raise ConfigError(f"unknown separation method {name!r}; valid: "
                          f"{', '.join(METHODS)}{did_you_mean(name, METHODS)}")
    return METHODS[name]


def make_config(method: str, **options: Any) -> Any:
    """The config dataclass of ``method`` with ``options`` applied (unknown keys are an error)."""
    config_class = get_method(method).config_class()
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ConfigError(f"{method}: unknown option(s) {', '.join(unknown)}; valid: "
                          f"{', '.join(fields)}{did_you_mean(unknown[0], fields)}")
    return config_class(**options)


def get_separator(method: str = DEFAULT_METHOD, *, weights: str | Path | None = None,
                  device: str = "cpu", **options: Any) -> Separator:
    """Build the separator ``method`` with config ``options``; ``weights`` is the local weights
    folder of ``umx``/``demucs`` (ignored with a :class:`ConfigError` for weight-free methods)."""
    spec = get_method(method)
    if weights is not None and not spec.needs_weights:
        raise ConfigError(f"{method} uses no weights; drop --weights or pick umx/demucs")
    config = make_config(method, **options)
    return spec.factory(config, Path(weights) if weights is not None else None, device)


def parse_options(pairs: list[str] | tuple[str, ...], *, method: str) -> dict[str, Any]:
    """``["key=value", ...]`` -> options typed after the fields of ``method``'s config."""
    config_class = get_method(method).config_class()
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    defaults = config_class()
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"option {pair!r} is not KEY=VALUE")
        if key not in fields:
            make_config(method, **{key: None})  # raises the unknown-option message
        default = getattr(defaults, key)
        options[key] = _parse_value(text.strip(), default=default, where=f"{method}.{key}")
    return options


def _parse_value(text: str, *, default: Any, where: str) -> Any:
    if text.lower() in ("none", "null"):
        return None
    try:
        if isinstance(default, bool):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if isinstance(default, int) or default is None and text.lstrip("-").isdigit():
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError as error:
        raise ConfigError(f"{where}: cannot read {text!r} as {type(default).__name__}") from error
    return text
