"""Open-set identification on an embeddings file: are never-enrolled singers answered "unknown",
and are new songs of enrolled singers still recognised?

Every index is built by :func:`vocaltools.index.enrol.enrol_embeddings`, i.e. exactly as
``vocaltools knn build`` builds it (its centring, score normalisation and threshold calibration;
``--calibrate-by``, ``--center/--no-center``, ``--score-norm`` and ``--cohort-top`` as there; the
defaults are ``knn build``'s defaults).

Two protocols:

- ``--partitions N`` (random enrol/query partitions of the singers, seeds 0..N-1): a share
  ``--unknown-share`` of the singers is never enrolled (all their items are queries that should
  be answered "unknown"); every other singer with two or more songs has one random song held out
  (its takes are queries that should be answered with the singer); everything else is enrolled.
  Reports, per partition and as mean +- std: accepted-known (share of the held-out songs' takes
  not answered "unknown"), rejected-unknown, correct-known (answered with the right singer), and
  the closed-set accuracy of the known queries (the nearest enrolled singer, no threshold).
- without it (leave-one-singer-out), for every singer X: the index holds every *other* singer and
  X's items are queried; and for every song S of a singer X with two or more songs, the index
  holds everything but X's takes of S, which are queried.

    python benchmarks/open_set_gtsinger.py EMB.npz --partitions 5 -k 1
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
from vocaltools.index.enrol import enrol_embeddings  # noqa: E402
from vocaltools.index.identify import UNKNOWN, identify  # noqa: E402


def subset(emb, rows: np.ndarray):
    """The items of ``emb`` at ``rows`` (a boolean mask), as an embeddings set."""
    ids = np.asarray(emb.item_ids)
    return filter_items(emb, where=["item_id=" + "|".join(ids[rows])])


def trial(emb, enrolled: np.ndarray, queries: np.ndarray, *, k: int, calibrate_by: str,
          center: bool | None, score_norm: str, cohort_top: int):
    """Enrol ``emb``'s items at ``enrolled`` as ``knn build`` does and identify those at
    ``queries``: (decisions, the queries' singers, whether the index is centred)."""
    enrolment = enrol_embeddings(subset(emb, enrolled), calibrate_by=calibrate_by, center=center,
                                 score_norm=score_norm, cohort_top=cohort_top)
    index = enrolment.index
    asked = subset(emb, queries)
    decisions = identify(index, asked.item_embeddings, query_ids=list(asked.item_ids), k=k,
                         threshold=index.threshold)
    return decisions, list(asked.field("singer")), index.center is not None


def partition(singers: list[str], songs: list[str], *, seed: int, unknown_share: float):
    """Masks (enrolled, known queries, unknown queries) of one random partition of the singers."""
    rng = np.random.default_rng(seed)
    names = sorted(set(singers))
    order = [names[i] for i in rng.permutation(len(names))]
    unknown = set(order[:max(1, int(round(unknown_share * len(names))))])
    singers_a, songs_a = np.asarray(singers), np.asarray(songs)
    enrolled = np.zeros(len(singers), bool)
    known = np.zeros(len(singers), bool)
    for name in names:
        mine = singers_a == name
        if name in unknown:
            continue
        own = sorted(set(songs_a[mine]))
        held = own[int(rng.integers(len(own)))] if len(own) > 1 else None
        known |= mine & (songs_a == held)
        enrolled |= mine & (songs_a != held)
    return enrolled, known, np.isin(singers_a, sorted(unknown))


def run_partitions(emb, singers, songs, args) -> dict:
    rows = []
    for seed in range(args.partitions):
        enrolled, known, unknown = partition(singers, songs, seed=seed,
                                             unknown_share=args.unknown_share)
        decisions, truth, centred = trial(emb, enrolled, known | unknown, k=args.k,
                                          calibrate_by=args.calibrate_by, center=args.center,
                                          score_norm=args.score_norm, cohort_top=args.cohort_top)
        is_known = known[known | unknown]
        labels = np.array([d.label for d in decisions])
        candidates = np.array([d.candidate for d in decisions])
        truth = np.array(truth)
        rows.append({
            "seed": seed, "enrolled_items": int(enrolled.sum()),
            "known_queries": int(is_known.sum()), "unknown_queries": int((~is_known).sum()),
            "unknown_singers": sorted(set(truth[~is_known])), "centred": centred,
            "accepted_known": float((labels[is_known] != UNKNOWN).mean()),
            "rejected_unknown": float((labels[~is_known] == UNKNOWN).mean()),
            "correct_known": float((labels[is_known] == truth[is_known]).mean()),
            "closed_set_known": float((candidates[is_known] == truth[is_known]).mean())})
    summary = {}
    for name in ("accepted_known", "rejected_unknown", "correct_known", "closed_set_known"):
        values = np.array([row[name] for row in rows])
        summary[name] = {"mean": round(float(values.mean()), 4), "std": round(float(values.std()), 4)}
    return {"protocol": "random partitions", "unknown_share": args.unknown_share,
            "partitions": rows, "summary": summary}


def run_leave_one_singer_out(emb, singers, songs, args) -> dict:
    rows = np.arange(len(singers))
    singers_a, songs_a = np.asarray(singers), np.asarray(songs)
    unknown_hits = unknown_total = known_right = known_unknown = known_total = 0
    for singer in sorted(set(singers)):
        mine = singers_a == singer
        decisions, _, _ = trial(emb, ~mine, mine, k=args.k, calibrate_by=args.calibrate_by,
                                center=args.center, score_norm=args.score_norm,
                                cohort_top=args.cohort_top)
        unknown_hits += sum(d.label == UNKNOWN for d in decisions)
        unknown_total += len(decisions)
        for song in sorted(set(songs_a[rows[mine]])) if len(set(songs_a[mine])) > 1 else []:
            held = mine & (songs_a == song)
            decisions, _, _ = trial(emb, ~held, held, k=args.k, calibrate_by=args.calibrate_by,
                                    center=args.center, score_norm=args.score_norm,
                                    cohort_top=args.cohort_top)
            known_right += sum(d.label == singer for d in decisions)
            known_unknown += sum(d.label == UNKNOWN for d in decisions)
            known_total += len(decisions)
    return {"protocol": "leave one singer out",
            "unknown_singer_items": unknown_total,
            "unknown_singer_answered_unknown": round(unknown_hits / unknown_total, 4),
            "known_singer_new_song_items": known_total,
            "known_singer_new_song_correct": round(known_right / known_total, 4) if known_total else None,
            "known_singer_new_song_unknown": round(known_unknown / known_total, 4) if known_total else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("embeddings")
    parser.add_argument("--where", action="append", default=[], help="FIELD=A|B subset")
    parser.add_argument("--fold", type=int, default=None,
                        help="with --results: keep the test singers of this fold")
    parser.add_argument("--results", default=None, help="results.json of embedding_gtsinger.py")
    parser.add_argument("--song-field", default="song_key", help="field naming a singer's song")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--calibrate-by", default="auto",
                        help="as knn build --calibrate-by (auto, none or a field)")
    parser.add_argument("--calibrate-by-song", action="store_true",
                        help="the same as --calibrate-by SONG_FIELD")
    centre = parser.add_mutually_exclusive_group()
    centre.add_argument("--center", dest="center", action="store_const", const=True, default=None,
                        help="centre the embeddings (default: as knn build, on when normalised)")
    centre.add_argument("--no-center", dest="center", action="store_const", const=False)
    parser.add_argument("--score-norm", default="as-norm", choices=["as-norm", "none"],
                        help="as knn build --score-norm")
    parser.add_argument("--cohort-top", type=int, default=20, help="as knn build --cohort-top")
    parser.add_argument("--partitions", type=int, default=0,
                        help="random enrol/query partitions of the singers (seeds 0..N-1)")
    parser.add_argument("--unknown-share", type=float, default=0.4,
                        help="with --partitions: share of the singers never enrolled")
    parser.add_argument("--out", default=None, help="also write the JSON report here")
    args = parser.parse_args(argv)
    if args.calibrate_by_song:
        args.calibrate_by = args.song_field

    if args.fold is not None:
        folds = json.loads(Path(args.results).read_text(encoding="utf-8"))["folds"]
        args.where.append("singer=" + "|".join(folds[args.fold]["test_singers"]))
    emb = filter_items(load_embeddings(args.embeddings), where=args.where)
    singers = list(emb.field("singer"))
    songs = list(emb.field(args.song_field)) if args.song_field in emb.fields else list(emb.field("song"))
    result = (run_partitions if args.partitions else run_leave_one_singer_out)(emb, singers, songs, args)
    report = {"embeddings": args.embeddings, "where": args.where, "k": args.k,
              "calibrate_by": args.calibrate_by, "center": args.center,
              "score_norm": args.score_norm, "cohort_top": args.cohort_top,
              "singers": len(set(singers)), "items": len(singers), **result}
    text = json.dumps(report)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k != "partitions"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
