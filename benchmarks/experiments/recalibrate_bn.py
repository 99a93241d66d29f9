"""Recompute a trained model's BatchNorm statistics over its training clips and write the result as
a new model folder (checkpoint.pt + split.jsonl), for ``vocaltools predict --model OUT``.

This is what ``vocaltools train --precise-bn N`` does after the last epoch (N >= the number of
training clips: every training clip, dropout off, each batch weighing the same). Training in
train mode never reads the running statistics, so for a model selected at its last epoch the
result equals the model that training with ``--precise-bn`` would have written, up to the
batching of the average. (A cRT classifier was re-trained on features normalised with the old
statistics, so recalibrating a cRT model afterwards is not the same as cRT with precise BN.)

    python benchmarks/experiments/recalibrate_bn.py STORE MODEL_DIR OUT_DIR [--batch-size 8]
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("model_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    import torch

    from vocaltools.checkpoint import build_from_checkpoint, load_checkpoint, save_checkpoint
    from vocaltools.formats.store import FeatureStore
    from vocaltools.segments import ClipConfig
    from vocaltools.training.batchnorm import recalibrate_batch_norm
    from vocaltools.training.data import ItemCache, frames_per_second_of, make_clip_set
    from vocaltools.datasets.splits import read_split, select_fold

    torch.set_num_threads(1)
    model_dir, out_dir = Path(args.model_dir), Path(args.out_dir)
    checkpoint = load_checkpoint(model_dir)
    model = build_from_checkpoint(checkpoint)
    store = FeatureStore(args.store)
    split = select_fold(read_split(model_dir / "split.jsonl"))
    train_items = [item for item in store.items() if split.get(item.item_id) == "train"]
    clips, _ = make_clip_set(train_items, target=checkpoint.target, labels=checkpoint.labels,
                             clip=ClipConfig(**checkpoint.clip_config),
                             frames_per_second=frames_per_second_of(checkpoint.feature_config))
    cache = ItemCache(store, inputs=checkpoint.inputs)
    batches = (torch.from_numpy(x) for x, _ in clips.batches(cache, batch_size=args.batch_size))
    n_layers = recalibrate_batch_norm(model, batches, set_train_mode=lambda m: m.train())
    summary = {**dict(checkpoint.summary or {}),
               "batch_norm_recalibrated": {"n_clips": len(clips), "n_layers": n_layers,
                                           "from": str(model_dir)}}
    save_checkpoint(out_dir / "checkpoint.pt",
                    dataclasses.replace(checkpoint, state_dict=model.state_dict(), summary=summary))
    shutil.copyfile(model_dir / "split.jsonl", out_dir / "split.jsonl")
    print(f"{model_dir} -> {out_dir}: {n_layers} BatchNorm layers over {len(clips)} clips")


if __name__ == "__main__":
    main()
