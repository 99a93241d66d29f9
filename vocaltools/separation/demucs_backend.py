"""Demucs (Défossez et al.) from a local model folder. The ``demucs`` package is imported lazily
(optional dependency, ``pip install demucs``); weights are never downloaded.

The weights folder is a demucs "repo": ``<name>.yaml`` bundles (e.g. ``htdemucs.yaml``) and/or
``<signature>.th`` checkpoints, as in demucs' ``remote/`` folder. Note that demucs' own loader
unpickles its checkpoints: use weights from a source you trust.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vocaltools.errors import ConfigError, ModelError
from vocaltools.separation.base import (PretrainedSeparator, StemArrays, check_chunking,
                                        list_folder, weights_folder)

INSTALL_HINT = "install the optional package with 'pip install demucs'"
WEIGHTS_HINT = ("put a demucs model there: '<name>.yaml' plus its '<signature>.th' files (e.g. "
                "htdemucs.yaml and 955717e8-8726e21a.th) or a single '<name>.th'")


@dataclass(frozen=True)
class DemucsConfig:
    """Settings of :class:`DemucsSeparator`: model name in the folder, random shifts, demucs'
    internal split overlap, and the chunking of long files."""
    name: str = "htdemucs"
    shifts: int = 1
    split_overlap: float = 0.25
    chunk_seconds: float = 60.0
    overlap_seconds: float = 2.0

    def __post_init__(self) -> None:
        if self.shifts < 0 or not 0 <= self.split_overlap < 1:
            raise ConfigError(f"demucs: need shifts >= 0 and 0 <= split_overlap < 1, got "
                              f"{self.shifts} and {self.split_overlap}")
        check_chunking("demucs", chunk_seconds=self.chunk_seconds,
                       overlap_seconds=self.overlap_seconds)


def check_demucs_weights(weights: Path | None, *, name: str) -> Path:
    """The weights folder, if it holds model ``name``; :class:`ModelError` otherwise."""
    weights = weights_folder(weights, method="demucs", hint=WEIGHTS_HINT)
    if not ((weights / f"{name}.yaml").is_file() or list(weights.glob(f"{name}*.th"))):
        raise ModelError(f"demucs weights folder {weights} holds neither {name}.yaml nor "
                         f"{name}*.th (found: {list_folder(weights)}); {WEIGHTS_HINT}")
    return weights


class DemucsSeparator(PretrainedSeparator):
    """Demucs sources; vocals = its vocals source, accompaniment = the sum of the others."""

    method = "demucs"
    config_class = DemucsConfig
    package = "demucs"
    install_hint = INSTALL_HINT

    def __init__(self, config: DemucsConfig | None = None, *, weights: Path | None,
                 device: str = "cpu") -> None:
        super().__init__(config, device=device)
        self.weights = check_demucs_weights(weights, name=self.config.name)
        pretrained = self.import_package("demucs.pretrained")
        try:
            self.model = pretrained.get_model(self.config.name, repo=self.weights)
        except Exception as error:  # demucs raises its own ModelLoadingError and others
            raise ModelError(f"demucs: cannot load model {self.config.name!r} from "
                             f"{self.weights} ({error})") from error
        if "vocals" not in self.model.sources:
            raise ModelError(f"demucs model {self.config.name!r} has no vocals source "
                             f"(sources: {', '.join(self.model.sources)})")
        self.model.to(device).eval()
        self.sample_rate = int(self.model.samplerate)

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, **asdict(self.config), "sample_rate": self.sample_rate}

    def separate_array(self, mixture: np.ndarray, *, sample_rate: int) -> StemArrays:
        import torch
        from demucs.apply import apply_model

        if sample_rate != self.sample_rate:
            raise ConfigError(f"demucs works at {self.sample_rate} Hz, got {sample_rate} Hz")
        mixture = np.asarray(mixture, dtype=np.float32)
        if mixture.shape[0] == 0:
            return StemArrays(vocals=mixture.copy(), accompaniment=mixture.copy())
        # [n] -> [channels, n]; normalised as demucs' own separate command does
        wav = torch.from_numpy(mixture)[None, :].repeat(self.model.audio_channels, 1)
        mean, std = wav.mean(), wav.std().clamp_min(1e-8)
        with torch.inference_mode():
            sources = apply_model(self.model, ((wav - mean) / std)[None].to(self.device),
                                  shifts=self.config.shifts, split=True,
                                  overlap=self.config.split_overlap, progress=False)[0]
        sources = (sources * std + mean).mean(dim=1).cpu().numpy()  # [sources, n]
        index = self.model.sources.index("vocals")
        vocals = sources[index]
        accompaniment = sources.sum(axis=0) - vocals
        return StemArrays(vocals=vocals.astype(np.float32),
                          accompaniment=accompaniment.astype(np.float32))
