"""Build registry models and count their parameters.

The model contract (every builder returns a module that follows it):

- ``forward(x)``: ``float32 [batch, channels, n_bins, n_frames] -> [batch, n_out]`` logits (no
  softmax) for ``task == "classify"``, embeddings for ``task == "embed"``.
- ``forward_features(x)``: the penultimate representation ``[batch, dim]``; for S3 this is the
  30-d feature after the first FC layer.
- ``classifier``: the sub-module that maps ``forward_features`` to the output, so that
  ``forward(x) == classifier(forward_features(x))`` and cRT can re-train it alone.
- Frozen weights that the Keras count includes (e.g. the fixed Gaussian of FGNL) are parameters
  with ``requires_grad=False``.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch
from torch import nn

from vocaltools.errors import ModelError, did_you_mean
from vocaltools.models.catalog import SPECS, ModelSpec


def get_spec(name: str) -> ModelSpec:
    """The spec called ``name``; :class:`ModelError` naming the valid ones and the closest match."""
    for spec in SPECS:
        if spec.name == name:
            return spec
    names = [s.name for s in SPECS]
    raise ModelError(f"unknown model {name!r}; valid models: {', '.join(names)}"
                     f"{did_you_mean(name, names)}")


def build_model(name: str, *, n_classes: int | None = None, **options: Any) -> nn.Module:
    """Build ``name`` at its paper configuration, with ``options`` overriding the spec's options."""
    spec = get_spec(name)
    module_name, function_name = spec.builder.split(":")
    builder = getattr(importlib.import_module(module_name), function_name)
    merged = {**spec.options, **options}
    try:
        return builder(n_classes=spec.n_classes if n_classes is None else n_classes, **merged)
    except TypeError as error:
        raise ModelError(f"{name}: invalid options {sorted(options)}: {error}") from error


def count_params(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_params_keras(model: nn.Module) -> int:
    """The Keras count of SEEDS.md: every parameter (trainable or frozen) plus BatchNorm running
    mean and variance."""
    total = sum(p.numel() for p in model.parameters())
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats:
            total += module.running_mean.numel() + module.running_var.numel()
    return total


def example_input(spec: ModelSpec, batch: int = 2) -> torch.Tensor:
    """A random batch at the spec's paper input shape."""
    return torch.randn(batch, *spec.input_shape)
