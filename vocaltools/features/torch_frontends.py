"""The feature front ends in torch, for batches of waveforms on a CPU or CUDA device.

:func:`compute_features_torch` takes the same frozen configs as :func:`~vocaltools.features.compute_features`
(log-mel in both dB conventions, STFT magnitude, multi-resolution STFT, CQT; not melody, whose
Viterbi f0 tracker stays on the CPU) and returns ``{name: float32 [batch, channels, n_bins, n_frames]}``.
:func:`featurize_file_torch` is the drop-in for :func:`~vocaltools.features.featurize_file`, and
:func:`iter_featurize_torch` featurizes many files in padded batches (what ``featurize --device``
should call); a melody front end, if any, is computed by the NumPy engine.

How each front end matches the NumPy/librosa engine (checked by tests/test_torch_frontends.py):

- STFT-based (log-mel, STFT, multi-resolution): same periodic Hann window centred in ``n_fft``,
  same centred frames with librosa 0.11's default zero (``"constant"``) padding, the same
  ``librosa.filters.mel`` matrix (computed once and cached per device), the same dB rules (``top_db``
  and ``ref="max"`` per batch item, per channel for multi-resolution). Differences are float32
  rounding only: log-mel within 1e-3 dB, STFT magnitudes within 1e-4 relative of each item's peak.
- CQT: librosa's own recursive algorithm (``librosa.cqt``, librosa 0.11): the same constant-Q filters
  (``librosa.filters.wavelet``, FFT, ``sparsify_rows`` with sparsity 0.01) applied per octave to a
  rectangular-window STFT, the signal halved in rate between octaves, the same length scaling. Only
  the filters' non-zero STFT bins enter the product. The one difference is the 2:1 resampler:
  librosa uses soxr (``soxr_hq``), which has no torch counterpart; here each halving is a zero-phase
  FFT low-pass (flat to 0.5 x the new Nyquist, above every CQT filter of the lower octaves, then a
  raised-cosine taper to zero at the new Nyquist) and decimation, on the signal with a zero margin
  that keeps the low-pass output spilling past its ends. Measured on synthetic voices (1-3 s): the
  top octave (no resampling) agrees to float32 rounding (2e-8 of the item's peak); overall the
  largest difference is 4.5e-5 of the item's peak magnitude: relative errors <= 4e-5 for bins within
  20 dB of the peak, <= 1.2e-3 within 40 dB, <= 1.5e-2 within 60 dB (with ``scale="db"``, values
  near the -80 dB floor can differ by up to ~2 dB). For scale: librosa's own ``res_type="fft"``
  differs from ``soxr_hq`` by 1.3e-3 of the peak, and ``librosa.cqt`` itself moves by 2e-4 of the
  peak when the zero padding around the signal changes.

A batch holds equal-length waveforms; for items of different lengths pad with zeros and pass
``lengths``: frames ``t < 1 + lengths[i] // hop`` then equal the features of the unpadded item (the
zero padding is exactly librosa's), and the dB reference level / ``top_db`` peak of item ``i`` is
taken over those frames only. Frames past an item's end are left as computed (crop them).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import numpy as np

from vocaltools.errors import ConfigError, InputError, VocaltoolsError
from vocaltools.features.config import Cqt, FeatureConfig, LogMel, Melody, MultiRes, Stft

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from vocaltools.features.compute import FeatureResult

#: the 2:1 resampler of the CQT: flat below PASS x the new Nyquist (every CQT filter of the next
#: octave lies below 0.45 x), a raised-cosine taper to zero at STOP x (no aliasing)
RESAMPLE_PASS = 0.5
RESAMPLE_STOP = 1.0
#: zeros added at each side of a signal before an FFT low-pass (at the current rate), so that the
#: circular FFT filter acts as a linear one
RESAMPLE_GUARD = 256
#: samples (at the lowest rate) of low-pass output kept beyond each end of the signal: the
#: filter's impulse response is below 5e-5 of its peak after 64 samples. Cutting it at the signal's
#: ends (as if the filtered signal were zero there) costs up to 1e-2 relative error in the last
#: frames of the low octaves.
RESAMPLE_SPILL = 64

_CACHE: dict[tuple, object] = {}


def resolve_device(device: "str | torch.device | None") -> "torch.device":
    """``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"`` (CUDA when available) or None (= auto).

    Raises :class:`InputError` for an unknown name or a CUDA device this machine does not have."""
    import torch

    if isinstance(device, torch.device):
        name = str(device)
    else:
        name = "auto" if device is None else str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(name)
    except RuntimeError as error:
        raise InputError(f"unknown device {name!r}; expected cpu, cuda, cuda:N or auto") from error
    if resolved.type not in ("cpu", "cuda"):
        raise InputError(f"device {name!r} is not supported; expected cpu, cuda, cuda:N or auto")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {name!r} was asked for but torch sees no CUDA GPU here; "
                             "use --device cpu (or auto)")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise InputError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s)")
    return resolved


def _cached(key: tuple, build):
    value = _CACHE.get(key)
    if value is None:
        value = _CACHE[key] = build()
    return value


# -- STFT front ends ----------------------------------------------------------------------------

def _window(n_fft: int, win_length: int, device) -> "torch.Tensor":
    """librosa's window: periodic Hann of ``win_length`` centred (zero padded) in ``n_fft``."""
    import torch

    def build():
        window = torch.hann_window(win_length, periodic=True, dtype=torch.float64)
        left = (n_fft - win_length) // 2
        padded = torch.zeros(n_fft, dtype=torch.float64)
        padded[left:left + win_length] = window
        return padded.to(device=device, dtype=torch.float32)

    return _cached(("window", n_fft, win_length, str(device)), build)


def _mel_basis(sample_rate: int, front_end: LogMel, device) -> "torch.Tensor":
    """float32 [n_mels, 1 + n_fft // 2]: ``librosa.filters.mel``, cached per device."""
    import torch

    fmax = None if front_end.fmax is None else float(front_end.fmax)

    def build():
        import librosa

        basis = librosa.filters.mel(sr=sample_rate, n_fft=front_end.n_fft, n_mels=front_end.n_mels,
                                    fmin=float(front_end.fmin), fmax=fmax, dtype=np.float32)
        return torch.from_numpy(basis).to(device)

    return _cached(("mel", sample_rate, front_end.n_fft, front_end.n_mels, float(front_end.fmin),
                    fmax, str(device)), build)


def _frames(waveforms, *, n_fft: int, hop: int):
    """float32 [batch, n_frames, n_fft] view: frame ``t`` centred on sample ``t * hop`` of the
    zero-padded signal (librosa's ``center=True, pad_mode="constant"``)."""
    import torch

    padded = torch.nn.functional.pad(waveforms, (n_fft // 2, n_fft // 2))
    return padded.unfold(-1, n_fft, hop)


def _stft_power(frames, *, n_fft: int, win_length: int, magnitude: bool):
    """float32 [batch, 1 + n_fft // 2, n_frames] (a transposed view): ``|X|^2`` (or ``|X|``) of
    ``frames`` (from :func:`_frames`) under librosa's window."""
    import torch

    # framing by hand and an FFT over the last axis keep every tensor contiguous: on CPU this is
    # about twice as fast as torch.stft, whose [batch, freq, time] output is strided
    spectrum = torch.fft.rfft(frames * _window(n_fft, win_length, frames.device), dim=-1)
    power = spectrum.real.square() + spectrum.imag.square()  # [batch, n_frames, freq]
    return (power.sqrt() if magnitude else power).transpose(-1, -2)


# -- CQT ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Octave:
    basis: "torch.Tensor"  # complex64 [n_filters, stop - start]: the non-zero columns only
    start: int  # first STFT bin the octave's filters use
    stop: int
    n_fft: int
    hop: int


@dataclass(frozen=True)
class _CqtPlan:
    early_factor: int  # the early downsampling factor (1 = none)
    octaves: tuple  # _Octave, top octave first
    n_bins: int
    inv_sqrt_lengths: "torch.Tensor"  # float32 [n_bins]


def _relative_bandwidth(freqs: np.ndarray) -> np.ndarray:
    """librosa.filters' relative bandwidth of each frequency (same arithmetic, same floats)."""
    bpo = np.empty_like(freqs)
    logf = np.log2(freqs)
    bpo[0] = 1 / (logf[1] - logf[0])
    bpo[-1] = 1 / (logf[-1] - logf[-2])
    bpo[1:-1] = 2 / (logf[2:] - logf[:-2])
    return (2.0 ** (2 / bpo) - 1) / (2.0 ** (2 / bpo) + 1)


def _cqt_plan(sample_rate: int, front_end: Cqt, device) -> _CqtPlan:
    """librosa.cqt's filters and rates for ``front_end`` (tuning 0, filter_scale 1, norm 1, Hann,
    sparsity 0.01, scale True), as torch tensors on ``device``; cached per device."""

    def build():
        import librosa
        import torch

        n_bins, bpo = front_end.n_bins_total, front_end.bins_per_octave
        freqs = librosa.interval_frequencies(n_bins=n_bins, fmin=front_end.fmin, intervals="equal",
                                             bins_per_octave=bpo, sort=True)
        alpha = _relative_bandwidth(freqs) if n_bins > 1 else np.array(
            [(2.0 ** (2 / bpo) - 1) / (2.0 ** (2 / bpo) + 1)])
        lengths, cutoff = librosa.filters.wavelet_lengths(freqs=freqs, sr=sample_rate,
                                                          window="hann", filter_scale=1, gamma=0,
                                                          alpha=alpha)
        nyquist = sample_rate / 2.0
        if cutoff > nyquist:
            raise ConfigError(f"cqt: the filters reach {cutoff:.0f} Hz, above the Nyquist "
                              f"frequency ({nyquist:.0f} Hz at {sample_rate} Hz); lower "
                              "n_bins_total or fmin")
        n_octaves = int(np.ceil(float(n_bins) / bpo))
        n_filters = min(bpo, n_bins)
        hop = front_end.hop_length
        twos = (hop & -hop).bit_length() - 1  # factors of 2 in hop
        early = min(max(0, int(np.ceil(np.log2(nyquist / cutoff)) - 1) - 1),
                    max(0, twos - n_octaves + 1))
        rate = sample_rate / 2 ** early
        hop //= 2 ** early
        octaves = []
        my_rate, my_hop = rate, hop
        for i in range(n_octaves):
            sl = slice(-n_filters, None) if i == 0 else slice(-n_filters * (i + 1), -n_filters * i)
            basis, octave_lengths = librosa.filters.wavelet(
                freqs=freqs[sl], sr=my_rate, filter_scale=1, norm=1, pad_fft=True, window="hann",
                gamma=0, alpha=alpha[sl])
            n_fft = basis.shape[1]
            basis *= octave_lengths[:, None] / float(n_fft)
            fft_basis = np.fft.fft(basis, n=n_fft, axis=1)[:, :n_fft // 2 + 1]
            fft_basis = librosa.util.sparsify_rows(fft_basis, quantile=0.01, dtype=np.complex64)
            dense = np.asarray(fft_basis.todense()) * np.sqrt(rate / my_rate)
            used = np.flatnonzero(np.any(dense != 0, axis=0))
            start, stop = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 1)
            octaves.append(_Octave(
                basis=torch.from_numpy(dense[:, start:stop].astype(np.complex64)).to(device),
                start=start, stop=stop, n_fft=n_fft, hop=my_hop))
            if my_hop % 2 == 0:
                my_hop //= 2
                my_rate /= 2.0
            else:  # librosa stops halving; the remaining octaves run at this rate
                pass
        lengths, _ = librosa.filters.wavelet_lengths(freqs=freqs, sr=rate, window="hann",
                                                     filter_scale=1, gamma=0, alpha=alpha)
        inv = torch.from_numpy((1.0 / np.sqrt(lengths)).astype(np.float32)).to(device)
        return _CqtPlan(early_factor=2 ** early, octaves=tuple(octaves), n_bins=n_bins,
                        inv_sqrt_lengths=inv)

    return _cached(("cqt", sample_rate, front_end.hop_length, front_end.n_bins_total,
                    front_end.bins_per_octave, float(front_end.fmin), str(device)), build)


def _lowpass_gain(n_freqs: int, n_fft: int, factor: int, device) -> "torch.Tensor":
    """float32 [n_freqs]: 1 below RESAMPLE_PASS x (Nyquist / factor), a raised-cosine taper to 0 at
    RESAMPLE_STOP x (Nyquist / factor)."""
    import torch

    def build():
        relative = torch.arange(n_freqs, dtype=torch.float64) * (2.0 * factor / n_fft)  # 1 = new Nyquist
        ramp = ((relative - RESAMPLE_PASS) / (RESAMPLE_STOP - RESAMPLE_PASS)).clamp(0.0, 1.0)
        return (0.5 + 0.5 * torch.cos(math.pi * ramp)).to(device=device, dtype=torch.float32)

    return _cached(("lowpass", n_freqs, n_fft, factor, str(device)), build)


def _downsample(waveforms, factor: int):
    """float32 [batch, ceil(n / factor)]: low-pass and keep every ``factor``-th sample, scaled by
    sqrt(factor) (librosa's ``resample(..., scale=True)``); sample ``j`` sits at input ``j*factor``."""
    import torch

    import scipy.fft

    n = waveforms.shape[-1]
    guard = RESAMPLE_GUARD * factor
    n_fft = scipy.fft.next_fast_len(n + 2 * guard, real=True)  # a length with small prime factors
    padded = torch.nn.functional.pad(waveforms, (guard, n_fft - n - guard))
    spectrum = torch.fft.rfft(padded, dim=-1)
    spectrum = spectrum * _lowpass_gain(spectrum.shape[-1], n_fft, factor, waveforms.device)
    filtered = torch.fft.irfft(spectrum, n=n_fft, dim=-1)[..., guard:guard + n]
    return filtered[..., ::factor].contiguous() * math.sqrt(factor)


def _cqt_magnitude(waveforms, *, sample_rate: int, front_end: Cqt, n_frames: int):
    """float32 [batch, n_bins, n_frames]: ``|librosa.cqt|`` of each row (see the module docstring)."""
    import torch

    plan = _cqt_plan(sample_rate, front_end, waveforms.device)
    # zero margin (a whole number of hops) so that each low-pass's output beyond the signal's ends
    # is kept, as librosa's soxr keeps it
    hop = front_end.hop_length
    total_factor = plan.early_factor * 2 ** sum(o.hop % 2 == 0 for o in plan.octaves[:-1])
    margin = -(-RESAMPLE_SPILL * total_factor // hop) * hop
    signal = torch.nn.functional.pad(waveforms, (margin, margin))
    first = margin // hop
    if plan.early_factor > 1:
        if signal.shape[-1] < plan.early_factor:
            raise InputError(f"cqt: a signal of {signal.shape[-1]} samples is too short")
        signal = _downsample(signal, plan.early_factor)
    responses = []
    for i, octave in enumerate(plan.octaves):
        if i > 0 and plan.octaves[i - 1].hop % 2 == 0:
            signal = _downsample(signal, 2)
        ones = torch.ones(octave.n_fft, dtype=signal.dtype, device=signal.device)
        spectrum = torch.stft(signal, n_fft=octave.n_fft, hop_length=octave.hop, window=ones,
                              center=True, pad_mode="constant", return_complex=True)
        # only the bins the sparsified filters touch: [batch, stop - start, T] -> [batch, filters, T]
        responses.append(torch.matmul(
            octave.basis, spectrum[..., octave.start:octave.stop, first:first + n_frames]))
    width = min(r.shape[-1] for r in responses)
    stacked = torch.cat([r[..., :width] for r in reversed(responses)], dim=-2)[..., -plan.n_bins:, :]
    magnitude = stacked.abs() * plan.inv_sqrt_lengths[:, None]
    if width < n_frames:  # cannot happen for centred frames; kept as a guard for odd hops
        magnitude = torch.nn.functional.pad(magnitude, (0, n_frames - width))
    return magnitude


# -- dB conversion (per item) -------------------------------------------------------------------

def _item_max(values, valid, dims: tuple[int, ...]):
    """Max over ``dims`` of each item, only over valid frames (``valid`` bool [batch, n_frames])."""
    import torch

    masked = torch.where(valid.view(valid.shape[0], *([1] * (values.ndim - 2)), -1), values,
                         torch.full((), -torch.inf, dtype=values.dtype, device=values.device))
    return masked.amax(dim=dims, keepdim=True)


def _finalize(front_end, linear, valid):
    """``linear``: float32 [batch, channels, n_bins, n_frames] -> the front end's final values."""
    import torch

    if isinstance(front_end, LogMel) and front_end.db == "none":
        return linear
    if isinstance(front_end, LogMel):
        if front_end.db == "amplitude":
            factor, amin = 20.0, 1e-5
        else:
            factor, amin = 10.0, 1e-10
        db = factor * torch.log10(torch.clamp(linear, min=amin))
        if front_end.ref == "max":
            peak = _item_max(linear, valid, (1, 2, 3)).clamp(min=amin)
            db = db - factor * torch.log10(peak)
        if front_end.top_db is not None:
            db = torch.maximum(db, _item_max(db, valid, (1, 2, 3)) - float(front_end.top_db))
        if front_end.offset_db:
            db = db + float(front_end.offset_db)
        return db
    if isinstance(front_end, MultiRes):
        db = 20.0 * torch.log10(torch.clamp(linear, min=1e-5))
        if front_end.top_db is not None:
            db = torch.maximum(db, _item_max(db, valid, (2, 3)) - float(front_end.top_db))
        return db
    if isinstance(front_end, (Stft, Cqt)) and front_end.scale == "db":
        db = 20.0 * torch.log10(torch.clamp(linear, min=1e-5))
        return torch.maximum(db, _item_max(db, valid, (1, 2, 3)) - 80.0)
    return linear


# -- entry points -------------------------------------------------------------------------------

def _linear(front_end, waveforms, *, sample_rate: int, n_frames: int):
    """float32 [batch, channels, n_bins, n_frames] before any dB conversion."""
    hop = front_end.hop_length
    if isinstance(front_end, LogMel):
        frames = _frames(waveforms, n_fft=front_end.n_fft, hop=hop)
        power = _stft_power(frames, n_fft=front_end.n_fft, win_length=front_end.n_fft,
                            magnitude=False).transpose(-1, -2)  # [batch, n_frames, freq]
        mel = power @ _mel_basis(sample_rate, front_end, waveforms.device).T
        return mel.transpose(-1, -2).unsqueeze(1)
    if isinstance(front_end, Stft):
        frames = _frames(waveforms, n_fft=front_end.n_fft, hop=hop)
        return _stft_power(frames, n_fft=front_end.n_fft,
                           win_length=front_end.win_length or front_end.n_fft,
                           magnitude=True).unsqueeze(1)
    if isinstance(front_end, MultiRes):
        import torch

        frames = _frames(waveforms, n_fft=front_end.n_fft, hop=hop)  # shared by every window
        return torch.stack([_stft_power(frames, n_fft=front_end.n_fft, win_length=w,
                                        magnitude=True) for w in front_end.win_lengths], dim=1)
    if isinstance(front_end, Cqt):
        return _cqt_magnitude(waveforms, sample_rate=sample_rate, front_end=front_end,
                              n_frames=n_frames).unsqueeze(1)
    if isinstance(front_end, Melody):
        raise ConfigError("the melody front end has no torch implementation (its pyin f0 tracker "
                          "runs on the CPU); use featurize_file_torch, which computes it with the "
                          "NumPy engine, or compute_features")
    raise ConfigError(f"no computation in torch for front end {type(front_end).__name__}")


def compute_features_torch(waveforms, *, config: FeatureConfig, device=None,
                           sample_rate: int | None = None,
                           lengths: Sequence[int] | None = None) -> "dict[str, torch.Tensor]":
    """Features of a batch of mono waveforms, computed in torch on ``device``.

    Parameters
    ----------
    waveforms : float32 [batch, n_samples] (torch tensor or NumPy array; a 1-D signal is taken as a
        batch of one), at ``config.sample_rate``.
    config : the front ends (any of log-mel, STFT, multi-resolution, CQT).
    device : ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"``/None (CUDA when available) or a
        torch.device.
    sample_rate : if given, must equal ``config.sample_rate``.
    lengths : the true length of each row when shorter rows were zero padded (see the module
        docstring); None = every row is whole.

    Returns
    -------
    ``{name: float32 [batch, channels, n_bins, n_frames]}`` on ``device``, with
    ``n_frames = 1 + n_samples // hop``; equal to :func:`compute_features` per row within the
    tolerances in the module docstring.
    """
    import torch

    if sample_rate is not None and int(sample_rate) != config.sample_rate:
        raise ConfigError(f"the waveforms are at {sample_rate} Hz but the feature config expects "
                          f"{config.sample_rate} Hz; resample them first")
    target = resolve_device(device)
    if not isinstance(waveforms, torch.Tensor):
        waveforms = torch.from_numpy(np.ascontiguousarray(waveforms, dtype=np.float32))
    if waveforms.ndim == 1:
        waveforms = waveforms.unsqueeze(0)
    if waveforms.ndim != 2:
        raise InputError(f"compute_features_torch expects float32 [batch, n_samples]; got shape "
                         f"{tuple(waveforms.shape)}")
    waveforms = waveforms.to(device=target, dtype=torch.float32)
    batch, n_samples = waveforms.shape
    n_frames = config.n_frames(n_samples)
    if lengths is None:
        valid = torch.ones(batch, n_frames, dtype=torch.bool, device=target)
    else:
        lengths = [int(n) for n in lengths]
        if len(lengths) != batch or any(n < 0 or n > n_samples for n in lengths):
            raise InputError(f"lengths must give 0..{n_samples} samples for each of the {batch} "
                             f"rows; got {lengths}")
        item_frames = torch.tensor([config.n_frames(n) for n in lengths], device=target)
        valid = torch.arange(n_frames, device=target)[None, :] < item_frames[:, None]
    out = {}
    with torch.no_grad():  # not inference_mode: the outputs may feed a model that is trained
        for fe in config.front_ends:
            linear = _linear(fe, waveforms, sample_rate=config.sample_rate, n_frames=n_frames)
            out[fe.name] = _finalize(fe, linear[..., :n_frames], valid).contiguous()
    return out


def featurize_file_torch(path: str | os.PathLike, *, config: FeatureConfig, device=None,
                         min_seconds: float = 0.0):
    """:func:`~vocaltools.features.featurize_file` with the torch front ends on ``device``.

    The whole file is decoded at once (``float32 [n_samples]``; 4 minutes at 44.1 kHz = 42 MB).
    A melody front end is computed by the NumPy engine. Returns a
    :class:`~vocaltools.features.FeatureResult` of float32 NumPy arrays ``[channels, n_bins, n_frames]``.
    """
    from vocaltools.audio import load_audio

    samples = np.asarray(load_audio(path, sample_rate=config.sample_rate, mono=True,
                                    min_seconds=min_seconds), dtype=np.float32)
    ((_, result),) = _featurize_decoded([(path, samples)], config=config,
                                        device=resolve_device(device))
    return result


def _split_config(config: FeatureConfig) -> tuple[FeatureConfig | None, FeatureConfig | None]:
    """(front ends computed in torch, front ends left to the NumPy engine: melody)."""
    on_cpu = tuple(fe for fe in config.front_ends if isinstance(fe, Melody))
    on_device = tuple(fe for fe in config.front_ends if not isinstance(fe, Melody))
    def make(front_ends):
        return FeatureConfig(config.sample_rate, front_ends, preset=config.preset) if front_ends else None

    return make(on_device), make(on_cpu)


def iter_featurize_torch(paths: Iterable[str | os.PathLike], *, config: FeatureConfig, device=None,
                         max_batch_samples: int = 1 << 24, min_seconds: float = 0.0
                         ) -> Iterator[tuple[str | os.PathLike, "FeatureResult | VocaltoolsError"]]:
    """Featurize files in padded batches on ``device``; yields ``(path, result)`` in input order.

    Files are decoded on the CPU one by one; consecutive decoded files are grouped while the padded
    batch (``n_files x longest``) stays within ``max_batch_samples`` samples (default 2^24: about
    6 minutes of audio at 44.1 kHz; a longer file forms a batch of its own), and computed in one
    :func:`compute_features_torch` call with ``lengths`` (so each result equals the file computed
    alone). A file that cannot be used yields its :class:`~vocaltools.errors.VocaltoolsError`
    instead of a result, and the run goes on.
    """
    from vocaltools.audio import load_audio

    target = resolve_device(device)
    pending: list[tuple] = []  # (path, samples)

    def flush():
        yield from _featurize_decoded(pending, config=config, device=target)
        pending.clear()

    for path in paths:
        try:
            samples = np.asarray(load_audio(path, sample_rate=config.sample_rate, mono=True,
                                            min_seconds=min_seconds), dtype=np.float32)
        except VocaltoolsError as error:
            yield from flush()
            yield path, error
            continue
        longest = max([samples.size] + [s.size for _, s in pending])
        if pending and longest * (len(pending) + 1) > max_batch_samples:
            yield from flush()
        pending.append((path, samples))
    yield from flush()


def _featurize_decoded(items: list[tuple], *, config: FeatureConfig, device):
    from vocaltools.features.compute import FeatureResult, compute_features

    if not items:
        return
    on_device, on_cpu = _split_config(config)
    lengths = [samples.size for _, samples in items]
    batch = np.zeros((len(items), max(lengths)), dtype=np.float32)
    for row, (_, samples) in enumerate(items):
        batch[row, :samples.size] = samples
    computed = {}
    if on_device is not None:
        computed = {name: value.cpu().numpy()
                    for name, value in compute_features_torch(batch, config=on_device, device=device,
                                                              lengths=lengths).items()}
    for row, (path, samples) in enumerate(items):
        n_frames = config.n_frames(samples.size)
        arrays = {name: value[row, ..., :n_frames] for name, value in computed.items()}
        if on_cpu is not None:
            arrays.update(compute_features(samples, sample_rate=config.sample_rate, config=on_cpu))
        arrays = {fe.name: np.ascontiguousarray(arrays[fe.name], dtype=np.float32)
                  for fe in config.front_ends}
        yield path, FeatureResult(arrays=arrays, duration_s=samples.size / config.sample_rate,
                                  n_frames=n_frames)
