"""S3 singing techniques on the VocalSet excerpts, leave-one-singer-out: the networks of
docs/results-techniques.md beside the MFCC-statistics + logistic-regression baseline.

    python benchmarks/experiments/techniques_loso.py WORK [--data ../shared/data] [--jobs 3]
        [--epochs 30] [--crt-epochs 2] [--settings NAME ...] [--seeds 0 ...]

Steps (each a vocaltools command, so every figure is what a user would get):

1. ``featurize DATA/vocalset-excerpts --labels vocalset --preset yamamoto2022`` (44.1 kHz
   multi-resolution STFT, 3 x 1025 x 87 per one-second clip);
2. ``dataset split --scheme kfold --by singer --hold-out group --validation-fraction 0``: fold k
   tests one singer, the other three train; no validation singer, so every run trains a fixed
   number of epochs (``--select last``), fixed before any held-out figure was seen;
3. per setting, fold and seed: ``train --fold K`` (BatchNorm statistics recomputed over the
   training clips, the default ``--precise-bn``), ``predict --subset test`` with the model and,
   for a cRT run, with its stage-1 model (the joint model: with 18 clips in every class the
   alpha-0.2 weights are uniform, so weighted cross-entropy is the unweighted one);
4. ``evaluate --folds`` per setting (per fold, mean and std over folds, pooled), the baseline on
   the same folds (techniques_baseline.py), and a Markdown table (WORK/table.md).

Settings (:data:`SETTINGS`) are model, strategy and extra ``train`` flags; a finished run is not
trained again, so the script can be re-run with more settings or seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AUGMENT = ("--augment-gain-db", "6", "--augment-shift-seconds", "0.25", "--augment-pitch-semitones",
           "1", "--augment-noise-snr-db", "10")
#: name -> (model, strategy, extra train flags)
SETTINGS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "oblong": ("oblong", "crt_wc", ()),
    "oblong_dc_late": ("oblong_dc_late", "crt_wc", ()),
    "oblong_dc_late-aug": ("oblong_dc_late", "joint", AUGMENT),
    "oblong_dc_late-ls": ("oblong_dc_late", "joint", ("--label-smoothing", "0.1")),
    "oblong_dc_late-aug-ls": ("oblong_dc_late", "joint", (*AUGMENT, "--label-smoothing", "0.1")),
    "oblong_dc_late-wd": ("oblong_dc_late", "joint", ("--weight-decay", "1e-3")),
    "oblong_dc_late-lr3e-4": ("oblong_dc_late", "joint", ("--lr", "3e-4")),
}
#: the fixed training length (no validation singer: the last epoch is kept)
EPOCHS, CRT_EPOCHS = 30, 2
DEFAULT_SETTINGS = ("oblong", "oblong_dc_late", "oblong_dc_late-aug", "oblong_dc_late-ls")
METRICS = (("f1_macro", "macro F1"), ("accuracy", "accuracy"), ("balanced_accuracy", "B-acc"),
           ("top2", "top-2"))
# glibc keeps freed blocks up to 32 MB in its heap instead of returning them to the kernel: the
# 1025 x 87 maps are re-allocated every step, and fresh pages cost as much system time as the
# training itself. Speed only.
MALLOC = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "4000000000",
          "MALLOC_TOP_PAD_": "268435456"}


def vocaltools(*args: str, log: Path | None = None) -> None:
    env = {**os.environ, **MALLOC, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(log, "a", encoding="utf-8") if log else open(os.devnull, "w") as out:
        subprocess.run([sys.executable, "-m", "vocaltools", *args], check=True, env=env, cwd=ROOT,
                       stdout=out, stderr=subprocess.STDOUT)


def run_dir(work: Path, setting: str, seed: int, fold: int) -> Path:
    return work / "models" / f"{setting}-s{seed}" / f"fold-{fold}"


def train_args(setting: str, *, epochs: int = EPOCHS, crt_epochs: int = CRT_EPOCHS, seed: int = 0,
               strategy: str | None = None) -> list[str]:
    """The ``train`` flags of a setting (without store, split and output); ``strategy`` overrides
    the setting's (the bundled model trains the joint stage of a cRT setting)."""
    model, own, extra = SETTINGS[setting]
    strategy = strategy or own
    crt = ["--crt-epochs", str(crt_epochs)] if strategy != "joint" else []
    return ["-m", model, "-t", "technique", "--clip-seconds", "1", "--alpha", "0.2",
            "--strategy", strategy, "--epochs", str(epochs), *crt, "--lr", "1e-3",
            "--batch-size", "8", "--select", "last", "--precise-bn", "8192", "--seed", str(seed),
            "--threads", "1", "--no-register", *extra]


def train_fold(work: Path, setting: str, seed: int, fold: int, *, epochs: int, crt_epochs: int) -> str:
    strategy = SETTINGS[setting][1]
    out = run_dir(work, setting, seed, fold)
    predictions = out / "test-predictions.jsonl"
    if predictions.is_file():
        return f"{out}: done before"
    started, cpu = time.time(), os.times()
    out.mkdir(parents=True, exist_ok=True)
    vocaltools("train", str(work / "store"), "--split", str(work / "loso.jsonl"), "--fold", str(fold),
               *train_args(setting, epochs=epochs, crt_epochs=crt_epochs, seed=seed),
               "-o", str(out), "-q", log=out / "log.txt")
    if strategy != "joint":
        vocaltools("predict", str(work / "store"), "-m", str(out / "stage1"), "--subset", "test",
                   "--threads", "1", "-q", "-o", str(out / "stage1" / "test-predictions.jsonl"))
    vocaltools("predict", str(work / "store"), "-m", str(out), "--subset", "test", "--threads", "1",
               "-q", "-o", str(predictions.with_suffix(".part")))
    predictions.with_suffix(".part").rename(predictions)
    used = os.times()
    return (f"{out}: wall {time.time() - started:.0f} s, cpu "
            f"{used.children_user - cpu.children_user + used.children_system - cpu.children_system:.0f} s")


def variants(setting: str) -> list[tuple[str, str]]:
    """(row name, sub-folder of a fold's run) of the models a setting's runs give."""
    model, strategy, _ = SETTINGS[setting]
    if strategy == "joint":
        return [(f"{setting} joint", "")]
    return [(f"{setting} joint", "stage1"), (f"{setting} {strategy}", "")]


def table(work: Path, reports: dict[str, Path], folds: list[int]) -> str:
    test_singer = {}
    for line in open(work / "loso.jsonl", encoding="utf-8"):
        record = json.loads(line)
        if record["split"] == "test":
            test_singer[record["fold"]] = record["item_id"].split("/")[-2]
    header = ("| setting | " + " | ".join(f"fold {f} ({test_singer[f]})" for f in folds)
              + " | **mean +- std** | pooled |")
    lines = []
    for key, label in METRICS:
        lines += [f"**{label}**", "", header, "|---|" + "---|" * (len(folds) + 2)]
        for name, path in reports.items():
            report = json.loads(path.read_text(encoding="utf-8"))
            per_fold = [run["clip"][key] for run in report["runs"]]
            agg = report["aggregate"]["clip"][key]
            lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in per_fold)
                         + f" | **{agg['mean']:.3f}** +- {agg['std']:.3f} | "
                         f"{report['pooled']['clip'][key]:.3f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--jobs", type=int, default=3, help="trainings at once, one thread each")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="joint (stage-1) epochs")
    parser.add_argument("--crt-epochs", type=int, default=CRT_EPOCHS, help="classifier re-training epochs")
    parser.add_argument("--settings", nargs="+", default=list(DEFAULT_SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--train-only", nargs="+", type=int, default=None, metavar="FOLD",
                        help="train (and predict) these folds only, no reports: to spread one "
                             "grid over several calls")
    args = parser.parse_args()

    source, work = args.data / "vocalset-excerpts", args.work
    if not source.is_dir() and (ROOT.parents[1] / "shared" / "data").is_dir():  # a worktree
        source = ROOT.parents[1] / "shared" / "data" / "vocalset-excerpts"
    if not source.is_dir():
        raise SystemExit(f"error: {source} not found (set --data)")
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "store" / "manifest.jsonl").is_file():
        vocaltools("featurize", str(source), "--labels", "vocalset", "--preset", "yamamoto2022",
                   "-o", str(work / "store"), "-q")
    vocaltools("dataset", "split", str(work / "store"), "--scheme", "kfold", "--by", "singer",
               "--hold-out", "group", "--validation-fraction", "0", "--seed", "0",
               "-o", str(work / "loso.jsonl"), "-q")
    folds = sorted({json.loads(line)["fold"] for line in open(work / "loso.jsonl", encoding="utf-8")})

    jobs = [(s, seed, f) for s in args.settings for seed in args.seeds
            for f in (args.train_only if args.train_only is not None else folds)]
    with ThreadPoolExecutor(args.jobs) as pool:
        for message in pool.map(lambda job: train_fold(work, *job, epochs=args.epochs,
                                                       crt_epochs=args.crt_epochs), jobs):
            print(message, file=sys.stderr, flush=True)
    if args.train_only is not None:
        return

    reports: dict[str, Path] = {}
    for setting in args.settings:
        for seed in args.seeds:
            for name, sub in variants(setting):
                predictions = [str(run_dir(work, setting, seed, f) / sub / "test-predictions.jsonl")
                               for f in folds]
                path = work / "reports" / f"{name.replace(' ', '-')}-s{seed}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                vocaltools("evaluate", "--folds", *predictions, "-o", str(path))
                reports[f"{name}, seed {seed}"] = path
    baseline = work / "reports" / "mfcc-stats-logreg.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "experiments" / "techniques_baseline.py"),
                    str(work / "store"), "--split", str(work / "loso.jsonl"), "-o", str(baseline)],
                   check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    reports["MFCC statistics + logistic regression (C = 1)"] = baseline
    text = table(work, reports, folds)
    (work / "table.md").write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
