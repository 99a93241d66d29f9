"""Benchmark vocal separation on real vocals mixed with real accompaniment.

Mixes: GTSinger demo vocals (one file per singer, ``--n-items``) + a looped/trimmed real instrument
recording of sms-tools (pitched instrument + percussion 6 dB lower, random start, seeded), scaled to
a vocal-to-accompaniment ratio of 0 dB and -5 dB. For each method: SI-SDR improvement (dB) of the
vocal and the accompaniment estimate over the mixture, and speed in times real time. Baselines:
``mixture`` (the mixture as both estimates: 0 dB by definition) and ``hpss``.

Usage::

    python benchmarks/bench_separation.py --json out/bench_separation.json
    python benchmarks/bench_separation.py --methods repet --set repet.margin_vocals=5
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vocaltools.separation.metrics import si_sdr_improvement  # noqa: E402
from vocaltools.separation.registry import get_separator, parse_options  # noqa: E402

# ../shared/data beside the checkout (a worktree may sit one level deeper)
DATA = next((p / "shared" / "data" for p in ROOT.parents if (p / "shared" / "data").is_dir()),
            ROOT.parent / "shared" / "data")
PITCHED = ["cello-phrase", "sax-phrase", "piano", "organ-C3", "orchestra", "violin-B3", "flute-A4",
           "trumpet-A4", "oboe-A4", "cello-double", "vibraphone-C6"]
PERCUSSION = ["bendir", "mridangam"]


def load(path: Path, sample_rate: int) -> np.ndarray:
    import soundfile as sf
    import soxr

    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if rate != sample_rate:
        audio = soxr.resample(audio, rate, sample_rate).astype(np.float32)
    return audio


def loop_to(audio: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``audio`` repeated (from a random start) and trimmed to ``n`` samples."""
    start = int(rng.integers(0, len(audio)))
    reps = int(np.ceil((n + start) / len(audio)))
    return np.tile(audio, reps)[start:start + n]


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


def make_items(*, n_items: int, sample_rate: int, max_seconds: float, seed: int,
               skip_items: int = 0) -> list[dict]:
    """One Control take per singer (singers sorted; the first ``skip_items`` singers left out),
    with its accompaniment (unscaled)."""
    rows = list(csv.DictReader(open(DATA / "gtsinger-demo" / "metadata.csv", encoding="utf-8")))
    chosen: dict[str, dict] = {}
    for row in sorted(rows, key=lambda r: r["path"]):
        if row["take"] == "Control" and row["singer"] not in chosen:
            chosen[row["singer"]] = row
    rng = np.random.default_rng(seed)
    items = []
    for index, row in enumerate(list(chosen.values())[skip_items:skip_items + n_items]):
        vocals = load(DATA / "gtsinger-demo" / row["path"], sample_rate)
        vocals = vocals[: int(max_seconds * sample_rate)]
        pitched = PITCHED[index % len(PITCHED)]
        percussion = PERCUSSION[index % len(PERCUSSION)]
        p = loop_to(load(DATA / "sms-tools-sounds" / f"{pitched}.flac", sample_rate), len(vocals), rng)
        d = loop_to(load(DATA / "sms-tools-sounds" / f"{percussion}.flac", sample_rate), len(vocals),
                    rng)
        accompaniment = p / rms(p) + 0.5 * d / rms(d)
        items.append({"item_id": row["path"], "accompaniment_id": f"{pitched}+{percussion}",
                      "vocals": vocals, "accompaniment": accompaniment.astype(np.float32)})
    return items


def mix(item: dict, snr_db: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mixture, vocals, accompaniment) with vocal-to-accompaniment ratio ``snr_db``, peak <= 0.9."""
    vocals = item["vocals"]
    accompaniment = item["accompaniment"] * (rms(vocals) / rms(item["accompaniment"])) \
        * 10 ** (-snr_db / 20)
    mixture = vocals + accompaniment
    scale = 0.9 / max(1e-9, float(np.max(np.abs(mixture))))
    return ((mixture * scale).astype(np.float32), (vocals * scale).astype(np.float32),
            (accompaniment * scale).astype(np.float32))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="mixture,hpss,repet",
                        help="comma-separated: mixture, hpss, repet, umx, demucs")
    parser.add_argument("--set", action="append", default=[], metavar="METHOD.KEY=VALUE",
                        help="a config option of a method (repeatable)")
    parser.add_argument("--weights", default=None, help="weights folder for umx/demucs")
    parser.add_argument("--n-items", type=int, default=12)
    parser.add_argument("--skip-items", type=int, default=0,
                        help="leave out the first N singers (e.g. 12: the 8 singers the defaults "
                             "were not tuned on)")
    parser.add_argument("--max-seconds", type=float, default=12.0)
    parser.add_argument("--snr", default="0,-5", help="vocal-to-accompaniment ratios in dB")
    parser.add_argument("--sample-rate", type=int, default=22050)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)

    if not (DATA / "gtsinger-demo").is_dir() or not (DATA / "sms-tools-sounds").is_dir():
        print(f"shared data absent under {DATA}", file=sys.stderr)
        return 1
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    snrs = [float(s) for s in args.snr.split(",")]
    items = make_items(n_items=args.n_items, sample_rate=args.sample_rate,
                       max_seconds=args.max_seconds, seed=args.seed, skip_items=args.skip_items)
    total_seconds = sum(len(i["vocals"]) for i in items) / args.sample_rate

    results = {"command": " ".join(["python", "benchmarks/bench_separation.py", *(argv or sys.argv[1:])]),
               "sample_rate": args.sample_rate, "n_items": len(items),
               "audio_seconds_per_snr": round(total_seconds, 2), "snr_db": snrs,
               "items": [{"item_id": i["item_id"], "accompaniment": i["accompaniment_id"]}
                         for i in items], "methods": {}}
    for method in methods:
        if method == "mixture":
            separator, config = None, {"method": "mixture"}
        else:
            options = {}
            for pair in args.set:
                prefix, _, rest = pair.partition(".")
                if prefix == method:
                    options.update(parse_options([rest], method=method))
            separator = get_separator(method, weights=args.weights if method in ("umx", "demucs")
                                      else None, **options)
            config = separator.describe()
        per_snr = {}
        for snr in snrs:
            vocal_gain, accomp_gain, elapsed = [], [], 0.0
            for item in items:
                mixture, vocals, accompaniment = mix(item, snr)
                start = time.perf_counter()
                if separator is None:
                    est_v, est_a = mixture, mixture
                else:
                    stems = separator.separate_array(mixture, sample_rate=args.sample_rate)
                    est_v, est_a = stems.vocals, stems.accompaniment
                elapsed += time.perf_counter() - start
                vocal_gain.append(si_sdr_improvement(estimate=est_v, reference=vocals,
                                                     mixture=mixture))
                accomp_gain.append(si_sdr_improvement(estimate=est_a, reference=accompaniment,
                                                      mixture=mixture))
            per_snr[f"{snr:g}"] = {
                "vocals_si_sdri_mean": statistics.fmean(vocal_gain),
                "vocals_si_sdri_median": statistics.median(vocal_gain),
                "accompaniment_si_sdri_mean": statistics.fmean(accomp_gain),
                "accompaniment_si_sdri_median": statistics.median(accomp_gain),
                "times_real_time": (total_seconds / elapsed) if separator is not None else None,
                "vocals_si_sdri": vocal_gain, "accompaniment_si_sdri": accomp_gain}
        results["methods"][method] = {"config": config, "results": per_snr}

    print(f"{len(items)} mixes x {len(snrs)} ratios, {total_seconds:.1f} s of audio per ratio, "
          f"{args.sample_rate} Hz")
    print(f"{'method':<10} {'V/A dB':>6} {'vocals SI-SDRi':>15} {'accomp SI-SDRi':>15} "
          f"{'x real time':>11}")
    for method, entry in results["methods"].items():
        for snr, r in entry["results"].items():
            speed = "-" if r["times_real_time"] is None else f"{r['times_real_time']:.1f}"
            print(f"{method:<10} {snr:>6} {r['vocals_si_sdri_mean']:>9.2f} ({r['vocals_si_sdri_median']:5.2f}) "
                  f"{r['accompaniment_si_sdri_mean']:>8.2f} ({r['accompaniment_si_sdri_median']:5.2f}) "
                  f"{speed:>11}")
    print("(mean (median) over mixes, dB)")
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
