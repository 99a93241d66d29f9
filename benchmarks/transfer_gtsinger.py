"""Closed-set singer identification on a song-disjoint GTSinger-demo split: logistic regressions on
MFCC statistics and on GE2E embeddings, the baselines beside ``train --model ge2e``.

Both read clips of the split's items, train a standardised multinomial logistic regression
(scikit-learn, C = 1) on the training items' clips and report clip accuracy and song (item)
accuracy on the test items, an item's answer being the argmax of its clips' mean probability.

- ``mfcc``: MFCC statistics (80-d, :mod:`vocaltools.baselines`) of clips of ``--clip-seconds``
  (default 5 s, hop 2.5 s: crnn_fgnl's clips in docs/results.md) of a ``wang2018`` store;
- ``ge2e``: GE2E partial-utterance embeddings (1.6 s, hop 0.77 s: what ``train --model ge2e``
  sees) of a ``ge2e`` store.

    python benchmarks/transfer_gtsinger.py --split ge2e-head/split.jsonl --s2-store gts-s2.store \\
        --ge2e-store gts-ge2e.store --out runs/transfer.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vocaltools.inference.embed import embed_inputs, mfcc_embedder, model_embedder  # noqa: E402
from vocaltools.datasets.splits import read_split, select_fold  # noqa: E402


def logistic_regression(embeddings, split: dict[str, str]) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    side = np.array([split.get(item_id, "") for item_id in embeddings.item_ids])
    clip_side = side[embeddings.clip_item]
    singers = np.array(embeddings.field("singer"))
    clip_singer = singers[embeddings.clip_item]
    train, test = clip_side == "train", clip_side == "test"
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    model.fit(embeddings.clip_embeddings[train], clip_singer[train])
    probabilities = model.predict_proba(embeddings.clip_embeddings[test])
    classes = model.classes_
    clip_accuracy = float(np.mean(classes[probabilities.argmax(axis=1)] == clip_singer[test]))
    test_items = np.flatnonzero(side == "test")
    item_of_clip = embeddings.clip_item[test]
    right = [classes[probabilities[item_of_clip == i].mean(axis=0).argmax()] == singers[i]
             for i in test_items]
    return {"clip_accuracy": round(clip_accuracy, 4), "n_clips": int(test.sum()),
            "song_accuracy": round(float(np.mean(right)), 4), "n_songs": len(test_items),
            "n_train_clips": int(train.sum())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", required=True, help="vocaltools.split/1 JSONL")
    parser.add_argument("--s2-store", required=True)
    parser.add_argument("--ge2e-store", required=True)
    parser.add_argument("--clip-seconds", type=float, default=5.0)
    parser.add_argument("--hop-seconds", type=float, default=2.5)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    split = select_fold(read_split(args.split), where=args.split)
    mfcc = embed_inputs([args.s2_store], embedder=mfcc_embedder(
        clip_config={"clip_seconds": args.clip_seconds, "hop_seconds": args.hop_seconds}))
    ge2e = embed_inputs([args.ge2e_store], embedder=model_embedder("ge2e"))
    report = {"split": args.split, "mfcc_clip_seconds": [args.clip_seconds, args.hop_seconds],
              "mfcc+logreg": logistic_regression(mfcc, split),
              "ge2e+logreg": logistic_regression(ge2e, split)}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
