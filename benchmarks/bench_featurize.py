"""Benchmark: `featurize` (fgnl preset, into a feature store) against a plain librosa loop.

Generates >= --minutes of 44.1 kHz FLAC singing with vocaltools.synth (cached in --workdir), then
times, in one run and on the same files:

- baseline: for each file ``librosa.load(path, sr=16000)`` + ``librosa.feature.melspectrogram``
  (n_fft 2048, hop 512, 128 mels) + ``librosa.amplitude_to_db`` (a plain serial loop);
- vocaltools: ``featurize_items`` with the fgnl preset for each --jobs value, writing NPZ files and
  the manifest of a fresh feature store.

Imports and first-call costs are paid before timing (both sides warm up on one file). Each
measurement is repeated --repeats times and the best is kept (the machine is shared). Prints times
real time (seconds of audio per second of wall time), the ratio to the baseline and the CPU seconds
used (this process plus pool workers: comparable even on a loaded machine); writes JSON with the
load average seen before timing and the measured parallel capacity (the speed-up that N processes
get on a pure CPU loop: the ceiling for --jobs N on this machine at this moment).

    python benchmarks/bench_featurize.py --minutes 10 --jobs 1 2 --json bench_featurize.json
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_audio(workdir: Path, minutes: float) -> list[Path]:
    from vocaltools.synth import make_singer_dataset

    seconds_per_file = 30.0
    n_files = int(-(-minutes * 60 // seconds_per_file))
    n_singers = max(1, -(-n_files // 4))
    root = workdir / f"audio-{minutes:g}min"
    marker = root / "metadata.csv"
    if not marker.is_file():
        make_singer_dataset(root, n_singers=n_singers, n_songs=2, seconds=seconds_per_file,
                            sample_rate=44100, seed=0)
    return sorted(root.rglob("*.flac"))


def run_baseline(files: list[Path]) -> float:
    import librosa

    for path in files:
        y, _ = librosa.load(path, sr=16000)
        mel = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=2048, hop_length=512, n_mels=128)
        librosa.amplitude_to_db(mel)
    return 0.0


def run_vocaltools(files: list[Path], store_dir: Path, jobs: int) -> None:
    from vocaltools.datasets.items import AudioItem
    from vocaltools.features import get_preset
    from vocaltools.features.pipeline import featurize_items
    from vocaltools.formats.store import FeatureStore

    shutil.rmtree(store_dir, ignore_errors=True)
    items = [AudioItem(f"{p.parent.name}/{p.stem}", p, {}) for p in files]
    summary = featurize_items(items, store=FeatureStore(store_dir), config=get_preset("fgnl"),
                              jobs=jobs)
    if summary.failures or summary.written != len(files):
        raise RuntimeError(f"featurize failed: {summary.failures}")


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (pool workers)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _burn(_: int) -> int:
    total = 0
    for value in range(3_000_000):
        total += value
    return total


def parallel_capacity(jobs: int) -> float:
    """Speed-up of ``jobs`` processes over one on a pure-Python CPU loop: how many cores this run
    can really use (1.0 means no parallelism is available, e.g. a loaded shared machine)."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    times = []
    for n in (1, jobs):
        with context.Pool(n) as pool:
            start = time.perf_counter()
            pool.map(_burn, range(2 * jobs))
            times.append(time.perf_counter() - start)
    return times[0] / times[1]


def best_time(function, repeats: int) -> tuple[float, float]:
    """Best wall time of ``repeats`` calls and the CPU seconds of that call."""
    best = (float("inf"), 0.0)
    for _ in range(repeats):
        cpu = _cpu_seconds()
        start = time.perf_counter()
        function()
        wall = time.perf_counter() - start
        best = min(best, (wall, _cpu_seconds() - cpu))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="audio to generate (minutes)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="--jobs values to time")
    parser.add_argument("--repeats", type=int, default=2, help="repetitions; the best is kept")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="folder for the generated audio and stores (default: a temp folder)")
    parser.add_argument("--json", type=Path, default=Path("bench_featurize.json"),
                        help="where to write the results")
    args = parser.parse_args(argv)

    temp = None
    if args.workdir is None:
        temp = tempfile.TemporaryDirectory(prefix="bench-featurize-")
        args.workdir = Path(temp.name)
    args.workdir.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        files = make_audio(args.workdir, args.minutes)
        import soundfile

        audio_seconds = sum(soundfile.info(p).duration for p in files)
        print(f"audio: {len(files)} FLAC files, {audio_seconds / 60:.1f} min at 44.1 kHz "
              f"(generated/cached in {time.perf_counter() - started:.1f} s)", file=sys.stderr)
        # warm up both sides: imports, numba/FFT plans, mel basis
        run_baseline(files[:1])
        run_vocaltools(files[:1], args.workdir / "store-warmup", 1)

        results = {"audio_seconds": audio_seconds, "n_files": len(files), "repeats": args.repeats,
                   "python": platform.python_version(), "machine": platform.machine(),
                   "preset": "fgnl", "runs": []}
        try:
            with open("/proc/loadavg") as handle:
                results["load_average_before"] = float(handle.read().split()[0])
        except OSError:
            pass
        import os

        results["cpu_count"] = os.cpu_count()
        if max(args.jobs) > 1:
            capacity = parallel_capacity(max(args.jobs))
            results["parallel_capacity"] = {"jobs": max(args.jobs), "speedup": capacity}
            print(f"parallel capacity: {max(args.jobs)} processes run a CPU loop {capacity:.2f}x "
                  f"as fast as one", file=sys.stderr)
        baseline, base_cpu = best_time(lambda: run_baseline(files), args.repeats)
        base_rt = audio_seconds / baseline
        print(f"{'pipeline':<34}{'wall s':>8}{'x real time':>13}{'ratio':>8}{'cpu s':>8}")
        print(f"{'librosa.load + melspectrogram':<34}{baseline:>8.2f}{base_rt:>13.1f}{1.0:>8.2f}"
              f"{base_cpu:>8.2f}")
        results["baseline"] = {"wall_seconds": baseline, "times_real_time": base_rt,
                               "cpu_seconds": base_cpu}
        for jobs in args.jobs:
            wall, cpu = best_time(
                lambda: run_vocaltools(files, args.workdir / f"store-j{jobs}", jobs), args.repeats)
            rt = audio_seconds / wall
            print(f"{f'vocaltools featurize --jobs {jobs}':<34}{wall:>8.2f}{rt:>13.1f}"
                  f"{rt / base_rt:>8.2f}{cpu:>8.2f}")
            results["runs"].append({"jobs": jobs, "wall_seconds": wall, "times_real_time": rt,
                                    "ratio_to_baseline": rt / base_rt, "cpu_seconds": cpu})
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}", file=sys.stderr)
    finally:
        if temp is not None:
            temp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
