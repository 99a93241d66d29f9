"""Global aggregation over the time axis (S2, Wang et al.): flatten, max, average, or the
feed-forward attention of Raffel & Ellis (2015).

Every module maps ``float32 [batch, time, dim]`` to ``[batch, out_dim]``; ``out_dim`` is ``dim``
except for ``"none"`` (flatten), where it is ``time x dim``.
"""

from __future__ import annotations

import torch
from torch import nn

from vocaltools.errors import ModelError

AGGREGATIONS = ("none", "max", "average", "attention")


class FlattenAggregation(nn.Module):
    """No aggregation: ``[batch, time, dim] -> [batch, time * dim]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


class MaxAggregation(nn.Module):
    """``[batch, time, dim] -> [batch, dim]``, the maximum over time."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=1)


class AverageAggregation(nn.Module):
    """``[batch, time, dim] -> [batch, dim]``, the mean over time."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1)


class FeedForwardAttention(nn.Module):
    """Raffel & Ellis feed-forward attention: ``sigma = softmax_t(tanh(X w + b))``, output
    ``sum_t sigma_t X_t``. Learnable ``w`` in R^dim and scalar ``b`` (``dim + 1`` parameters)."""

    def __init__(self, dim: int):
        super().__init__()
        self.score = nn.Linear(dim, 1)

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """``float32 [batch, time, dim] -> [batch, time]`` attention weights (sum to 1 over time)."""
        return torch.softmax(torch.tanh(self.score(x)).squeeze(-1), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sigma = self.weights(x)
        # weighted sum over time: [batch, time] x [batch, time, dim] -> [batch, dim]
        return torch.einsum("bt,btd->bd", sigma, x)


def build_aggregation(*, name: str, n_frames: int, dim: int) -> tuple[nn.Module, int]:
    """The aggregation module called ``name`` and its output width.

    Parameters
    ----------
    name : one of ``none``, ``max``, ``average``, ``attention``.
    n_frames, dim : the ``[time, dim]`` shape of one input sequence.
    """
    if name == "none":
        return FlattenAggregation(), n_frames * dim
    if name == "max":
        return MaxAggregation(), dim
    if name == "average":
        return AverageAggregation(), dim
    if name == "attention":
        return FeedForwardAttention(dim), dim
    raise ModelError(f"unknown aggregation {name!r}; expected one of {', '.join(AGGREGATIONS)}")
