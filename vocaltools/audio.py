"""Reading audio: decode, validate, mix down to mono and resample, whole or block by block.

soundfile (libsndfile) decodes WAV, FLAC, OGG/Vorbis, AIFF (and MP3 with libsndfile >= 1.1); other
containers (m4a/aac, ...) fall back to audioread, which needs an ffmpeg or GStreamer backend.
Resampling uses soxr (quality ``HQ``, the quality of ``librosa.load``'s default ``soxr_hq``) in
streaming mode, so :func:`load_audio` and the concatenated blocks of :func:`iter_audio_blocks` are
bit-identical.

Every file that cannot be used raises :class:`~vocaltools.errors.InputError` naming the file and the
reason: missing, empty (0 bytes), not an audio format, truncated (fewer samples than its header
declares, or a decoder that loses sync), non-finite samples (NaN/inf), and, when asked
(:func:`check_signal`, which every command that reads audio applies), shorter than ``min_seconds``
or silent (a peak level below ``min_peak_db`` dBFS).

Lossy streams (MP3, AAC/M4A) may decode up to :data:`LOSSY_SHORTFALL_SECONDS` shorter than their
header says: encoders add delay and padding that decoders trim. An MP3 without a Xing/Info or VBRI
header states no length at all (libsndfile then estimates it from the file size, ID3 tags and cover
art included), so its truncation cannot be told from its header and is not checked.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from vocaltools.errors import InputError

#: extensions treated as audio when a folder is scanned (lower case, with the dot)
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff",
                                     ".mp3", ".m4a", ".aac", ".wma", ".mp4")
#: containers that libsndfile reads; anything else goes to audioread directly
_SOUNDFILE_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".mp3"}

#: how much shorter than its header's length a lossy stream may decode: MP3 and AAC encoders add
#: delay and padding (up to about 2,900 samples of MP3 at 44.1 kHz) that a frame count includes
#: and decoders trim
LOSSY_SHORTFALL_SECONDS = 0.1
#: containers whose decoded length may fall short of the header's by LOSSY_SHORTFALL_SECONDS
_LOSSY_EXTENSIONS = {".mp3", ".m4a", ".aac", ".mp4", ".wma"}

#: frames read from the decoder at once when streaming
_READ_FRAMES = 1 << 18
#: libsndfile subtypes that store integers: their decoded samples are always finite
#: what every command that reads audio (featurize, predict, embed, separate) requires of a file:
#: at least this long (seconds; shorter files hold no usable frame) ...
DEFAULT_MIN_SECONDS = 0.1
#: ... and a peak level of at least this (dBFS): below it a file is silence, whose features are
#: those of the noise floor and whose predictions would mean nothing
DEFAULT_MIN_PEAK_DB = -60.0
_INTEGER_SUBTYPES = frozenset({
    "PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "ULAW", "ALAW", "IMA_ADPCM", "MS_ADPCM",
    "GSM610", "G721_32", "G723_24", "G723_40", "DWVW_12", "DWVW_16", "DWVW_24", "DPCM_8", "DPCM_16",
    "ALAC_16", "ALAC_20", "ALAC_24", "ALAC_32"})


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says. ``n_samples`` is per channel, at ``sample_rate``."""

    duration_s: float
    sample_rate: int
    channels: int
    n_samples: int


def check_signal(path: str | os.PathLike, *, seconds: float, peak: float, min_seconds: float = 0.0,
                 min_peak_db: float | None = None) -> None:
    """Refuse a decoded signal of ``seconds`` and absolute peak ``peak`` (full scale = 1.0) that is
    shorter than ``min_seconds`` or whose peak level is below ``min_peak_db`` dBFS (None: no level
    check), with an :class:`~vocaltools.errors.InputError` that names the file and says which."""
    if seconds < min_seconds:
        raise InputError(f"{path}: too short: {seconds:.3f} s, expected at least {min_seconds:g} s")
    if min_peak_db is not None:
        level = 20.0 * math.log10(peak) if peak > 0 else -math.inf
        if level < min_peak_db:
            shown = "-inf" if level == -math.inf else f"{level:.1f}"
            raise InputError(f"{path}: silent: its peak level is {shown} dBFS, below "
                             f"{min_peak_db:g} dBFS; there is no sound to analyse")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes); expected audio")


def _wav_declared_bytes(path: Path) -> tuple[int, int] | None:
    """``(declared, present)`` bytes of a RIFF/WAVE ``data`` chunk, or None if not found.

    libsndfile silently shortens a WAV whose ``data`` chunk was cut off, so truncation is detected
    from the header here."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            while True:
                chunk = handle.read(8)
                if len(chunk) < 8:
                    return None
                name, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if name == b"data":
                    if length in (0, 0xFFFFFFFF):  # streaming writers leave the size open
                        return None
                    return length, size - handle.tell()
                handle.seek(length + (length & 1), os.SEEK_CUR)
    except OSError:
        return None


def _mp3_states_its_length(path: Path) -> bool:
    """Whether an MP3 file's first frame carries a Xing/Info or VBRI header (a frame count).

    Without one, a decoder's length is an estimate from the file size and bit rate."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(10)
            offset = 0
            if len(head) == 10 and head[:3] == b"ID3":  # skip an ID3v2 tag (synchsafe size)
                size = ((head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7
                        | (head[9] & 0x7F))
                offset = 10 + size + (10 if head[5] & 0x10 else 0)  # a footer follows
            handle.seek(offset)
            data = handle.read(1 << 16)
    except OSError:
        return False
    for i in range(len(data) - 1):
        if data[i] == 0xFF and data[i + 1] & 0xE0 == 0xE0:  # frame sync: the first audio frame
            frame = data[i:i + 192]  # the tag sits after the side information (<= 36 bytes in)
            return any(tag in frame for tag in (b"Xing", b"Info", b"VBRI"))
    return False


def _allowed_shortfall(path: Path, sample_rate: int) -> int | None:
    """Samples a decoded stream may fall short of its header's length; None: the header states
    no length (an MP3 without a Xing/Info or VBRI header), so truncation is not checked."""
    suffix = path.suffix.lower()
    if suffix == ".mp3" and not _mp3_states_its_length(path):
        return None
    if suffix in _LOSSY_EXTENSIONS:
        return int(round(LOSSY_SHORTFALL_SECONDS * sample_rate))
    return 0


def _soundfile_info(path: Path):
    import soundfile

    try:
        return soundfile.info(str(path))
    except soundfile.LibsndfileError as error:
        return error
    except RuntimeError as error:  # older soundfile raised RuntimeError
        return error


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Header information of ``path`` (no decoding of the samples for soundfile formats)."""
    path = Path(path)
    _check_file(path)
    info = _soundfile_info(path)
    if not isinstance(info, Exception):
        return AudioInfo(duration_s=info.frames / info.samplerate, sample_rate=int(info.samplerate),
                         channels=int(info.channels), n_samples=int(info.frames))
    reader = _open_audioread(path, info)
    with reader:
        rate, channels, duration = int(reader.samplerate), int(reader.channels), float(reader.duration)
    return AudioInfo(duration_s=duration, sample_rate=rate, channels=channels,
                     n_samples=int(round(duration * rate)))


def _open_audioread(path: Path, soundfile_error: Exception | None):
    """Open ``path`` with audioread, or raise an InputError saying what is missing."""
    reason = f" (libsndfile: {soundfile_error})" if soundfile_error is not None else ""
    if path.suffix.lower() in _SOUNDFILE_EXTENSIONS - {".mp3"}:
        raise InputError(f"{path}: not a readable {path.suffix.lstrip('.').upper()} audio file"
                         f"{_describe_soundfile_error(soundfile_error)}")
    try:
        import audioread
    except ImportError as error:
        raise InputError(f"{path}: cannot decode {path.suffix or 'this file'}{reason}; "
                         "install audioread and ffmpeg (pip install 'vocaltools[mp3]') or convert "
                         "the file to WAV/FLAC") from error
    try:
        return audioread.audio_open(str(path))
    except audioread.NoBackendError as error:
        import shutil

        if shutil.which("ffmpeg") or shutil.which("avconv"):  # a decoder is there: the file is bad
            raise InputError(f"{path}: not a readable {path.suffix.lstrip('.').upper() or 'audio'} "
                             "file: ffmpeg cannot decode it (not audio, or truncated: a cut .m4a "
                             "loses the index at its end)") from error
        raise InputError(f"{path}: cannot decode {path.suffix or 'this file'}: no audioread backend "
                         "could open it (is ffmpeg installed and on PATH?); or convert the file to "
                         "WAV/FLAC") from error
    except (OSError, EOFError) as error:
        raise InputError(f"{path}: not a readable audio file ({error})") from error


def _describe_soundfile_error(error: Exception | None) -> str:
    if error is None:
        return ""
    text = str(error).strip()
    if "Format not recognised" in text or "format not recognised" in text.lower():
        return " (format not recognised: the file is not audio, or its extension is wrong)"
    return f" ({text})"


def _mixdown(block: np.ndarray, mono: bool) -> np.ndarray:
    """float32 [frames, channels] -> [frames] (mono: channel mean) or [channels, frames]."""
    if mono:
        return block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
    return block.T


def _soundfile_frames(path: Path, info) -> Iterator[np.ndarray]:
    """float32 [frames, channels] blocks; InputError on truncation or a decoder error."""
    import soundfile

    declared = _wav_declared_bytes(path) if path.suffix.lower() == ".wav" else None
    if declared is not None and declared[1] < declared[0]:
        raise InputError(f"{path}: truncated WAV file: its header declares {declared[0]} bytes of "
                         f"samples but only {max(declared[1], 0)} are present")
    expected = int(info.frames)
    seen = 0
    try:
        with soundfile.SoundFile(str(path)) as handle:
            while True:
                block = handle.read(_READ_FRAMES, dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    break
                seen += block.shape[0]
                yield block
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise InputError(f"{path}: truncated or corrupt {path.suffix.lstrip('.').upper()} file: "
                         f"decoding failed after {seen} of {expected} samples ({error})") from error
    if 0 < expected < (1 << 62):
        _check_length(path, expected=expected, seen=seen, sample_rate=int(info.samplerate))


def _check_length(path: Path, *, expected: int, seen: int, sample_rate: int) -> None:
    """InputError when ``seen`` decoded samples fall short of the ``expected`` of the header by
    more than the container allows (:func:`_allowed_shortfall`)."""
    allowed = _allowed_shortfall(path, sample_rate)
    if allowed is not None and expected - seen > allowed:
        raise InputError(f"{path}: truncated {path.suffix.lstrip('.').upper()} file: its header "
                         f"declares {expected} samples but only {seen} could be decoded")


def _audioread_frames(reader, path: Path) -> Iterator[np.ndarray]:
    channels = int(reader.channels)
    rate = int(reader.samplerate)
    expected = int(round(float(reader.duration or 0) * rate))
    seen = 0
    with reader:
        try:
            for buffer in reader:
                data = np.frombuffer(buffer, dtype="<i2").astype(np.float32) / 32768.0
                seen += data.size // channels
                yield data.reshape(-1, channels)
        except (OSError, EOFError) as error:
            raise InputError(f"{path}: decoding failed ({error})") from error
    if expected > 0 and seen > 0:  # no samples at all: reported by the caller
        _check_length(path, expected=expected, seen=seen, sample_rate=rate)


def iter_audio_blocks(path: str | os.PathLike, *, sample_rate: int | None, block_seconds: float = 60.0,
                      mono: bool = True, min_seconds: float = 0.0,
                      min_peak_db: float | None = None) -> Iterator[np.ndarray]:
    """Decode ``path`` block by block in bounded memory.

    Yields float32 ``[n]`` blocks (mono) or ``[channels, n]`` blocks of about ``block_seconds`` at
    ``sample_rate`` (``None`` keeps the file's rate); their concatenation equals
    :func:`load_audio`'s output exactly. Validation happens while streaming: an error may come
    after some blocks were yielded (:func:`check_signal` with ``min_seconds`` and ``min_peak_db``
    once the whole file is decoded).
    """
    import soxr

    path = Path(path)
    _check_file(path)
    info = _soundfile_info(path)
    if isinstance(info, Exception):
        reader = _open_audioread(path, info)
        native_rate, channels = int(reader.samplerate), int(reader.channels)
        frames = _audioread_frames(reader, path)
        check_finite = False  # 16-bit integers
    else:
        native_rate, channels = int(info.samplerate), int(info.channels)
        frames = _soundfile_frames(path, info)
        # integer-coded files (PCM WAV/AIFF, FLAC) cannot hold NaN/inf: skip a pass over the samples
        check_finite = str(getattr(info, "subtype", "")) not in _INTEGER_SUBTYPES
    target_rate = native_rate if sample_rate is None else int(sample_rate)
    if target_rate <= 0:
        raise InputError(f"sample_rate must be positive, got {sample_rate}")
    out_channels = 1 if mono else channels
    stream = (soxr.ResampleStream(native_rate, target_rate, out_channels, dtype="float32",
                                  quality="HQ") if target_rate != native_rate else None)
    block_samples = max(1, int(round(block_seconds * target_rate)))
    pending: list[np.ndarray] = []
    n_pending = 0
    n_native = 0
    peak = 0.0  # of the decoded samples (any channel), before resampling

    def convert(block: np.ndarray, last: bool) -> np.ndarray:
        mixed = _mixdown(block, mono)
        if stream is None:
            return np.ascontiguousarray(mixed, dtype=np.float32)
        if mono:
            return stream.resample_chunk(mixed, last=last)
        return stream.resample_chunk(np.ascontiguousarray(mixed.T), last=last).T

    def take(force: bool) -> Iterator[np.ndarray]:
        nonlocal pending, n_pending
        while n_pending >= block_samples or (force and n_pending > 0):
            joined = np.concatenate(pending, axis=-1) if len(pending) > 1 else pending[0]
            size = min(block_samples, joined.shape[-1])
            yield joined[..., :size]
            rest = joined[..., size:]
            pending = [rest] if rest.shape[-1] else []
            n_pending = rest.shape[-1]

    for block in frames:
        if check_finite and not np.isfinite(block).all():
            where = n_native + int(np.argmax(~np.isfinite(block).all(axis=1)))
            raise InputError(f"{path}: non-finite sample (NaN or inf) at {where / native_rate:.3f} s; "
                             "the file is corrupt")
        n_native += block.shape[0]
        if min_peak_db is not None and block.size:
            peak = max(peak, float(np.max(np.abs(block))))
        converted = convert(block, last=False)
        if converted.shape[-1]:
            pending.append(converted)
            n_pending += converted.shape[-1]
        yield from take(force=False)
    if n_native == 0:
        raise InputError(f"{path}: no audio samples (a header without data); expected audio")
    check_signal(path, seconds=n_native / native_rate, peak=peak, min_seconds=min_seconds,
                 min_peak_db=min_peak_db)
    if stream is not None:
        tail = stream.resample_chunk(np.zeros((0, out_channels) if not mono else 0, np.float32),
                                     last=True)
        tail = tail if mono else tail.T
        if tail.shape[-1]:
            pending.append(tail)
            n_pending += tail.shape[-1]
    yield from take(force=True)


def load_audio(path: str | os.PathLike, *, sample_rate: int | None, mono: bool = True,
               min_seconds: float = 0.0, min_peak_db: float | None = None) -> np.ndarray:
    """Decode, validate, mix down and resample a whole file.

    Parameters
    ----------
    path : audio file (WAV/FLAC/OGG/AIFF via soundfile; MP3/M4A via soundfile or audioread).
    sample_rate : target rate in Hz (``None`` keeps the file's rate).
    mono : average the channels (default); otherwise keep them.
    min_seconds : reject files shorter than this.
    min_peak_db : reject files whose peak level is below this many dBFS (None: no level check).

    Returns
    -------
    float32 [n_samples] (mono) or float32 [channels, n_samples].

    Raises
    ------
    InputError naming the file and the reason (missing, empty, not audio, truncated, non-finite
    samples, too short, no decoder for the format).
    """
    blocks = list(iter_audio_blocks(path, sample_rate=sample_rate, mono=mono,
                                    block_seconds=3600.0, min_seconds=min_seconds,
                                    min_peak_db=min_peak_db))
    if len(blocks) == 1:
        return np.ascontiguousarray(blocks[0])
    return np.ascontiguousarray(np.concatenate(blocks, axis=-1))
