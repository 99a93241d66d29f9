"""Retrain the bundled model ``techniques`` (S3 singing techniques) and write it into the package.

    python scripts/train_bundled_techniques.py [--data ../shared/data] [--work /tmp/vt-bundled-techniques]
        [--loso-dir WORK_OF_techniques_loso.py] [--skip-train]

Steps (each a vocaltools command, so the model is exactly what a user would train):

1. ``featurize DATA/vocalset-excerpts --labels vocalset --preset yamamoto2022`` (the paper's 44.1 kHz
   multi-resolution STFT; 120 one-second clips of 4 singers x 5 techniques);
2. ``dataset split --scheme group --by singer --test-fraction 0 --validation-fraction 0``: every
   singer trains (the held-out-singer figures come from the leave-one-singer-out experiment,
   ``benchmarks/experiments/techniques_loso.py``, setting :data:`LOSO_SETTING`, the same recipe);
3. ``train -m oblong_dc_late --strategy joint --alpha 0.2`` with :data:`TRAIN_ARGS`: a fixed number
   of epochs, the last kept, BatchNorm statistics recomputed over the training clips
   (``--precise-bn``, the default);
4. :func:`vocaltools.bundled.export_bundled` writes ``vocaltools/bundled/techniques.{json,safetensors}``
   with a card: VocalSet's CC BY 4.0 attribution, the training data, the leave-one-singer-out
   figures (read from ``--loso-dir`` when given) and this command.

VocalSet: Wilkins, Seetharaman, Wahl, Pardo, "VocalSet: A Singing Voice Dataset", ISMIR 2018,
CC BY 4.0 (https://zenodo.org/record/1442513); the excerpts are from Trebolium/VoicePerception.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = "techniques"
#: the leave-one-singer-out setting whose recipe (its joint stage) trains the bundled model
LOSO_SETTING = "oblong_dc_late"
sys.path.insert(0, str(ROOT / "benchmarks" / "experiments"))
from techniques_loso import SETTINGS, train_args  # noqa: E402  (one definition of the recipe)

MODEL = SETTINGS[LOSO_SETTING][0]
TRAIN_ARGS = tuple(train_args(LOSO_SETTING, strategy="joint", seed=0))
ATTRIBUTION = ("Trained on one-second excerpts of VocalSet (Julia Wilkins, Prem Seetharaman, Alison "
               "Wahl, Bryan Pardo: 'VocalSet: A Singing Voice Dataset', ISMIR 2018; "
               "https://zenodo.org/record/1442513), licensed CC BY 4.0, as excerpted in "
               "Trebolium/VoicePerception (commit ee52b2473a8f9a5815933e016237e9d5078a3b46) and "
               "converted to 44.1 kHz FLAC. Network: Yamamoto, Nam & Terasawa, Interspeech 2022 "
               "(oblong CNN, deformable convolution in blocks 3-4).")


def vocaltools(*args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [sys.executable, "-m", "vocaltools", *args]
    print("+ vocaltools " + " ".join(args), file=sys.stderr)
    subprocess.run(command, check=True, env=env, cwd=ROOT)


def loso_figures(loso_dir: Path) -> dict[str, float]:
    """Mean macro F1 / accuracy / balanced accuracy / top-2 over the 4 held-out singers of the
    bundled setting and of the MFCC baseline, from techniques_loso.py's reports."""
    figures: dict[str, float] = {}
    reports = {f"{LOSO_SETTING} joint": loso_dir / "reports" / f"{LOSO_SETTING}-joint-s0.json",
               "MFCC statistics + logistic regression": loso_dir / "reports" / "mfcc-stats-logreg.json"}
    for what, path in reports.items():
        if not path.is_file():
            raise SystemExit(f"error: {path} not found; run benchmarks/experiments/"
                             "techniques_loso.py first or leave out --loso-dir")
        aggregate = json.loads(path.read_text(encoding="utf-8"))["aggregate"]["clip"]
        for key, label in (("f1_macro", "macro F1"), ("accuracy", "accuracy"),
                           ("balanced_accuracy", "balanced accuracy"), ("top2", "top-2 accuracy")):
            figures[f"VocalSet excerpts, leave-one-singer-out (4 folds, 5 classes, chance 0.20), "
                    f"{what}: mean clip {label}"] = round(aggregate[key]["mean"], 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=Path("/tmp/vt-bundled-techniques"))
    parser.add_argument("--loso-dir", type=Path, default=None,
                        help="work folder of techniques_loso.py, for the card's figures")
    parser.add_argument("--skip-train", action="store_true",
                        help="export WORK/model as it is (after an earlier run of this script)")
    parser.add_argument("--folder", type=Path, default=None,
                        help="write the two files here instead of vocaltools/bundled/")
    args = parser.parse_args()

    source = args.data / "vocalset-excerpts"
    if not source.is_dir() and (ROOT.parents[1] / "shared" / "data").is_dir():  # a worktree
        source = ROOT.parents[1] / "shared" / "data" / "vocalset-excerpts"
    store, split, model_dir = args.work / "store", args.work / "all-train.jsonl", args.work / "model"
    if not args.skip_train:
        if not source.is_dir():
            raise SystemExit(f"error: {source} not found (set --data)")
        args.work.mkdir(parents=True, exist_ok=True)
        if not (store / "manifest.jsonl").is_file():
            vocaltools("featurize", str(source), "--labels", "vocalset", "--preset", "yamamoto2022",
                       "-o", str(store), "-q")
        vocaltools("dataset", "split", str(store), "--scheme", "group", "--by", "singer",
                   "--test-fraction", "0", "--validation-fraction", "0", "-o", str(split), "-q")
        vocaltools("train", str(store), "--split", str(split), *TRAIN_ARGS, "-o", str(model_dir), "-q")

    sys.path.insert(0, str(ROOT))
    from vocaltools.bundled import ModelCard, export_bundled

    card = ModelCard(
        description=("S3 singing-technique classifier: belt, breathy, straight, vibrato or vocal_fry "
                     "for every one-second clip of a recording (oblong CNN with deformable "
                     "convolution in blocks 3-4, joint training, 30 epochs on a CPU). Trained on 4 "
                     "singers only: its figures are the same recipe's on held-out singers "
                     "(leave-one-singer-out), beside an MFCC baseline's."),
        training_data=("VocalSet excerpts: 4 singers (f3, f5, m1, m2) x 5 techniques x 6 one-second "
                       "clips of arpeggios and scales = 120 clips, 44.1 kHz, the paper's "
                       "multi-resolution STFT front end (yamamoto2022)"),
        licence="CC BY 4.0 (the training data's licence; the weights are shared under the same terms)",
        attribution=ATTRIBUTION,
        figures=loso_figures(args.loso_dir) if args.loso_dir else {},
        script="python scripts/train_bundled_techniques.py --loso-dir WORK_OF_techniques_loso.py")
    entry = export_bundled(model_dir, NAME, card, folder=args.folder)
    print(f"wrote {entry.path} and {entry.weights} ({entry.n_bytes} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
