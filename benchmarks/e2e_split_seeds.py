"""The README pipeline of tests/test_pipeline_e2e.py (featurize -> train -> predict on synthetic
singers) over several split seeds: how far above chance the song-disjoint test songs land,
whatever songs the seed holds out. The test's threshold rests on these figures.

Runs the real CLI in this process (``vocaltools.cli.app.main``), featurizing once::

    OMP_NUM_THREADS=1 python benchmarks/e2e_split_seeds.py --seeds 0 1 2 3 4 5 6 7 8 9
    OMP_NUM_THREADS=1 python benchmarks/e2e_split_seeds.py --techniques Vibrato,Breathy,Glissando

(the second: songs in three technique groups, as make_singer_dataset's default).

Prints, per seed, how many test songs and clips there are, the clip accuracy that the test
asserts on (the top label of each clip of the held-out songs, read as audio by predict), the song
accuracy (the majority of a song's clips) and the wall time. Only the held-out songs are predicted:
predictions of one file do not depend on the others.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: the settings of tests/test_pipeline_e2e.py
DATASET = {"n_singers": 3, "n_songs": 4, "seconds": 4.0, "sample_rate": 16000, "seed": 0,
           "techniques": ("Vibrato",)}
TRAIN = ["--model", "tiny_cnn", "--target", "singer", "--split-by", "singer,song_id",
         "--clip-seconds", "1", "--epochs", "12", "--lr", "0.01", "--batch-size", "8",
         "--threads", "1", "--no-register", "--quiet"]


def vocaltools(*args: str) -> None:
    """``vocaltools ARGS`` in this process; a non-zero exit is an error."""
    from vocaltools.cli.app import main

    try:
        main(list(args))
    except SystemExit as done:
        if done.code not in (0, None):
            raise RuntimeError(f"vocaltools {' '.join(args)} exited {done.code}") from None


def run_seed(work: Path, store: Path, seed: int, train: list[str]) -> dict:
    from collections import Counter, defaultdict

    from vocaltools.formats.jsonl import read_jsonl

    model, predictions = work / f"model-{seed}", work / f"pred-{seed}.jsonl"
    started = time.perf_counter()
    vocaltools("train", str(store), "-o", str(model), "--split-seed", str(seed), *train)
    test_ids = {r["item_id"] for r in read_jsonl(model / "split.jsonl") if r["split"] == "test"}
    test_audio = sorted(r["audio_path"] for r in read_jsonl(store / "manifest.jsonl")
                        if r["item_id"] in test_ids)
    vocaltools("predict", *test_audio, "--model", str(model), "-o", str(predictions),
               "--threads", "1", "--quiet")
    seconds = time.perf_counter() - started
    records = read_jsonl(predictions, kind="prediction")
    correct = [r["top"][0]["label"] == Path(r["source"]).parent.name for r in records]
    votes: dict[str, Counter] = defaultdict(Counter)
    for record in records:
        votes[record["source"]][record["top"][0]["label"]] += 1
    songs = [votes[s].most_common(1)[0][0] == Path(s).parent.name for s in votes]
    return {"seed": seed, "test_items": sorted(test_ids), "n_songs": len(songs),
            "n_clips": len(correct), "clip_accuracy": sum(correct) / len(correct),
            "song_accuracy": sum(songs) / len(songs), "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--n-songs", type=int, default=DATASET["n_songs"],
                        help="Songs per singer (each sung twice).")
    parser.add_argument("--techniques", default=",".join(DATASET["techniques"]),
                        help="Technique groups of the songs, comma-separated (song i: group i mod n).")
    parser.add_argument("--train-options", default="",
                        help="More 'vocaltools train' options, e.g. '--select last' (they follow "
                             "the test's own and win).")
    parser.add_argument("--json", type=Path, help="Write the rows as JSON here.")
    args = parser.parse_args(argv)
    train = [*TRAIN, *args.train_options.split()]
    dataset = {**DATASET, "n_songs": args.n_songs, "techniques": tuple(args.techniques.split(","))}
    import os

    from vocaltools.synth import make_singer_dataset

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        os.environ["VOCALTOOLS_HOME"] = str(work / "home")  # never the user's model registry
        audio, store = work / "audio", work / "store"
        make_singer_dataset(audio, **dataset)
        vocaltools("featurize", str(audio), "-o", str(store), "--preset", "fgnl", "--labels",
                   f"csv:{audio / 'metadata.csv'}", "--quiet")
        rows = []
        for seed in args.seeds:
            row = run_seed(work, store, seed, train)
            rows.append(row)
            print(f"split seed {seed}: {row['n_songs']} test songs ({row['n_clips']} clips), clip "
                  f"accuracy {row['clip_accuracy']:.3f}, song accuracy {row['song_accuracy']:.3f} "
                  f"({row['seconds']:.1f} s)", flush=True)
    for key in ("clip_accuracy", "song_accuracy"):
        values = [r[key] for r in rows]
        print(f"{key}: min {min(values):.3f}, mean {sum(values) / len(values):.3f} over "
              f"{len(rows)} seeds (chance 1/3)")
    if args.json:
        args.json.write_text(json.dumps({"dataset": dataset, "train": train, "rows": rows},
                                        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
