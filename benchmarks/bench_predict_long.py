"""Peak memory and speed of ``vocaltools predict`` on one long file (default 60 minutes).

Writes a synthetic file block by block (a glide of harmonics plus noise, 44.1 kHz, so that predict
also resamples), runs ``vocaltools predict FILE --model MODEL -o OUT`` in a subprocess and reports
its wall time, times real time and peak resident memory (``ru_maxrss`` of the child).

    python benchmarks/bench_predict_long.py --model MODEL_DIR_OR_NAME [--minutes 60] [-o result.json]
    python benchmarks/bench_predict_long.py --preset fgnl --preset yamamoto2022 ... [--keep long.wav]

``--preset NAME`` (repeatable) measures one model per feature preset instead of a given model: a
``tiny_cnn`` (width 8, random weights from seed 0, 4 classes) reading all of the preset's arrays,
with the clip settings of the preset's seed paper (S1 5 s, S2 256 frames hop 51, S3 3 s, S4 1 s).
The features dominate memory and time on long files, so this measures the feature path of each
preset family; the model is small on purpose. ``--paper-models`` uses each family's model of the
seed paper instead (random weights, paper configuration: crnn_fgnl, cnn_shallow, oblong, aacnn,
aacnn_cqt), whose activations add to the peak.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

#: the seed paper of each preset, for its clip settings (vocaltools.segments.SEED_CLIPS)
PRESET_SEEDS = {"fgnl": "S1", "fgnl-melody": "S1", "nasrullah": "S1", "wang2018": "S2",
                "yamamoto2022": "S3", "wise-stft": "S4", "wise-cqt": "S4"}
#: a model of the seed paper for each preset (``--paper-models``)
PAPER_MODELS = {"fgnl": "crnn_fgnl", "fgnl-melody": "crnnm_fgnl", "nasrullah": "crnn",
                "wang2018": "cnn_shallow", "yamamoto2022": "oblong", "wise-stft": "aacnn",
                "wise-cqt": "aacnn_cqt"}


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


def write_tiny_model(folder: Path, *, preset: str, width: int = 8, n_classes: int = 4,
                     paper_model: bool = False) -> Path:
    """A ``tiny_cnn`` checkpoint (random weights, seed 0) for ``preset``'s features in ``folder``;
    with ``paper_model`` the preset's model of its seed paper (:data:`PAPER_MODELS`) instead."""
    import torch

    from vocaltools.checkpoint import Checkpoint, save_checkpoint
    from vocaltools.features import get_preset
    from vocaltools.models.registry import build_model
    from vocaltools.segments import SEED_CLIPS

    config = get_preset(preset)
    channels = sum(fe.n_channels for fe in config.front_ends)
    torch.manual_seed(0)
    name = PAPER_MODELS[preset] if paper_model else "tiny_cnn"
    options = {} if paper_model else {"in_channels": channels, "width": width}
    module = build_model(name, n_classes=n_classes, **options)
    checkpoint = Checkpoint(
        model=name, model_options=options, n_classes=n_classes, task="classify",
        inputs=config.names, labels=tuple(f"class{i}" for i in range(n_classes)), target="label",
        feature_config=config.to_dict(), clip_config=SEED_CLIPS[PRESET_SEEDS[preset]].to_dict(),
        state_dict=module.state_dict(), summary={"name": f"{name}-{preset}"})
    folder.mkdir(parents=True, exist_ok=True)
    save_checkpoint(folder, checkpoint)
    return folder


def measure(audio: Path, *, model: str, duration: float, threads: int | None, folder: Path,
            batch_size: int | None = None) -> dict:
    """Run ``vocaltools predict`` on ``audio`` in a child process; its wall time and peak RSS."""
    out = folder / "predictions.jsonl"
    command = [sys.executable, "-m", "vocaltools", "predict", str(audio), "--model", model,
               "-o", str(out), "--quiet"]
    if threads:
        command += ["--threads", str(threads)]
    if batch_size:
        command += ["--batch-size", str(batch_size)]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    # the peak of this child alone: time it in a helper process whose only child it is
    probe = ("import resource, subprocess, sys, time, json; s = time.perf_counter(); "
             "d = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "w = time.perf_counter() - s; "
             "print(json.dumps({'rc': d.returncode, 'wall': w, 'stderr': d.stderr[-4000:], "
             "'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")
    done = subprocess.run([sys.executable, "-c", probe, *command], env=env, capture_output=True,
                          text=True, check=True)
    report = json.loads(done.stdout)
    if report["rc"] != 0:
        raise RuntimeError(f"predict failed ({report['rc']}): {report['stderr']}")
    n_records = sum(1 for _ in open(out, encoding="utf-8"))
    out.unlink()
    return {"audio_seconds": duration, "wall_seconds": report["wall"],
            "times_real_time": duration / report["wall"], "peak_rss_mb": report["maxrss_kb"] / 1024,
            "n_clip_records": n_records, "model": model, "threads": threads,
            "batch_size": batch_size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="registered name, model folder or checkpoint")
    parser.add_argument("--preset", action="append", default=[], choices=sorted(PRESET_SEEDS),
                        help="measure a tiny_cnn for this feature preset (repeatable)")
    parser.add_argument("--paper-models", action="store_true",
                        help="with --preset: the seed paper's model instead of a tiny_cnn")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None, help="predict's --batch-size (default 32)")
    parser.add_argument("--keep", type=Path, default=None, help="write the audio here and keep it")
    parser.add_argument("-o", "--output", default=None, help="write the result as JSON here")
    args = parser.parse_args(argv)
    if (args.model is None) == (not args.preset):
        parser.error("give either --model or one or more --preset")

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
    if args.model is not None:
        result = measure(audio, model=args.model, duration=duration, threads=args.threads,
                         folder=folder, batch_size=args.batch_size)
    else:
        result = {"audio_seconds": duration, "threads": args.threads, "presets": {}}
        for preset in args.preset:
            model = write_tiny_model(folder / f"model-{preset}", preset=preset,
                                     paper_model=args.paper_models)
            row = measure(audio, model=str(model), duration=duration, threads=args.threads,
                          folder=folder, batch_size=args.batch_size)
            row["model"] = (f"{PAPER_MODELS[preset]} (paper configuration, random weights)"
                            if args.paper_models else f"tiny_cnn width 8 ({preset})")
            result["presets"][preset] = row
            print(f"{preset}: {row['peak_rss_mb']:.0f} MB peak, {row['times_real_time']:.1f}x real "
                  f"time ({row['wall_seconds']:.1f} s, {row['n_clip_records']} clips)",
                  file=sys.stderr, flush=True)
    print(json.dumps(result, indent=2))
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.keep is None:
        audio.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
