"""A small CNN that trains in seconds on CPU: for tests and the README demo, not from a paper."""

from __future__ import annotations

import torch
from torch import nn


class TinyCNN(nn.Module):
    """``float32 [batch, channels, n_bins, n_frames] -> [batch, n_classes]``."""

    def __init__(self, n_classes: int, in_channels: int = 1, width: int = 16, feature_dim: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(width),
            nn.MaxPool2d(4),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(2 * width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(2 * width, feature_dim), nn.ReLU(),
        )
        self.classifier = nn.Linear(feature_dim, n_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


def build(*, n_classes: int, in_channels: int = 1, width: int = 16) -> TinyCNN:
    return TinyCNN(n_classes, in_channels=in_channels, width=width)
