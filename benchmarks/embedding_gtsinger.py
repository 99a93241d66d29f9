"""Singer embedding on GTSinger-demo: siamese network vs the MFCC-statistics baseline.

S2's protocol on a small real set: the embedding network is trained on one half of the singers
and evaluated by leave-one-out kNN on the *other* half (singer-disjoint, as the paper's
train/test splits), then the halves swap (2 folds, every singer evaluated once); ``--folds N``
deals the singers into N groups instead, each evaluated by a model trained on the other N - 1. The MFCC-statistics
baseline is evaluated on exactly the same items. Metrics (item level, item = mean of its clip
embeddings):

- singer: LOO kNN singer accuracy (k = 1, 3, 5);
- singer, other songs: the same, with the query's own song (same singer and song) excluded from
  the neighbours, which removes the GTSinger "song effect" (Control / technique / Speech takes of
  one song sit next to each other);
- song: LOO kNN song accuracy (the song effect itself).

Input: a feature store made with the ``wang2018`` (S2) preset whose items carry the fields
``singer`` and ``song`` (``vocaltools featurize`` of the dataset). Output: ``results.json`` and the
model folders in ``--out``.

    python benchmarks/embedding_gtsinger.py STORE --out runs/emb-gtsinger
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vocaltools.formats.store import FeatureStore  # noqa: E402
from vocaltools.index.embeddings import filter_items, save_embeddings, standardize  # noqa: E402
from vocaltools.index.evaluate import loo_knn_accuracy  # noqa: E402
from vocaltools.inference.embed import embed_inputs, mfcc_embedder, model_embedder  # noqa: E402
from vocaltools.segments import SEED_CLIPS  # noqa: E402
from vocaltools.training.siamese import SiameseConfig, train_siamese_store  # noqa: E402


def evaluate(embeddings, *, ks, standardized: bool) -> dict:
    vectors = embeddings.item_embeddings
    vectors = standardize(vectors) if standardized else vectors
    fields = dict(embeddings.fields)
    rows = {}
    for name, by, exclude in (("singer", "singer", ()),
                              ("singer_other_songs", "singer", ("singer", "song")),
                              ("song", "song", ())):
        results = loo_knn_accuracy(vectors, labels=embeddings.field(by), ks=ks, by=by,
                                   fields=fields, exclude_same=exclude)
        rows[name] = {f"k{r.k}": round(r.accuracy, 4) for r in results}
        rows[name]["n"] = results[0].n
        rows[name]["n_answerable"] = results[0].n_answerable
        if exclude:
            rows[name].update({f"k{r.k}_answerable": round(r.accuracy_answerable, 4)
                               for r in results})
    return rows


def pooled(folds: list[dict]) -> dict:
    """Accuracies over all evaluated items: the folds' figures weighted by their item counts."""
    out: dict = {}
    for key in folds[0]["results"]:
        out[key] = {}
        for metric, row in folds[0]["results"][key].items():
            n = [f["results"][key][metric]["n"] for f in folds]
            out[key][metric] = {name: round(sum(f["results"][key][metric][name] * w
                                                for f, w in zip(folds, n)) / sum(n), 4)
                                for name in row if name.startswith("k") and "answerable" not in name}
            out[key][metric]["n"] = sum(n)
    return out


def train_classifier(store, *, model, split, model_dir, clip, options, args) -> dict:
    """A singer classifier on the training singers (train_model's loop, no validation
    split: the last epoch is kept); its penultimate layer is the embedding."""
    from vocaltools.training.config import TrainConfig
    from vocaltools.training.loop import train_model

    config = TrainConfig(model=model, target="singer", clip=clip, optimizer="adam", lr=args.lr,
                         batch_size=32, weight_decay=1e-6, epochs=args.epochs, patience=None,
                         select="last", seed=args.seed, device="cpu", model_options=options,
                         threads=args.threads)
    result = train_model(store=store, config=config, split=split, model_dir=model_dir)
    return result.summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", help="wang2018 feature store of gtsinger-demo")
    parser.add_argument("--out", required=True, help="folder for model folders and results.json")
    parser.add_argument("--model", default="tiny_cnn", help="registry model used as the twin")
    parser.add_argument("--objective", choices=("contrastive", "classify"), default="contrastive",
                        help="siamese contrastive training (S2), or a singer classifier whose "
                             "penultimate layer is the embedding")
    parser.add_argument("--width", type=int, default=16, help="tiny_cnn width (its option)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--pairs-per-epoch", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-6)
    parser.add_argument("--batch-size", type=int, default=32, help="pairs per step")
    parser.add_argument("--folds", type=int, default=2,
                        help="singer folds: singers in name order dealt round-robin into N groups; "
                             "each group is evaluated by a model trained on all the others")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--k", default="1,3,5")
    args = parser.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ks = [int(k) for k in args.k.split(",")]
    store = FeatureStore(args.store)
    items = store.items()
    singers = sorted({str(i.fields["singer"]) for i in items})
    folds = [singers[i::args.folds] for i in range(args.folds)]  # round-robin in name order
    started = time.perf_counter()
    clip = SEED_CLIPS["S2"]  # 6 s = 256 frames, hop 51 frames (20 %)
    baseline = embed_inputs([args.store], embedder=mfcc_embedder(clip_config=clip.to_dict()))
    save_embeddings(out / "mfcc.npz", baseline)
    config = SiameseConfig(epochs=args.epochs, pairs_per_epoch=args.pairs_per_epoch,
                           learning_rate=args.lr, weight_decay=args.weight_decay,
                           batch_size=args.batch_size, seed=args.seed)
    report = {"store": str(args.store), "model": args.model, "config": vars(args), "folds": []}
    for fold, test_singers in enumerate(folds):
        split = {i.item_id: "test" if i.fields["singer"] in test_singers else "train" for i in items}
        name = "siamese" if args.objective == "contrastive" else "classifier"
        model_dir = out / f"{name}-fold{fold}"
        options = {"width": args.width} if args.model == "tiny_cnn" else {}
        if args.objective == "contrastive":
            summary = train_siamese_store(
                store=store, model=args.model, split=split, model_dir=model_dir, config=config,
                threads=args.threads, clip=clip, model_options=options,
                on_epoch=lambda s: print(f"fold {fold} epoch {s.epoch} loss {s.train_loss:.4f}",
                                         file=sys.stderr, flush=True)).summary
        else:
            summary = train_classifier(store, model=args.model, split=split, model_dir=model_dir,
                                       clip=clip, options=options, args=args)
        embedded = embed_inputs([args.store], embedder=model_embedder(str(model_dir)))
        save_embeddings(out / f"{name}-fold{fold}.npz", embedded)
        test = [f"singer={'|'.join(test_singers)}"]
        fold_report = {"fold": fold, "test_singers": test_singers,
                       "train_seconds": summary["seconds"], "results": {}}
        for key_name, embeddings in ((name, embedded), ("mfcc", baseline)):
            subset = filter_items(embeddings, where=test)
            for standardized in (False, True):
                key = f"{key_name}{'+z' if standardized else ''}"
                fold_report["results"][key] = evaluate(subset, ks=ks, standardized=standardized)
        report["folds"].append(fold_report)
        print(json.dumps(fold_report["results"], indent=1), file=sys.stderr)
    report["all_items"] = pooled(report["folds"])
    print(json.dumps(report["all_items"], indent=1), file=sys.stderr)
    report["seconds"] = round(time.perf_counter() - started, 1)
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"-> {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
