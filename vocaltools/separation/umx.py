"""Open-Unmix (Stöter et al. 2019) from local weights: the separator S1's vocal-only setting used
(umxhq, one Wiener iteration). The ``openunmix`` package is imported lazily (optional dependency,
``pip install openunmix``); weights are never downloaded.

The weights folder holds either
- the files of a published model, e.g. umxhq's ``vocals-b62c91ce.pth`` (a plain state dict;
  umxhq's architecture is assumed: 44.1 kHz, n_fft 4096, hop 1024, stereo, hidden size 512), or
- openunmix's own layout for a trained model: ``separator.json``, ``vocals.json``, ``vocals*.pth``.
Only the vocals model is needed: the accompaniment is the Wiener-filtered residual.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vocaltools.errors import ConfigError, ModelError
from vocaltools.separation.base import (PretrainedSeparator, StemArrays, check_chunking,
                                        list_folder, weights_folder)

INSTALL_HINT = ("install the optional package with 'pip install openunmix' (it imports torchaudio; "
                "pick the torchaudio build that matches your torch)")
WEIGHTS_HINT = ("put the vocals model there, e.g. umxhq's vocals-b62c91ce.pth (from the Open-Unmix "
                "release on zenodo, record 3370489), or a folder written by openunmix's training "
                "(separator.json, vocals.json, vocals.pth)")

# umxhq's architecture (openunmix.umxhq_spec): used when the folder holds only a .pth state dict
UMXHQ = {"sample_rate": 44100, "nfft": 4096, "nhop": 1024, "nb_channels": 2, "hidden_size": 512}


@dataclass(frozen=True)
class UmxConfig:
    """Settings of :class:`UmxSeparator`: EM (Wiener) iterations (1 as in S1), frames per Wiener
    window, and the chunking of long files."""
    niter: int = 1
    wiener_win_len: int = 300
    chunk_seconds: float = 30.0
    overlap_seconds: float = 1.0

    def __post_init__(self) -> None:
        if self.niter < 0:
            raise ConfigError(f"umx: niter must be >= 0, got {self.niter}")
        check_chunking("umx", chunk_seconds=self.chunk_seconds,
                       overlap_seconds=self.overlap_seconds)


def find_umx_weights(weights: Path | None) -> tuple[Path, dict[str, Any]]:
    """``(vocals .pth path, architecture)`` from the weights folder; :class:`ModelError` saying
    what is missing and how to provide it."""
    weights = weights_folder(weights, method="umx", hint=WEIGHTS_HINT)
    candidates = sorted(weights.glob("vocals*.pth"))
    if not candidates:
        raise ModelError(f"umx weights folder {weights} holds no vocals*.pth (found: "
                         f"{list_folder(weights)}); {WEIGHTS_HINT}")
    arch = dict(UMXHQ)
    try:
        if (weights / "separator.json").is_file():
            separator = json.loads((weights / "separator.json").read_text(encoding="utf-8"))
            arch.update(sample_rate=int(separator["sample_rate"]), nfft=int(separator["nfft"]),
                        nhop=int(separator["nhop"]), nb_channels=int(separator["nb_channels"]))
        if (weights / "vocals.json").is_file():
            target = json.loads((weights / "vocals.json").read_text(encoding="utf-8"))
            arch.update(hidden_size=int(target["args"]["hidden_size"]),
                        nb_channels=int(target["args"]["nb_channels"]),
                        nfft=int(target["args"]["nfft"]))
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"umx weights folder {weights}: separator.json/vocals.json are not "
                         f"openunmix model descriptions ({error!r})") from error
    return candidates[0], arch


class UmxSeparator(PretrainedSeparator):
    """Open-Unmix vocals model + residual accompaniment with ``niter`` Wiener iterations."""

    method = "umx"
    config_class = UmxConfig
    package = "openunmix"
    install_hint = INSTALL_HINT

    def __init__(self, config: UmxConfig | None = None, *, weights: Path | None,
                 device: str = "cpu") -> None:
        super().__init__(config, device=device)
        self.weights_file, self.arch = find_umx_weights(weights)
        self.sample_rate = int(self.arch["sample_rate"])
        umx_model = self.import_package("openunmix.model")  # before torch: fails fast when absent
        import torch

        try:
            state = torch.load(self.weights_file, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many kinds for a bad file
            raise ModelError(f"umx: cannot load {self.weights_file} as a state dict ({error})"
                             ) from error
        if not isinstance(state, dict) or "input_mean" not in state:
            raise ModelError(f"umx: {self.weights_file} is not an Open-Unmix state dict (no "
                             "'input_mean'); " + WEIGHTS_HINT)
        target = umx_model.OpenUnmix(nb_bins=self.arch["nfft"] // 2 + 1,
                                     nb_channels=self.arch["nb_channels"],
                                     hidden_size=self.arch["hidden_size"],
                                     max_bin=int(state["input_mean"].shape[0]))
        missing, _ = target.load_state_dict(state, strict=False)
        if missing:
            raise ModelError(f"umx: {self.weights_file} lacks {', '.join(missing[:5])}; it does "
                             f"not match the architecture {self.arch}")
        self.model = umx_model.Separator(
            target_models={"vocals": target}, niter=self.config.niter, residual=True,
            wiener_win_len=self.config.wiener_win_len, sample_rate=self.sample_rate,
            n_fft=self.arch["nfft"], n_hop=self.arch["nhop"],
            nb_channels=self.arch["nb_channels"]).to(device)
        self.model.freeze()

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, **asdict(self.config), "weights": self.weights_file.name,
                **self.arch}

    def separate_array(self, mixture: np.ndarray, *, sample_rate: int) -> StemArrays:
        import torch

        if sample_rate != self.sample_rate:
            raise ConfigError(f"umx works at {self.sample_rate} Hz, got {sample_rate} Hz")
        mixture = np.asarray(mixture, dtype=np.float32)
        n = mixture.shape[0]
        if n == 0:
            return StemArrays.empty()
        # [n] -> [batch 1, channels, n]: mono is duplicated to the model's channels
        audio = torch.from_numpy(mixture)[None, None, :].repeat(1, self.arch["nb_channels"], 1)
        with torch.inference_mode():
            estimates = self.model(audio.to(self.device))  # [1, targets (vocals, residual), ch, n]
        estimates = estimates[0].mean(dim=1).cpu().numpy()  # channels averaged -> [2, n]
        return StemArrays(vocals=estimates[0].astype(np.float32),
                          accompaniment=estimates[1].astype(np.float32))
