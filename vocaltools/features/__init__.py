"""Feature front ends, their frozen configs, the seed papers' presets and the computation.

>>> from vocaltools.features import get_preset
>>> config = get_preset("fgnl")
>>> config.sample_rate, config.hop_length, config.frames_per_second
(16000, 512, 31.25)
>>> FeatureConfig.from_dict(config.to_dict()) == config
True
"""

from vocaltools.features.compute import (FeatureBlock, FeatureResult, compute_features,
                                         featurize_file, iter_feature_blocks)
from vocaltools.features.config import (FRONT_ENDS, Cqt, FeatureConfig, LogMel, Melody, MultiRes,
                                        Stft)
from vocaltools.features.presets import PRESETS, get_preset

__all__ = ["FRONT_ENDS", "PRESETS", "Cqt", "FeatureBlock", "FeatureConfig", "FeatureResult", "LogMel",
           "Melody", "MultiRes", "Stft", "compute_features", "featurize_file", "get_preset",
           "iter_feature_blocks"]
