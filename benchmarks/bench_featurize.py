"""Benchmark: `featurize` (fgnl preset, into a feature store) against a plain librosa loop.

Generates >= --minutes of 44.1 kHz mono FLAC singing with vocaltools.synth (cached in --workdir),
or takes the FLAC files under --audio, then times, in one run and on the same files, round robin
(each repetition runs every row once, so a change in the load of this shared machine hits all rows
alike; the best of --repeats is kept):

- ``librosa``: for each file ``librosa.load(path, sr=16000)`` + ``librosa.feature.melspectrogram``
  (n_fft 2048, hop 512, 128 mels) + ``librosa.amplitude_to_db`` (a plain serial loop; the ratios
  are to this row);
- ``decode``: ``soundfile.read`` of every file (float32): the floor of any pipeline that decodes;
- ``decode+resample``: :func:`vocaltools.audio.iter_audio_blocks` to 16 kHz (libsndfile + soxr HQ):
  the floor of the featurize pipeline (its ``x real time`` is the ceiling on one core);
- ``featurize --jobs 1, before #8``: the same engine with the code that issue #8's changes replaced
  patched back in (``np.dot`` mel bands, the NaN/inf scan of integer-coded files): the reference;
- ``featurize --jobs N``: ``featurize_items`` with the fgnl preset, writing the NPZ files and the
  manifest of a fresh feature store (the code path of ``vocaltools featurize``);
- ``featurize --device cpu`` (with --torch): the torch front ends on the CPU.

Imports and first-call costs are paid before timing (every row warms up on one file). Prints times
real time (seconds of audio per second of wall time), the ratio to the librosa loop, the CPU
seconds used (this process plus pool workers) and the audio seconds per CPU second (what one
dedicated core would do: comparable even on a loaded machine, where wall times are not); writes
JSON with the load average seen before timing and the measured parallel capacity (the speed-up
that N processes get on a pure CPU loop: the ceiling for --jobs N on this machine at this moment).

    python benchmarks/bench_featurize.py --minutes 10 --jobs 1 2 --torch --json bench_featurize.json
    python benchmarks/bench_featurize.py --audio ../shared/data/gtsinger-demo/audio --jobs 1
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

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


def run_torch(files: list[Path], store_dir: Path) -> None:
    """``featurize --device cpu``: the torch front ends, same store writes."""
    from vocaltools.datasets.items import AudioItem
    from vocaltools.features import get_preset
    from vocaltools.features.pipeline import featurize_items
    from vocaltools.formats.store import FeatureStore

    shutil.rmtree(store_dir, ignore_errors=True)
    items = [AudioItem(f"{p.parent.name}/{p.stem}", p, {}) for p in files]
    summary = featurize_items(items, store=FeatureStore(store_dir), config=get_preset("fgnl"),
                              device="cpu")
    if summary.failures or summary.written != len(files):
        raise RuntimeError(f"featurize failed: {summary.failures}")


def run_decode(files: list[Path]) -> None:
    import soundfile

    for path in files:
        soundfile.read(path, dtype="float32")


def run_decode_resample(files: list[Path]) -> None:
    from vocaltools.audio import iter_audio_blocks

    for path in files:
        for _ in iter_audio_blocks(path, sample_rate=16000):
            pass


@contextmanager
def engine_before_issue_8():
    """Within the block, the engine runs as before issue #8's changes: ``apply_mel`` with
    ``np.dot`` per band and the NaN/inf scan of every decoded block (a reference row)."""
    import numpy as np

    from vocaltools import audio
    from vocaltools.features import mel

    original_apply, original_subtypes = mel.apply_mel, audio._INTEGER_SUBTYPES

    def apply_mel_dot(power, *, sample_rate, n_fft, n_mels=128, fmin=0.0, fmax=None, out=None):
        bands = mel.mel_bands(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin,
                              fmax=fmax)
        out = np.zeros((n_mels, power.shape[0]), dtype=np.float32)
        for index, (start, stop, weights) in enumerate(bands):
            if stop > start:
                np.dot(power[:, start:stop], weights, out=out[index])
        return out

    mel.apply_mel, audio._INTEGER_SUBTYPES = apply_mel_dot, frozenset()
    try:
        yield
    finally:
        mel.apply_mel, audio._INTEGER_SUBTYPES = original_apply, original_subtypes


def run_before(files: list[Path], store_dir: Path) -> None:
    with engine_before_issue_8():
        run_vocaltools(files, store_dir, 1)


def max_store_difference(first: Path, second: Path) -> float:
    """Largest absolute difference (dB) between the features of two stores of the same items."""
    from vocaltools.formats.store import FeatureStore

    a, b = FeatureStore(first), FeatureStore(second)
    worst = 0.0
    for item in a.items():
        arrays_a = a.load_arrays(item)
        arrays_b = b.load_arrays(item)
        for name, values in arrays_a.items():
            worst = max(worst, float(abs(values - arrays_b[name]).max()))
    return worst


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


def time_round_robin(rows: dict[str, Callable[[], None]], repeats: int
                     ) -> dict[str, tuple[float, float]]:
    """``{name: (best wall seconds, CPU seconds of that call)}``; every repetition runs each row
    once, in order, so that load changes on the machine spread over all rows."""
    best = {name: (float("inf"), 0.0) for name in rows}
    for _ in range(repeats):
        for name, function in rows.items():
            cpu = _cpu_seconds()
            start = time.perf_counter()
            function()
            wall = time.perf_counter() - start
            best[name] = min(best[name], (wall, _cpu_seconds() - cpu))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="audio to generate (minutes)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="--jobs values to time")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions; the best is kept")
    parser.add_argument("--torch", action="store_true", help="also time featurize --device cpu")
    parser.add_argument("--audio", type=Path, default=None,
                        help="time these FLAC files (a folder, searched recursively) instead of "
                             "generated ones, e.g. ../shared/data/gtsinger-demo/audio")
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
        files = (sorted(args.audio.rglob("*.flac")) if args.audio is not None
                 else make_audio(args.workdir, args.minutes))
        if not files:
            parser.error(f"no FLAC files under {args.audio}")
        import soundfile

        infos = [soundfile.info(p) for p in files]
        audio_seconds = sum(info.duration for info in infos)
        rates = sorted({int(info.samplerate) for info in infos})
        print(f"audio: {len(files)} FLAC files, {audio_seconds / 60:.1f} min at "
              f"{'/'.join(str(r) for r in rates)} Hz ({args.audio or 'generated/cached'}; "
              f"{time.perf_counter() - started:.1f} s)", file=sys.stderr)
        work = args.workdir
        rows: dict[str, Callable[[], None]] = {
            "librosa.load + melspectrogram": lambda: run_baseline(files),
            "decode (soundfile.read)": lambda: run_decode(files),
            "decode+resample (iter_audio_blocks)": lambda: run_decode_resample(files),
        }
        rows["featurize --jobs 1, before #8"] = lambda: run_before(files, work / "store-before")
        for jobs in args.jobs:
            rows[f"featurize --jobs {jobs}"] = (
                lambda jobs=jobs: run_vocaltools(files, work / f"store-j{jobs}", jobs))
        if args.torch:
            rows["featurize --device cpu (torch)"] = lambda: run_torch(files, work / "store-torch")
        # warm up every row on one file: imports, FFT plans, mel basis, numba
        run_baseline(files[:1])
        run_vocaltools(files[:1], work / "store-warmup", 1)
        run_before(files[:1], work / "store-warmup-before")
        if args.torch:
            run_torch(files[:1], work / "store-warmup-torch")

        results = {"audio_seconds": audio_seconds, "n_files": len(files), "repeats": args.repeats,
                   "audio": str(args.audio) if args.audio is not None else "generated",
                   "python": platform.python_version(), "machine": platform.machine(),
                   "preset": "fgnl", "rows": []}
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
        timed = time_round_robin(rows, args.repeats)
        base_rt = audio_seconds / timed["librosa.load + melspectrogram"][0]
        base_cpu = timed["librosa.load + melspectrogram"][1]
        print(f"{'pipeline':<40}{'wall s':>8}{'x real time':>13}{'ratio':>8}{'cpu s':>8}"
              f"{'x RT/cpu s':>12}{'ratio':>8}")
        for name, (wall, cpu) in timed.items():
            rt = audio_seconds / wall
            rt_cpu = audio_seconds / cpu if cpu > 0 else float("nan")
            print(f"{name:<40}{wall:>8.3f}{rt:>13.1f}{rt / base_rt:>8.2f}{cpu:>8.2f}"
                  f"{rt_cpu:>12.0f}{base_cpu / cpu if cpu > 0 else float('nan'):>8.2f}")
            results["rows"].append({"name": name, "wall_seconds": wall, "times_real_time": rt,
                                    "ratio_to_librosa": rt / base_rt, "cpu_seconds": cpu,
                                    "times_real_time_per_cpu_second": rt_cpu})
        difference = max_store_difference(work / "store-j1", work / "store-before")
        results["max_abs_difference_db_store-before"] = difference
        print(f"before #8 vs featurize --jobs 1: largest feature difference {difference:.2e} dB",
              file=sys.stderr)
        ceiling = audio_seconds / timed["decode+resample (iter_audio_blocks)"][0]
        print(f"ceiling on one core: decode+resample alone runs {ceiling:.0f}x real time; decode "
              f"alone {audio_seconds / timed['decode (soundfile.read)'][0]:.0f}x", file=sys.stderr)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}", file=sys.stderr)
    finally:
        if temp is not None:
            temp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
