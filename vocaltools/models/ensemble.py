"""An ensemble of trained models of one architecture: the mean of their class probabilities.

``float32 [batch, channels, n_bins, n_frames] -> [batch, n_classes]``: ``log(mean_k softmax(member_k(x)))``,
so the softmax that ``predict`` applies to a model's output gives exactly the mean of the members'
probabilities (a log-probability is a logit up to a constant).

Members are trained one by one (``vocaltools train``, each with its own seed) and joined with
:func:`ensemble_checkpoint`; the ensemble is not trained as one network (the cross-entropy of the
mean probability is a mixture likelihood, which does not keep members independent). Its state
dict holds every member's under ``members.<k>.``. The registry's ``mel_cnn_ensemble`` is the
bundled ``instruments`` model's architecture.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from vocaltools.errors import ModelError

#: settings that every member of an ensemble must share
SHARED = ("model", "model_options", "n_classes", "task", "inputs", "labels", "target",
          "feature_config", "clip_config")


class Ensemble(nn.Module):
    def __init__(self, *, n_classes: int, member: str, n_members: int,
                 member_options: Mapping[str, Any] | None = None):
        super().__init__()
        from vocaltools.models.registry import build_model

        if int(n_members) < 1:
            raise ModelError(f"an ensemble needs at least one member; got {n_members}")
        self.members = nn.ModuleList(build_model(member, n_classes=n_classes, **dict(member_options or {}))
                                     for _ in range(int(n_members)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probabilities = torch.stack([torch.softmax(m(x), dim=1) for m in self.members]).mean(dim=0)
        return torch.log(probabilities.clamp_min(1e-30))


def build(*, n_classes: int, member: str = "mel_cnn", n_members: int = 2,
          member_options: Mapping[str, Any] | None = None) -> Ensemble:
    return Ensemble(n_classes=n_classes, member=member, n_members=n_members,
                    member_options=member_options)


def ensemble_checkpoint(checkpoints: Sequence, *, model: str | None = None):
    """One :class:`~vocaltools.checkpoint.Checkpoint` of the ensemble of ``checkpoints`` (trained
    models that share architecture, options, labels, features and clips; a one-line
    :class:`ModelError` names the first setting that differs). ``model`` is the registry name of
    the ensemble (default ``<member>_ensemble``)."""
    from dataclasses import replace

    if not checkpoints:
        raise ModelError("an ensemble needs at least one trained model")
    first = checkpoints[0]
    for k, other in enumerate(checkpoints[1:], start=1):
        for name in SHARED:
            a, b = getattr(first, name), getattr(other, name)
            if (dict(a) if isinstance(a, Mapping) else a) != (dict(b) if isinstance(b, Mapping) else b):
                raise ModelError(f"ensemble member {k} differs from member 0 in {name}; the "
                                 "members must be one architecture trained on the same labels")
    state = {f"members.{k}.{key}": value for k, c in enumerate(checkpoints)
             for key, value in c.state_dict.items()}
    options = {"member": first.model, "n_members": len(checkpoints),
               "member_options": dict(first.model_options)}
    summary = {"name": f"{first.model} ensemble of {len(checkpoints)}",
               "members": [dict(c.summary) for c in checkpoints]}
    return replace(first, model=model or f"{first.model}_ensemble", model_options=options,
                   state_dict=state, summary=summary)
