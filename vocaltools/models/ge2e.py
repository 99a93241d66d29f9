"""The GE2E speaker encoder (Wan, Wang, Papir, Lopez Moreno, ICASSP 2018) with the pretrained
weights of resemblyzer (``resemblyzer/pretrained.pt``, Apache-2.0), as a registry model.

Architecture (resemblyzer's ``VoiceEncoder``): a 3-layer LSTM (hidden 256) over 40-band *linear*
power mel frames (16 kHz, 25 ms windows, 10 ms hop: the ``ge2e`` feature preset), the last
layer's final hidden state through a 256 x 256 linear layer, ReLU, L2 normalisation. Partial
utterances are 160 frames (1.6 s); an utterance's embedding is the (L2-normalised) mean of its
partials' embeddings, which ``vocaltools embed --normalize`` computes.

``resemblyzer.preprocess_wav`` also raises quiet files to -30 dBFS (never lowers them: most music
is louder, so it rarely acts) and cuts long silences with webrtcvad; vocaltools does neither, so
silent partials are embedded too.

Heads (``head``):

- ``"embed"``: the encoder's output; with ``n_classes != 256`` a new linear projection to
  ``n_classes`` dimensions follows (a siamese twin of another width).
- ``"classify"``: batch standardisation (no affine parameters) of the 256-d embedding and a
  linear layer to ``n_classes`` logits (transfer learning for closed-set singer identification).

``finetune=False`` freezes the encoder (``requires_grad=False``); only the head trains, and the
encoder's output is memoised per distinct input clip (a hash of its values; up to
``CACHE_ITEMS`` clips, cleared whenever weights are loaded), so training epochs after the first
cost the head alone.
``backbone`` names the encoder's weights as ``"distribution:path"`` (recorded in every checkpoint's
model options); ``None`` initialises it randomly.
"""

from __future__ import annotations

import torch
from torch import nn

from vocaltools.errors import ModelError

N_MELS = 40
HIDDEN = 256
N_LAYERS = 3
#: the weights file the encoder loads, as "distribution:path"
BACKBONE = "resemblyzer:resemblyzer/pretrained.pt"
#: clips whose frozen-encoder output is kept (256 floats each: 200 MB at most)
CACHE_ITEMS = 200_000


class GE2EEncoder(nn.Module):
    """``float32 [batch, n_frames, 40] -> [batch, 256]``, L2-normalised, non-negative."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(N_MELS, HIDDEN, N_LAYERS, batch_first=True)
        self.linear = nn.Linear(HIDDEN, HIDDEN)
        self.relu = nn.ReLU()

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)  # hidden: [n_layers, batch, 256]
        raw = self.relu(self.linear(hidden[-1]))
        # an all-zero ReLU output (not met on real audio) stays zero instead of NaN
        return raw / torch.linalg.vector_norm(raw, dim=1, keepdim=True).clamp_min(1e-12)


class GE2E(nn.Module):
    """Registry model: ``float32 [batch, 1, 40, n_frames] -> [batch, n_out]``."""

    def __init__(self, *, n_classes: int = HIDDEN, head: str = "embed", finetune: bool = True,
                 backbone: str | None = BACKBONE):
        super().__init__()
        if head not in ("embed", "classify"):
            raise ModelError(f"ge2e: head must be 'embed' or 'classify'; got {head!r}")
        self.head = head
        self.encoder = GE2EEncoder()
        if backbone is not None:
            from vocaltools.models.catalog import GE2E_WEIGHTS
            from vocaltools.models.pretrained import load_weights

            if backbone != BACKBONE:
                raise ModelError(f"ge2e: unknown backbone {backbone!r}; the known one is "
                                 f"{BACKBONE!r} (or null for random weights)")
            state = load_weights(GE2E_WEIGHTS)
            # the file also holds the GE2E loss's similarity scale and bias (training only)
            self.encoder.load_state_dict({k: v for k, v in state.items()
                                          if k.startswith(("lstm.", "linear."))})
        if head == "classify":
            self.classifier = nn.Sequential(nn.BatchNorm1d(HIDDEN, affine=False),
                                            nn.Linear(HIDDEN, n_classes))
        elif n_classes != HIDDEN:
            self.classifier = nn.Linear(HIDDEN, n_classes)
        else:
            self.classifier = nn.Identity()
        self.finetune = bool(finetune)
        for parameter in self.encoder.parameters():
            parameter.requires_grad_(self.finetune)
        self._cache: dict[bytes, torch.Tensor] = {}
        self._register_load_state_dict_pre_hook(lambda *args, **kwargs: self._cache.clear())

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] != N_MELS:
            raise ModelError(f"ge2e expects float32 [batch, 1, {N_MELS}, n_frames] power mel "
                             f"frames (the 'ge2e' feature preset); got {tuple(x.shape)}")
        if self.finetune or torch.is_grad_enabled() and any(
                p.requires_grad for p in self.encoder.parameters()):
            return self.encoder(x[:, 0].transpose(1, 2))  # [batch, n_frames, 40]
        return self._frozen(x)

    def _frozen(self, x: torch.Tensor) -> torch.Tensor:
        """The frozen encoder's output, memoised per clip."""
        import hashlib

        values = x.detach().to("cpu", torch.float32).contiguous().numpy()
        keys = [hashlib.blake2b(clip.tobytes(), digest_size=16).digest() + bytes(str(clip.shape), "ascii")
                for clip in values]
        missing = [i for i, key in enumerate(keys) if key not in self._cache]
        if missing:
            with torch.no_grad():
                fresh = self.encoder(x[missing, 0].transpose(1, 2)).detach().to("cpu")
            if len(self._cache) + len(missing) > CACHE_ITEMS:
                self._cache.clear()
            for i, row in zip(missing, fresh):
                self._cache[keys[i]] = row
            found = {i: row for i, row in zip(missing, fresh)}
        else:
            found = {}
        rows = [found[i] if i in found else self._cache[key] for i, key in enumerate(keys)]
        return torch.stack(rows).to(x.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


def build(*, n_classes: int = HIDDEN, head: str = "embed", finetune: bool = True,
          backbone: str | None = BACKBONE) -> GE2E:
    return GE2E(n_classes=n_classes, head=head, finetune=finetune, backbone=backbone)
