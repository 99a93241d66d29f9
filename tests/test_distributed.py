"""Distributed training: sharding of global batches, the process-group helpers outside torchrun,
and a real two-process torchrun run (gloo on CPU) against the one-process result."""

import json
import os
import subprocess
import sys

import pytest
import torch

from _train_helpers import make_store
from conftest import ROOT
from vocaltools.datasets.splits import select_fold, split_groups, write_split
from vocaltools.errors import ConfigError
from vocaltools.formats.jsonl import read_jsonl
from vocaltools.trained import registry_dir
from vocaltools.training import distributed
from vocaltools.training.config import make_train_config
from vocaltools.training.distributed import DistributedContext, per_rank_batch_size, shard_batch
from vocaltools.training.loader import EpochBatches
from vocaltools.training.loop import train_model


def _rank(rank, world_size=2):
    return DistributedContext(rank=rank, world_size=world_size, backend="gloo")


def test_ranks_share_each_global_batch_without_overlap():
    order = list(range(10, 0, -1))  # 10 clips, global batch 4: [10 9 8 7] [6 5 4 3] [2 1]
    per_rank = []
    for rank in range(2):
        batches = EpochBatches(len(order), batch_size=4, context=_rank(rank))
        batches.set_order([i - 1 for i in order])
        per_rank.append(list(batches))
    assert len(per_rank[0]) == len(per_rank[1]) == 3  # every rank takes the same number of steps
    for step in range(2):  # full batches: the union is the one-process batch, no clip twice
        assert sorted(per_rank[0][step] + per_rank[1][step]) == sorted(
            i - 1 for i in order[4 * step:4 * step + 4])
    # the short last batch [2 1] -> one clip each
    assert per_rank[0][2] == [1] and per_rank[1][2] == [0]
    # 3 clips on 2 ranks: topped up from the start of the order
    assert shard_batch([5, 6, 7], order=[5, 6, 7], context=_rank(1)) == [6, 5]
    assert shard_batch([5, 6, 7], order=[5, 6, 7], context=DistributedContext()) == [5, 6, 7]


def test_global_batch_must_divide_among_ranks():
    assert per_rank_batch_size(16, _rank(0, world_size=4)) == 4
    with pytest.raises(ConfigError, match="--batch-size 6 .* 4 processes"):
        per_rank_batch_size(6, _rank(0, world_size=4))


def test_outside_torchrun_everything_is_one_process(monkeypatch):
    for name in distributed.TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert not distributed.launched_by_torchrun()
    assert distributed.launched_by_torchrun({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})
    context = distributed.init_from_environment(device="cpu")
    assert context == DistributedContext() and context.is_main and not context.is_distributed
    assert distributed.current() == context
    assert distributed.broadcast_object({"a": 1}, context=context) == {"a": 1}
    model = torch.nn.Linear(2, 2)
    assert distributed.wrap_model(model, device=torch.device("cpu"), context=context) is model
    with pytest.raises(ConfigError, match="unknown --dist-backend 'mpi'"):
        distributed.init_from_environment(device="cpu", backend="mpi")
    assert distributed.default_backend("cuda") == "nccl" and distributed.default_backend("cpu") == "gloo"


# 25 epochs bring tiny_cnn on this store close to convergence. Noise, the one-process validation
# metrics of seeds 0-4: accuracy 1.0, 1.0, 0.93, 1.0, 1.0; loss 0.004, 0.004, 0.31, 0.001, 0.009.
# Two processes (seeds 0-2): accuracy 1.0, 1.0, 1.0; loss 0.003, 0.021, 0.069. The two-process run
# must land within that noise of the one-process run of the same seed.
EPOCHS = 25
ACCURACY_TOLERANCE = 0.1
LOSS_TOLERANCE = 0.3


@pytest.mark.slow
def test_torchrun_two_processes_match_one_process(tmp_path):
    store = make_store(tmp_path / "store", n_classes=3, songs_per_class=4, seconds=6.0)
    split = select_fold(split_groups(store.items(), by="song_id", stratify="singer", seed=0,
                                     validation_fraction=0.25, test_fraction=0.25))
    write_split(split, tmp_path / "split.jsonl")
    config = make_train_config(model="tiny_cnn", target="singer", clip_seconds=1.0, epochs=EPOCHS,
                               batch_size=8, lr=1e-2, patience=0, device="cpu",
                               model_options={"width": 8}, threads=1)
    # the one-process reference: the same loop 'vocaltools train' runs (torchrun with one process
    # forms no group and is this run exactly)
    one = train_model(store=store, config=config, split=split, model_dir=tmp_path / "one").summary

    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "vocaltools", "train", str(tmp_path / "store"), "-m", "tiny_cnn", "-t", "singer",
               "--split", str(tmp_path / "split.jsonl"), "--clip-seconds", "1", "--epochs", str(EPOCHS),
               "--batch-size", "8", "--lr", "0.01", "--patience", "0", "--device", "cpu",
               "--option", "width=8", "--threads", "1", "--name", "two", "-o", str(tmp_path / "two")]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    two = json.loads((tmp_path / "two" / "summary.json").read_text())

    assert two["world_size"] == 2 and two["config"]["batch_size"] == 8
    assert abs(two["validation"]["accuracy"] - one["validation"]["accuracy"]) <= ACCURACY_TOLERANCE
    assert abs(two["validation"]["loss"] - one["validation"]["loss"]) <= LOSS_TOLERANCE
    # rank 0 alone wrote: one history line per epoch, one registry entry, one summary line
    assert [r["epoch"] for r in read_jsonl(tmp_path / "two" / "history.jsonl")] == list(range(1, EPOCHS + 1))
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        ["checkpoint.pt", "labels.txt", "split.jsonl", "history.jsonl", "training-curve.png",
         "summary.json", "run.json"])
    assert [p.name for p in registry_dir().iterdir()] == ["two.json"]
    assert result.stderr.count("registered as 'two'") == 1
