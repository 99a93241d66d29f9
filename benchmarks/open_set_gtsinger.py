"""Open-set identification on an embeddings file: are never-enrolled singers answered "unknown",
and are new songs of enrolled singers still recognised?

For every singer X of the file (or of ``--where``'s subset):

- unknown trial: the index holds every *other* singer (threshold calibrated on them, as
  ``knn build`` does); each of X's items is identified -> share answered "unknown";
- known trial (singers with two or more songs): for every song S of X, the index holds everything
  but X's takes of S; each take of S is identified -> share answered X, share "unknown".

    python benchmarks/open_set_gtsinger.py runs/emb-gtsinger/siamese-fold0.npz --where "singer=A|B"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vocaltools.index.embeddings import filter_items, load_embeddings  # noqa: E402
from vocaltools.index.faiss_index import build_index  # noqa: E402
from vocaltools.index.identify import UNKNOWN, calibrate_threshold, identify  # noqa: E402


def trial(vectors, labels, ids, enrolled: np.ndarray, queries: np.ndarray, *, k: int, groups=None):
    calibration = calibrate_threshold(vectors[enrolled], labels=[labels[i] for i in enrolled],
                                      groups=None if groups is None else [groups[i] for i in enrolled])
    index = build_index(vectors[enrolled], item_ids=[ids[i] for i in enrolled],
                        labels=[labels[i] for i in enrolled])
    decisions = identify(index, vectors[queries], query_ids=[ids[i] for i in queries], k=k,
                         threshold=calibration.threshold)
    return [d.label for d in decisions]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("embeddings")
    parser.add_argument("--where", action="append", default=[], help="FIELD=A|B subset")
    parser.add_argument("--fold", type=int, default=None,
                        help="with --results: keep the test singers of this fold")
    parser.add_argument("--results", default=None, help="results.json of embedding_gtsinger.py")
    parser.add_argument("--song-field", default="song_key", help="field naming a singer's song")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--calibrate-by-song", action="store_true",
                        help="known calibration trials ignore the query's own song")
    args = parser.parse_args(argv)

    if args.fold is not None:
        folds = json.loads(Path(args.results).read_text(encoding="utf-8"))["folds"]
        args.where.append("singer=" + "|".join(folds[args.fold]["test_singers"]))
    emb = filter_items(load_embeddings(args.embeddings), where=args.where)
    vectors, labels, ids = emb.item_embeddings, list(emb.field("singer")), list(emb.item_ids)
    songs = list(emb.field(args.song_field)) if args.song_field in emb.fields else list(emb.field("song"))
    rows = np.arange(len(labels))
    groups = songs if args.calibrate_by_song else None
    unknown_hits = unknown_total = known_right = known_unknown = known_total = 0
    for singer in sorted(set(labels)):
        mine = np.array([label == singer for label in labels])
        answers = trial(vectors, labels, ids, rows[~mine], rows[mine], k=args.k, groups=groups)
        unknown_hits += sum(a == UNKNOWN for a in answers)
        unknown_total += len(answers)
        singer_songs = sorted({songs[i] for i in rows[mine]})
        if len(singer_songs) < 2:
            continue
        for song in singer_songs:
            held = np.array([m and songs[i] == song for i, m in enumerate(mine)])
            answers = trial(vectors, labels, ids, rows[~held], rows[held], k=args.k, groups=groups)
            known_right += sum(a == singer for a in answers)
            known_unknown += sum(a == UNKNOWN for a in answers)
            known_total += len(answers)
    report = {"embeddings": args.embeddings, "where": args.where, "k": args.k,
              "calibrate_by_song": args.calibrate_by_song,
              "singers": len(set(labels)), "items": len(labels),
              "unknown_singer_items": unknown_total,
              "unknown_singer_answered_unknown": round(unknown_hits / unknown_total, 4),
              "known_singer_new_song_items": known_total,
              "known_singer_new_song_correct": round(known_right / known_total, 4) if known_total else None,
              "known_singer_new_song_unknown": round(known_unknown / known_total, 4) if known_total else None}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
