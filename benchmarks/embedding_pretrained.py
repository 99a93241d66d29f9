"""Singer search with the pretrained GE2E encoder on GTSinger-demo, beside the MFCC-statistics
baseline and a trained vocaltools embedding, on the same items and neighbour sets.

Metric: leave-one-out kNN singer accuracy at item level (item = mean of its clip embeddings),
with the query's own song excluded from the neighbours (``singer_other_songs``: the neighbours
must be another song of the singer, which removes GTSinger's song effect), and without the
exclusion (``singer``). Two neighbour sets:

- ``all``: every item of the subset (20 singers at once; chance 0.05); GE2E and MFCC need no
  training on these singers, so every item can be a query;
- ``folds``: within each singer fold of ``embedding_gtsinger.py`` (its ``results.json`` and
  ``<name>-fold<i>.npz``), the trained embedding of the fold that never heard those singers, and
  GE2E and MFCC restricted to the same singers; figures pooled over folds by item counts.

Subsets: all takes, and the sung takes (``take`` other than ``Speech``).

    vocaltools featurize ../shared/data/gtsinger-demo --labels gtsinger-demo --preset ge2e -o gts-ge2e.store
    vocaltools featurize ../shared/data/gtsinger-demo --labels gtsinger-demo --preset wang2018 -o gts-s2.store
    python benchmarks/embedding_gtsinger.py gts-s2.store --out runs/emb-stats4 --model clip_stats --folds 4 \\
        --epochs 15 --pairs-per-epoch 1024 --batch-size 64 --lr 1e-3 --weight-decay 1e-4
    python benchmarks/embedding_pretrained.py --ge2e-store gts-ge2e.store --s2-store gts-s2.store \\
        --trained runs/emb-stats4 --out runs/emb-pretrained
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vocaltools.index.embeddings import filter_items, load_embeddings, save_embeddings  # noqa: E402
from vocaltools.index.evaluate import loo_knn_accuracy  # noqa: E402
from vocaltools.inference.embed import embed_inputs, mfcc_embedder, model_embedder  # noqa: E402
from vocaltools.segments import SEED_CLIPS  # noqa: E402

SUBSETS = {"all_takes": [], "sung_takes": ["take=Speech"]}


def accuracies(embeddings, *, ks) -> dict:
    fields = dict(embeddings.fields)
    rows = {}
    for name, exclude in (("singer", ()), ("singer_other_songs", ("singer", "song_id"))):
        results = loo_knn_accuracy(embeddings.item_embeddings, labels=embeddings.field("singer"),
                                   ks=ks, by="singer", fields=fields, exclude_same=exclude)
        rows[name] = {f"k{r.k}": round(r.accuracy, 4) for r in results}
        rows[name]["n"] = results[0].n
        rows[name]["n_answerable"] = results[0].n_answerable
    return rows


def pooled(parts: list[dict]) -> dict:
    out = {}
    for metric in parts[0]:
        n = [p[metric]["n"] for p in parts]
        out[metric] = {key: round(sum(p[metric][key] * w for p, w in zip(parts, n)) / sum(n), 4)
                       for key in parts[0][metric] if key.startswith("k")}
        out[metric]["n"] = sum(n)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ge2e-store", required=True, help="ge2e-preset store of gtsinger-demo")
    parser.add_argument("--s2-store", required=True, help="wang2018-preset store (MFCC baseline)")
    parser.add_argument("--trained", default=None,
                        help="output folder of embedding_gtsinger.py (results.json, fold NPZs)")
    parser.add_argument("--trained-name", default="siamese", help="NPZ prefix in --trained")
    parser.add_argument("--out", required=True)
    parser.add_argument("--k", default="1,3,5")
    args = parser.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ks = [int(k) for k in args.k.split(",")]
    started = time.perf_counter()
    ge2e = embed_inputs([args.ge2e_store], embedder=model_embedder("ge2e"), normalize=True)
    save_embeddings(out / "ge2e.npz", ge2e)
    seconds_ge2e = time.perf_counter() - started
    mfcc = embed_inputs([args.s2_store], embedder=mfcc_embedder(
        clip_config=SEED_CLIPS["S2"].to_dict()))
    save_embeddings(out / "mfcc.npz", mfcc)
    if sorted(ge2e.item_ids) != sorted(mfcc.item_ids):
        raise SystemExit("the two stores do not hold the same items")
    sets = {"ge2e": ge2e, "mfcc": mfcc}
    report = {"config": vars(args), "embed_seconds_ge2e": round(seconds_ge2e, 1), "all": {},
              "folds": {}}
    for subset, where_not in SUBSETS.items():
        report["all"][subset] = {name: accuracies(filter_items(e, where_not=where_not), ks=ks)
                                 for name, e in sets.items()}
    if args.trained:
        folds = json.loads((Path(args.trained) / "results.json").read_text())["folds"]
        for subset, where_not in SUBSETS.items():
            parts: dict[str, list] = {"ge2e": [], "mfcc": [], args.trained_name: []}
            for fold in folds:
                where = ["singer=" + "|".join(fold["test_singers"])]
                trained = load_embeddings(Path(args.trained) /
                                          f"{args.trained_name}-fold{fold['fold']}.npz")
                for name, e in (*sets.items(), (args.trained_name, trained)):
                    parts[name].append(accuracies(filter_items(e, where=where, where_not=where_not),
                                                  ks=ks))
            report["folds"][subset] = {name: pooled(p) for name, p in parts.items()}
    report["seconds"] = round(time.perf_counter() - started, 1)
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for scope in ("all", "folds"):
        for subset, rows in report[scope].items():
            for name, row in rows.items():
                print(f"{scope:<6}{subset:<11}{name:<10} singer k1/3/5 "
                      f"{row['singer']['k1']:.3f}/{row['singer']['k3']:.3f}/{row['singer']['k5']:.3f}"
                      f"  other songs {row['singer_other_songs']['k1']:.3f}/"
                      f"{row['singer_other_songs']['k3']:.3f}/{row['singer_other_songs']['k5']:.3f}"
                      f"  n={row['singer']['n']}")
    print(f"-> {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
