"""S2: vanilla-CNN and ResNeXt singer classifiers / embedders with global time aggregation
(Wang et al., "Singing style investigation by residual siamese convolutional neural networks",
seed 001).

Architecture: conv front end -> reshape ``(channels, time, freq) -> (time, channels x freq)`` ->
global aggregation over time (:mod:`vocaltools.models.aggregation`) -> 3 dense layers of 1024
(ReLU; dropout 0.1 after the last) -> output (``head="classify"``: ``n_classes`` logits;
``head="embed"``: linear ``embedding_dim``-d embedding, 16 in the paper).

Reading of the paper's layer plan (the figure that details it is not in the text; every choice
below is the one that reproduces the paper's parameter counts, see the tests):

- The model input is ``float32 [batch, 1, n_mels=96, n_frames=256]``; the paper's images are
  ``(time, freq)``, so the front end transposes to ``[batch, 1, 256, 96]`` first.
- Stem: one conv layer 10x10 ("first conv layer"); every later conv is 5x5 except the 1x1 convs of
  the ResNeXt bottleneck. All convs use 'same' padding and a bias; each conv is followed by ReLU
  then BatchNorm ("BN after each non-linearity").
- Vanilla block: 2 convs (5x5). ResNeXt block (cardinality 4): ``y = BN(ReLU(s(x) + c(x)))`` with
  ``c`` = 1x1 (to width/2) -> ReLU -> BN -> 5x5 grouped (4 groups) -> ReLU -> BN -> 1x1 (to
  width), and ``s`` the identity, or a 1x1 projection when the width changes. The bottleneck width
  is half the block width. This gives the paper's 4 / 19 conv layers and, in the Keras count (BN
  running statistics included), 54.2k / 172.4k conv parameters (paper: 54k / 172k). A 3x3 grouped
  conv would give 38k / 108k, so the grouped conv is 5x5 as the paper's "(5, 5) for all
  subsequent layers" says.
- Max pool (2, 2): right after the stem, then after the last layer/block of each run of equal
  width (shallow ``64 | 128``: 2 pools; deep ``16 | 32 32 32 | 64 64 64``: 3 pools). This is the
  placement that reproduces the paper's total counts: the aggregated width is 128 x 24 = 3072
  (shallow) and 64 x 12 = 768 / 128 x 12 = 1536 (deep), e.g. CNN shallow 621,120 conv + 3,146,752
  + 2 x 1,049,600 dense = 5,867k (paper Table 1, output layer excluded), ResNeXt deep with no
  aggregation 52.6M.
- Conv-stack counts (Keras count, :meth:`SingerCNN.conv_params`): cnn_shallow 622,400
  (621,120 without BN; paper 621k), cnn_deep 708,560 (paper 708k), resnext_shallow 54,208 (paper
  54k), resnext_deep 172,384 (paper 172k).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vocaltools.errors import ModelError
from vocaltools.models.aggregation import AGGREGATIONS, build_aggregation


@dataclass(frozen=True)
class FrontEnd:
    """One conv front end: the stem width, the block widths, and the block kind."""

    stem: int
    blocks: tuple[int, ...]
    kind: str  # "vanilla" or "resnext"


VARIANTS: dict[str, FrontEnd] = {
    "cnn_shallow": FrontEnd(64, (128,), "vanilla"),
    "cnn_deep": FrontEnd(16, (32, 32, 32, 64, 64, 64), "vanilla"),
    "resnext_shallow": FrontEnd(64, (128,), "resnext"),
    "resnext_deep": FrontEnd(32, (64, 64, 64, 128, 128, 128), "resnext"),
}
HEADS = ("classify", "embed")


def _conv_relu_bn(in_channels: int, out_channels: int, kernel: int, groups: int = 1) -> nn.Sequential:
    """Conv ('same' padding as in Keras: for an even kernel the extra row/column goes after) ->
    ReLU -> BN."""
    before, after = (kernel - 1) // 2, kernel // 2
    return nn.Sequential(
        nn.ZeroPad2d((before, after, before, after)),
        nn.Conv2d(in_channels, out_channels, kernel, groups=groups),
        nn.ReLU(),
        nn.BatchNorm2d(out_channels),
    )


class VanillaBlock(nn.Module):
    """``y = g(f(x))``: two 5x5 conv -> ReLU -> BN layers."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.layers = nn.Sequential(_conv_relu_bn(in_channels, out_channels, 5),
                                    _conv_relu_bn(out_channels, out_channels, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ResNeXtBlock(nn.Module):
    """``y = BN(ReLU(s(x) + Gamma(x)))``; ``Gamma`` = 1x1 -> 5x5 grouped (cardinality) -> 1x1,
    bottleneck width ``out_channels // 2``; ``s`` = identity or a 1x1 projection."""

    def __init__(self, in_channels: int, out_channels: int, cardinality: int = 4):
        super().__init__()
        width = out_channels // 2
        self.reduce = _conv_relu_bn(in_channels, width, 1)
        self.grouped = _conv_relu_bn(width, width, 5, groups=cardinality)
        self.expand = nn.Conv2d(width, out_channels, 1)
        self.shortcut = (nn.Identity() if in_channels == out_channels
                         else nn.Conv2d(in_channels, out_channels, 1))
        self.relu = nn.ReLU()
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.expand(self.grouped(self.reduce(x)))
        return self.bn(self.relu(self.shortcut(x) + branch))


def _front_end(plan: FrontEnd, in_channels: int) -> tuple[nn.Sequential, int]:
    """The conv stack and its number of (2, 2) max pools."""
    layers: list[nn.Module] = [_conv_relu_bn(in_channels, plan.stem, 10), nn.MaxPool2d(2)]
    n_pools = 1
    channels = plan.stem
    for index, width in enumerate(plan.blocks):
        block = VanillaBlock if plan.kind == "vanilla" else ResNeXtBlock
        layers.append(block(channels, width))
        channels = width
        last_of_run = index + 1 == len(plan.blocks) or plan.blocks[index + 1] != width
        if last_of_run:
            layers.append(nn.MaxPool2d(2))
            n_pools += 1
    return nn.Sequential(*layers), n_pools


class SingerCNN(nn.Module):
    """``float32 [batch, channels, n_mels, n_frames] -> [batch, n_out]`` (logits or embedding).

    ``forward_features`` returns the ``[batch, 1024]`` output of the last dense layer;
    ``classifier`` maps it to the output.
    """

    def __init__(self, *, n_out: int, plan: FrontEnd, aggregation: str,
                 input_shape: tuple[int, int, int], dense_units: int = 1024, dropout: float = 0.1):
        super().__init__()
        in_channels, n_bins, n_frames = input_shape
        self.conv, n_pools = _front_end(plan, in_channels)
        time_out, freq_out = n_frames >> n_pools, n_bins >> n_pools
        if time_out < 1 or freq_out < 1:
            raise ModelError(f"input {input_shape} is too small for {n_pools} (2, 2) max pools; "
                             f"expected at least {2 ** n_pools} bins and frames")
        channels_out = plan.blocks[-1]
        self.aggregate, agg_dim = build_aggregation(name=aggregation, n_frames=time_out,
                                                    dim=channels_out * freq_out)
        self.dense = nn.Sequential(
            nn.Linear(agg_dim, dense_units), nn.ReLU(),
            nn.Linear(dense_units, dense_units), nn.ReLU(),
            nn.Linear(dense_units, dense_units), nn.ReLU(),
            nn.Dropout(dropout),
        )
        self.classifier = nn.Linear(dense_units, n_out)

    def sequence(self, x: torch.Tensor) -> torch.Tensor:
        """``float32 [batch, channels, n_mels, n_frames] -> [batch, time, channels x freq]``, the
        conv map reshaped for the aggregation."""
        # the paper's images are (time, freq): [batch, ch, freq, time] -> [batch, ch, time, freq]
        maps = self.conv(x.transpose(2, 3))
        # (channels, time, freq) -> (time, channels x freq)
        batch, channels, time, freq = maps.shape
        return maps.permute(0, 2, 1, 3).reshape(batch, time, channels * freq)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.aggregate(self.sequence(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))

    def conv_params(self) -> int:
        """Keras count (BN running mean/variance included) of the conv front end, the paper's
        "# of CNN params"."""
        total = sum(p.numel() for p in self.conv.parameters())
        for module in self.conv.modules():
            if isinstance(module, nn.BatchNorm2d):
                total += module.running_mean.numel() + module.running_var.numel()
        return total


def build(*, n_classes: int, variant: str = "cnn_shallow", aggregation: str = "attention",
          head: str = "classify", embedding_dim: int = 16,
          input_shape: tuple[int, int, int] = (1, 96, 256), dropout: float = 0.1) -> SingerCNN:
    """Build an S2 network.

    Parameters
    ----------
    n_classes : number of singers (``head="classify"``); ignored for ``head="embed"``.
    variant : ``cnn_shallow``, ``cnn_deep``, ``resnext_shallow`` or ``resnext_deep``.
    aggregation : ``none`` (flatten), ``max``, ``average`` or ``attention``.
    head : ``classify`` (logits) or ``embed`` (linear ``embedding_dim``-d output, siamese twin).
    input_shape : ``(channels, n_mels, n_frames)``; sizes the flatten of ``aggregation="none"``.
    """
    if variant not in VARIANTS:
        raise ModelError(f"unknown S2 variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    if aggregation not in AGGREGATIONS:
        raise ModelError(f"unknown aggregation {aggregation!r}; expected one of "
                         f"{', '.join(AGGREGATIONS)}")
    if head not in HEADS:
        raise ModelError(f"unknown head {head!r}; expected one of {', '.join(HEADS)}")
    n_out = n_classes if head == "classify" else embedding_dim
    return SingerCNN(n_out=n_out, plan=VARIANTS[variant], aggregation=aggregation,
                     input_shape=tuple(input_shape), dropout=dropout)
