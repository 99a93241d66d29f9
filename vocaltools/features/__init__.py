"""Feature front ends, their frozen configs, the seed papers' presets and the computation.

>>> from vocaltools.features import FeatureConfig, get_preset
>>> config = get_preset("fgnl")
>>> config.sample_rate, config.hop_length, config.frames_per_second
(16000, 512, 31.25)
>>> FeatureConfig.from_dict(config.to_dict()) == config
True

The names are imported on first use, so that the configs and presets (plain dataclasses) import
without numpy: the command line reads its preset list from :data:`PRESETS` at start-up.
"""

from __future__ import annotations

from vocaltools.lazy import lazy_exports

#: exported name -> the module of vocaltools.features that defines it
_EXPORTS = {
    "FeatureBlock": "compute", "FeatureResult": "compute", "compute_features": "compute",
    "featurize_file": "compute", "iter_feature_blocks": "compute",
    "FRONT_ENDS": "config", "Cqt": "config", "FeatureConfig": "config", "LogMel": "config",
    "Melody": "config", "MultiRes": "config", "Stft": "config",
    "PRESETS": "presets", "get_preset": "presets",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
