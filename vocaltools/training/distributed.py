"""The process group of a training run launched by ``torchrun`` (DistributedDataParallel).

``torchrun`` starts one process per GPU (or CPU slot) and sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in each. :func:`init_from_environment` joins
the group those describe (``gloo`` on CPU, ``nccl`` on CUDA); without them it does nothing, and
every helper here then acts as the identity of a one-process run, so the training loop reads the
same either way. The loop asks :func:`current` which rank it is; only rank 0 writes files.

Every rank walks the same seeded permutation of the training clips, cut into global batches of
the configured size; rank ``r`` of ``W`` takes clips ``r, r + W, ...`` of each global batch
(:func:`shard_batch`), so the clips of one optimiser step are those of a one-process run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from vocaltools.errors import ConfigError

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
BACKENDS = ("gloo", "nccl")


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: ``rank`` of ``world_size`` processes, ``local_rank`` on its
    machine; ``backend`` is None for a run outside a process group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """Rank 0 writes the model folder, the history and the progress output."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.backend is not None and self.world_size > 1


def launched_by_torchrun(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` are all set (as torchrun sets them)."""
    environ = os.environ if environ is None else environ
    return all(name in environ for name in TORCHRUN_VARIABLES)


def default_backend(device_type: str) -> str:
    """``nccl`` for CUDA, ``gloo`` otherwise."""
    return "nccl" if device_type == "cuda" else "gloo"


def init_from_environment(*, device: str = "auto", backend: str | None = None) -> DistributedContext:
    """Join the process group described by torchrun's environment variables, once per process.

    ``device`` is the training ``--device`` (``auto``, ``cpu``, ``cuda``); on CUDA the process
    uses GPU ``LOCAL_RANK``. ``backend`` overrides the default (:func:`default_backend`). Outside
    torchrun this returns the one-process context and changes nothing.
    """
    import torch.distributed as dist

    if backend is not None and backend not in BACKENDS:
        raise ConfigError(f"unknown --dist-backend {backend!r}; choose one of {BACKENDS}")
    if not launched_by_torchrun():
        return DistributedContext()
    if dist.is_initialized():
        return current()
    if not dist.is_available():
        raise ConfigError("this PyTorch build has no torch.distributed; run without torchrun")
    local_rank = int(os.environ["LOCAL_RANK"])
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {local_rank} but this machine has {torch.cuda.device_count()} "
                              "CUDA GPU(s); start at most one process per GPU (--nproc_per_node)")
        torch.cuda.set_device(local_rank)
    backend = backend or default_backend("cuda" if use_cuda else "cpu")
    if backend == "nccl" and not use_cuda:
        raise ConfigError("--dist-backend nccl needs CUDA GPUs; use gloo for CPU training")
    dist.init_process_group(backend=backend)
    return current()


def current() -> DistributedContext:
    """The context of this process: the joined group's, else the one-process context."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return DistributedContext()
    return DistributedContext(rank=dist.get_rank(), world_size=dist.get_world_size(),
                              local_rank=int(os.environ.get("LOCAL_RANK", 0)),
                              backend=str(dist.get_backend()))


def barrier() -> None:
    """Wait until every rank gets here (a no-op outside a process group)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    """Leave the process group (a no-op outside one)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def per_rank_batch_size(batch_size: int, context: DistributedContext) -> int:
    """The batch of one rank: the global ``batch_size`` divided by the number of processes."""
    if batch_size % context.world_size:
        raise ConfigError(f"--batch-size {batch_size} is the global batch and must divide evenly "
                          f"among the {context.world_size} processes (WORLD_SIZE); choose a "
                          f"multiple of {context.world_size}")
    return batch_size // context.world_size


def shard_batch(indices: Sequence[int], *, order: Sequence[int],
                context: DistributedContext) -> list[int]:
    """This rank's clips of one global batch ``indices``: every ``world_size``-th clip from
    position ``rank``. A short last batch is first topped up from the start of ``order`` to a
    multiple of ``world_size``, so every rank takes the same number of steps of the same size."""
    if context.world_size == 1:
        return list(indices)
    indices = list(indices)
    missing = -len(indices) % context.world_size
    indices += [order[i % len(order)] for i in range(missing)]
    return indices[context.rank::context.world_size]


def wrap_model(model: nn.Module, *, device: torch.device, context: DistributedContext) -> nn.Module:
    """``model`` in DistributedDataParallel inside a process group, else ``model`` itself. Wrap
    again whenever the set of trainable parameters changes (classifier re-training)."""
    if not context.is_distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def broadcast_object(value: Any, *, context: DistributedContext) -> Any:
    """Rank 0's ``value`` on every rank (pickled; for small results and saved states)."""
    if not context.is_distributed:
        return value
    import torch.distributed as dist

    holder = [value if context.is_main else None]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def sum_over_ranks(values: Sequence[float], *, context: DistributedContext,
                   device: torch.device) -> list[float]:
    """The sums of ``values`` over all ranks (float64)."""
    if not context.is_distributed:
        return [float(v) for v in values]
    import torch.distributed as dist

    tensor = torch.tensor(list(values), dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.cpu().tolist()


def broadcast_buffers(model: nn.Module, *, context: DistributedContext) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank, so the models of all
    ranks are equal when they are evaluated or saved."""
    if not context.is_distributed:
        return
    import torch.distributed as dist

    for buffer in model.buffers():
        dist.broadcast(buffer, src=0)
