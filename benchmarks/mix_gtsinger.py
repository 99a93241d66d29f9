"""Write the GTSinger demo as songs: every take mixed with its own chord-progression accompaniment.

Each take of ``../shared/data/gtsinger-demo`` gets a seeded arrangement
(:mod:`vocaltools.accompaniment`, the chords set of ``bench_separation.py``: parts at 0 / -3 / -4 /
-6 dB, Debian's and pretty_midi's soundfonts in turn) as long as the take, mixed at a
vocal-to-accompaniment ratio of ``--snr`` dB (peak 0.9) and written as 16-bit FLAC at 44.1 kHz to
``OUT/audio/<singer>/<file>.flac``; ``OUT/metadata.csv`` is the demo's metadata with paths
relative to it. The mixtures are derived from CC BY-NC-SA 4.0 recordings: keep them outside the
repository. S1's vocal-only setting on them::

    python benchmarks/mix_gtsinger.py OUT
    vocaltools featurize OUT/audio --labels csv:OUT/metadata.csv --preset fgnl -o gt-mix
    vocaltools featurize OUT/audio --labels csv:OUT/metadata.csv --preset fgnl \\
        --separate harmonic -o gt-mix-vocals
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_separation import DATA, PART_GAINS_DB, SOUNDFONT_ORDER, load, rms  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="output folder (audio/ and metadata.csv)")
    parser.add_argument("--snr", type=float, default=0.0, help="vocal-to-accompaniment ratio, dB")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample-rate", type=int, default=44100)
    args = parser.parse_args(argv)

    import soundfile as sf

    from vocaltools.accompaniment import SoundfontRenderer, available_soundfonts, make_arrangement

    source = DATA / "gtsinger-demo"
    if not source.is_dir():
        print(f"shared data absent under {DATA}", file=sys.stderr)
        return 1
    fonts = available_soundfonts(SOUNDFONT_ORDER)
    renderers = [SoundfontRenderer(p, sample_rate=args.sample_rate) for p in fonts.values()]
    rows = list(csv.DictReader(open(source / "metadata.csv", encoding="utf-8")))
    out = Path(args.out)
    for index, row in enumerate(sorted(rows, key=lambda r: r["path"])):
        vocals = load(source / row["path"], args.sample_rate)
        arrangement = make_arrangement(seconds=len(vocals) / args.sample_rate,
                                       seed=100_000 + 1000 * args.seed + index)
        accompaniment = renderers[index % len(renderers)].render(arrangement).mix(PART_GAINS_DB)
        accompaniment = accompaniment[: len(vocals)] * (rms(vocals) / rms(accompaniment)) \
            * 10 ** (-args.snr / 20)
        mixture = vocals + accompaniment
        mixture *= 0.9 / max(1e-9, float(np.max(np.abs(mixture))))
        target = out / row["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(target), mixture.astype(np.float32), args.sample_rate, subtype="PCM_16")
    with open(out / "metadata.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} mixtures at {args.snr:g} dB to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
