"""What recognising items by their audio file costs featurize.

Two figures, each beside its reference measured in the same run:

- stamping a file (size, mtime, SHA-256 of its bytes; once per featurized item) against
  featurizing it (fgnl preset, decode and NPZ write included), for one noise FLAC;
- the resume check of one finished item (stat, same-file test, the NPZ's last 22 bytes) against
  reading the store's manifest, per item, for a store of N short items; and the wall time of a
  rerun that skips them all.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_resume.py [--seconds 60] [--items 300]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an installed copy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the long file")
    parser.add_argument("--items", type=int, default=300, help="items in the resumed store")
    args = parser.parse_args(argv)

    import numpy as np
    import soundfile

    from vocaltools.datasets.items import AudioItem
    from vocaltools.features import get_preset
    from vocaltools.features.pipeline import _resume_problem, featurize_items
    from vocaltools.formats.store import FeatureStore, stamp_source

    config = get_preset("fgnl")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        long = root / "long.flac"
        soundfile.write(long, (0.1 * rng.standard_normal(int(44100 * args.seconds))).astype(np.float32),
                        44100, subtype="PCM_16")
        started = time.perf_counter()
        stamp_source(long)
        stamp_s = time.perf_counter() - started
        started = time.perf_counter()
        featurize_items([AudioItem("long", long)], store=FeatureStore(root / "one"), config=config)
        featurize_s = time.perf_counter() - started
        print(f"{args.seconds:g} s FLAC ({long.stat().st_size / 1e6:.1f} MB): stamp {stamp_s * 1e3:.1f} ms, "
              f"featurize {featurize_s * 1e3:.0f} ms ({100 * stamp_s / featurize_s:.1f} %)")

        items = []
        for i in range(args.items):
            path = root / "short" / f"f{i:04d}.wav"
            path.parent.mkdir(exist_ok=True)
            soundfile.write(path, (0.1 * rng.standard_normal(1600)).astype(np.float32), 8000)
            items.append(AudioItem(f"short/f{i:04d}", path))
        store = FeatureStore(root / "store")
        featurize_items(items, store=store, config=config)
        started = time.perf_counter()
        summary = featurize_items(items, store=store, config=config)
        rerun_s = time.perf_counter() - started
        started = time.perf_counter()
        finished = store.finished_items()
        manifest_s = time.perf_counter() - started
        started = time.perf_counter()
        for item in items:
            _resume_problem(item, finished[item.item_id], store)
        check_s = time.perf_counter() - started
        n = len(items)
        print(f"rerun of {n} finished items: {summary.skipped} skipped in {rerun_s * 1e3:.0f} ms; "
              f"per item: resume check {check_s / n * 1e6:.0f} us, manifest read "
              f"{manifest_s / n * 1e6:.0f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
