"""Long inputs in bounded memory: chunks with a crossfaded overlap, added back together.

Chunk ``k`` covers samples ``[k·hop, k·hop + chunk)`` with ``hop = chunk - overlap``. Each chunk's
estimates are faded in over its first ``overlap`` samples and out over its last (sin² / cos², which
sum to one), so for a separator that acts locally the result equals unchunked processing exactly;
for REPET-SIM, whose background model looks across a whole chunk, it is close when chunks are long.
Memory is O(chunk), whatever the length of the input.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

import numpy as np

from vocaltools.errors import ConfigError
from vocaltools.separation.base import Separator, StemArrays


def _fades(overlap: int) -> tuple[np.ndarray, np.ndarray]:
    """``(fade_in, fade_out)``, each ``float32 [overlap]``, summing to one sample by sample."""
    t = (np.arange(overlap, dtype=np.float64) + 0.5) / max(overlap, 1)
    fade_in = np.sin(0.5 * np.pi * t) ** 2
    return fade_in.astype(np.float32), (1.0 - fade_in).astype(np.float32)


def separate_stream(separator: Separator, blocks: Iterable[np.ndarray], *, sample_rate: int,
                    chunk_seconds: float | None = None, overlap_seconds: float | None = None,
                    on_output: Callable[[int], None] | None = None) -> Iterator[StemArrays]:
    """Separate a stream of mono blocks (``float32 [n]`` each, any sizes, at ``sample_rate``) and
    yield finished output blocks in order; their lengths add up to the input's.

    ``chunk_seconds``/``overlap_seconds`` default to the separator's. ``on_output(n)`` is called
    with the number of samples of each yielded block (for progress bars).
    """
    chunk = int(round((chunk_seconds or separator.chunk_seconds) * sample_rate))
    overlap = int(round((separator.overlap_seconds if overlap_seconds is None
                         else overlap_seconds) * sample_rate))
    if chunk <= 0 or overlap < 0 or chunk <= 2 * overlap:
        raise ConfigError(f"chunking needs chunk > 2 x overlap >= 0 samples, got chunk {chunk} and "
                          f"overlap {overlap} at {sample_rate} Hz")
    hop = chunk - overlap
    fade_in, fade_out = _fades(overlap)
    source = iter(blocks)
    buffer = np.zeros(0, dtype=np.float32)
    exhausted = False
    pending: StemArrays | None = None  # faded-out tail of the previous chunk, [overlap]
    while True:
        # fill until we hold more than a chunk, so that we know whether this chunk is the last
        parts = [buffer]
        held = len(buffer)
        while not exhausted and held <= chunk:
            try:
                block = np.asarray(next(source), dtype=np.float32).reshape(-1)
            except StopIteration:
                exhausted = True
                break
            parts.append(block)
            held += len(block)
        if len(parts) > 1:
            buffer = np.concatenate(parts)
        last = exhausted and len(buffer) <= chunk
        if last and len(buffer) == 0:
            return
        excerpt = buffer if last else buffer[:chunk]
        stems = separator.separate_array(excerpt, sample_rate=sample_rate)
        vocals = np.array(stems.vocals, dtype=np.float32)
        accompaniment = np.array(stems.accompaniment, dtype=np.float32)
        if pending is not None:
            # this chunk starts where the previous chunk's tail began: crossfade the two
            vocals[:overlap] = vocals[:overlap] * fade_in + pending.vocals
            accompaniment[:overlap] = accompaniment[:overlap] * fade_in + pending.accompaniment
        if last:
            out = StemArrays(vocals=vocals, accompaniment=accompaniment)
        else:
            pending = StemArrays(vocals=vocals[hop:] * fade_out,
                                 accompaniment=accompaniment[hop:] * fade_out)
            out = StemArrays(vocals=vocals[:hop], accompaniment=accompaniment[:hop])
            buffer = buffer[hop:]
        if on_output:
            on_output(len(out.vocals))
        yield out
        if last:
            return


def separate_chunked(separator: Separator, mixture: np.ndarray, *, sample_rate: int,
                     chunk_seconds: float | None = None, overlap_seconds: float | None = None,
                     block_size: int = 65536) -> StemArrays:
    """:func:`separate_stream` over an in-memory ``float32 [n]`` mixture; returns whole stems."""
    mixture = np.asarray(mixture, dtype=np.float32).reshape(-1)
    blocks = (mixture[i:i + block_size] for i in range(0, len(mixture), block_size))
    outputs = list(separate_stream(separator, blocks, sample_rate=sample_rate,
                                   chunk_seconds=chunk_seconds, overlap_seconds=overlap_seconds))
    if not outputs:
        return StemArrays.empty()
    return StemArrays(vocals=np.concatenate([o.vocals for o in outputs]),
                      accompaniment=np.concatenate([o.accompaniment for o in outputs]))
