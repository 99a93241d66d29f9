"""A trained classifier joined with the zero-shot instrument tags of the pretrained musicnn tagger,
as a product of experts.

``float32 [batch, 1, 96, n_frames]`` power mel (the ``musicnn`` preset) ``-> [batch, n_classes]``:
``log p(c) + weight * log e(c)``, renormalised over the classes (a log-probability, so the
softmax that ``predict`` applies gives the joined probability exactly), where

- ``p(c)`` is the softmax of the ``base`` model (trained on the same preset, e.g. a
  ``mel_cnn_ensemble`` with ``power_db``);
- ``e(c)`` is the sigmoid of the MagnaTagATune tag that ``tags`` maps class ``c`` to (``guitar``,
  ``violin``, ``cello``, ``flute`` for the instruments), and for every class no tag names the
  median of those tags' values for the clip: the untagged classes are neither raised nor lowered,
  they keep their place against a tagged class whose tag sits at the median.

The tagger's weights come from the installed ``musicnn`` wheel (ISC) every time the model is
built; they are never part of this model's state dict, so a checkpoint of it holds only the base
model's weights. Joined after training (:func:`tag_prior_checkpoint`), not trained as one.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from vocaltools.errors import ModelError

#: the instruments' classes that musicnn's MagnaTagATune tags name
INSTRUMENT_TAGS = {"guitar": "guitar", "violin": "violin", "cello": "cello", "flute": "flute"}
#: state-dict prefix of the tagger, whose weights come from the wheel
TAGGER = "tagger."


class TagPrior(nn.Module):
    def __init__(self, *, n_classes: int, labels: tuple[str, ...] | list[str] | None, base: str,
                 base_options: Mapping[str, Any] | None = None,
                 tags: Mapping[str, str] | None = None, weight: float = 1.0,
                 dataset: str = "MTT"):
        super().__init__()
        from vocaltools.models.musicnn import TAGS
        from vocaltools.models.registry import build_model

        if labels is None:  # the bundled instruments model's classes
            from vocaltools.phrases import PATCHES

            labels = sorted(PATCHES)
        labels, tags = list(labels), dict(INSTRUMENT_TAGS if tags is None else tags)
        if len(labels) != int(n_classes):
            raise ModelError(f"tag_prior: {len(labels)} labels for {n_classes} classes")
        unknown = sorted(set(tags) - set(labels))
        if unknown:
            raise ModelError(f"tag_prior: tags name classes the model lacks: {', '.join(unknown)}")
        not_tags = sorted(set(tags.values()) - set(TAGS[dataset]))
        if not_tags:
            raise ModelError(f"tag_prior: {', '.join(not_tags)} not among musicnn's {dataset} tags")
        if not tags:
            raise ModelError("tag_prior: no class is mapped to a tag")
        self.weight, self.n_classes = float(weight), int(n_classes)
        self.base = build_model(base, n_classes=n_classes, **dict(base_options or {}))
        self.tagger = build_model("musicnn", head="tags", dataset=dataset, finetune=False)
        # [n_tagged] tag column of each tagged class, and the classes' positions
        self.register_buffer("tag_columns", torch.tensor([TAGS[dataset].index(t) for t in tags.values()]),
                             persistent=False)
        self.register_buffer("tagged", torch.tensor([labels.index(c) for c in tags]),
                             persistent=False)
        self.register_state_dict_post_hook(_drop_tagger)
        self.register_load_state_dict_post_hook(_tagger_not_missing)

    def train(self, mode: bool = True):
        super().train(mode)
        self.tagger.eval()
        return self

    def evidence(self, x: torch.Tensor) -> torch.Tensor:
        """``[batch, n_classes]`` tag values ``e(c)`` in (0, 1)."""
        return tag_evidence(torch.sigmoid(self.tagger(x)), columns=self.tag_columns,
                            tagged=self.tagged, n_classes=self.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_p = torch.log_softmax(self.base(x), dim=1)
        joined = log_p + self.weight * torch.log(self.evidence(x).clamp_min(1e-9))
        return torch.log_softmax(joined, dim=1)


def tag_evidence(tags: torch.Tensor, *, columns: torch.Tensor, tagged: torch.Tensor,
                 n_classes: int) -> torch.Tensor:
    """``[batch, n_classes]`` evidence from tag probabilities ``[batch, n_tags]``: class
    ``tagged[k]`` gets tag ``columns[k]``; every other class the median of those tags (the mean of
    the middle two for an even count)."""
    named = tags[:, columns]  # [batch, n_tagged]
    median = named.quantile(0.5, dim=1, keepdim=True)
    evidence = median.expand(tags.shape[0], n_classes).clone()
    evidence[:, tagged] = named
    return evidence


def _drop_tagger(module, state_dict, prefix, local_metadata) -> None:
    for key in [k for k in state_dict if k.startswith(prefix + TAGGER)]:
        del state_dict[key]


def _tagger_not_missing(module, incompatible_keys) -> None:
    missing = incompatible_keys.missing_keys
    missing[:] = [k for k in missing if not k.startswith(TAGGER)]


def build(*, n_classes: int, labels=None, base: str = "mel_cnn_ensemble",
          base_options: Mapping[str, Any] | None = None, tags: Mapping[str, str] | None = None,
          weight: float = 1.0, dataset: str = "MTT") -> TagPrior:
    return TagPrior(n_classes=n_classes, labels=labels, base=base, base_options=base_options,
                    tags=tags, weight=weight, dataset=dataset)


def tag_prior_checkpoint(checkpoint, *, weight: float = 1.0, tags: Mapping[str, str] | None = None,
                         dataset: str = "MTT", clip_seconds: float = 3.0, hop_seconds: float = 1.5):
    """The :class:`~vocaltools.checkpoint.Checkpoint` of ``checkpoint`` (a classifier trained on
    the ``musicnn`` preset) joined with musicnn's tags (``tags``: class -> tag; default those of
    :data:`INSTRUMENT_TAGS` whose class the model has). Its clips are the tagger's 3-s patches
    (every 1.5 s), whatever the base was trained on: the base's global pooling takes any length."""
    from dataclasses import replace

    preset = dict(checkpoint.feature_config).get("preset")
    if preset != "musicnn":
        raise ModelError(f"tag_prior: the base model reads the {preset!r} preset; it must be "
                         "trained on the 'musicnn' preset, which the tagger reads")
    options = {"labels": list(checkpoint.labels), "base": checkpoint.model,
               "base_options": dict(checkpoint.model_options),
               "tags": dict({c: t for c, t in INSTRUMENT_TAGS.items() if c in checkpoint.labels}
                            if tags is None else tags), "weight": float(weight),
               "dataset": dataset}
    state = {f"base.{key}": value for key, value in checkpoint.state_dict.items()}
    clip = {**dict(checkpoint.clip_config), "clip_seconds": clip_seconds, "hop_seconds": hop_seconds,
            "clip_frames": None, "hop_frames": None}
    summary = {"name": f"{checkpoint.summary.get('name', checkpoint.model)} x musicnn {dataset} tags "
                       f"(weight {weight:g})", "base": dict(checkpoint.summary)}
    return replace(checkpoint, model="tag_prior", model_options=options, state_dict=state,
                   clip_config=clip, summary=summary)
