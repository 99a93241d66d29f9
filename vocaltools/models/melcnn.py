"""A small CNN with global pooling for instrument recognition on log-mel clips (a project model,
not from a paper; the bundled ``instruments`` model).

``float32 [batch, channels, n_mels, n_frames] -> [batch, n_classes]``:

- the clip's mean level is subtracted (``clip_norm``), so a recording's gain and the level it is
  referenced to do not matter; then BatchNorm over the input channel;
- ``len(widths)`` blocks of ``[conv 3x3 -> BN -> ReLU] x convs_per_block -> MaxPool 2x2``
  (widths 16, 32, 64, 128 and one conv per block by default: about 10 M multiply-adds per 1-s
  clip of the ``instruments`` preset, 64 x 43);
- global average and max pooling over frequency and time, concatenated (``2 x widths[-1]``):
  what is kept is which timbre patterns occur, not where in pitch or time, so a note played in
  another register or a phrase cut elsewhere gives the same features;
- dropout, dense ``hidden`` (ReLU) = ``forward_features``; dense ``n_classes`` = ``classifier``.

Unlike S4's AACNN, whose flatten layer ties every dense weight to one position of the map, the
input length is free (any number of frames from ``2 ** len(widths)`` on).
"""

from __future__ import annotations

import torch
from torch import nn


def _block(c_in: int, c_out: int, n_convs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k in range(n_convs):
        layers += [nn.Conv2d(c_in if k == 0 else c_out, c_out, 3, padding=1, bias=False),
                   nn.BatchNorm2d(c_out), nn.ReLU()]
    return nn.Sequential(*layers, nn.MaxPool2d(2))


class MelCNN(nn.Module):
    def __init__(self, *, n_classes: int, in_channels: int = 1, widths: tuple[int, ...] = (16, 32, 64, 128),
                 convs_per_block: int = 1, hidden: int = 128, dropout: float = 0.3,
                 clip_norm: bool = True):
        super().__init__()
        self.clip_norm = bool(clip_norm)
        self.input_norm = nn.BatchNorm2d(in_channels)
        blocks, c = [], in_channels
        for width in widths:
            blocks.append(_block(c, int(width), int(convs_per_block)))
            c = int(width)
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * c, hidden), nn.ReLU())
        self.classifier = nn.Linear(hidden, n_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if self.clip_norm:
            x = x - x.mean(dim=(2, 3), keepdim=True)
        x = self.blocks(self.input_norm(x))  # [batch, c, n_mels / 2^k, n_frames / 2^k]
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)  # [batch, 2c]
        return self.head(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


def build(*, n_classes: int, in_channels: int = 1, widths=(16, 32, 64, 128), convs_per_block: int = 1,
          hidden: int = 128, dropout: float = 0.3, clip_norm: bool = True) -> MelCNN:
    return MelCNN(n_classes=n_classes, in_channels=in_channels, widths=tuple(widths),
                  convs_per_block=convs_per_block, hidden=hidden, dropout=dropout,
                  clip_norm=clip_norm)
