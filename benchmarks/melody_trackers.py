"""The melody trackers of fgnl-melody on real singing: speed (x real time, CPU) and agreement.

For each file (16 kHz mono, the fgnl-melody rate; hop 512 = 32 ms, S1's step) every tracker of
``--trackers`` runs on the whole file: ``pyin`` (librosa.pyin, resolution 0.25), ``crepe-tiny``
and ``crepe`` (full capacity), both with CREPE's Viterbi decoding. Reported per tracker: audio
seconds per wall second (x real time; the first call's weight loading and numba compilation are
excluded by a warm-up on 1 s of the first file). Agreement of each CREPE variant with pYIN: raw
pitch accuracy within 50 cents on the frames both call voiced (pYIN's voicing flag; CREPE's
confidence >= 0.21, the ``voicing_threshold`` of the melody front end), and the share of pYIN's
voiced frames CREPE calls voiced.

    python benchmarks/melody_trackers.py ../shared/data/gtsinger-demo --max-files 12 \\
        --max-seconds 8 --trackers pyin,crepe-tiny,crepe --out runs/melody.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vocaltools.audio import load_audio  # noqa: E402
from vocaltools.features.config import Melody  # noqa: E402

SAMPLE_RATE = 16000


def run_tracker(name: str, y: np.ndarray, config: Melody) -> tuple[np.ndarray, np.ndarray]:
    """``(f0_hz, voiced)`` float64 / bool [n_frames]."""
    if name == "pyin":
        import librosa

        f0, voiced, _ = librosa.pyin(y, fmin=config.fmin, fmax=config.fmax, sr=SAMPLE_RATE,
                                     frame_length=config.frame_length, hop_length=config.hop_length,
                                     resolution=config.resolution, center=True,
                                     pad_mode="constant", fill_na=None)
        return np.nan_to_num(f0, nan=0.0), voiced
    from vocaltools.models.crepe import track_pitch

    track = track_pitch(y, sample_rate=SAMPLE_RATE, hop_length=config.hop_length,
                        capacity="full" if name == "crepe" else "tiny", fmin=config.fmin,
                        fmax=config.fmax)
    return track.f0_hz, track.periodicity >= config.voicing_threshold


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", help="gtsinger-demo folder (metadata.csv, audio/)")
    parser.add_argument("--trackers", default="pyin,crepe-tiny,crepe")
    parser.add_argument("--max-files", type=int, default=12,
                        help="sung takes (not Speech), one singer after another in name order")
    parser.add_argument("--max-seconds", type=float, default=8.0, help="first seconds of a file")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    import csv

    import torch

    torch.set_num_threads(args.threads)
    root = Path(args.dataset)
    rows = [r for r in csv.DictReader(open(root / "metadata.csv", encoding="utf-8"))
            if r["take"] != "Speech"]
    by_singer: dict[str, list] = {}
    for row in sorted(rows, key=lambda r: r["path"]):
        by_singer.setdefault(row["singer"], []).append(row)
    chosen = []
    while len(chosen) < args.max_files and any(by_singer.values()):
        for singer in sorted(by_singer):  # round-robin: one take per singer at a time
            if by_singer[singer] and len(chosen) < args.max_files:
                chosen.append(by_singer[singer].pop(0))
    trackers = args.trackers.split(",")
    config = Melody()
    signals = []
    for row in chosen:
        y = load_audio(root / row["path"], sample_rate=SAMPLE_RATE, mono=True)
        signals.append(np.asarray(y, dtype=np.float32)[:int(args.max_seconds * SAMPLE_RATE)])
    for name in trackers:  # warm-up: weights, numba
        run_tracker(name, signals[0][:SAMPLE_RATE], config)
    seconds = {name: 0.0 for name in trackers}
    tracks: dict[str, list] = {name: [] for name in trackers}
    for y in signals:
        for name in trackers:
            started = time.perf_counter()
            tracks[name].append(run_tracker(name, y, config))
            seconds[name] += time.perf_counter() - started
    audio_seconds = sum(len(y) for y in signals) / SAMPLE_RATE
    report = {"files": [r["path"] for r in chosen], "audio_seconds": round(audio_seconds, 2),
              "threads": args.threads, "x_real_time": {n: round(audio_seconds / s, 3)
                                                       for n, s in seconds.items()},
              "agreement_with_pyin": {}}
    if "pyin" in trackers:
        for name in trackers:
            if name == "pyin":
                continue
            both = agree = pyin_voiced = crepe_too = 0
            for (f_p, v_p), (f_c, v_c) in zip(tracks["pyin"], tracks[name]):
                n = min(len(f_p), len(f_c))
                f_p, v_p, f_c, v_c = f_p[:n], v_p[:n], f_c[:n], v_c[:n]
                mask = v_p & v_c & (f_p > 0) & (f_c > 0)
                cents = 1200 * np.abs(np.log2(f_c[mask] / f_p[mask]))
                both += int(mask.sum())
                agree += int((cents <= 50).sum())
                pyin_voiced += int(v_p.sum())
                crepe_too += int((v_p & v_c).sum())
            report["agreement_with_pyin"][name] = {
                "rpa_50_cents_on_both_voiced": round(agree / both, 4) if both else None,
                "frames_both_voiced": both,
                "share_of_pyin_voiced_called_voiced": round(crepe_too / pyin_voiced, 4)
                if pyin_voiced else None}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
