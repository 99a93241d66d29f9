"""Checks that every registry model family's tests run on a built model."""

from __future__ import annotations

import torch


def one_step_losses(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                    lr: float = 1e-4) -> tuple[float, float]:
    """Cross-entropy of ``model`` on the fixed batch ``(x, y)`` before and after one Adam step."""
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    before = loss_fn(model(x), y)
    before.backward()
    optimiser.step()
    with torch.no_grad():
        after = loss_fn(model(x), y)
    return before.item(), after.item()
