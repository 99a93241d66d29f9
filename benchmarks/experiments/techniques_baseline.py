"""MFCC statistics + logistic regression on the folds of a cross-validation split: the baseline of
docs/results-techniques.md.

Per item (one clip: the VocalSet excerpts are 1 s long), from the audio at the store's sample
rate: a 128-band log-mel (librosa defaults: n_fft 2048, hop 512, power_to_db), 20 MFCCs and their
deltas, and ``[mean, std]`` of both over time (:func:`vocaltools.baselines.mfcc_statistics`, 80
values). Per fold: standardised on the training side, then scikit-learn's LogisticRegression
(C = 1, lbfgs, multinomial; C is fixed, not tuned on any fold). Writes one prediction JSONL per
fold (``vocaltools evaluate --folds`` reads them) and the report of ``evaluate --folds``.

    python benchmarks/experiments/techniques_baseline.py STORE --split LOSO.jsonl -o REPORT.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def item_features(audio_path: str, *, sample_rate: int) -> np.ndarray:
    import librosa

    from vocaltools.audio import load_audio
    from vocaltools.baselines import mfcc_statistics

    signal = load_audio(audio_path, sample_rate=sample_rate)
    mel = librosa.feature.melspectrogram(y=signal, sr=sample_rate, n_fft=2048, hop_length=512,
                                         n_mels=128)
    return mfcc_statistics(librosa.power_to_db(mel))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", help="feature store (its manifest gives the audio and labels)")
    parser.add_argument("--split", required=True, help="cross-validation split file (with folds)")
    parser.add_argument("--target", default="technique")
    parser.add_argument("--c", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("-o", "--output", required=True, help="report JSON")
    args = parser.parse_args()

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from vocaltools.datasets.splits import read_split
    from vocaltools.evaluation.report import evaluate_records, pool_folds, summarize_folds
    from vocaltools.formats.jsonl import make_record, write_jsonl
    from vocaltools.formats.store import FeatureStore

    store = FeatureStore(args.store)
    sample_rate = int(store.feature_config()["sample_rate"])
    items = {item.item_id: item for item in store.items()}
    features = {item_id: item_features(str(item.audio_path), sample_rate=sample_rate)
                for item_id, item in sorted(items.items())}
    assignments = read_split(args.split)
    folds = sorted({a.fold for a in assignments if a.fold is not None})
    out_dir = Path(args.output).parent
    out_dir.mkdir(parents=True, exist_ok=True)
    reports, records_per_fold, sources = [], [], []
    for fold in folds:
        side = {a.item_id: a.split for a in assignments if a.fold == fold}
        train = sorted(i for i, s in side.items() if s in ("train", "validation"))
        test = sorted(i for i, s in side.items() if s == "test")
        labels = sorted({str(items[i].fields[args.target]) for i in train})
        model = make_pipeline(StandardScaler(), LogisticRegression(C=args.c, max_iter=5000))
        model.fit(np.stack([features[i] for i in train]),
                  [labels.index(str(items[i].fields[args.target])) for i in train])
        probabilities = model.predict_proba(np.stack([features[i] for i in test]))
        records = []
        for item_id, p in zip(test, probabilities):
            full = np.zeros(len(labels))
            full[model.classes_] = p
            best = int(np.argmax(full))
            records.append(make_record(
                "prediction", item_id=item_id, clip_index=0, start_s=0.0,
                end_s=float(items[item_id].duration_s), labels=labels, target=args.target,
                top=[{"label": labels[best], "label_index": best, "probability": float(full[best])}],
                probabilities=[float(v) for v in full],
                true_label=str(items[item_id].fields[args.target]),
                fields=dict(items[item_id].fields), model=f"mfcc-stats-logreg-C{args.c:g}"))
        path = out_dir / f"baseline-fold-{fold}.jsonl"
        write_jsonl(path, records)
        reports.append(evaluate_records(records, source=str(path)))
        records_per_fold.append(records)
        sources.append(str(path))
    summary = summarize_folds(reports, pool_folds(records_per_fold, sources=sources))
    Path(args.output).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    agg = summary["aggregate"]["clip"]
    print(" ".join(f"{k} {agg[k]['mean']:.3f} +- {agg[k]['std']:.3f}"
                   for k in ("f1_macro", "accuracy", "balanced_accuracy", "top2")))


if __name__ == "__main__":
    main()
