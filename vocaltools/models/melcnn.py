"""A small CNN with global pooling for instrument recognition on log-mel clips (a project model,
not from a paper; the bundled ``instruments`` model).

``float32 [batch, channels, n_mels, n_frames] -> [batch, n_classes]``:

- with ``power_db``, the input is a linear power mel (the ``musicnn`` preset, which the bundled
  ``instruments`` model shares with the musicnn tagger it is joined with) and is first put on the
  ``instruments`` preset's scale: ``20 log10`` of the power (librosa's ``amplitude_to_db`` of the
  power mel), floored 80 dB below the clip's maximum;
- the clip's mean level is subtracted (``clip_norm``), so a recording's gain and the level it is
  referenced to do not matter; or (``band_norm``) each mel band's mean over the clip's frames,
  i.e. cepstral mean subtraction in the mel domain: a fixed filter (a microphone's response, a
  room's average colour, an mp3 band limit) adds a constant per band to a dB spectrogram and is
  removed, and with it the clip's long-term spectral envelope; what is left is how each band
  moves in time (onsets, decays, vibrato, the partials of note changes); or (``pcen``)
  per-channel energy normalisation (Wang et al., ICASSP 2017; librosa's ``pcen`` with its
  defaults: gain 0.98, bias 2, power 0.5, a 0.4-s smoother started at the clip's first frame) of
  the power mel that the dB values encode (``10^(x/20)``, the ``instruments`` preset's amplitude
  dB of the power mel, relative to the item's maximum and scaled by 2^31 as librosa advises):
  each band is divided by its own recent level, an automatic gain control per band that keeps
  onsets and suppresses stationary noise and reverberant tails. Then BatchNorm over the input
  channel;
- in training only, SpecAugment masks (Park et al., Interspeech 2019): ``freq_masks`` bands of up
  to ``freq_mask_bands`` mel bands and ``time_masks`` spans of up to ``time_mask_frames`` frames
  set to 0 (the normalised mean), drawn per clip from torch's generator;
- ``len(widths)`` blocks of ``[conv 3x3 -> BN -> ReLU] x convs_per_block -> MaxPool 2x2``
  (widths 16, 32, 64, 128 and one conv per block by default: about 10 M multiply-adds per 1-s
  clip of the ``instruments`` preset, 64 x 43);
- global average and max pooling over frequency and time, concatenated (``2 x widths[-1]``):
  what is kept is which timbre patterns occur, not where in pitch or time, so a note played in
  another register or a phrase cut elsewhere gives the same features;
- dropout, dense ``hidden`` (ReLU) = ``forward_features``; dense ``n_classes`` = ``classifier``.

Unlike S4's AACNN, whose flatten layer ties every dense weight to one position of the map, the
input length is free (any number of frames from ``2 ** len(widths)`` on).
"""

from __future__ import annotations

import torch
from torch import nn


#: the dynamic range kept by ``power_db`` (the ``instruments`` preset's ``top_db``)
TOP_DB = 80.0


def power_to_db(power: torch.Tensor) -> torch.Tensor:
    """``[batch, channels, bins, frames]`` power mel -> the ``instruments`` preset's dB scale:
    ``20 log10`` (librosa's ``amplitude_to_db`` of the power), floored :data:`TOP_DB` below each
    clip's maximum."""
    db = 20.0 * torch.log10(power.clamp_min(1e-10))
    return torch.maximum(db, db.amax(dim=(2, 3), keepdim=True) - TOP_DB)


def _block(c_in: int, c_out: int, n_convs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k in range(n_convs):
        layers += [nn.Conv2d(c_in if k == 0 else c_out, c_out, 3, padding=1, bias=False),
                   nn.BatchNorm2d(c_out), nn.ReLU()]
    return nn.Sequential(*layers, nn.MaxPool2d(2))


def pcen(power: torch.Tensor, *, frames_per_second: float, time_constant: float = 0.4,
         gain: float = 0.98, bias: float = 2.0, power_exponent: float = 0.5,
         eps: float = 1e-6) -> torch.Tensor:
    """Per-channel energy normalisation of ``power`` ``[batch, channels, bins, frames]`` over the
    last axis (librosa's ``pcen`` formula and smoothing coefficient; the smoother starts at the
    first frame's value)."""
    t = time_constant * frames_per_second
    b = ((1 + 4 * t ** 2) ** 0.5 - 1) / (2 * t ** 2)
    smooth = [power[..., 0]]
    for frame in range(1, power.shape[-1]):
        smooth.append((1 - b) * smooth[-1] + b * power[..., frame])
    m = torch.stack(smooth, dim=-1)
    return (power / (eps + m) ** gain + bias) ** power_exponent - bias ** power_exponent


def spec_mask(x: torch.Tensor, *, n_masks: int, width: int, dim: int) -> torch.Tensor:
    """``x`` with ``n_masks`` spans of ``0..width`` positions along ``dim`` (2 = bands, 3 = frames)
    set to 0, drawn independently for every clip."""
    if n_masks <= 0 or width <= 0:
        return x
    size = x.shape[dim]
    position = torch.arange(size, device=x.device)
    keep = torch.ones(x.shape[0], size, dtype=torch.bool, device=x.device)
    for _ in range(n_masks):
        span = torch.randint(0, width + 1, (x.shape[0], 1), device=x.device)
        start = (torch.rand(x.shape[0], 1, device=x.device) * (size - span + 1)).long()
        keep &= ~((position >= start) & (position < start + span))
    shape = [x.shape[0], 1, 1, 1]
    shape[dim] = size
    return x * keep.view(shape).to(x.dtype)


class MelCNN(nn.Module):
    def __init__(self, *, n_classes: int, in_channels: int = 1, widths: tuple[int, ...] = (16, 32, 64, 128),
                 convs_per_block: int = 1, hidden: int = 128, dropout: float = 0.3,
                 clip_norm: bool = True, band_norm: bool = False, pcen: bool = False,
                 power_db: bool = False, frames_per_second: float = 22050 / 512,
                 freq_masks: int = 0, freq_mask_bands: int = 8, time_masks: int = 0,
                 time_mask_frames: int = 8):
        super().__init__()
        self.power_db = bool(power_db)
        self.clip_norm = bool(clip_norm)
        self.band_norm = bool(band_norm)
        self.pcen = bool(pcen)
        self.frames_per_second = float(frames_per_second)
        self.masks = ((int(freq_masks), int(freq_mask_bands), 2), (int(time_masks), int(time_mask_frames), 3))
        self.input_norm = nn.BatchNorm2d(in_channels)
        blocks, c = [], in_channels
        for width in widths:
            blocks.append(_block(c, int(width), int(convs_per_block)))
            c = int(width)
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * c, hidden), nn.ReLU())
        self.classifier = nn.Linear(hidden, n_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if self.power_db:
            x = power_to_db(x)
        if self.pcen:
            x = pcen(torch.pow(10.0, x / 20.0) * 2.0 ** 31, frames_per_second=self.frames_per_second)
        elif self.band_norm:
            x = x - x.mean(dim=3, keepdim=True)
        elif self.clip_norm:
            x = x - x.mean(dim=(2, 3), keepdim=True)
        if self.training:
            for n_masks, width, dim in self.masks:
                x = spec_mask(x, n_masks=n_masks, width=width, dim=dim)
        x = self.blocks(self.input_norm(x))  # [batch, c, n_mels / 2^k, n_frames / 2^k]
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)  # [batch, 2c]
        return self.head(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


def build(*, n_classes: int, in_channels: int = 1, widths=(16, 32, 64, 128), convs_per_block: int = 1,
          hidden: int = 128, dropout: float = 0.3, clip_norm: bool = True, band_norm: bool = False,
          pcen: bool = False, power_db: bool = False, frames_per_second: float = 22050 / 512,
          freq_masks: int = 0,
          freq_mask_bands: int = 8, time_masks: int = 0, time_mask_frames: int = 8) -> MelCNN:
    return MelCNN(n_classes=n_classes, in_channels=in_channels, widths=tuple(widths),
                  convs_per_block=convs_per_block, hidden=hidden, dropout=dropout,
                  clip_norm=clip_norm, band_norm=band_norm, pcen=pcen, power_db=power_db,
                  frames_per_second=frames_per_second, freq_masks=freq_masks,
                  freq_mask_bands=freq_mask_bands, time_masks=time_masks,
                  time_mask_frames=time_mask_frames)
