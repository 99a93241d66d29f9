"""Embedding speed on a CPU: the pretrained GE2E encoder beside the MFCC-statistics baseline, on
the same audio files in the same run (decode, resample, features and embedding included).

- ``ge2e``: ``embed --model ge2e`` (ge2e preset: 16 kHz, 40-band mel, 10 ms hop; 1.6 s partials
  every 0.77 s through the 3-layer LSTM);
- ``mfcc``: ``embed --baseline mfcc`` (wang2018 preset: 22,050 Hz, 96-band dB mel; MFCC and delta
  statistics of 6 s clips every 1.2 s).

Each is warmed up on the first file (imports, weights), then timed over all files, ``--repeats``
times (median). Figures are x real time: seconds of audio per wall-clock second.

    python benchmarks/bench_embed.py ../shared/data/gtsinger-demo/audio --max-files 20 --threads 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vocaltools.inference.embed import embed_inputs, mfcc_embedder, model_embedder  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a folder of audio files (searched recursively)")
    parser.add_argument("--max-files", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None, help="write the figures here too")
    args = parser.parse_args(argv)

    import soundfile
    import torch

    torch.set_num_threads(args.threads)
    files = sorted(p for p in Path(args.folder).rglob("*") if p.suffix.lower() in (".flac", ".wav"))
    files = files[:args.max_files]
    audio_seconds = sum(soundfile.info(str(p)).duration for p in files)
    embedders = {"ge2e": (model_embedder("ge2e"), "wang2018"),
                 "mfcc": (mfcc_embedder(clip_config={"clip_seconds": 6.0, "hop_seconds": 1.2}),
                          "wang2018")}
    report = {"files": len(files), "audio_seconds": round(audio_seconds, 1),
              "threads": args.threads, "x_real_time": {}}
    for name, (embedder, preset) in embedders.items():
        embed_inputs([str(files[0])], embedder=embedder, baseline_preset=preset)  # warm-up
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            result = embed_inputs([str(p) for p in files], embedder=embedder, baseline_preset=preset)
            times.append(time.perf_counter() - started)
        report["x_real_time"][name] = round(audio_seconds / statistics.median(times), 2)
        print(f"{name:<6} {result.n_items} files, {len(result.clip_embeddings)} clips: "
              f"{report['x_real_time'][name]:.1f}x real time", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
