"""Peak memory and speed of ``vocaltools predict`` on one long file (default 60 minutes).

Writes a synthetic file block by block (a glide of harmonics plus noise, 44.1 kHz, so that predict
also resamples), runs ``vocaltools predict FILE --model MODEL -o OUT`` in a subprocess and reports
its wall time, times real time and peak resident memory (``ru_maxrss`` of the child).

    python benchmarks/bench_predict_long.py --model MODEL_DIR_OR_NAME [--minutes 60] [-o result.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def write_long_file(path: Path, *, minutes: float, sample_rate: int = 44100, seed: int = 0) -> float:
    """A ``minutes``-long mono file written a minute at a time; returns its duration in seconds."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    total = int(minutes * 60 * sample_rate)
    block = 60 * sample_rate
    phase = 0.0
    with sf.SoundFile(path, "w", samplerate=sample_rate, channels=1, subtype="PCM_16") as handle:
        for start in range(0, total, block):
            n = min(block, total - start)
            t = (start + np.arange(n)) / sample_rate
            f0 = 220 + 80 * np.sin(2 * np.pi * t / 7.0)
            increments = 2 * np.pi * f0 / sample_rate
            phases = phase + np.cumsum(increments)
            phase = float(phases[-1])
            audio = sum(np.sin(k * phases) / k for k in range(1, 6)) * 0.2 + 0.01 * rng.normal(size=n)
            handle.write(audio.astype(np.float32))
    return total / sample_rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="registered name, model folder or checkpoint")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="write the audio here and keep it")
    parser.add_argument("-o", "--output", default=None, help="write the result as JSON here")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="vt-long-"))
    audio = args.keep or folder / "long.wav"
    if not audio.is_file():
        started = time.perf_counter()
        duration = write_long_file(audio, minutes=args.minutes)
        print(f"wrote {audio} ({duration / 60:.1f} min) in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
    else:
        import soundfile as sf

        duration = sf.info(audio).duration
    out = folder / "predictions.jsonl"
    command = [sys.executable, "-m", "vocaltools", "predict", str(audio), "--model", args.model,
               "-o", str(out), "--quiet"]
    if args.threads:
        command += ["--threads", str(args.threads)]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return done.returncode
    n_records = sum(1 for _ in open(out, encoding="utf-8"))
    result = {"audio_seconds": duration, "wall_seconds": wall, "times_real_time": duration / wall,
              "peak_rss_mb": peak / 2**20, "n_clip_records": n_records, "model": args.model,
              "threads": args.threads}
    print(json.dumps(result, indent=2))
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    out.unlink()
    if args.keep is None:
        audio.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
