"""Training batches through a torch DataLoader: worker processes, pinned memory and prefetching.

Clips are cut on demand from the item arrays of the feature store (:class:`ItemCache`, one per
worker process), never from a whole collection in memory. The order of the clips is decided in the
main process (:meth:`EpochBatches.set_order`, once per epoch), so the batches, and hence the
trained weights, are the same whatever the number of workers.
"""

from __future__ import annotations

import os
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from vocaltools.segments import cut_clip
from vocaltools.training.data import ClipSet, ItemCache
from vocaltools.training.distributed import DistributedContext, shard_batch

MAX_AUTO_WORKERS = 4


class ClipDataset(Dataset):
    """Clip ``i`` of a :class:`ClipSet`: ``(float32 [channels, n_bins, clip_frames], label_index)``."""

    def __init__(self, clip_set: ClipSet, cache: ItemCache):
        self.clip_set = clip_set
        self.cache = cache

    def __len__(self) -> int:
        return len(self.clip_set)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        clip = self.clip_set.clips[index]
        return cut_clip(self.cache.get(self.clip_set.items[clip.item_index]), clip.window), clip.label_index


class EpochBatches(Sampler[list[int]]):
    """This rank's batches of one epoch: the epoch's order cut into global batches of
    ``batch_size`` clips, each sharded over the ranks (:func:`shard_batch`)."""

    def __init__(self, n_clips: int, *, batch_size: int, context: DistributedContext):
        self.n_clips = n_clips
        self.batch_size = batch_size
        self.context = context
        self.order: list[int] = list(range(n_clips))

    def set_order(self, order: Sequence[int]) -> None:
        """The clip order of the next epoch (a permutation of ``range(n_clips)``)."""
        self.order = [int(i) for i in order]

    def __len__(self) -> int:
        return -(-self.n_clips // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        for start in range(0, self.n_clips, self.batch_size):
            yield shard_batch(self.order[start:start + self.batch_size], order=self.order,
                              context=self.context)


def stack_clips(batch: Sequence[tuple[np.ndarray, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(float32 [batch, channels, n_bins, clip_frames], int64 [batch])``."""
    x = np.stack([clip for clip, _ in batch])
    y = np.array([label_index for _, label_index in batch], dtype=np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def resolve_workers(workers: int | None, *, device: torch.device) -> int:
    """``None`` -> 0 on CPU (the cores train), up to 4 worker processes on CUDA."""
    if workers is not None:
        return workers
    if device.type != "cuda":
        return 0
    return max(1, min(MAX_AUTO_WORKERS, (os.cpu_count() or 1) // max(1, torch.cuda.device_count())))


def make_train_loader(clip_set: ClipSet, cache: ItemCache, *, batches: EpochBatches, workers: int,
                      device: torch.device) -> DataLoader:
    """A DataLoader over ``clip_set`` in ``batches``' order. With workers, each worker keeps its own
    item cache (the budget split among them) for the whole run (persistent workers); on CUDA
    batches are pinned and prefetched."""
    if workers > 0:
        cache = ItemCache(cache.store, inputs=cache.inputs, model=cache.model, preset=cache.preset,
                          max_bytes=max(cache.max_bytes // workers, 1))
    options = {"prefetch_factor": 4, "persistent_workers": True} if workers > 0 else {}
    return DataLoader(ClipDataset(clip_set, cache), batch_sampler=batches, num_workers=workers,
                      collate_fn=stack_clips, pin_memory=device.type == "cuda", **options)
