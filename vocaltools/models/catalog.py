"""The model registry as plain data (no torch import): one :class:`ModelSpec` per architecture.

Builders are named as ``"module:function"`` strings and resolved only when a model is built, so
listing names (``--help``, TAB completion) stays cheap. Every builder is called as
``builder(n_classes=..., **options)`` and returns a :class:`torch.nn.Module` that follows the
model contract of :mod:`vocaltools.models.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class PretrainedWeights:
    """Weights that ship inside an installed wheel (read from its file list, never downloaded).

    ``path`` is the file's path in the distribution's RECORD (a TensorFlow checkpoint is named by
    its ``.index`` file and read without TensorFlow), ``key`` the entry of the saved dict
    that holds the state dict (``None``: the file is the state dict), ``licence`` the licence the
    distribution's metadata declares (a test checks it). ``clip_seconds`` / ``hop_seconds`` /
    ``clip_frames`` / ``hop_frames`` are the partial utterances the model was trained on, used by
    ``embed`` and as the training default.
    """

    distribution: str
    path: str
    licence: str
    key: str | None = None
    clip_seconds: float = 1.6
    hop_seconds: float | None = None
    clip_frames: int | None = None
    hop_frames: int | None = None


#: resemblyzer 0.1.4's GE2E encoder: partial utterances of 160 frames (1.6 s) every
#: round(16000 / 1.3 / 160) = 77 frames (``embed_utterance(rate=1.3)``)
GE2E_WEIGHTS = PretrainedWeights("resemblyzer", "resemblyzer/pretrained.pt", "Apache-2.0",
                                 key="model_state", clip_seconds=1.6, hop_seconds=0.77,
                                 clip_frames=160, hop_frames=77)
_GE2E_FILE = f"{GE2E_WEIGHTS.distribution}:{GE2E_WEIGHTS.path}"
#: musicnn 0.1.0's taggers (TensorFlow checkpoints), by training set; trained on 3-s patches
#: (187 frames at hop 256, 16 kHz), which ``embed`` takes every 1.5 s
MUSICNN_WEIGHTS = {dataset: PretrainedWeights("musicnn", f"musicnn/{dataset}_musicnn/.index", "ISC",
                                              clip_seconds=3.0, hop_seconds=1.5, clip_frames=187,
                                              hop_frames=93)
                   for dataset in ("MTT", "MSD")}


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry.

    ``inputs`` names the feature-store arrays the model reads, stacked on the channel axis in this
    order (each array is ``float32 [channels, n_bins, n_frames]``). ``input_shape`` is the paper's
    ``(channels, n_bins, n_frames)``; ``preset`` the feature preset of the seed paper.
    """

    name: str
    task: str  # "classify" or "embed"
    family: str
    builder: str  # "vocaltools.models.<module>:<function>"
    seed: str  # S1..S4, or "" for project models
    description: str
    inputs: tuple[str, ...]
    preset: str
    input_shape: tuple[int, int, int]
    n_classes: int
    options: Mapping[str, Any] = field(default_factory=dict)
    #: clips per batch that `predict` uses by default: what keeps a 60-minute file under 2 GB at
    #: the paper configuration (oblong and aacnn need 2.7 and 5.6 GB at 32; docs/results.md)
    predict_batch: int = 32
    #: pretrained weights loaded by the builder (``None``: random initialisation)
    weights: PretrainedWeights | None = None


def _s1(name: str, description: str, inputs=("logmel",), **options) -> ModelSpec:
    channels = len(inputs)
    preset = "fgnl-melody" if "melody" in inputs else "fgnl"
    return ModelSpec(name, "classify", "crnn", "vocaltools.models.crnn:build", "S1", description,
                     tuple(inputs), preset, (channels, 128, 157), 20, {"variant": name, **options})


def _s2(name: str, description: str) -> ModelSpec:
    return ModelSpec(name, "classify", "cnn", "vocaltools.models.cnn:build", "S2", description,
                     ("logmel",), "wang2018", (1, 96, 256), 46,
                     {"variant": name, "aggregation": "attention", "head": "classify"})


def _s3(name: str, description: str, deformable: tuple[int, ...]) -> ModelSpec:
    return ModelSpec(name, "classify", "oblong", "vocaltools.models.oblong:build", "S3", description,
                     ("multires",), "yamamoto2022", (3, 1025, 259), 10,
                     {"deformable_layers": deformable}, predict_batch=4)


SPECS: tuple[ModelSpec, ...] = (
    # S1: singer identification (Nasrullah & Zhao CRNN, FGNL and ablations, melody branch)
    _s1("crnn", "CRNN baseline (Nasrullah & Zhao 2019)"),
    _s1("crnn_fgnl", "CRNN with the fully generalized non-local module"),
    _s1("crnn_nl", "CRNN with a plain non-local block on block 4 (ablation)"),
    _s1("crnn_fgnl_light", "CRNN with roll + MoSE on block 4 only (ablation)"),
    _s1("crnnm", "CRNN with a melody branch", inputs=("logmel", "melody")),
    _s1("crnnm_fgnl", "CRNNM with the FGNL module", inputs=("logmel", "melody")),
    # S2: singer classification / embedding
    _s2("cnn_shallow", "Vanilla CNN, 3 conv layers, global aggregation"),
    _s2("cnn_deep", "Vanilla CNN, 13 conv layers, global aggregation"),
    _s2("resnext_shallow", "ResNeXt (cardinality 4), shallow, global aggregation"),
    _s2("resnext_deep", "ResNeXt (cardinality 4), deep, global aggregation"),
    # S3: singing-technique classification
    _s3("oblong", "Oblong-kernel CNN without deformable convolution", ()),
    _s3("oblong_dc_all", "Oblong CNN, deformable conv in layers 1-4", (1, 2, 3, 4)),
    _s3("oblong_dc_early", "Oblong CNN, deformable conv in layers 1-2", (1, 2)),
    _s3("oblong_dc_late", "Oblong CNN, deformable conv in layers 3-4", (3, 4)),
    _s3("oblong_dc_last", "Oblong CNN, deformable conv in layer 4", (4,)),
    # S4: instrument identification
    ModelSpec("aacnn", "classify", "aacnn", "vocaltools.models.aacnn:build", "S4",
              "Attention-augmented CNN on STFT magnitude", ("stft",), "wise-stft", (1, 1025, 87), 19,
              {"ratio": 0.25, "input_shape": (1, 1025, 87)}, predict_batch=4),
    ModelSpec("aacnn_cqt", "classify", "aacnn", "vocaltools.models.aacnn:build", "S4",
              "Attention-augmented CNN on CQT magnitude", ("cqt",), "wise-cqt", (1, 252, 87), 19,
              {"ratio": 0.25, "input_shape": (1, 252, 87)}),
    ModelSpec("aacnn_mel", "classify", "aacnn", "vocaltools.models.aacnn:build", "S4",
              "Attention-augmented CNN on log-mel (S4's network on the 'instruments' preset, not the "
              "paper's input)", ("logmel",), "instruments", (1, 64, 44), 17,
              {"ratio": 0.0, "input_shape": (1, 64, 44)}),
    # project models
    ModelSpec("mel_cnn", "classify", "melcnn", "vocaltools.models.melcnn:build", "",
              "Small CNN with global pooling on log-mel, for instruments (not from a paper; the "
              "members of the bundled 'instruments' model)", ("logmel",), "instruments", (1, 64, 44), 17, {}),
    ModelSpec("mel_cnn_ensemble", "classify", "melcnn", "vocaltools.models.ensemble:build", "",
              "Mean of the class probabilities of several trained mel_cnn models (joined after "
              "training; the bundled 'instruments' model)", ("logmel",), "instruments",
              (1, 64, 44), 17, {"member": "mel_cnn", "n_members": 2}),
    # pretrained: weights from an installed wheel, usable without training
    ModelSpec("ge2e", "embed", "ge2e", "vocaltools.models.ge2e:build", "",
              "GE2E speaker encoder (Wan et al. 2018), pretrained weights of resemblyzer: "
              "3-layer LSTM over 40-band mel, 256-d L2-normalised output", ("logmel",), "ge2e",
              (1, 40, 160), 256, {"head": "embed", "finetune": True, "backbone": _GE2E_FILE}, weights=GE2E_WEIGHTS),
    ModelSpec("ge2e_classifier", "classify", "ge2e", "vocaltools.models.ge2e:build", "",
              "A linear head (after standardisation) on the pretrained GE2E encoder, frozen "
              "unless finetune=true (train --model ge2e --objective classify)", ("logmel",), "ge2e",
              (1, 40, 160), 20, {"head": "classify", "finetune": False, "backbone": _GE2E_FILE}, weights=GE2E_WEIGHTS),
    ModelSpec("musicnn", "embed", "musicnn", "vocaltools.models.musicnn:build", "",
              "musicnn music tagger (Pons & Serra 2019), pretrained on MagnaTagATune: its mid-end "
              "features max- and mean-pooled over time, 1,506-d", ("logmel",), "musicnn",
              (1, 96, 187), 1506, {"head": "pool", "dataset": "MTT", "finetune": True}, weights=MUSICNN_WEIGHTS["MTT"]),
    ModelSpec("musicnn_classifier", "classify", "musicnn", "vocaltools.models.musicnn:build", "",
              "A linear head (after standardisation) on musicnn's pooled features, the network "
              "frozen unless finetune=true (train --model musicnn --objective classify)",
              ("logmel",), "musicnn", (1, 96, 187), 17, {"head": "classify", "dataset": "MTT"},
              weights=MUSICNN_WEIGHTS["MTT"]),
    ModelSpec("tag_prior", "classify", "melcnn", "vocaltools.models.tagprior:build", "",
              "A trained classifier on the musicnn preset joined with musicnn's zero-shot "
              "instrument tags as a product of experts (joined after training; the bundled "
              "'instruments' model)", ("logmel",), "musicnn", (1, 96, 187), 17,
              {"base": "mel_cnn_ensemble", "base_options": {"member_options": {"power_db": True}}},
              predict_batch=8, weights=MUSICNN_WEIGHTS["MTT"]),
    # project model: trains in seconds on CPU, for tests and the README demo
    ModelSpec("clip_stats", "classify", "stats", "vocaltools.models.stats:build", "",
              "Linear head on clip statistics of mel bands and MFCCs (not from a paper; a small "
              "siamese embedding: train --objective contrastive)", ("logmel",), "wang2018",
              (1, 96, 256), 16, {}),
    ModelSpec("tiny_cnn", "classify", "tiny", "vocaltools.models.tiny:build", "",
              "Small CNN for tests and demos (not from a paper)", ("logmel",), "fgnl", (1, 128, 157), 4,
              {}),
)
