"""Short-time power spectra and log-mel power computed a block of frames at a time.

The same numbers as windowing a whole ``[n_frames, n_fft]`` frame view, one ``scipy.fft.rfft`` and
``|X|^2`` (each frame's FFT does not depend on the others; at most 1 ulp apart where pocketfft
groups the rows differently for SIMD), but the frames are windowed into one reused buffer of
``block_frames`` rows and the power spectrum is reduced to mel bands before the next block, so the
working set (about 2 MB at 128 frames of 2048) stays in the CPU cache instead of streaming three
frame-sized arrays (60 s at 16 kHz: 15 MB each) through memory. On the fgnl preset (CPU time,
STFT + mel): 1.5-1.8x faster than the whole-array form on segments of 30 s to 5 min, the same
below about 10 s.

Functions take the signal ``chunk`` and the sample ``offset`` of the first frame: frame ``j`` is
``chunk[offset + j*hop : offset + j*hop + n_fft]``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterator

import numpy as np

#: frames transformed at once (at least; up to twice as many): 128 frames of 2048 float32 samples
#: are 1 MB (input) + 1 MB (spectrum), inside the L3 share of one core; 64-256 measure alike
BLOCK_FRAMES = 128


@lru_cache(maxsize=32)
def hann_window(n_fft: int, win_length: int) -> np.ndarray:
    """float32 [n_fft]: librosa's window, a periodic Hann of ``win_length``
    (``scipy.signal.get_window("hann", win_length, fftbins=True)``) centred in ``n_fft``."""
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(win_length) / win_length)
    left = (n_fft - win_length) // 2
    padded = np.zeros(n_fft, dtype=np.float64)
    padded[left:left + win_length] = window
    padded = padded.astype(np.float32)
    padded.setflags(write=False)
    return padded


def frame_view(chunk: np.ndarray, *, offset: int, n_fft: int, hop: int, n_frames: int) -> np.ndarray:
    """float32 [n_frames, n_fft] read-only view (no copy) of ``chunk``'s frames."""
    chunk = np.asarray(chunk, dtype=np.float32)
    end = offset + (n_frames - 1) * hop + n_fft
    if offset < 0 or n_frames < 0 or (n_frames and end > chunk.shape[0]):
        raise ValueError(f"{n_frames} frames of {n_fft} (hop {hop}) from sample {offset} do not fit "
                         f"in a signal of {chunk.shape[0]} samples")
    step = chunk.strides[0]
    return np.lib.stride_tricks.as_strided(chunk[offset:], shape=(n_frames, n_fft),
                                           strides=(step * hop, step), writeable=False)


def iter_power_blocks(chunk: np.ndarray, *, offset: int, n_fft: int, win_length: int, hop: int,
                      n_frames: int, magnitude: bool = False, block_frames: int = BLOCK_FRAMES
                      ) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(start, stop, power)``: power float32 [stop - start, n_fft//2 + 1] = ``|X|^2`` (or
    ``|X|``) of frames ``start..stop-1``.

    ``power`` is a buffer reused by the next block: use (or copy) it before asking for the next."""
    import scipy.fft

    frames = frame_view(chunk, offset=offset, n_fft=n_fft, hop=hop, n_frames=n_frames)
    window = hann_window(n_fft, win_length)
    # blocks of equal size, block_frames to 2 * block_frames - 1 rows (a short tail block would
    # cost the per-block overhead for few frames)
    n_blocks = max(1, n_frames // block_frames)
    rows = max(1, -(-n_frames // n_blocks))
    windowed = np.empty((rows, n_fft), dtype=np.float32)
    power = np.empty((rows, n_fft // 2 + 1), dtype=np.float32)
    scratch = np.empty((rows, n_fft // 2 + 1), dtype=np.float32)
    for start in range(0, n_frames, rows):
        stop = min(n_frames, start + rows)
        count = stop - start
        np.multiply(frames[start:stop], window, out=windowed[:count])
        spectrum = scipy.fft.rfft(windowed[:count], axis=-1, overwrite_x=True)
        block = power[:count]
        np.multiply(spectrum.real, spectrum.real, out=block)
        np.multiply(spectrum.imag, spectrum.imag, out=scratch[:count])
        block += scratch[:count]
        if magnitude:
            np.sqrt(block, out=block)
        yield start, stop, block


def stft_power(chunk: np.ndarray, *, offset: int, n_fft: int, win_length: int, hop: int,
               n_frames: int, magnitude: bool = False) -> np.ndarray:
    """float32 [n_frames, n_fft//2 + 1]: ``|X|^2`` (or ``|X|``) of every frame, block-wise."""
    out = np.empty((n_frames, n_fft // 2 + 1), dtype=np.float32)
    for start, stop, block in iter_power_blocks(chunk, offset=offset, n_fft=n_fft,
                                                win_length=win_length, hop=hop, n_frames=n_frames,
                                                magnitude=magnitude):
        out[start:stop] = block
    return out


def mel_power(chunk: np.ndarray, *, offset: int, n_fft: int, hop: int, n_frames: int,
              sample_rate: int, n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None,
              win_length: int | None = None) -> np.ndarray:
    """float32 [n_mels, n_frames]: the mel power spectrogram (``librosa.feature.melspectrogram``'s
    values before any dB conversion), the power of each block reduced to mel bands at once."""
    from vocaltools.features.mel import apply_mel

    out = np.empty((n_mels, n_frames), dtype=np.float32)
    for start, stop, block in iter_power_blocks(chunk, offset=offset, n_fft=n_fft,
                                                win_length=win_length or n_fft, hop=hop,
                                                n_frames=n_frames):
        apply_mel(block, sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                  out=out[:, start:stop])
    return out
