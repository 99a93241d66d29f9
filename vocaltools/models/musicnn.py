"""musicnn (Pons and Serra, "musicnn: pre-trained convolutional neural networks for music audio
tagging", ISMIR 2019 LBD) with the pretrained weights of the ``musicnn`` wheel (ISC), in PyTorch.

The weights are TensorFlow checkpoints inside the wheel (``musicnn/MTT_musicnn/``, trained on
MagnaTagATune's 50 tags; ``musicnn/MSD_musicnn/``, the Million Song Dataset's 50 tags). They are
read with :mod:`vocaltools.models.tf_checkpoint`; TensorFlow is never needed, and the package is
never imported.

Architecture (musicnn's ``build_musicnn``, 792,081 parameters; every convolution is followed by
ReLU and then batch normalisation, eps 1e-3 as TensorFlow's):

- input: ``log10(10000 * mel + 1)`` of a 96-band power mel (16 kHz, n_fft 512, hop 256: the
  ``musicnn`` feature preset), batch-normalised (one channel);
- front end: timbral filters 7 x 38 and 7 x 67 (204 each, time padded 3 + 3, no frequency
  padding) and temporal filters 128 x 1, 64 x 1, 32 x 1 (51 each, TensorFlow 'same' padding),
  each max-pooled over frequency -> 561 values per frame;
- mid end: three 1-d convolutions over time (64 filters, width 7), the second and third residual;
  the front-end and the three mid-end outputs are concatenated -> 753 values per frame;
- back end: max and mean over time (1,506, interleaved: max and mean of feature 0, then of
  feature 1, ...), batch norm, dense 200 + ReLU, batch norm (the
  "penultimate" features), dense to the 50 tag logits.

Heads (``head``): ``"tags"`` gives the 50 tag logits (sigmoid for probabilities); ``"pool"`` the
1,506 max + mean pooled mid-end features; ``"penultimate"`` the 200 back-end features;
``"classify"`` a linear layer (after batch standardisation without affine parameters) on the
pooled features, with the network frozen unless ``finetune=true``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vocaltools.errors import ModelError

N_MELS = 96
#: the feature sizes of the front end, the mid end and the pooled back end
FRONT, MID, POOLED, PENULTIMATE = 561, 64, 2 * (561 + 3 * 64), 200
#: the datasets the wheel has weights for, and their tags (musicnn's ``configuration.py``)
TAGS = {
    "MTT": ("guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock",
            "fast", "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian",
            "opera", "male", "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet",
            "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
            "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats",
            "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral"),
    "MSD": ("rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance",
            "00s", "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
            "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s",
            "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
            "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
            "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal",
            "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy"),
}
HEADS = ("tags", "pool", "penultimate", "classify")


def _bn(n: int) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(n, eps=1e-3)


class MusicnnNet(nn.Module):
    """``float32 [batch, n_frames, 96]`` compressed mel -> ``(logits [batch, 50],
    penultimate [batch, 200], pooled [batch, 1506])``."""

    def __init__(self):
        super().__init__()
        self.input_bn = _bn(1)
        self.timbral = nn.ModuleList([nn.Conv2d(1, 204, (7, width)) for width in (38, 67)])
        self.temporal = nn.ModuleList([nn.Conv2d(1, 51, (length, 1)) for length in (128, 64, 32)])
        self.front_bn = nn.ModuleList([_bn(204), _bn(204), _bn(51), _bn(51), _bn(51)])
        self.mid = nn.ModuleList([nn.Conv1d(FRONT, MID, 7, padding=3),
                                  nn.Conv1d(MID, MID, 7, padding=3),
                                  nn.Conv1d(MID, MID, 7, padding=3)])
        self.mid_bn = nn.ModuleList([_bn(MID) for _ in range(3)])
        self.pool_bn = _bn(POOLED)
        self.dense = nn.Linear(POOLED, PENULTIMATE)
        self.dense_bn = _bn(PENULTIMATE)
        self.logits = nn.Linear(PENULTIMATE, 50)

    @staticmethod
    def _bn_map(bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
        """Batch norm over channel axis 1 of a tensor of any rank."""
        shape = x.shape
        return bn(x.reshape(shape[0], shape[1], -1)).reshape(shape)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self._bn_map(self.input_bn, x.unsqueeze(1))  # [batch, 1, time, 96]
        padded = F.pad(x, (0, 0, 3, 3))
        front = []
        for conv, bn in zip(self.timbral, self.front_bn[:2]):
            front.append(self._bn_map(bn, F.relu(conv(padded))).amax(dim=3))
        for conv, bn in zip(self.temporal, self.front_bn[2:]):
            length = conv.kernel_size[0]
            # TensorFlow 'same' padding: the odd sample goes after
            same = F.pad(x, (0, 0, (length - 1) // 2, length - 1 - (length - 1) // 2))
            front.append(self._bn_map(bn, F.relu(conv(same))).amax(dim=3))
        h = torch.cat(front, dim=1)  # [batch, 561, time]
        layers = [h]
        h = self.mid_bn[0](F.relu(self.mid[0](h)))
        layers.append(h)
        for conv, bn in zip(self.mid[1:], self.mid_bn[1:]):
            h = bn(F.relu(conv(h))) + h
            layers.append(h)
        features = torch.cat(layers, dim=1)  # [batch, 753, time]
        # TensorFlow flattens [753, (max, mean)]: the two statistics of a feature are adjacent
        pooled = torch.stack([features.amax(dim=2), features.mean(dim=2)], dim=2).flatten(1)
        penultimate = self.dense_bn(F.relu(self.dense(self.pool_bn(pooled))))
        return self.logits(penultimate), penultimate, pooled


def _tf_names() -> list[tuple[str, str]]:
    """(torch module path, TensorFlow layer name) in musicnn's creation order."""
    bns = ["input_bn", "front_bn.0", "front_bn.1", "front_bn.2", "front_bn.3", "front_bn.4",
           "mid_bn.0", "mid_bn.1", "mid_bn.2", "pool_bn", "dense_bn"]
    convs = ["timbral.0", "timbral.1", "temporal.0", "temporal.1", "temporal.2", "mid.0", "mid.1",
             "mid.2"]
    pairs = [(m, "batch_normalization" + (f"_{i}" if i else "")) for i, m in enumerate(bns)]
    pairs += [(m, "conv2d" + (f"_{i}" if i else "")) for i, m in enumerate(convs)]
    return pairs + [("dense", "dense"), ("logits", "dense_1")]


def state_dict_from_tf(tensors: dict) -> dict[str, torch.Tensor]:
    """musicnn's TensorFlow variables as :class:`MusicnnNet` parameters and buffers."""
    state = {}
    try:
        for module, layer in _tf_names():
            if layer.startswith("batch_normalization"):
                for ours, theirs in (("weight", "gamma"), ("bias", "beta"),
                                     ("running_mean", "moving_mean"),
                                     ("running_var", "moving_variance")):
                    state[f"{module}.{ours}"] = torch.as_tensor(tensors[f"{layer}/{theirs}"])
                continue
            kernel = torch.as_tensor(tensors[f"{layer}/kernel"])
            if layer.startswith("dense"):
                weight = kernel.T  # [in, out] -> [out, in]
            elif module.startswith("mid"):
                weight = kernel[:, :, 0, :].permute(2, 1, 0)  # [7, in, 1, out] -> [out, in, 7]
            else:
                weight = kernel.permute(3, 2, 0, 1)  # [h, w, in, out] -> [out, in, h, w]
            state[f"{module}.weight"] = weight.contiguous()
            state[f"{module}.bias"] = torch.as_tensor(tensors[f"{layer}/bias"])
    except KeyError as error:
        raise ModelError(f"musicnn weights: no TensorFlow variable {error.args[0]!r}") from error
    return state


class Musicnn(nn.Module):
    """Registry model: ``float32 [batch, 1, 96, n_frames]`` power mel -> the head's output."""

    def __init__(self, *, n_classes: int = 50, head: str = "tags", dataset: str = "MTT",
                 finetune: bool = False, pretrained: bool = True):
        super().__init__()
        if head not in HEADS:
            raise ModelError(f"musicnn: head must be one of {', '.join(HEADS)}; got {head!r}")
        if dataset not in TAGS:
            raise ModelError(f"musicnn: dataset must be one of {', '.join(TAGS)}; got {dataset!r}")
        self.head, self.dataset, self.finetune = head, dataset, bool(finetune)
        self.net = MusicnnNet()
        if pretrained:
            from vocaltools.models.catalog import MUSICNN_WEIGHTS
            from vocaltools.models.pretrained import load_weights

            self.net.load_state_dict(state_dict_from_tf(load_weights(MUSICNN_WEIGHTS[dataset])))
        if head == "classify":
            self.classifier = nn.Sequential(nn.BatchNorm1d(POOLED, affine=False),
                                            nn.Linear(POOLED, n_classes))
        for parameter in self.net.parameters():
            parameter.requires_grad_(self.finetune)

    def train(self, mode: bool = True):
        super().train(mode)
        if not self.finetune:  # a frozen network keeps its statistics
            self.net.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] != N_MELS:
            raise ModelError(f"musicnn expects float32 [batch, 1, {N_MELS}, n_frames] power mel "
                             f"frames (the 'musicnn' feature preset); got {tuple(x.shape)}")
        compressed = torch.log10(10000.0 * x[:, 0].transpose(1, 2).clamp_min(0) + 1.0)
        logits, penultimate, pooled = self.net(compressed)
        if self.head == "tags":
            return logits
        if self.head == "penultimate":
            return penultimate
        if self.head == "pool":
            return pooled
        return self.classifier(pooled)


def build(*, n_classes: int = 50, head: str = "tags", dataset: str = "MTT",
          finetune: bool = False, pretrained: bool = True) -> Musicnn:
    return Musicnn(n_classes=n_classes, head=head, dataset=dataset, finetune=finetune,
                   pretrained=pretrained)
