"""Named feature settings of the seed papers (see SEEDS.md).

============  ==========  ===========================================================================
name          rate (Hz)   front ends
============  ==========  ===========================================================================
fgnl          16,000      log-mel 128, n_fft 2048, hop 512, amplitude_to_db of the power mel (S1 code)
fgnl-melody   16,000      the same + melody one-hot 128 x T (pyin, hop 512; ``featurize --melody-tracker
                          crepe``: S1's CREPE, full capacity, Viterbi)
nasrullah     16,000      log-mel 128, n_fft 2048, hop 512, power_to_db (S1's CRNN baseline)
wang2018      22,050      log-mel 96, n_fft 2048, hop 512, power_to_db with ref = the item's maximum,
                          clipped at -60 dB and offset by +60 -> values in [0, 60] (S2)
yamamoto2022  44,100      multi-resolution STFT dB: windows 2048/1024/512, n_fft 2048, hop 512 (S3)
wise-stft     22,050      STFT magnitude, n_fft 2048, hop 256, 1025 bins (S4)
wise-cqt      22,050      CQT magnitude, 252 bins, 36 per octave from C1, hop 256 (S4, inferred)
instruments   22,050      log-mel 64 from 30 Hz, n_fft 2048, hop 512, amplitude_to_db with ref = the
                          item's maximum, top_db 80 (the bundled instruments model; not a paper's)
ge2e          16,000      power mel 40, n_fft 400 (25 ms), hop 160 (10 ms), linear (no dB): the
                          front end of resemblyzer's pretrained GE2E encoder (``audio.py``)
musicnn       16,000      power mel 96, n_fft 512, hop 256, linear (no dB): the front end of the
                          pretrained musicnn tagger, which compresses it as log10(10000 mel + 1)
============  ==========  ===========================================================================

S2's reference level is not stated in the paper; ref = max is the reading under which "clipped below
-60 dB, offset to [0, 60]" holds for every item.
"""

from __future__ import annotations


from vocaltools.errors import ConfigError, did_you_mean
from vocaltools.features.config import Cqt, FeatureConfig, LogMel, Melody, MultiRes, Stft

#: the preset of ``featurize`` without ``--preset`` or ``--config``
DEFAULT_PRESET = "fgnl"

PRESETS: dict[str, FeatureConfig] = {
    "fgnl": FeatureConfig(16000, (LogMel(db="amplitude"),), preset="fgnl"),
    "fgnl-melody": FeatureConfig(16000, (LogMel(db="amplitude"), Melody()), preset="fgnl-melody"),
    "nasrullah": FeatureConfig(16000, (LogMel(db="power"),), preset="nasrullah"),
    "wang2018": FeatureConfig(22050, (LogMel(n_mels=96, db="power", ref="max", top_db=60.0,
                                             offset_db=60.0),), preset="wang2018"),
    "yamamoto2022": FeatureConfig(44100, (MultiRes(),), preset="yamamoto2022"),
    "wise-stft": FeatureConfig(22050, (Stft(n_fft=2048, hop_length=256),), preset="wise-stft"),
    "wise-cqt": FeatureConfig(22050, (Cqt(hop_length=256),), preset="wise-cqt"),
    "instruments": FeatureConfig(22050, (LogMel(n_fft=2048, hop_length=512, n_mels=64, fmin=30.0,
                                                ref="max", top_db=80.0),), preset="instruments"),
    "ge2e": FeatureConfig(16000, (LogMel(n_fft=400, hop_length=160, n_mels=40, db="none",
                                         top_db=None),), preset="ge2e"),
    "musicnn": FeatureConfig(16000, (LogMel(n_fft=512, hop_length=256, n_mels=96, db="none",
                                            top_db=None),), preset="musicnn"),
}


def get_preset(name: str) -> FeatureConfig:
    """The preset called ``name``; :class:`ConfigError` listing the valid names otherwise."""
    if name in PRESETS:
        return PRESETS[name]
    raise ConfigError(f"unknown feature preset {name!r}; valid: {', '.join(PRESETS)}"
                      f"{did_you_mean(name, PRESETS)}")
