"""Oblong-kernel CNN with optional deformable convolution (S3; Yamamoto, Nam & Terasawa,
Interspeech 2022, "Deformable CNN and Imbalance-Aware Feature Learning for Singing Technique
Classification").

``float32 [batch, 3, 1025, 259]`` (multi-resolution STFT in dB: channels = window lengths 2048,
1024, 512; axes = frequency bins x frames) ``-> [batch, n_classes]`` logits.

Architecture (paper Table 1, completed by the authors' public code where the paper is silent)::

    block 1  Conv(4x1)  3 -> 32,   BN, ReLU, MaxPool 4x4, Dropout 0.3
    block 2  Conv(16x1) 32 -> 64,  BN, ReLU, MaxPool 4x4, Dropout 0.3
    block 3  Conv(1x4)  64 -> 128, BN, ReLU, MaxPool 3x3, Dropout 0.3
    block 4  Conv(1x16) 128 -> 128, BN, ReLU, MaxPool 2x2, Dropout 0.3
    global average pooling                          -> 128
    Linear 128 -> 50, BatchNorm1d, ReLU, Dropout 0.4 (hidden layer of the authors' code)
    Linear 50 -> 30      "FC (Feature)": forward_features() returns this, no activation
    Linear 30 -> n       "FC (Softmax)": .classifier (logits; the softmax is in the loss)

Readings settled here (the paper alone leaves them open):

- Kernel orientation. The paper writes the kernels as ``(Vertical, Horizontal)``; the authors'
  code applies ``Conv2d(kernel=(vertical, horizontal))`` to torchaudio spectrograms laid out
  ``[batch, channel, freq, time]``. So ``(4x1)`` is 4 frequency bins x 1 frame: blocks 1-2 are
  spectral (the code calls that deformable setting "timbral"), blocks 3-4 temporal ("temporal"),
  in line with the paper's remark that the small 3rd kernel adapts to fine temporal modulation.
  Parameter counts cannot tell the orientation apart (a transposed kernel has the same weights).
- Padding. The code pads ``(kh // 2, kw // 2)`` symmetrically, so each even kernel grows its axis by
  one: at the paper input the maps are 1026x259 -> 256x64 -> 257x64 -> 64x16 -> 64x17 -> 21x5 ->
  21x6 -> 10x3 before the global pooling. ``padding="same"`` keeps sizes instead (1025x259 ->
  256x64 -> 64x16 -> 21x5 -> 10x2). Padding has no parameters either.
- Head. Table 1 lists GAP -> FC 30 -> FC 10, but the reported counts need the code's hidden
  ``Linear(128, 50) + BatchNorm1d(50) + ReLU + Dropout(0.4)`` before the 30-unit feature layer:
  with it the trainable count of the plain model is 337,510 (paper: 337.5k); without it 333,300
  (-1.2 %). ``hidden_dim=None`` builds the literal Table-1 head.
- Deformable blocks (DCNv2, see :mod:`vocaltools.models.deformable`): offsets (``2 * taps``
  channels) and mask (``taps`` channels, ``2 * sigmoid``) come from convolutions with the block's
  kernel and padding, initialised to zero; the deformable kernel itself has no bias (as in the
  code; BatchNorm follows). This reproduces every reported count within 0.03 % under the
  trainable-parameter convention of PyTorch (:func:`vocaltools.models.registry.count_params`):
  plain 337,510 (337.5k), All 463,374 (463.3k), Early 362,194 (362.2k), Late 438,690 (438.7k),
  Last 435,734 (435.7k). The Keras convention adds the BatchNorm running statistics (+804), which
  still lies within 0.25 % of every reported count; the trainable count is the one that matches.
- The split for cRT (paper Sec. 3.3: "between the first and second fully connected layers" of
  Table 1): the feature extractor ends with the 30-unit layer, whose raw (pre-activation) output
  is the feature, exactly as the code returns it; the classifier is the last linear layer. Kang et
  al. (2020) re-initialise the classifier before re-training it on frozen features (cRT); the paper
  does not say more, so :meth:`OblongCNN.reset_classifier` does that and the training code decides
  when to call it.
- Short inputs. With the paper's pools (4x4, 4x4, 3x3, 2x2) a one-second clip (87 frames at
  44.1 kHz, hop 512) reaches block 4 with a single frame under ``padding="same"`` (87 -> 21 -> 5 ->
  1), and a 2x2 pool of one frame has no output. Every pool therefore shrinks its window (and
  stride) on an axis shorter than the window to that axis' length (:class:`ClampedMaxPool2d`):
  on inputs at least as long as each window, i.e. every 3-s clip, this is exactly
  ``nn.MaxPool2d(pool)``, so the paper's shapes are unchanged, and pools hold no parameters, so
  the counts are too. Any clip of at least one frame is then valid under either padding: a 1-s clip
  gives 10x1 (``half``: 87 -> 21 -> 5 -> 2 -> 1) before the global pooling.
  ``clamp_pool=False`` keeps the plain pools (and their error on short inputs).
- Pooling in deformable blocks. The authors' code (``CascadeCNN``) sets the max-pooling of every
  deformable block to none, while Table 1 lists the pooling for all configurations. The default
  follows Table 1 and SEEDS.md (``pool_deformable=True``); ``pool_deformable=False`` reproduces the
  code (far heavier: e.g. "All" then runs block 4 at full spectrogram resolution).

Other options of :class:`OblongCNN`: ``tap_chunk`` (deformable blocks sample their kernel taps in
groups of this size and resample in backward: less memory, more time), ``in_channels``,
``feature_dim``, ``conv_dropout``, ``hidden_dropout``, ``clamp_pool``.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from vocaltools.errors import ModelError
from vocaltools.models.deformable import DeformConv2d

#: (kernel (freq, time), out channels, max-pool size) per block, paper Table 1
PAPER_BLOCKS: tuple[tuple[tuple[int, int], int, int], ...] = (
    ((4, 1), 32, 4),
    ((16, 1), 64, 4),
    ((1, 4), 128, 3),
    ((1, 16), 128, 2),
)


class ClampedMaxPool2d(nn.Module):
    """Max pooling with a square ``size`` window and stride, each shrunk to the input's extent on
    an axis shorter than ``size`` (so a map of 1 frame stays 1 frame instead of vanishing).

    ``float32 [batch, channels, n_bins, n_frames] -> [batch, channels, n_bins', n_frames']`` with
    ``n' = n // min(size, n)``; equal to ``nn.MaxPool2d(size)`` when both axes are >= ``size``.
    """

    def __init__(self, size: int):
        super().__init__()
        self.size = int(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        window = (min(self.size, x.shape[-2]), min(self.size, x.shape[-1]))
        return nn.functional.max_pool2d(x, window, stride=window)

    def extra_repr(self) -> str:
        return f"size={self.size}"


class OblongBlock(nn.Module):
    """Conv (regular or deformable) -> BatchNorm -> ReLU -> MaxPool -> Dropout.

    ``float32 [batch, in_channels, n_bins, n_frames] -> [batch, out_channels, n_bins', n_frames']``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int], *,
                 pool: int | None, deformable: bool, padding: str, dropout: float,
                 tap_chunk: int | None = None, clamp_pool: bool = True):
        super().__init__()
        if padding == "half":  # the authors' code: (kh // 2, kw // 2) on both sides
            conv_padding: tuple[int, int] | str = (kernel_size[0] // 2, kernel_size[1] // 2)
        elif padding == "same":
            conv_padding = "same"
        else:
            raise ModelError(f"padding must be 'half' (authors' code) or 'same'; got {padding!r}")
        self.deformable = deformable
        if deformable:
            self.conv: nn.Module = DeformConv2d(in_channels, out_channels, kernel_size,
                                                padding=conv_padding, bias=False,
                                                tap_chunk=tap_chunk)
        else:
            self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=conv_padding)
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU()
        if not pool:
            self.pool: nn.Module = nn.Identity()
        else:
            self.pool = ClampedMaxPool2d(pool) if clamp_pool else nn.MaxPool2d(pool)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.pool(self.act(self.norm(self.conv(x)))))


class OblongCNN(nn.Module):
    """The S3 network; see the module docstring for the layer list and the readings behind it.

    ``forward``: ``float32 [batch, in_channels, n_bins, n_frames] -> [batch, n_classes]`` logits.
    ``forward_features``: ``-> [batch, feature_dim]`` (the raw 30-unit "FC (Feature)" output).
    ``classifier``: ``nn.Linear(feature_dim, n_classes)``; ``reset_classifier()`` re-initialises it.
    """

    def __init__(self, *, n_classes: int = 10, deformable_layers: Sequence[int] = (),
                 in_channels: int = 3, padding: str = "half", pool_deformable: bool = True,
                 hidden_dim: int | None = 50, feature_dim: int = 30, conv_dropout: float = 0.3,
                 hidden_dropout: float = 0.4, tap_chunk: int | None = None,
                 clamp_pool: bool = True):
        super().__init__()
        layers = tuple(int(i) for i in deformable_layers)
        bad = [i for i in layers if i not in (1, 2, 3, 4)]
        if bad or len(set(layers)) != len(layers):
            raise ModelError(f"deformable_layers must be distinct block numbers from 1 to 4 (e.g. "
                             f"(3, 4) for the paper's 'Late' model); got {tuple(deformable_layers)!r}")
        if n_classes < 1:
            raise ModelError(f"n_classes must be at least 1; got {n_classes}")
        self.deformable_layers = tuple(sorted(layers))
        self.in_channels = in_channels
        blocks = []
        channels = in_channels
        for number, (kernel, out_channels, pool) in enumerate(PAPER_BLOCKS, start=1):
            deformable = number in self.deformable_layers
            blocks.append(OblongBlock(channels, out_channels, kernel,
                                      pool=pool if (pool_deformable or not deformable) else None,
                                      deformable=deformable, padding=padding, dropout=conv_dropout,
                                      tap_chunk=tap_chunk, clamp_pool=clamp_pool))
            channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        if hidden_dim:
            self.hidden: nn.Module = nn.Sequential(
                nn.Linear(channels, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(),
                nn.Dropout(hidden_dropout))
            channels = hidden_dim
        else:
            self.hidden = nn.Identity()
        self.feature = nn.Linear(channels, feature_dim)
        self.classifier = nn.Linear(feature_dim, n_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``float32 [batch, channels, n_bins, n_frames] -> [batch, feature_dim]``."""
        if x.dim() != 4:
            raise ModelError(f"oblong CNN expects float32 [batch, channels, n_bins, n_frames]; got "
                             f"shape {tuple(x.shape)}")
        if x.shape[1] != self.in_channels:
            raise ModelError(f"oblong CNN was built for {self.in_channels} input channels (the "
                             f"multi-resolution STFT stacks 3); got {x.shape[1]}")
        maps = self.blocks(x)  # [batch, 128, n_bins', n_frames']
        pooled = maps.mean(dim=(-2, -1))  # global average pooling -> [batch, 128]
        return self.feature(self.hidden(pooled))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))

    def reset_classifier(self) -> None:
        """Re-initialise the classifier (PyTorch's default ``nn.Linear`` init, from the global RNG)
        as cRT does before re-training it on frozen features (Kang et al. 2020)."""
        self.classifier.reset_parameters()

    def classifier_parameters(self) -> list[nn.Parameter]:
        """The parameters cRT re-trains (those of ``.classifier``)."""
        return list(self.classifier.parameters())

    def feature_parameters(self) -> list[nn.Parameter]:
        """Every parameter outside ``.classifier`` (frozen during cRT)."""
        skip = {id(p) for p in self.classifier.parameters()}
        return [p for p in self.parameters() if id(p) not in skip]


def build(*, n_classes: int = 10, deformable_layers: Sequence[int] = (), **options) -> OblongCNN:
    """Registry builder: the paper model with deformable convolution in ``deformable_layers``
    (``()`` plain, ``(1, 2, 3, 4)`` All, ``(1, 2)`` Early, ``(3, 4)`` Late, ``(4,)`` Last).
    ``options`` are the keyword arguments of :class:`OblongCNN`."""
    return OblongCNN(n_classes=n_classes, deformable_layers=deformable_layers, **options)
