"""A linear probe: can per-take spectral statistics tell the S3 techniques apart at all?

For every take of a feature store whose ``take`` is Control or one of the six GTSinger techniques:
the mean, standard deviation and mean absolute frame-to-frame difference of every row of its
feature array (all resolutions stacked). A standardised, class-balanced logistic regression is
then scored two ways: trained on the train + validation takes of a split file and tested on its
test takes, and by song-grouped k-fold cross-validation over every take (each take is predicted by
a model that never heard its song). Prints a table and writes JSON.

    python benchmarks/experiments/technique_probe.py STORE [--split SPLIT.jsonl] [--folds 4]
        [--centre-on-song] [-o probe.json]

``--centre-on-song`` subtracts from each take's statistics the mean of its song's takes (it uses
the grouping of takes by song, never a label): techniques as differences from the same singer.

docs/results-techniques.md reports its output for the reduced and the paper front end.
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections import Counter

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vocaltools.formats.store import FeatureStore
from vocaltools.datasets.splits import read_split, select_fold

TAKES = ("Control", "Breathy", "Vibrato", "Glissando", "Falsetto", "Mixed", "Pharyngeal")
C_VALUES = (0.001, 0.01, 0.1, 1.0)


def take_statistics(store: FeatureStore) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Item ids, statistics ``[n, 3 * rows]``, labels and song groups of the technique takes."""
    ids, rows, labels, songs = [], [], [], []
    for item in store.items():
        if item.fields.get("take") not in TAKES:
            continue
        (array,) = store.load_arrays(item).values()
        x = array.astype(np.float64).reshape(-1, array.shape[-1])
        rows.append(np.concatenate([x.mean(1), x.std(1), np.abs(np.diff(x, axis=1)).mean(1)]))
        ids.append(item.item_id)
        labels.append(str(item.fields["take"]))
        songs.append(str(item.fields["song_key"]))
    return ids, np.array(rows), np.array(labels), np.array(songs)


def probe(c: float):
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000, class_weight="balanced"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store")
    parser.add_argument("--split", help="split file: train + validation fit, test scores")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--centre-on-song", action="store_true",
                        help="subtract the mean statistics of each song's takes")
    parser.add_argument("-o", "--output", default="technique-probe.json")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")

    ids, x, y, songs = take_statistics(FeatureStore(args.store))
    if args.centre_on_song:
        for song in set(songs):
            x[songs == song] -= x[songs == song].mean(axis=0)
    majority = Counter(y).most_common(1)[0][1] / len(y)
    result = {"store": args.store, "centre_on_song": args.centre_on_song, "n_takes": len(y), "classes": sorted(set(y)),
              "chance": {"majority_accuracy": majority, "balanced_accuracy": 1 / len(set(y))},
              "cross_validation": [], "split": []}
    print(f"{len(y)} takes, {len(set(y))} classes; majority accuracy {majority:.3f}, "
          f"balanced chance {1 / len(set(y)):.3f}")
    print(f"{'scheme':<22} {'C':>6} {'accuracy':>9} {'B-acc':>7}")
    for c in C_VALUES:
        predicted = cross_val_predict(probe(c), x, y, groups=songs, cv=GroupKFold(args.folds))
        row = {"C": c, "accuracy": accuracy_score(y, predicted),
               "balanced_accuracy": balanced_accuracy_score(y, predicted)}
        result["cross_validation"].append(row)
        print(f"{f'{args.folds}-fold by song':<22} {c:>6} {row['accuracy']:>9.3f} {row['balanced_accuracy']:>7.3f}")
    if args.split:
        split = select_fold(read_split(args.split), where=str(args.split))
        side = np.array([split.get(i, "") for i in ids])
        fit, test = np.isin(side, ("train", "validation")), side == "test"
        for c in C_VALUES:
            predicted = probe(c).fit(x[fit], y[fit]).predict(x[test])
            row = {"C": c, "n_test": int(test.sum()), "accuracy": accuracy_score(y[test], predicted),
                   "balanced_accuracy": balanced_accuracy_score(y[test], predicted)}
            result["split"].append(row)
            print(f"{'split, test takes':<22} {c:>6} {row['accuracy']:>9.3f} {row['balanced_accuracy']:>7.3f}")
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
