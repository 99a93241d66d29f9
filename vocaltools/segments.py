"""Seconds <-> frames and clip windows.

Features are whole items ``float32 [channels, n_bins, n_frames]``; training and prediction cut them
into fixed-length clips. A :class:`ClipConfig` says how (in seconds, so that it survives a change of
hop size); :func:`clip_windows` turns it into frame windows for one item.

>>> config = ClipConfig(clip_seconds=5.0)
>>> [(w.start_frame, w.end_frame) for w in clip_windows(n_frames=400, frames_per_second=31.25,
...                                                       config=config)]
[(0, 157), (157, 314)]
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Mapping

from vocaltools.errors import ConfigError

if TYPE_CHECKING:  # numpy is imported where clips are cut, so the clip settings import light
    import numpy as np


def seconds_to_frames(seconds: float, *, frames_per_second: float) -> int:
    """The number of frames that ``seconds`` cover, rounded up as the seed papers count them
    (3 / 5 / 10 s at 31.25 frames/s = 94 / 157 / 313 frames)."""
    if seconds <= 0:
        raise ConfigError(f"a duration must be positive, got {seconds} s")
    return max(1, math.ceil(round(seconds * frames_per_second, 6)))


def frames_to_seconds(frames: int | float, *, frames_per_second: float) -> float:
    """Seconds at the start of frame ``frames`` (frame ``i`` is centred at ``i / fps``)."""
    return float(frames) / frames_per_second


@dataclass(frozen=True)
class ClipConfig:
    """How items are cut into clips.

    Parameters
    ----------
    clip_seconds : length of one clip.
    hop_seconds : distance between clip starts; ``None`` = ``clip_seconds`` (non-overlapping).
    drop_last : drop the last full clip of every item, as the S1 reference code does (a
        compatibility switch; off by default).
    pad_short : an item shorter than one clip yields one clip, padded by repeating the item
        (``True``), or no clip at all (``False``, as S4 drops files shorter than 1 s).
    clip_frames, hop_frames : explicit frame counts that override the seconds (S2 uses 256 frames
        with a hop of 51 frames).
    """

    clip_seconds: float
    hop_seconds: float | None = None
    drop_last: bool = False
    pad_short: bool = True
    clip_frames: int | None = None
    hop_frames: int | None = None

    def __post_init__(self) -> None:
        if self.clip_seconds <= 0:
            raise ConfigError(f"clip_seconds must be positive, got {self.clip_seconds}")
        if self.hop_seconds is not None and self.hop_seconds <= 0:
            raise ConfigError(f"hop_seconds must be positive, got {self.hop_seconds}")

    def frames(self, *, frames_per_second: float) -> tuple[int, int]:
        """``(clip_frames, hop_frames)`` at ``frames_per_second``."""
        clip = self.clip_frames or seconds_to_frames(self.clip_seconds,
                                                     frames_per_second=frames_per_second)
        if self.hop_frames:
            hop = self.hop_frames
        elif self.hop_seconds is None:
            hop = clip
        else:
            hop = seconds_to_frames(self.hop_seconds, frames_per_second=frames_per_second)
        return clip, hop

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ClipConfig":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


# The seed papers' clip settings (S2: 6 s = 256 frames with a 20 % hop of 51 frames).
SEED_CLIPS: dict[str, ClipConfig] = {
    "S1": ClipConfig(clip_seconds=5.0),
    "S2": ClipConfig(clip_seconds=6.0, hop_seconds=1.2, clip_frames=256, hop_frames=51),
    "S3": ClipConfig(clip_seconds=3.0),
    "S4": ClipConfig(clip_seconds=1.0, pad_short=False),
    "": ClipConfig(clip_seconds=5.0),
}


@dataclass(frozen=True)
class ClipWindow:
    """One clip of an item: frames ``[start_frame, end_frame)``; ``end_frame`` may exceed the item
    when it is padded (a short item)."""

    clip_index: int
    start_frame: int
    end_frame: int


def clip_windows(*, n_frames: int, frames_per_second: float, config: ClipConfig) -> list[ClipWindow]:
    """The clips of an item of ``n_frames`` frames: full clips every hop (a trailing partial clip
    is dropped); with ``config.drop_last`` also the last full clip (S1 reference code, kept only
    when at least two clips exist so that no item disappears); an item shorter than one clip gives
    one padded clip when ``config.pad_short``."""
    clip, hop = config.frames(frames_per_second=frames_per_second)
    if n_frames < clip:
        return [ClipWindow(0, 0, clip)] if config.pad_short and n_frames > 0 else []
    starts = range(0, n_frames - clip + 1, hop)
    windows = [ClipWindow(i, s, s + clip) for i, s in enumerate(starts)]
    if config.drop_last and len(windows) > 1:
        windows = windows[:-1]
    return windows


def cut_clip(array: np.ndarray, window: ClipWindow) -> np.ndarray:
    """``float32 [channels, n_bins, n_frames] -> [channels, n_bins, clip_frames]`` (a copy),
    repeating the item when the window reaches past its end."""
    import numpy as np

    n_frames = array.shape[-1]
    if window.end_frame <= n_frames:
        return np.array(array[..., window.start_frame:window.end_frame], copy=True, order="C")
    reps = math.ceil(window.end_frame / n_frames)
    tiled = np.concatenate([array] * reps, axis=-1)
    return np.ascontiguousarray(tiled[..., window.start_frame:window.end_frame])
