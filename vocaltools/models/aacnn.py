"""S4: attention-augmented CNN for instrument identification (Wise et al., seed 003), with the
attention-augmented convolution of Bello et al. (2019).

Network (paper Fig. 1 and the authors' Keras code): 5 blocks of
``[conv 5x5 -> BN -> ReLU -> conv 5x5 -> BN -> ReLU] -> MaxPool 2x2 'same'`` with 32, 64, 128,
256, 512 filters; flatten; dense 1024, 512, 256, 128, 64 (ReLU); dense ``n_classes`` (logits; the
paper's softmax is in the loss). In the last two blocks (``attention_blocks``) every conv is an
:class:`AugmentedConv2d`: ``d_k = d_v = int(ratio x F)``, 8 heads, 2-D relative position logits
(one height and one width embedding table shared by all heads), a 1x1 output projection, the
attention output concatenated after a 5x5 conv with ``F - d_v`` filters, then BN. ``ratio = 0``
is a plain conv; ``ratio = 1`` drops the conv path.

Orientation: the model input is ``float32 [batch, 1, n_bins, n_frames]`` (e.g. ``[b, 1, 1025,
87]`` STFT, ``[b, 1, 252, 87]`` CQT); the paper's images are ``(87, n_bins)`` = (time, freq), so
the network transposes first: "height" is time, "width" is frequency, as in the paper. The
relative embeddings are sized by the spatial map of their block, so ``input_shape`` must be the
shape the model will see (the catalog passes it).

Parameter counts (Keras count, BN running statistics included; pinned by the tests). The flatten
is 3 x 33 x 512 = 50,688 for STFT (1025 x 87) and 3 x 8 x 512 = 12,288 for CQT (252 x 87):

=====  ==========  ==========
ratio  STFT        CQT
=====  ==========  ==========
0      65,696,371  26,374,771
0.25   63,044,051  23,716,211
0.5    60,473,651  21,139,571
0.75   57,985,171  18,644,851
1.0    55,578,611  16,232,051
=====  ==========  ==========

The paper's "55 to 65 million" is these STFT numbers in whole millions (the authors' Keras code
gives the same 65.7M at ratio 0). Memory: the relative logits stay factorised
(``[.., H, W, H]`` and ``[.., H, W, W]``) and are added to the ``[HW, HW]`` content logits in place
by broadcasting, instead of being tiled to two more ``[HW, HW]`` tensors; the content logits and
their softmax (``batch x 8 x HW^2``, HW = 11 x 129 = 1419 in block 4 for STFT, about 64 MB per
example and layer) remain the dominant cost.

Departures: PyTorch's default initialisation (``init="keras"`` uses the authors' N(0, 0.05)
kernels and zero biases instead).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from vocaltools.errors import ModelError

FILTERS = (32, 64, 128, 256, 512)
DENSE = (1024, 512, 256, 128, 64)
RATIOS = (0.0, 0.25, 0.5, 0.75, 1.0)


def rel_to_abs(x: torch.Tensor) -> torch.Tensor:
    """Relative to absolute logits (Bello et al., appendix): ``[..., L, 2L-1] -> [..., L, L]``
    with ``out[..., i, j] = x[..., i, j - i + L - 1]`` (column ``m`` of ``x`` is offset
    ``m - (L - 1)``). Only pads and reshapes: no gather, no ``L^3`` tensor."""
    *lead, length, _ = x.shape
    # one zero column: [..., L, 2L]; flattened, row i now starts i positions later
    x = F.pad(x, (0, 1)).reshape(*lead, 2 * length * length)
    x = F.pad(x, (0, length - 1)).reshape(*lead, length + 1, 2 * length - 1)
    return x[..., :length, length - 1:]


def relative_logits(q: torch.Tensor, rel_h: torch.Tensor, rel_w: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """The 2-D relative logits of Bello et al., kept factorised.

    Parameters
    ----------
    q : float32 [batch, heads, height, width, d] (already scaled) queries.
    rel_h : float32 [2 height - 1, d] height embeddings (offset ``m - (height - 1)``).
    rel_w : float32 [2 width - 1, d] width embeddings.

    Returns
    -------
    h_logits : float32 [batch, heads, height, width, height]; ``[.., y, x, y2] = q[y, x] .
        rel_h[y2 - y + height - 1]``.
    w_logits : float32 [batch, heads, height, width, width]; ``[.., y, x, x2] = q[y, x] .
        rel_w[x2 - x + width - 1]``.
    """
    w_logits = rel_to_abs(torch.einsum("bnyxd,md->bnyxm", q, rel_w))
    # height: put height last so rel_to_abs works on it, then back: [b, n, x, y, y2] -> [b, n, y, x, y2]
    h_logits = rel_to_abs(torch.einsum("bnyxd,md->bnxym", q, rel_h)).transpose(2, 3)
    return h_logits, w_logits


class AttentionAugmentedConv2d(nn.Module):
    """``float32 [batch, in_channels, height, width] -> [batch, filters, height, width]``:
    ``BN(concat(conv_{F - d_v}(x), proj(MHA(x))))`` with 2-D relative position logits.

    ``height`` and ``width`` fix the size of the relative embeddings (``2 height - 1`` and
    ``2 width - 1`` rows of ``d_k / heads``).
    """

    def __init__(self, in_channels: int, filters: int, *, kernel_size: int = 5, ratio: float,
                 heads: int = 8, height: int, width: int):
        super().__init__()
        depth = int(filters * ratio)
        if depth and (depth % heads or depth // heads < 1):
            raise ModelError(f"attention depth {depth} (= int({filters} x ratio {ratio})) must be a "
                             f"positive multiple of heads={heads}; choose another ratio, width "
                             f"or number of heads")
        self.depth_k = self.depth_v = depth
        self.heads = heads
        self.height, self.width = height, width
        conv_filters = filters - depth
        self.conv = (nn.Conv2d(in_channels, conv_filters, kernel_size, padding=kernel_size // 2)
                     if conv_filters else None)
        if depth:
            head_dim = depth // heads
            self.qkv = nn.Conv2d(in_channels, 2 * depth + depth, 1)
            self.project = nn.Conv2d(depth, depth, 1)
            self.rel_h = nn.Parameter(torch.randn(2 * height - 1, head_dim) * head_dim ** -0.5)
            self.rel_w = nn.Parameter(torch.randn(2 * width - 1, head_dim) * head_dim ** -0.5)
        self.bn = nn.BatchNorm2d(filters)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """``float32 [batch, in_channels, height, width] -> [batch, d_v, height, width]`` (before
        the output projection)."""
        batch, _, height, width = x.shape
        if (height, width) != (self.height, self.width):
            raise ModelError(f"attention layer built for a {self.height} x {self.width} map got "
                             f"{height} x {width}; build the model with the input_shape it reads")
        head_dim = self.depth_k // self.heads
        # [b, 3 d, y, x] -> 3 x [b, heads, y, x, head_dim]
        q, k, v = (t.reshape(batch, self.heads, head_dim, height, width).permute(0, 1, 3, 4, 2)
                   for t in self.qkv(x).split(self.depth_k, dim=1))
        q = q * head_dim ** -0.5
        positions = height * width
        # content logits [b, heads, HW, HW]
        logits = q.reshape(batch, self.heads, positions, head_dim) @ \
            k.reshape(batch, self.heads, positions, head_dim).transpose(-1, -2)
        h_logits, w_logits = relative_logits(q, self.rel_h, self.rel_w)
        # add by broadcasting over [b, heads, y, x, y2, x2]; never tile to [HW, HW]
        view = logits.view(batch, self.heads, height, width, height, width)
        view.add_(h_logits.unsqueeze(-1)).add_(w_logits.unsqueeze(-2))
        weights = logits.softmax(dim=-1)
        out = weights @ v.reshape(batch, self.heads, positions, head_dim)
        # [b, heads, HW, head_dim] -> [b, heads * head_dim, y, x] (heads outer, as in Bello)
        return out.permute(0, 1, 3, 2).reshape(batch, self.depth_v, height, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.conv is not None:
            parts.append(self.conv(x))
        if self.depth_v:
            parts.append(self.project(self.attention(x)))
        return self.bn(torch.cat(parts, dim=1) if len(parts) > 1 else parts[0])


def _pooled(size: int, n_pools: int) -> int:
    for _ in range(n_pools):
        size = math.ceil(size / 2)
    return size


class AACNN(nn.Module):
    """``float32 [batch, channels, n_bins, n_frames] -> [batch, n_classes]`` logits;
    ``forward_features`` is the ``[batch, 64 x width_multiplier]`` last hidden dense layer."""

    def __init__(self, *, n_classes: int, ratio: float, input_shape: tuple[int, int, int],
                 width_multiplier: float = 1.0, heads: int = 8, attention_blocks: int = 2):
        super().__init__()
        channels, n_bins, n_frames = input_shape
        self.input_shape = tuple(input_shape)
        height, width = n_frames, n_bins  # (time, freq) after the transpose
        filters = [max(1, round(f * width_multiplier)) for f in FILTERS]
        blocks: list[nn.Module] = []
        in_channels = channels
        for index, n_filters in enumerate(filters):
            h, w = _pooled(height, index), _pooled(width, index)
            augmented = index >= len(filters) - attention_blocks and ratio > 0
            layers: list[nn.Module] = []
            for _ in range(2):
                if augmented:
                    layers.append(AttentionAugmentedConv2d(in_channels, n_filters, ratio=ratio,
                                                           heads=heads, height=h, width=w))
                else:
                    layers += [nn.Conv2d(in_channels, n_filters, 5, padding=2),
                               nn.BatchNorm2d(n_filters)]
                layers.append(nn.ReLU())
                in_channels = n_filters
            layers.append(nn.MaxPool2d(2, ceil_mode=True))  # Keras 'same' pooling
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.Sequential(*blocks)
        flat = in_channels * _pooled(height, len(filters)) * _pooled(width, len(filters))
        units = [max(1, round(u * width_multiplier)) for u in DENSE]
        dense: list[nn.Module] = [nn.Flatten()]
        for n_units in units:
            dense += [nn.Linear(flat, n_units), nn.ReLU()]
            flat = n_units
        self.dense = nn.Sequential(*dense)
        self.classifier = nn.Linear(flat, n_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.input_shape:
            raise ModelError(f"aacnn built for input {self.input_shape} (channels, n_bins, "
                             f"n_frames) got {tuple(x.shape[1:])}; build it with input_shape="
                             f"{tuple(x.shape[1:])}")
        # [b, ch, freq, time] -> [b, ch, time, freq]: the paper's (87, n_bins) images
        return self.dense(self.blocks(x.transpose(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


def _keras_init(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(module.weight, std=0.05)
            nn.init.zeros_(module.bias)


def build(*, n_classes: int = 19, ratio: float = 0.25,
          input_shape: tuple[int, int, int] = (1, 1025, 87), width_multiplier: float = 1.0,
          heads: int = 8, attention_blocks: int = 2, init: str = "torch") -> AACNN:
    """Build the S4 network.

    Parameters
    ----------
    ratio : share of the filters of the augmented convs given to attention (paper: 0, 0.25, 0.5,
        0.75, 1.0).
    input_shape : ``(channels, n_bins, n_frames)`` the model reads: sizes the flatten layer and
        the relative embeddings.
    width_multiplier : scales every conv and dense width (0.25 gives a CPU-trainable variant).
    attention_blocks : how many of the last blocks are augmented (paper: 2).
    init : ``torch`` (PyTorch defaults) or ``keras`` (the authors' N(0, 0.05) kernels, zero bias).
    """
    if not 0.0 <= ratio <= 1.0:
        raise ModelError(f"aacnn ratio {ratio} is outside [0, 1]; the paper uses {RATIOS}")
    if not 0 <= attention_blocks <= len(FILTERS):
        raise ModelError(f"attention_blocks={attention_blocks}; expected 0..{len(FILTERS)}")
    if width_multiplier <= 0:
        raise ModelError(f"width_multiplier={width_multiplier} must be positive")
    if init not in ("torch", "keras"):
        raise ModelError(f"unknown init {init!r}; expected 'torch' or 'keras'")
    if len(input_shape) != 3:
        raise ModelError(f"input_shape {input_shape} must be (channels, n_bins, n_frames)")
    model = AACNN(n_classes=n_classes, ratio=ratio, input_shape=tuple(input_shape),
                  width_multiplier=width_multiplier, heads=heads,
                  attention_blocks=attention_blocks)
    if init == "keras":
        _keras_init(model)
    return model
