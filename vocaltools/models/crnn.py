"""S1 singer-identification models: the CRNN of Nasrullah & Zhao (2019), CRNNM (with a melody
branch) and their FGNL versions, plus the NL / FGNL_LIGHT ablations.

Every variant maps ``float32 [batch, channels, 128, n_frames]`` (channels: 1 = log-mel; 2 = log-mel
and the melody one-hot for the ``crnnm*`` variants) to ``[batch, n_classes]`` logits::

    input BatchNorm over the 128 frequency rows (one per branch)
    4 x [Conv 3x3 same -> ELU -> BatchNorm -> MaxPool (freq, time) -> Dropout 0.1], 64/128/128/128
    (FGNL variants) FGNL on block 4, block 3 as the second layer
    reshape to [batch, time, freq x channels] -> GRU 32 (sequence) -> GRU 32 (last state)
    -> Dropout 0.3 -> Linear(n_classes)

Pools are (2,2),(4,2),(4,2),(4,2) for the baselines (Nasrullah's code) and none,(2,2),(2,2),(2,2)
for the attention variants (the FGNL authors' code). Parameter counts (Keras convention, 20 classes):
crnn 394,516; crnn_fgnl 584,141; crnnm 778,772; crnnm_fgnl 1,175,381.

The Dense layer of CRNN_FGNL (and of the single-branch ablations) carries an L2 0.01 kernel and an
L1 0.01 activity regulariser in the authors' Keras code: the trainer adds
:meth:`CRNN.regularization_loss` to the cross-entropy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vocaltools.errors import ConfigError, ModelError
from vocaltools.models.fgnl import ATTENTION_CHUNK_ELEMENTS, FGNL

Pool = tuple[int, int] | None

NASRULLAH_POOLS: tuple[Pool, ...] = ((2, 2), (4, 2), (4, 2), (4, 2))
FGNL_POOLS: tuple[Pool, ...] = (None, (2, 2), (2, 2), (2, 2))
FILTERS: tuple[int, ...] = (64, 128, 128, 128)


@dataclass(frozen=True)
class Variant:
    """The architecture of one registry name.

    ``attention``: "none", "fgnl" (block 4 + block 3), "fgnl_light" (roll + MoSE, block 4 only) or
    "nl" (block 4 only, no roll, no MoSE). ``regularize``: default for the Dense regularisers.
    """

    pools: tuple[Pool, ...]
    attention: str
    melody: bool
    regularize: bool


VARIANTS: dict[str, Variant] = {
    "crnn": Variant(NASRULLAH_POOLS, "none", melody=False, regularize=False),
    "crnn_fgnl": Variant(FGNL_POOLS, "fgnl", melody=False, regularize=True),
    "crnn_nl": Variant(FGNL_POOLS, "nl", melody=False, regularize=True),
    "crnn_fgnl_light": Variant(FGNL_POOLS, "fgnl_light", melody=False, regularize=True),
    "crnnm": Variant(NASRULLAH_POOLS, "none", melody=True, regularize=False),
    "crnnm_fgnl": Variant(FGNL_POOLS, "fgnl", melody=True, regularize=False),
}


class ConvBlock(nn.Module):
    """Conv 3x3 same -> ELU -> BatchNorm -> MaxPool (optional) -> Dropout.

    ``float32 [batch, in, F, T] -> [batch, out, F / pool_f, T / pool_t]`` (floor, like Keras 'valid').
    """

    def __init__(self, in_channels: int, out_channels: int, pool: Pool, dropout: float = 0.1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.activation = nn.ELU()
        self.norm = nn.BatchNorm2d(out_channels, eps=1e-3, momentum=0.01)
        self.pool = nn.MaxPool2d(pool) if pool else nn.Identity()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.pool(self.norm(self.activation(self.conv(x)))))


class ConvStack(nn.Module):
    """Input BatchNorm over the frequency rows, then the four conv blocks.

    ``float32 [batch, channels, n_bins, T] -> (block 3, block 4)`` feature maps.
    """

    def __init__(self, *, in_channels: int, n_bins: int, pools: tuple[Pool, ...]):
        super().__init__()
        # Keras BatchNormalization(axis=frequency): one statistic per frequency row
        self.input_norm = nn.BatchNorm2d(n_bins, eps=1e-3, momentum=0.01)
        widths = (in_channels, *FILTERS)
        self.blocks = nn.ModuleList(ConvBlock(widths[i], widths[i + 1], pools[i]) for i in range(4))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.input_norm(x.transpose(1, 2)).transpose(1, 2)  # normalise with freq as channels
        outputs = []
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        return outputs[2], outputs[3]


class CRNN(nn.Module):
    """CRNN / CRNNM with an optional (FG)NL module; see the module docstring.

    Parameters
    ----------
    n_classes : number of singers.
    variant : one of :data:`VARIANTS`.
    n_bins : mel bands of the input (128 in the paper; must survive the frequency pools).
    in_channels : input channels of the single-branch variants (1 = log-mel). The ``crnnm*``
        variants always read 2 channels: log-mel and the melody one-hot, one branch each.
    reduction, gaussian, mose, softmax_axis : FGNL options (see :class:`~vocaltools.models.fgnl.FGNL`);
        ``mose=None`` is the variant's default ("none" for crnn_nl, "mose" otherwise). crnn_nl
        keeps the Gaussian and the query-axis softmax of the FGNL code unless told otherwise, so
        that it differs from crnn_fgnl_light only by the rolls and MoSE.
    dense_l2, dense_l1_activity : Dense regularisers returned by :meth:`regularization_loss`;
        ``None`` = the variant's default (0.01 for crnn_fgnl, crnn_nl, crnn_fgnl_light; 0 otherwise).
    init : "keras" (Glorot-uniform kernels, orthogonal recurrent kernels, zero biases, as the
        reference Keras code) or "torch" (PyTorch defaults).
    """

    def __init__(self, n_classes: int, *, variant: str = "crnn", n_bins: int = 128,
                 in_channels: int = 1, reduction: int = 32, gaussian: bool = True,
                 mose: str | None = None, softmax_axis: str = "query", dense_l2: float | None = None,
                 dense_l1_activity: float | None = None, init: str = "keras",
                 chunk_elements: int = ATTENTION_CHUNK_ELEMENTS):
        super().__init__()
        if variant not in VARIANTS:
            raise ConfigError(f"unknown S1 variant {variant!r}; expected one of {sorted(VARIANTS)}")
        if init not in ("keras", "torch"):
            raise ConfigError(f"init {init!r} is not 'keras' or 'torch'")
        spec = VARIANTS[variant]
        self.variant = variant
        self.n_bins = n_bins
        branch_channels = (1, 1) if spec.melody else (in_channels,)
        self.in_channels = sum(branch_channels)
        self.branches = nn.ModuleList(
            ConvStack(in_channels=c, n_bins=n_bins, pools=spec.pools) for c in branch_channels)
        freq_pool = 1
        self.time_pool = 1
        for pool in spec.pools:
            freq_pool *= pool[0] if pool else 1
            self.time_pool *= pool[1] if pool else 1
        out_bins = n_bins // freq_pool
        if out_bins < 1:
            raise ConfigError(f"{variant}: {n_bins} frequency bins do not survive the pools "
                              f"(total {freq_pool}); use at least {freq_pool} bins")
        channels = FILTERS[-1] * len(branch_channels)
        self.attention: FGNL | None = None
        if spec.attention != "none":
            self.attention = FGNL(
                channels, other_channels=(channels,) if spec.attention == "fgnl" else (),
                reduction=reduction, roll=spec.attention != "nl",
                mose=mose or ("none" if spec.attention == "nl" else "mose"), gaussian=gaussian,
                softmax_axis=softmax_axis, chunk_elements=chunk_elements)
        # GRU 32 (sequence) -> GRU 32 (last state): one two-layer GRU, no dropout between
        self.gru = nn.GRU(channels * out_bins, 32, num_layers=2, batch_first=True)
        self.dropout = nn.Dropout(0.3)
        self.classifier = nn.Linear(32, n_classes)
        default = 0.01 if spec.regularize else 0.0
        self.dense_l2 = default if dense_l2 is None else float(dense_l2)
        self.dense_l1_activity = default if dense_l1_activity is None else float(dense_l1_activity)
        if init == "keras":
            self._init_keras()

    def _init_keras(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)) and module.weight.requires_grad:
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for name, weight in self.gru.named_parameters():
            if name.startswith("weight_ih"):  # Keras kernel [input, 3 units]: Glorot on the whole
                nn.init.xavier_uniform_(weight)
            elif name.startswith("weight_hh"):  # Keras recurrent kernel: orthogonal per gate block
                for gate in weight.data.chunk(3, dim=0):
                    nn.init.orthogonal_(gate)
            else:
                nn.init.zeros_(weight)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] != self.n_bins:
            raise ModelError(f"{self.variant}: expected input [batch, {self.in_channels}, "
                             f"{self.n_bins}, n_frames], got {list(x.shape)}")
        if x.shape[3] < self.time_pool:
            raise ModelError(f"{self.variant}: {x.shape[3]} frames are too few; the time pools "
                             f"need at least {self.time_pool} frames")

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Block-4 maps after the (FG)NL module: ``[batch, C, F4, T4]`` (C = 128 per branch)."""
        self._check_input(x)
        if len(self.branches) == 1:
            block3, block4 = self.branches[0](x)
        else:  # one branch per input channel, concatenated on channels (mel first, melody second)
            outputs = [branch(x[:, i:i + 1]) for i, branch in enumerate(self.branches)]
            block3 = torch.cat([o[0] for o in outputs], dim=1)
            block4 = torch.cat([o[1] for o in outputs], dim=1)
        if self.attention is not None:
            others = (block3,) if len(self.attention.phi) == 2 else ()
            block4 = self.attention(block4, others)
        return block4

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``float32 [batch, channels, n_bins, n_frames] -> [batch, 32]`` (last GRU state after
        dropout)."""
        maps = self.feature_maps(x)
        # [batch, C, F, T] -> [batch, T, F, C] -> [batch, T, F*C] (Keras Permute + Reshape order)
        sequence = maps.permute(0, 3, 2, 1).flatten(2)
        _, hidden = self.gru(sequence)  # hidden: [2 layers, batch, 32]
        return self.dropout(hidden[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``float32 [batch, channels, n_bins, n_frames] -> [batch, n_classes]`` logits."""
        return self.classifier(self.forward_features(x))

    def regularization_loss(self, logits: torch.Tensor) -> torch.Tensor:
        """The Dense regularisers of the reference code, to add to the training loss.

        ``dense_l2 * sum(W^2) + dense_l1_activity * mean_batch(sum_classes |logits|)`` (Keras
        divides activity regularisers by the batch size). Zero for variants without regularisers.
        ``logits: float32 [batch, n_classes]`` as returned by :meth:`forward`.
        """
        loss = logits.new_zeros(())
        if self.dense_l2:
            loss = loss + self.dense_l2 * self.classifier.weight.pow(2).sum()
        if self.dense_l1_activity:
            loss = loss + self.dense_l1_activity * logits.abs().sum(dim=1).mean()
        return loss


def build(*, n_classes: int, variant: str = "crnn", **options) -> CRNN:
    """Registry builder for the S1 entries (``variant`` = the registry name); see :class:`CRNN`."""
    return CRNN(n_classes, variant=variant, **options)
