"""BatchNorm statistics recomputed from training clips before each validation ("precise BN").

The S1 networks use Keras' BatchNormalization, whose running averages move by 1 % per step
(momentum 0.99). On artist20 an epoch has thousands of steps and the averages settle; on a small
store they do not: after 108 steps the input normalisation of crnn on the GTSinger demo still
held a running mean of -8.6 for log-mel inputs that average -23.5, so the model answered at chance
even on its own training clips in evaluation mode. Recomputing the statistics as plain averages
over a fixed sample of training clips ("precise BN"; Wu & Johnson 2021, "Rethinking 'Batch' in
BatchNorm") gives evaluation the statistics the weights were trained with. Training itself (batch
statistics) is unchanged; only the buffers that evaluation and the saved checkpoint use are replaced.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn

_BatchNorm = nn.modules.batchnorm._BatchNorm


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, batches: Iterable[torch.Tensor], *,
                           set_train_mode: Callable[[nn.Module], None]) -> int:
    """Replace the running statistics of every BatchNorm layer that ``set_train_mode`` leaves in
    training mode by their average over ``batches`` (each batch weighs the same, as in torch's
    cumulative average). Dropout and every other layer run in evaluation mode; ``model`` is left
    in evaluation mode. Returns the number of BatchNorm layers recalibrated."""
    set_train_mode(model)
    layers = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.training
              and m.track_running_stats]
    model.eval()
    if not layers:
        return 0
    saved = {}
    for layer in layers:
        saved[layer] = (layer.running_mean.clone(), layer.running_var.clone(), layer.momentum)
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average
        layer.train()
    seen = 0
    try:
        for x in batches:
            model(x)
            seen += 1
    finally:
        for layer, (mean, var, momentum) in saved.items():
            layer.momentum = momentum
            layer.eval()
            if seen == 0:  # nothing to average: keep what was there
                layer.running_mean.copy_(mean)
                layer.running_var.copy_(var)
    return len(layers)
