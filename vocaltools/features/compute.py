"""Computing features: whole signals (:func:`compute_features`), long files block by block in
bounded memory (:func:`iter_feature_blocks`) and whole files (:func:`featurize_file`, the
concatenation of those blocks).

All run the same engine. The signal is zero padded by ``context`` samples on each side (librosa's
``center=True, pad_mode="constant"`` framing) and cut into segments of whole output frames; each
segment is handed over with ``context`` samples of signal on either side. STFT-based front ends
(log-mel, STFT, multi-resolution) read exactly their frames from a segment, so block-wise results are
identical to whole-signal ones. CQT and melody are computed on the segment with its context and
cropped: their filters (CQT) and Viterbi path (melody) see ``context`` seconds either side, so
block-wise results match the whole-signal ones up to small differences near block edges.

The dB scales refer to whole-item levels, as a whole-song ``librosa`` call does: ``ref="max"`` to
the item's maximum and ``top_db`` to its peak (per channel for multi-resolution). Such front ends
take two passes over the signal: the first measures the levels (:class:`ItemLevels`), the second
finalizes every block with them; the linear values of the first pass are kept for the second as
long as they fit a memory budget, and computed again otherwise.
"""

from __future__ import annotations

import math
import os
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterable, Iterator

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


# -- front ends: final part (needs whole-item levels) ------------------------------------------

def _top_db(front_end) -> float | None:
    """The clipping range below the item's peak, or ``None`` when the front end does not clip."""
    if isinstance(front_end, (LogMel, MultiRes)):
        return front_end.top_db
    if isinstance(front_end, (Stft, Cqt)) and front_end.scale == "db":
        return 80.0
    return None


def _needs_levels(front_end) -> bool:
    """Whether finalizing needs whole-item statistics (the maximum for ``ref="max"``, the peak
    for ``top_db``)."""
    return _top_db(front_end) is not None or (isinstance(front_end, LogMel) and front_end.ref == "max")


def _decibels(front_end, linear: np.ndarray) -> np.ndarray | None:
    """dB values before the item's reference and clipping; ``None`` for linear-scale front ends.
    ``librosa.amplitude_to_db`` (20·log10, amin 1e-5) or, for ``LogMel(db="power")``,
    ``librosa.power_to_db`` (10·log10, amin 1e-10), both with ref = 1."""
    if isinstance(front_end, LogMel) and front_end.db == "none":
        return None
    if isinstance(front_end, LogMel) and front_end.db == "power":
        return 10.0 * np.log10(np.maximum(linear, np.float32(1e-10)))
    if isinstance(front_end, (LogMel, MultiRes)) or (isinstance(front_end, (Stft, Cqt))
                                                      and front_end.scale == "db"):
        return 20.0 * np.log10(np.maximum(linear, np.float32(1e-5)))
    return None


class _LevelMeter:
    """Running whole-item statistics of one front end over its linear blocks: the maximum linear
    value (``ref="max"``) and the maximum dB value (``top_db``; per channel for multi-resolution,
    whose channels are clipped separately)."""

    def __init__(self, front_end):
        self.front_end = front_end
        self.max_linear: float | None = None
        self.max_db: np.ndarray | None = None

    def update(self, linear: np.ndarray) -> None:
        fe = self.front_end
        if linear.size == 0:
            return
        if isinstance(fe, LogMel) and fe.ref == "max":
            value = float(linear.max())
            self.max_linear = value if self.max_linear is None else max(self.max_linear, value)
        if _top_db(fe) is not None:
            peak = _decibels(fe, linear).max(axis=(1, 2) if isinstance(fe, MultiRes) else None)
            self.max_db = peak if self.max_db is None else np.maximum(self.max_db, peak)

    def levels(self) -> "ItemLevels":
        fe = self.front_end
        reference = None
        if isinstance(fe, LogMel) and fe.ref == "max" and self.max_linear is not None:
            reference = (20.0 * np.log10(max(self.max_linear, 1e-5)) if fe.db == "amplitude"
                         else 10.0 * np.log10(max(self.max_linear, 1e-10)))
        peak = None
        if self.max_db is not None:
            # the peak of the referenced values: subtracting the reference and rounding to float32
            # are monotone, so this equals the maximum of the referenced dB values exactly
            shape = (-1, 1, 1) if isinstance(fe, MultiRes) else ()
            peak = _referenced(np.array(self.max_db, dtype=np.float32).reshape(shape), reference)
        return ItemLevels(reference_db=reference, peak_db=peak)


@dataclass(frozen=True)
class ItemLevels:
    """Whole-item statistics one front end is finalized with: ``reference_db`` is subtracted
    (``ref="max"``; ``None``: ref = 1), values below ``peak_db - top_db`` are raised to it
    (``peak_db``: float32 [] or [channels, 1, 1] per channel; ``None``: no clipping)."""

    reference_db: float | None = None
    peak_db: np.ndarray | None = None


def _referenced(db: np.ndarray, reference_db: float | None) -> np.ndarray:
    if reference_db is not None:
        db -= reference_db
    return db


def _finalize(front_end, linear: np.ndarray, levels: ItemLevels) -> np.ndarray:
    """float32 [channels, n_bins, n_frames]: ``linear`` values of any frames of an item in their
    final scale, given the item's ``levels``."""
    db = _decibels(front_end, linear)
    if db is None:
        return linear
    db = _referenced(db, levels.reference_db)
    top_db = _top_db(front_end)
    if top_db is not None and levels.peak_db is not None and db.size:
        db = np.maximum(db, levels.peak_db - np.float32(top_db))
    if isinstance(front_end, LogMel) and front_end.offset_db:
        db += np.float32(front_end.offset_db)
    return db


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


@dataclass(frozen=True)
class FeatureBlock:
    """Final features of frames ``start_frame .. start_frame + n_frames - 1`` of one file:
    ``arrays[name]`` is float32 [channels, n_bins, n_frames]. ``n_samples`` counts the samples
    decoded up to this block; in the last block it is the file's length."""

    arrays: dict[str, np.ndarray]
    start_frame: int
    n_frames: int
    n_samples: int


def _linear_blocks(blocks: Iterable[np.ndarray], *, config: FeatureConfig, frames_per_segment: int
                   ) -> Iterator[tuple[int, int, dict[str, np.ndarray], int]]:
    """``(first, stop, {name: linear float32 [channels, n_bins, stop - first]}, n_samples_so_far)``."""
    context = _context_samples(config)
    for first, stop, chunk, total in _segments(blocks, hop=config.hop_length, context=context,
                                               frames_per_segment=frames_per_segment):
        yield first, stop, {fe.name: _linear(fe, chunk, sample_rate=config.sample_rate, context=context,
                                             n_frames=stop - first).astype(np.float32, copy=False)
                            for fe in config.front_ends}, total


def _feature_blocks(open_signal: Callable[[], Iterable[np.ndarray]], *, config: FeatureConfig,
                    frames_per_segment: int, cache_bytes: float, where: str = "the signal"
                    ) -> Iterator[FeatureBlock]:
    """The engine: final feature blocks of the signal that ``open_signal()`` streams.

    Front ends whose final scale needs whole-item levels take two passes: the first measures the
    levels (keeping the linear blocks while they fit in ``cache_bytes``), the second finalizes the
    kept blocks, or recomputes them from a second ``open_signal()`` when they did not fit.
    """
    meters = [_LevelMeter(fe) for fe in config.front_ends if _needs_levels(fe)]
    levels = {fe.name: ItemLevels() for fe in config.front_ends}
    source: Iterable = _linear_blocks(open_signal(), config=config, frames_per_segment=frames_per_segment)
    expected_samples = None
    if meters:
        cache: deque | None = deque()
        kept = 0
        for first, stop, linear, total in source:
            for meter in meters:
                meter.update(linear[meter.front_end.name])
            if cache is not None:
                kept += sum(a.nbytes for a in linear.values())
                if kept <= cache_bytes:
                    cache.append((first, stop, linear, total))
                else:
                    cache = None
            del linear
            expected_samples = total
        levels.update({meter.front_end.name: meter.levels() for meter in meters})
        source = _drain(cache) if cache is not None else \
            _linear_blocks(open_signal(), config=config, frames_per_segment=frames_per_segment)
    total = 0
    for first, stop, linear, total in source:
        final = {fe.name: _finalize(fe, linear[fe.name], levels[fe.name]) for fe in config.front_ends}
        yield FeatureBlock(arrays={name: np.ascontiguousarray(value, dtype=np.float32)
                                   for name, value in final.items()},
                           start_frame=first, n_frames=stop - first, n_samples=total)
    if expected_samples is not None and total != expected_samples:
        raise InputError(f"{where}: the second reading gave {total} samples, the first "
                         f"{expected_samples}; the file changed while it was featurized")


def _drain(cache: deque) -> Iterator:
    while cache:
        yield cache.popleft()


def _concatenate(blocks: Iterable[FeatureBlock], *, config: FeatureConfig) -> FeatureResult:
    parts: dict[str, list[np.ndarray]] = {fe.name: [] for fe in config.front_ends}
    total = 0
    for block in blocks:
        for name, array in block.arrays.items():
            parts[name].append(array)
        total = block.n_samples
    arrays = {name: np.concatenate(values, axis=-1) if len(values) > 1 else values[0]
              for name, values in parts.items()}
    return FeatureResult(arrays=arrays, duration_s=total / config.sample_rate,
                         n_frames=config.n_frames(total))


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
    blocks = _feature_blocks(lambda: [waveform], config=config, frames_per_segment=max(n_frames, 1),
                             cache_bytes=math.inf)
    return _concatenate(blocks, config=config).arrays


def iter_feature_blocks(path: str | os.PathLike, *, config: FeatureConfig, block_seconds: float = 60.0,
                        min_seconds: float = 0.0, cache_bytes: float = 256 * 2**20
                        ) -> Iterator[FeatureBlock]:
    """Decode ``path`` and yield its final features block by block, in bounded memory.

    Parameters
    ----------
    path : an audio file (its cached vocal stem when ``config`` has a separation step).
    config : the front ends to compute.
    block_seconds : decoding block and feature block length (the last block may be shorter).
    min_seconds : refuse files shorter than this (:func:`~vocaltools.audio.iter_audio_blocks`).
    cache_bytes : linear values kept between the two passes (below); beyond, the file is decoded
        and computed a second time instead.

    Yields
    ------
    :class:`FeatureBlock` s in frame order; their arrays concatenated on the frame axis equal
    :func:`featurize_file` 's with the same ``block_seconds``. A front end that needs whole-item
    levels (``ref="max"``, ``top_db``) is computed in two passes: the first keeps only the running
    maxima, the second finalizes each block with them. Without such front ends: one pass. Errors
    of decoding may come after some blocks were yielded.
    """
    from vocaltools.audio import iter_audio_blocks

    audio = source_audio(path, config=config)
    frames_per_segment = max(1, int(round(block_seconds * config.frames_per_second)))

    def open_signal() -> Iterator[np.ndarray]:
        return iter_audio_blocks(audio, sample_rate=config.sample_rate, block_seconds=block_seconds,
                                 mono=True, min_seconds=min_seconds)

    return _feature_blocks(open_signal, config=config, frames_per_segment=frames_per_segment,
                           cache_bytes=cache_bytes, where=str(path))


def featurize_file(path: str | os.PathLike, *, config: FeatureConfig, block_seconds: float = 60.0,
                   min_seconds: float = 0.0) -> FeatureResult:
    """Decode ``path`` block by block and compute ``config``'s features of the whole file (the
    concatenation of :func:`iter_feature_blocks`, decoded once).

    Results equal :func:`compute_features` on the whole decoded file (exactly for STFT-based front
    ends; see the module docstring for CQT and melody).
    """
    blocks = iter_feature_blocks(path, config=config, block_seconds=block_seconds,
                                 min_seconds=min_seconds, cache_bytes=math.inf)
    return _concatenate(blocks, config=config)


def source_audio(path: str | os.PathLike, *, config: FeatureConfig) -> str | os.PathLike:
    """The file to featurize for ``path``: the path itself, or its cached vocal stem when the
    config has a separation step."""
    if config.separation is None:
        return path
    from vocaltools.separation.cache import cached_vocals

    return cached_vocals(path, method=config.separation)
