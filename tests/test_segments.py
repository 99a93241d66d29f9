import numpy as np
import pytest

from vocaltools.errors import ConfigError
from vocaltools.segments import (ClipConfig, ClipWindow, clip_windows, cut_clip, frames_to_seconds,
                                 seconds_to_frames)

FPS = 16000 / 512  # 31.25 frames per second (S1)


@pytest.mark.parametrize("seconds, frames", [(3, 94), (5, 157), (10, 313)])
def test_s1_clip_lengths(seconds, frames):
    assert seconds_to_frames(seconds, frames_per_second=FPS) == frames


def test_s3_and_s4_clip_lengths():
    assert seconds_to_frames(3, frames_per_second=44100 / 512) == 259  # S3 input width
    assert seconds_to_frames(1, frames_per_second=22050 / 256) == 87  # S4 input width


def test_frames_to_seconds():
    assert frames_to_seconds(157, frames_per_second=FPS) == pytest.approx(5.024)


def test_non_overlapping_windows_drop_partial_tail():
    windows = clip_windows(n_frames=500, frames_per_second=FPS, config=ClipConfig(clip_seconds=5))
    assert [(w.start_frame, w.end_frame) for w in windows] == [(0, 157), (157, 314), (314, 471)]
    assert [w.clip_index for w in windows] == [0, 1, 2]


def test_drop_last_compatibility_switch():
    config = ClipConfig(clip_seconds=5, drop_last=True)
    windows = clip_windows(n_frames=500, frames_per_second=FPS, config=config)
    assert [w.start_frame for w in windows] == [0, 157]
    # an item with a single clip keeps it
    assert len(clip_windows(n_frames=200, frames_per_second=FPS, config=config)) == 1


def test_hop_gives_overlapping_windows():
    config = ClipConfig(clip_seconds=6, hop_seconds=1.2, clip_frames=256, hop_frames=51)
    windows = clip_windows(n_frames=400, frames_per_second=22050 / 512, config=config)
    assert [w.start_frame for w in windows] == [0, 51, 102]
    assert all(w.end_frame - w.start_frame == 256 for w in windows)


def test_short_items_are_padded_or_skipped():
    padded = clip_windows(n_frames=50, frames_per_second=FPS, config=ClipConfig(clip_seconds=5))
    assert padded == [ClipWindow(0, 0, 157)]
    skipped = clip_windows(n_frames=50, frames_per_second=FPS,
                           config=ClipConfig(clip_seconds=5, pad_short=False))
    assert skipped == []


def test_cut_clip_repeats_short_items():
    array = np.arange(10, dtype=np.float32).reshape(1, 1, 10)
    clip = cut_clip(array, ClipWindow(0, 0, 25))
    assert clip.shape == (1, 1, 25)
    np.testing.assert_array_equal(clip[0, 0, 10:20], array[0, 0])
    inside = cut_clip(array, ClipWindow(1, 2, 6))
    np.testing.assert_array_equal(inside[0, 0], [2, 3, 4, 5])
    inside[0, 0, 0] = -1
    assert array[0, 0, 2] == 2  # a copy, not a view


def test_invalid_lengths_raise():
    with pytest.raises(ConfigError, match="clip_seconds"):
        ClipConfig(clip_seconds=0)
    with pytest.raises(ConfigError, match="hop_seconds"):
        ClipConfig(clip_seconds=1, hop_seconds=-1)


def test_round_trip_dict():
    config = ClipConfig(clip_seconds=6, hop_seconds=1.2, clip_frames=256, hop_frames=51)
    assert ClipConfig.from_dict(config.to_dict()) == config
