"""Computing features: whole signals (:func:`compute_features`) and long files block by block
(:func:`featurize_file`).

Both run the same engine. The signal is zero padded by ``context`` samples on each side (librosa's
``center=True, pad_mode="constant"`` framing) and cut into segments of whole output frames; each
segment is handed over with ``context`` samples of signal on either side. STFT-based front ends
(log-mel, STFT, multi-resolution) read exactly their frames from a segment, so block-wise results are
identical to whole-signal ones. CQT and melody are computed on the segment with its context and
cropped: their filters (CQT) and Viterbi path (melody) see ``context`` seconds either side, so
block-wise results match the whole-signal ones up to small differences near block edges.
Linear-domain values are gathered over the whole item before the dB conversion, so ``top_db`` and
``ref="max"`` refer to the item's maximum, as a whole-song ``librosa`` call does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Iterator

import numpy as np

from vocaltools.errors import ConfigError, InputError
from vocaltools.features.config import Cqt, FeatureConfig, LogMel, Melody, MultiRes, Stft

#: seconds of signal each side of a segment for CQT / melody (the longest CQT filter of S4 spans
#: about 1.6 s at 22,050 Hz)
CONTEXT_SECONDS = 2.0


@dataclass(frozen=True)
class FeatureResult:
    """The features of one file: ``arrays[name]`` is float32 [channels, n_bins, n_frames]."""

    arrays: dict[str, np.ndarray]
    duration_s: float
    n_frames: int


# -- STFT machinery ---------------------------------------------------------------------------

@lru_cache(maxsize=32)
def _window(n_fft: int, win_length: int) -> np.ndarray:
    """librosa's window: periodic Hann of ``win_length`` (``scipy.signal.get_window("hann",
    win_length, fftbins=True)``) centred in ``n_fft`` (float32)."""
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(win_length) / win_length)
    left = (n_fft - win_length) // 2
    padded = np.zeros(n_fft, dtype=np.float64)
    padded[left:left + win_length] = window
    return padded.astype(np.float32)


def _frames(chunk: np.ndarray, *, offset: int, n_fft: int, hop: int, n_frames: int) -> np.ndarray:
    """float32 [n_frames, n_fft] read-only view: frame ``j`` = ``chunk[offset + j*hop : + n_fft]``."""
    view = np.lib.stride_tricks.as_strided(
        chunk[offset:], shape=(n_frames, n_fft), strides=(chunk.strides[0] * hop, chunk.strides[0]),
        writeable=False)
    return view


def _stft_power(chunk, *, context, n_fft, win_length, hop, n_frames, magnitude=False):
    """float32 [n_frames, n_fft//2 + 1]: |X|^2 (or |X|) of frames centred at ``context + j*hop``."""
    import scipy.fft

    frames = _frames(chunk, offset=context - n_fft // 2, n_fft=n_fft, hop=hop, n_frames=n_frames)
    spectrum = scipy.fft.rfft(frames * _window(n_fft, win_length), axis=-1, overwrite_x=True)
    power = spectrum.real ** 2
    power += spectrum.imag ** 2
    if magnitude:
        np.sqrt(power, out=power)
    return power


# -- front ends: linear part (per segment) ----------------------------------------------------

def _linear(front_end, chunk: np.ndarray, *, sample_rate: int, context: int, n_frames: int) -> np.ndarray:
    """float32 [channels, n_bins, n_frames] before any dB conversion."""
    hop = front_end.hop_length
    if isinstance(front_end, LogMel):
        from vocaltools.features.mel import apply_mel

        power = _stft_power(chunk, context=context, n_fft=front_end.n_fft, win_length=front_end.n_fft,
                            hop=hop, n_frames=n_frames)
        return apply_mel(power, sample_rate=sample_rate, n_fft=front_end.n_fft, n_mels=front_end.n_mels,
                         fmin=float(front_end.fmin),
                         fmax=None if front_end.fmax is None else float(front_end.fmax))[None]
    if isinstance(front_end, Stft):
        return _stft_power(chunk, context=context, n_fft=front_end.n_fft,
                           win_length=front_end.win_length or front_end.n_fft, hop=hop,
                           n_frames=n_frames, magnitude=True).T[None]
    if isinstance(front_end, MultiRes):
        return np.stack([_stft_power(chunk, context=context, n_fft=front_end.n_fft, win_length=w,
                                     hop=hop, n_frames=n_frames, magnitude=True).T
                         for w in front_end.win_lengths])
    if isinstance(front_end, Cqt):
        return _cqt(front_end, chunk, sample_rate=sample_rate, context=context, n_frames=n_frames)
    if isinstance(front_end, Melody):
        from vocaltools.features.melody import melody_onehot

        first = context // hop
        onehot = melody_onehot(chunk, sample_rate=sample_rate, config=front_end)
        return onehot[None, :, first:first + n_frames]
    raise ConfigError(f"no computation for front end {type(front_end).__name__}")


def _cqt(front_end: Cqt, chunk, *, sample_rate, context, n_frames) -> np.ndarray:
    import librosa

    nyquist = sample_rate / 2
    top = front_end.fmin * 2 ** ((front_end.n_bins_total - 1) / front_end.bins_per_octave)
    if top >= nyquist:
        raise ConfigError(f"cqt: the top bin ({top:.0f} Hz) must lie below the Nyquist frequency "
                          f"({nyquist:.0f} Hz at {sample_rate} Hz); lower n_bins_total or fmin")
    values = np.abs(librosa.cqt(chunk, sr=sample_rate, hop_length=front_end.hop_length,
                                fmin=front_end.fmin, n_bins=front_end.n_bins_total,
                                bins_per_octave=front_end.bins_per_octave, pad_mode="constant"))
    first = context // front_end.hop_length
    return values[None, :, first:first + n_frames].astype(np.float32)


# -- front ends: final part (whole item) ------------------------------------------------------

def _amplitude_db(values: np.ndarray, top_db: float | None, axis=None) -> np.ndarray:
    """``librosa.amplitude_to_db(values, ref=1.0, amin=1e-5, top_db)``; top_db per ``axis`` slice."""
    db = 20.0 * np.log10(np.maximum(values, np.float32(1e-5)))
    return _clip_top(db, top_db, axis)


def _clip_top(db: np.ndarray, top_db: float | None, axis=None) -> np.ndarray:
    if top_db is None or db.size == 0:
        return db
    peak = db.max(axis=axis, keepdims=axis is not None)
    return np.maximum(db, peak - np.float32(top_db))


def _finalize(front_end, linear: np.ndarray) -> np.ndarray:
    if isinstance(front_end, LogMel):
        if front_end.db == "amplitude":
            db = 20.0 * np.log10(np.maximum(linear, np.float32(1e-5)))
            if front_end.ref == "max" and linear.size:
                db -= 20.0 * np.log10(max(float(linear.max()), 1e-5))
        else:
            db = 10.0 * np.log10(np.maximum(linear, np.float32(1e-10)))
            if front_end.ref == "max" and linear.size:
                db -= 10.0 * np.log10(max(float(linear.max()), 1e-10))
        db = _clip_top(db, front_end.top_db)
        if front_end.offset_db:
            db += np.float32(front_end.offset_db)
        return db
    if isinstance(front_end, MultiRes):
        return _amplitude_db(linear, front_end.top_db, axis=(1, 2))
    if isinstance(front_end, (Stft, Cqt)) and front_end.scale == "db":
        return _amplitude_db(linear, 80.0)
    return linear


# -- the engine -------------------------------------------------------------------------------

def _context_samples(config: FeatureConfig) -> int:
    """Padding each side: at least n_fft/2 of every STFT front end, more for CQT/melody; a
    multiple of the hop length."""
    hop = config.hop_length
    need = 0
    for fe in config.front_ends:
        if isinstance(fe, (Cqt, Melody)):
            need = max(need, int(CONTEXT_SECONDS * config.sample_rate))
            if isinstance(fe, Melody):
                need = max(need, fe.frame_length)
        else:
            need = max(need, fe.n_fft // 2)
    return -(-need // hop) * hop


def _segments(blocks: Iterable[np.ndarray], *, hop: int, context: int, frames_per_segment: int
              ) -> Iterator[tuple[int, int, np.ndarray, int]]:
    """Cut a stream of float32 signal blocks into ``(first, stop, chunk, n_samples_so_far)``:
    ``chunk`` holds the zero-padded signal from ``first*hop`` (padded index) to
    ``(stop-1)*hop + 2*context``, i.e. frames ``first..stop-1`` with ``context`` either side."""
    buffer = np.zeros(context, dtype=np.float32)
    start = 0  # padded index of buffer[0]
    total = 0
    first = 0
    for block in blocks:
        block = np.asarray(block, dtype=np.float32)
        buffer = np.concatenate([buffer, block]) if block.size else buffer
        total += block.size
        while True:
            ready = (start + buffer.size - 2 * context) // hop + 1  # frames whose window is complete
            if ready - first < frames_per_segment:
                break
            stop = first + frames_per_segment
            yield first, stop, buffer[first * hop - start:(stop - 1) * hop + 2 * context - start], total
            buffer = buffer[stop * hop - start:].copy()
            start = stop * hop
            first = stop
    buffer = np.concatenate([buffer, np.zeros(context, dtype=np.float32)])
    n_frames = 1 + total // hop
    while first < n_frames:
        stop = min(first + frames_per_segment, n_frames)
        yield first, stop, buffer[first * hop - start:(stop - 1) * hop + 2 * context - start], total
        first = stop


def _run(blocks: Iterable[np.ndarray], *, sample_rate: int, config: FeatureConfig,
         frames_per_segment: int) -> FeatureResult:
    hop = config.hop_length
    context = _context_samples(config)
    parts: dict[str, list[np.ndarray]] = {fe.name: [] for fe in config.front_ends}
    total = 0
    for first, stop, chunk, total in _segments(blocks, hop=hop, context=context,
                                               frames_per_segment=frames_per_segment):
        for fe in config.front_ends:
            parts[fe.name].append(_linear(fe, chunk, sample_rate=sample_rate, context=context,
                                          n_frames=stop - first).astype(np.float32, copy=False))
    arrays = {}
    for fe in config.front_ends:
        linear = np.concatenate(parts[fe.name], axis=-1)
        arrays[fe.name] = np.ascontiguousarray(_finalize(fe, linear), dtype=np.float32)
    n_frames = config.n_frames(total)
    return FeatureResult(arrays=arrays, duration_s=total / sample_rate, n_frames=n_frames)


def compute_features(waveform: np.ndarray, *, sample_rate: int, config: FeatureConfig
                     ) -> dict[str, np.ndarray]:
    """Features of a whole mono signal.

    Parameters
    ----------
    waveform : float32 [n_samples], at ``sample_rate``.
    sample_rate : must equal ``config.sample_rate``.
    config : the front ends to compute.

    Returns
    -------
    ``{name: float32 [channels, n_bins, n_frames]}`` with ``n_frames = 1 + n_samples // hop``.
    """
    if int(sample_rate) != config.sample_rate:
        raise ConfigError(f"the waveform is at {sample_rate} Hz but the feature config expects "
                          f"{config.sample_rate} Hz; resample it first (load_audio(..., "
                          f"sample_rate={config.sample_rate}))")
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 1:
        raise InputError(f"compute_features expects a mono float32 [n_samples] waveform; got shape "
                         f"{waveform.shape}")
    n_frames = config.n_frames(waveform.size)
    return _run([waveform], sample_rate=sample_rate, config=config,
                frames_per_segment=max(n_frames, 1)).arrays


def featurize_file(path: str | os.PathLike, *, config: FeatureConfig, block_seconds: float = 60.0,
                   min_seconds: float = 0.0) -> FeatureResult:
    """Decode ``path`` block by block (bounded memory) and compute ``config``'s features.

    Results equal :func:`compute_features` on the whole decoded file (exactly for STFT-based front
    ends; see the module docstring for CQT and melody).
    """
    from vocaltools.audio import iter_audio_blocks

    frames_per_segment = max(1, int(round(block_seconds * config.frames_per_second)))
    blocks = iter_audio_blocks(path, sample_rate=config.sample_rate, block_seconds=block_seconds,
                               mono=True, min_seconds=min_seconds)
    return _run(blocks, sample_rate=config.sample_rate, config=config,
                frames_per_segment=frames_per_segment)
