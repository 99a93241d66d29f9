"""Benchmark vocal separation on real a cappella singing mixed with two kinds of accompaniment.

Sets (``--sets``):

- ``chords``: song-like accompaniments rendered from General-MIDI soundfonts (Debian's FluidR3_GM
  and MuseScore_General, and pretty_midi's TimGM6mb, in turn): a new chord every bar, a bass line,
  drums and melodic fills (:mod:`vocaltools.accompaniment`; parts at 0 / -3 / -4 / -6 dB). Vocals:
  one Control take per GTSinger-demo singer and, per VocalSet-excerpts singer, its first clips
  joined (10 ms fades).
- ``looped``: a looped/trimmed real instrument recording of sms-tools (pitched instrument +
  percussion 6 dB lower, random start), the case REPET is built for; GTSinger vocals only.

Vocals are trimmed to ``--max-seconds`` and mixed at vocal-to-accompaniment ratios of 0 and -5 dB.
Singers are split in two groups, reported apart: ``dev`` (the first 12 GTSinger singers in sorted
order, VocalSet f3 and m1), on which methods may be tuned, and ``heldout`` (the other 8 GTSinger
singers, VocalSet f5 and m2). For each method: SI-SDR improvement (dB) of the vocal and the
accompaniment estimate over the mixture, and speed in times real time (resampling to the method's
rate and back included: the stems are evaluated at ``--sample-rate``), both per second of wall
clock and per second of the process's CPU time (with ``OMP_NUM_THREADS=1`` the latter is the
speed on one core, whatever else the machine runs). Baselines: ``mixture`` (the mixture as both
estimates: 0 dB by definition) and ``hpss``.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_separation.py --json out/bench_separation.json
    python benchmarks/bench_separation.py --sets chords --split dev --methods repet \\
        --set repet.margin_vocals=3
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
from vocaltools.separation.rates import separate_at_rate  # noqa: E402
from vocaltools.separation.registry import get_separator, parse_options  # noqa: E402

# ../shared/data beside the checkout (a worktree may sit one level deeper)
DATA = next((p / "shared" / "data" for p in ROOT.parents if (p / "shared" / "data").is_dir()),
            ROOT.parent / "shared" / "data")
PITCHED = ["cello-phrase", "sax-phrase", "piano", "organ-C3", "orchestra", "violin-B3", "flute-A4",
           "trumpet-A4", "oboe-A4", "cello-double", "vibraphone-C6"]
PERCUSSION = ["bendir", "mridangam"]
N_DEV_GTSINGER = 12
DEV_VOCALSET = ("f3", "m1")
SOUNDFONT_ORDER = ("fluidr3", "musescore", "timgm6mb")
PART_GAINS_DB = {"chords": 0.0, "bass": -3.0, "drums": -4.0, "fills": -6.0}
SPLITS = ("dev", "heldout")


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


def gtsinger_vocals(*, sample_rate: int, max_seconds: float) -> list[dict]:
    """One Control take per GTSinger singer (singers sorted), with its split."""
    rows = list(csv.DictReader(open(DATA / "gtsinger-demo" / "metadata.csv", encoding="utf-8")))
    chosen: dict[str, dict] = {}
    for row in sorted(rows, key=lambda r: r["path"]):
        if row["take"] == "Control" and row["singer"] not in chosen:
            chosen[row["singer"]] = row
    out = []
    for index, row in enumerate(chosen.values()):
        vocals = load(DATA / "gtsinger-demo" / row["path"], sample_rate)
        out.append({"item_id": row["path"], "singer": row["singer"],
                    "split": "dev" if index < N_DEV_GTSINGER else "heldout",
                    "vocals": vocals[: int(max_seconds * sample_rate)]})
    return out


def vocalset_vocals(*, sample_rate: int, max_seconds: float) -> list[dict]:
    """Per VocalSet-excerpts singer, its first ``max_seconds`` one-second clips (sorted by path)
    joined with 10 ms fades."""
    rows = list(csv.DictReader(open(DATA / "vocalset-excerpts" / "metadata.csv",
                                    encoding="utf-8")))
    out = []
    fade = int(0.01 * sample_rate)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    for singer in sorted({r["singer"] for r in rows}):
        paths = sorted(r["path"] for r in rows if r["singer"] == singer)
        clips, total = [], 0
        for path in paths:
            clip = load(DATA / "vocalset-excerpts" / path, sample_rate)
            clip[:fade] *= ramp
            clip[-fade:] *= ramp[::-1]
            clips.append(clip)
            total += len(clip)
            if total >= max_seconds * sample_rate:
                break
        vocals = np.concatenate(clips)[: int(max_seconds * sample_rate)]
        out.append({"item_id": f"vocalset/{singer}", "singer": singer,
                    "split": "dev" if singer in DEV_VOCALSET else "heldout", "vocals": vocals})
    return out


def looped_items(*, sample_rate: int, max_seconds: float, seed: int) -> list[dict]:
    """GTSinger vocals over looped sms-tools recordings; within each split, item ``k`` gets
    instrument ``k`` of :data:`PITCHED` and a fresh generator for the random starts."""
    items = []
    vocals = gtsinger_vocals(sample_rate=sample_rate, max_seconds=max_seconds)
    for split in SPLITS:
        rng = np.random.default_rng(seed)
        for index, item in enumerate(v for v in vocals if v["split"] == split):
            n = len(item["vocals"])
            pitched = PITCHED[index % len(PITCHED)]
            percussion = PERCUSSION[index % len(PERCUSSION)]
            p = loop_to(load(DATA / "sms-tools-sounds" / f"{pitched}.flac", sample_rate), n, rng)
            d = loop_to(load(DATA / "sms-tools-sounds" / f"{percussion}.flac", sample_rate), n,
                        rng)
            accompaniment = p / rms(p) + 0.5 * d / rms(d)
            items.append({**item, "accompaniment_id": f"{pitched}+{percussion}",
                          "accompaniment": accompaniment.astype(np.float32)})
    return items


def chord_items(*, sample_rate: int, max_seconds: float, seed: int) -> list[dict]:
    """GTSinger and VocalSet vocals over rendered chord-progression accompaniments (item ``k``:
    arrangement seed ``1000·seed + k``, the available soundfonts in turn)."""
    from vocaltools.accompaniment import SoundfontRenderer, available_soundfonts, make_arrangement

    fonts = available_soundfonts(SOUNDFONT_ORDER)
    if not fonts:
        raise SystemExit("no soundfont found (install fluid-soundfont-gm or pretty_midi)")
    renderers = {name: SoundfontRenderer(path, sample_rate=sample_rate)
                 for name, path in fonts.items()}
    vocals = (gtsinger_vocals(sample_rate=sample_rate, max_seconds=max_seconds)
              + vocalset_vocals(sample_rate=sample_rate, max_seconds=max_seconds))
    items = []
    for index, item in enumerate(vocals):
        font = list(renderers)[index % len(renderers)]
        seconds = len(item["vocals"]) / sample_rate
        arrangement = make_arrangement(seconds=seconds, seed=1000 * seed + index)
        rendered = renderers[font].render(arrangement)
        accompaniment = rendered.mix(PART_GAINS_DB)[: len(item["vocals"])]
        desc = arrangement.describe()
        items.append({**item, "accompaniment_id": f"{font}: " + ", ".join(
            i for part in ("chords", "bass", "fills") for i in desc["instruments"][part])
            + f", drums; {len(desc['chords'])} chords, {desc['tempo_bpm']} bpm",
            "accompaniment": accompaniment})
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


def summarise(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "median": statistics.median(values)} if values \
        else {"mean": None, "median": None}


def evaluate(separator, items: list[dict], snr: float, sample_rate: int) -> dict:
    """SI-SDR improvements per item and speed of ``separator`` (``None``: the mixture)."""
    rows, elapsed, cpu = [], 0.0, 0.0
    for item in items:
        mixture, vocals, accompaniment = mix(item, snr)
        start, cpu_start = time.perf_counter(), time.process_time()
        if separator is None:
            est_v, est_a = mixture, mixture
        else:
            stems = separate_at_rate(separator, mixture, sample_rate=sample_rate)
            est_v, est_a = stems.vocals, stems.accompaniment
        elapsed += time.perf_counter() - start
        cpu += time.process_time() - cpu_start
        rows.append({"item_id": item["item_id"], "split": item["split"],
                     "vocals": si_sdr_improvement(estimate=est_v, reference=vocals,
                                                  mixture=mixture),
                     "accompaniment": si_sdr_improvement(estimate=est_a, reference=accompaniment,
                                                         mixture=mixture)})
    seconds = sum(len(i["vocals"]) for i in items) / sample_rate
    out = {"times_real_time": seconds / elapsed if separator is not None else None,
           "times_real_time_cpu": seconds / cpu if separator is not None and cpu > 0 else None,
           "per_item": rows}
    for group in ("all", *SPLITS):
        chosen = [r for r in rows if group == "all" or r["split"] == group]
        out[group] = {"n": len(chosen),
                      "vocals": summarise([r["vocals"] for r in chosen]),
                      "accompaniment": summarise([r["accompaniment"] for r in chosen])}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="chords,looped", help="comma-separated: chords, looped")
    parser.add_argument("--methods", default="mixture,hpss,repet",
                        help="comma-separated: mixture and registered methods (see "
                             "'vocaltools separate --help')")
    parser.add_argument("--set", action="append", default=[], metavar="METHOD.KEY=VALUE",
                        help="a config option of a method (repeatable)")
    parser.add_argument("--weights", default=None, help="weights folder for umx/demucs")
    parser.add_argument("--split", default="all", choices=("all", *SPLITS),
                        help="which singers to run (dev: tune on these; heldout: report)")
    parser.add_argument("--max-seconds", type=float, default=12.0)
    parser.add_argument("--snr", default="0,-5", help="vocal-to-accompaniment ratios in dB")
    parser.add_argument("--sample-rate", type=int, default=44100,
                        help="rate of the mixtures and of the evaluated stems")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)

    needed = {"chords": ("gtsinger-demo", "vocalset-excerpts"),
              "looped": ("gtsinger-demo", "sms-tools-sounds")}
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    for name in sets:
        if name not in needed:
            parser.error(f"unknown set {name!r}; valid: {', '.join(needed)}")
        missing = [d for d in needed[name] if not (DATA / d).is_dir()]
        if missing:
            print(f"shared data absent: {', '.join(str(DATA / d) for d in missing)}",
                  file=sys.stderr)
            return 1
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    snrs = [float(s) for s in args.snr.split(",")]
    separators = {}
    for method in methods:
        if method == "mixture":
            separators[method] = None
            continue
        options = {}
        for pair in args.set:
            prefix, _, rest = pair.partition(".")
            if prefix == method:
                options.update(parse_options([rest], method=method))
        separators[method] = get_separator(
            method, weights=args.weights if method in ("umx", "demucs") else None, **options)

    results = {"command": " ".join(["python", "benchmarks/bench_separation.py",
                                    *(argv if argv is not None else sys.argv[1:])]),
               "sample_rate": args.sample_rate, "snr_db": snrs, "sets": {}}
    for name in sets:
        make = chord_items if name == "chords" else looped_items
        items = make(sample_rate=args.sample_rate, max_seconds=args.max_seconds, seed=args.seed)
        items = [i for i in items if args.split == "all" or i["split"] == args.split]
        seconds = sum(len(i["vocals"]) for i in items) / args.sample_rate
        entry = {"n_items": len(items), "audio_seconds_per_snr": round(seconds, 2),
                 "items": [{"item_id": i["item_id"], "split": i["split"],
                            "accompaniment": i["accompaniment_id"]} for i in items],
                 "methods": {}}
        for method, separator in separators.items():
            config = separator.describe() if separator is not None else {"method": "mixture"}
            entry["methods"][method] = {
                "config": config,
                "results": {f"{snr:g}": evaluate(separator, items, snr, args.sample_rate)
                            for snr in snrs}}
        results["sets"][name] = entry
        print(f"\n[{name}] {len(items)} mixes x {len(snrs)} ratios, {seconds:.1f} s of audio per "
              f"ratio, {args.sample_rate} Hz")
        print(f"{'method':<12} {'V/A dB':>6} {'group':>8} {'vocals SI-SDRi':>15} "
              f"{'accomp SI-SDRi':>15} {'x RT (wall, CPU)':>17}")
        for method, m_entry in entry["methods"].items():
            for snr, r in m_entry["results"].items():
                speed = "-" if r["times_real_time"] is None else \
                    f"{r['times_real_time']:.1f}, {r['times_real_time_cpu']:.1f}"
                for group in ("all", *SPLITS):
                    g = r[group]
                    if not g["n"]:
                        continue
                    v, a = g["vocals"], g["accompaniment"]
                    print(f"{method:<12} {snr:>6} {group + ' ' + str(g['n']):>8} "
                          f"{v['mean']:>8.2f} ({v['median']:5.2f}) "
                          f"{a['mean']:>8.2f} ({a['median']:5.2f}) "
                          f"{speed if group == 'all' else '':>17}")
    print("(mean (median) over mixes, dB)")
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
