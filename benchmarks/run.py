"""vocaltools benchmarks: one command, a table on stdout, JSON with ``--json PATH``.

Every figure is printed beside a reference measured in the same run on the same machine:

==============================  ==================================  ================================
row                             figure                              reference
==============================  ==================================  ================================
cli start                       ``vocaltools --help`` (median, s)   ``python -c pass``
featurize fgnl, numpy engine    x real time, decode included        librosa loop (load + mel + dB)
featurize fgnl, torch DEVICE    x real time, decode included        the numpy engine
logmel batch (torch DEVICE)     8 clips, no decode, x real time     numpy engine, one clip at a time
cqt (torch DEVICE)              wise-cqt, no decode, x real time    numpy engine (librosa.cqt)
train MODEL                     clips/s, forward+backward+Adam      forward only (inference)
predict 4-min song              cold start, fresh process (s)       ``python -c "import torch"``
knn build KIND / query KIND     items/s, queries/s (k = 10)         exact build / NumPy brute force
==============================  ==================================  ================================

The featurize rows use benchmarks/bench_featurize.py (its 44.1 kHz files, librosa loop and
``featurize_items`` run, NPZ writes included) when the checkout has it, else one 16 kHz song.
DEVICE is cpu, plus cuda when torch sees a GPU.

Usage::

    python benchmarks/run.py --quick                 # about a minute on a laptop
    python benchmarks/run.py --json bench.json       # the full run
    python benchmarks/run.py --models crnn,tiny_cnn --device cuda

Rows whose code is not in this checkout (a model family, ``vocaltools predict``,
``vocaltools.index``) say ``not available`` and why, instead of failing the run. Timings are
wall-clock medians; on a shared machine they vary by tens of percent between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]  # the checkout benchmarked; --root changes it
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_MODELS = ("crnn", "crnn_fgnl", "oblong_dc_late", "tiny_cnn")


@dataclass(frozen=True)
class Row:
    """One benchmark figure and its reference (``None`` value = not available, see ``note``).
    ``ratio`` = figure / reference; ``higher_is_better`` says which way is good (x RT and clips/s:
    higher; seconds: lower)."""

    name: str
    value: float | None
    unit: str
    reference: str
    reference_value: float | None
    higher_is_better: bool = True
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.value or not self.reference_value:
            return None
        return self.value / self.reference_value

    def to_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


def unavailable(name: str, unit: str, reference: str, why: str) -> Row:
    return Row(name, None, unit, reference, None, note=f"not available: {why}")


def usable_devices(devices: list[str], rows: list[Row], *, name: Callable[[str], str], unit: str,
                   reference: str) -> Iterator[tuple[str, str]]:
    """``(device, name(device))`` for each device that can run; for the others a row saying why
    goes to ``rows``."""
    try:
        from vocaltools.device import resolve_device
    except ImportError as error:  # a --root checkout without it
        rows.extend(unavailable(name(device), unit, reference, str(error)) for device in devices)
        return
    for device in devices:
        try:
            resolve_device(device)
        except Exception as error:  # noqa: BLE001 - reported in the table
            rows.append(unavailable(name(device), unit, reference, str(error)))
            continue
        yield device, name(device)


def median_time(function: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``function()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _run(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, env=_env(), cwd=ROOT)
    return time.perf_counter() - start


# -- CLI start-up --------------------------------------------------------------------------------

def bench_cli_start(*, repeats: int) -> Row:
    """Median seconds of ``python -m vocaltools --help`` vs ``python -c pass``."""
    cli = statistics.median(_run([sys.executable, "-m", "vocaltools", "--help"])
                            for _ in range(repeats))
    bare = statistics.median(_run([sys.executable, "-c", "pass"]) for _ in range(repeats))
    return Row("cli start: vocaltools --help", cli, "s", "python -c pass", bare,
               higher_is_better=False, note=f"median of {repeats}")


# -- audio ---------------------------------------------------------------------------------------

def make_song(path: Path, *, seconds: float, sample_rate: int, seed: int = 0) -> Path:
    """A synthetic sung song (vocaltools.synth) written as 16-bit FLAC."""
    import numpy as np
    import soundfile

    from vocaltools.synth import make_singers, song_degrees, synth_voice

    singer = make_singers(3, seed=seed)[seed % 3]
    parts = []
    piece = 30.0  # synthesise in 30-s phrases to bound memory
    n_pieces = int(np.ceil(seconds / piece))
    for i in range(n_pieces):
        length = min(piece, seconds - i * piece)
        degrees = song_degrees(i, n_notes=max(1, int(length * 2)), seed=seed)
        parts.append(synth_voice(singer=singer, technique=("Vibrato", "Breathy", "Control")[i % 3],
                                 degrees=degrees, seconds=length, sample_rate=sample_rate,
                                 seed=seed + i))
    soundfile.write(path, np.concatenate(parts), sample_rate, subtype="PCM_16")
    return path


# -- featurize -----------------------------------------------------------------------------------

def librosa_loop(path: Path, *, sample_rate: int = 16000):
    """The plain librosa way to get S1's features: load, mel spectrogram, amplitude_to_db."""
    import librosa

    y, _ = librosa.load(path, sr=sample_rate)
    mel = librosa.feature.melspectrogram(y=y, sr=sample_rate, n_fft=2048, hop_length=512, n_mels=128)
    return librosa.amplitude_to_db(mel, top_db=80.0)


def _bench_featurize_module():
    """benchmarks/bench_featurize.py of the benchmarked checkout (the ``featurize`` pipeline's own
    benchmark), or None where that checkout lacks it."""
    import importlib.util

    path = ROOT / "benchmarks" / "bench_featurize.py"
    if not path.is_file():
        return None
    if "bench_featurize" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_featurize", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_featurize"] = module
        spec.loader.exec_module(module)
    return sys.modules["bench_featurize"]


def _torch_store(files: list[Path], store_dir: Path, device: str) -> None:
    """What ``featurize --device DEVICE`` does: torch front ends in padded batches, one NPZ per
    file and its manifest line (the same writes as the NumPy pipeline)."""
    import shutil

    from vocaltools.features import get_preset
    from vocaltools.features.torch_frontends import iter_featurize_torch
    from vocaltools.formats.store import FeatureStore

    shutil.rmtree(store_dir, ignore_errors=True)
    config = get_preset("fgnl")
    store = FeatureStore(store_dir)
    store.create(feature_config=config.to_dict())
    for path, result in iter_featurize_torch(files, config=config, device=device):
        if isinstance(result, Exception):
            raise result
        store.write_item(item_id=f"{Path(path).parent.name}/{Path(path).stem}",
                         audio_path=str(path), arrays=result.arrays, duration_s=result.duration_s,
                         fields={}, meta={"feature_config": config.to_dict()})
    _sync(device)


def bench_featurize(*, workdir: Path, seconds: float, repeats: int, devices: list[str]) -> list[Row]:
    """fgnl features of ``seconds`` of FLAC singing, decode included, x real time.

    With benchmarks/bench_featurize.py present: its 44.1 kHz files (resampling included), its
    librosa loop and its ``featurize_items`` run (NPZ + manifest writes, --jobs 1); the torch rows
    write the same store through :func:`iter_featurize_torch`. Without it: one 16 kHz song,
    ``featurize_file`` vs a librosa loop, and ``featurize_file_torch``."""
    import soundfile

    from vocaltools.features import featurize_file, get_preset

    config = get_preset("fgnl")
    helper = _bench_featurize_module()
    if helper is not None:
        files = helper.make_audio(workdir, seconds / 60.0)
        numpy_run = lambda: helper.run_vocaltools(files, workdir / "store-numpy", 1)  # noqa: E731
        baseline = lambda: helper.run_baseline(files)  # noqa: E731
        torch_run = lambda device: _torch_store(files, workdir / f"store-{device}", device)  # noqa: E731
        how = "bench_featurize.py: 44.1 kHz FLAC, decode+resample+NPZ writes"
    else:
        files = [make_song(workdir / "song.flac", seconds=seconds, sample_rate=16000)]
        numpy_run = lambda: [featurize_file(f, config=config) for f in files]  # noqa: E731
        baseline = lambda: [librosa_loop(f) for f in files]  # noqa: E731
        how = "16 kHz FLAC, decode included"

        def torch_run(device):
            from vocaltools.features.torch_frontends import featurize_file_torch

            for f in files:
                featurize_file_torch(f, config=config, device=device)
            _sync(device)
    audio_seconds = sum(soundfile.info(f).duration for f in files)
    numpy_s = median_time(numpy_run, repeats)
    librosa_s = median_time(baseline, repeats)
    note = f"{len(files)} file(s), {audio_seconds:.0f} s; {how}"
    rows = [Row("featurize fgnl, numpy engine", audio_seconds / numpy_s, "x RT",
                "librosa loop (load+mel+dB)", audio_seconds / librosa_s, note=note)]
    for device, name in usable_devices(devices, rows, name=lambda d: f"featurize fgnl, torch {d}",
                                       unit="x RT", reference="numpy engine"):
        torch_s = median_time(lambda: torch_run(device), repeats)
        rows.append(Row(name, audio_seconds / torch_s, "x RT", "numpy engine",
                        audio_seconds / numpy_s, note=note))
    return rows


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bench_torch_batches(*, clip_seconds: float, n_clips: int, cqt_seconds: float, repeats: int,
                        devices: list[str]) -> list[Row]:
    """Front ends without decoding: a batch of log-mel clips, and the CQT (librosa's slowest)."""
    import numpy as np

    from vocaltools.features import compute_features, get_preset
    from vocaltools.synth import make_singers, synth_voice

    try:
        from vocaltools.features.torch_frontends import compute_features_torch
    except ImportError as error:
        return [unavailable("torch front ends", "x RT", "numpy engine", str(error))]
    rows = []
    for preset, seconds, count in (("fgnl", clip_seconds, n_clips), ("wise-cqt", cqt_seconds, 1)):
        config = get_preset(preset)
        singers = make_singers(count, seed=1)
        clips = np.stack([synth_voice(singer=s, technique="Vibrato", degrees=[0, 3, 7, 5],
                                      seconds=seconds, sample_rate=config.sample_rate, seed=i)
                          for i, s in enumerate(singers)])
        total = seconds * count
        numpy_s = median_time(lambda: [compute_features(c, sample_rate=config.sample_rate,
                                                        config=config) for c in clips], repeats)
        label = (f"{config.front_ends[0].name} batch {count}x{seconds:.0f}s" if count > 1
                 else f"{config.front_ends[0].name} {seconds:.0f}s ({preset})")
        for device, name in usable_devices(devices, rows, name=lambda d: f"{label}, torch {d}",
                                           unit="x RT", reference="numpy engine"):

            def run():
                compute_features_torch(clips, config=config, device=device)
                _sync(device)

            torch_s = median_time(run, repeats)
            rows.append(Row(name, total / torch_s, "x RT", "numpy engine, per clip",
                            total / numpy_s, note="no decode"))
    return rows


# -- training ------------------------------------------------------------------------------------

def bench_train(*, models: list[str], batch: int, steps: int, device: str) -> list[Row]:
    """clips/s of forward + backward + Adam step on random batches at each model's paper input
    shape, beside forward-only (eval, no grad) clips/s of the same model."""
    import torch

    from vocaltools.models.registry import build_model, example_input, get_spec

    target = torch.device("cuda" if device == "auto" and torch.cuda.is_available()
                          else "cpu" if device == "auto" else device)
    rows = []
    for name in models:
        label = f"train {name}"
        try:
            spec = get_spec(name)
            model = build_model(name).to(target)
        except Exception as error:  # noqa: BLE001 - a family not merged yet: reported
            rows.append(unavailable(label, "clips/s", "forward only", f"{type(error).__name__}: {error}"))
            continue
        shape = "x".join(str(n) for n in spec.input_shape)
        x = example_input(spec, batch).to(target)
        y = torch.randint(0, spec.n_classes, (batch,), device=target)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

        def train_step():
            model.train()
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            _sync(str(target))

        def forward():
            model.eval()
            with torch.inference_mode():
                model(x)
            _sync(str(target))

        train_s = median_time(train_step, steps)
        forward_s = median_time(forward, steps)
        rows.append(Row(label, batch / train_s, "clips/s", "forward only", batch / forward_s,
                        note=f"batch {batch} x {shape} on {target}"))
    return rows


# -- predict -------------------------------------------------------------------------------------

def _command_available(*words: str) -> str | None:
    """None when ``vocaltools WORDS --help`` works and is not the 'not available' placeholder;
    otherwise the reason."""
    result = subprocess.run([sys.executable, "-m", "vocaltools", *words, "--help"],
                            capture_output=True, text=True, env=_env(), cwd=ROOT)
    text = result.stdout + result.stderr
    if result.returncode != 0:
        return f"'vocaltools {' '.join(words)} --help' exited {result.returncode}"
    if "not available" in text.lower():
        return f"'vocaltools {' '.join(words)}' is a placeholder in this checkout (not merged yet)"
    return None


def bench_predict(*, workdir: Path, song_seconds: float, repeats: int) -> Row:
    """Cold-start ``vocaltools predict`` of one song with a freshly trained tiny model, vs bare
    ``python -c "import torch"``."""
    name = f"predict {song_seconds / 60:.0f}-min song, cold start"
    reference = 'python -c "import torch"'
    why = _command_available("predict") or _command_available("train")
    if why:
        return unavailable(name, "s", reference, why)
    return _bench_predict_cli(workdir=workdir, song_seconds=song_seconds, repeats=repeats,
                              name=name, reference=reference)


def _bench_predict_cli(*, workdir: Path, song_seconds: float, repeats: int, name: str,
                       reference: str) -> Row:
    """Train tiny_cnn for one epoch on a small synthetic set, then time ``vocaltools predict``
    on one song (decode, features, clips, model, JSONL) in a fresh process."""
    from vocaltools.synth import make_singer_dataset

    data = workdir / "singers"
    make_singer_dataset(data, n_singers=3, n_songs=4, seconds=4.0, sample_rate=16000, seed=0)
    store, model = workdir / "store-predict", workdir / "model"
    env = {**_env(), "VOCALTOOLS_HOME": str(workdir / "home")}
    steps = (["featurize", str(data), "-o", str(store), "--preset", "fgnl",
              "--labels", f"csv:{data / 'metadata.csv'}", "--quiet"],
             ["train", str(store), "--model", "tiny_cnn", "--target", "singer", "-o", str(model),
              "--split-by", "singer,song_id", "--clip-seconds", "1", "--epochs", "1", "--quiet"])
    for step in steps:
        done = subprocess.run([sys.executable, "-m", "vocaltools", *step], capture_output=True,
                              text=True, env=env, cwd=ROOT)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            return unavailable(name, "s", reference, f"'vocaltools {step[0]}' failed: {last}")
    song = make_song(workdir / "song-4min.flac", seconds=song_seconds, sample_rate=16000)

    def cold() -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "vocaltools", "predict", str(song), "--model",
                        str(model), "-o", str(workdir / "pred.jsonl"), "--quiet"], check=True,
                       capture_output=True, env=env, cwd=ROOT)
        return time.perf_counter() - start

    seconds = statistics.median(cold() for _ in range(repeats))
    bare = statistics.median(_run([sys.executable, "-c", "import torch"]) for _ in range(repeats))
    return Row(name, seconds, "s", reference, bare, higher_is_better=False,
               note=f"median of {repeats}; tiny_cnn, fgnl: decode + features + model + JSONL")


# -- knn -----------------------------------------------------------------------------------------

def bench_knn(*, n_items: int, dim: int, n_queries: int, repeats: int) -> list[Row]:
    """FAISS index build (items/s) and query (queries/s, k = 10) for each index kind of
    vocaltools.index.faiss_index; references: the exact index's build, and a NumPy brute-force
    search; the note gives recall@10 against exact search."""
    try:
        from vocaltools.index.faiss_index import KINDS, IndexConfig, build_index
    except ImportError:
        return [unavailable("knn build/query", "items/s", "numpy brute force",
                            "vocaltools.index is not in this checkout (not merged yet)")]
    import numpy as np

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n_items, dim)).astype(np.float32)
    queries = rng.standard_normal((n_queries, dim)).astype(np.float32)
    ids = [f"item{i}" for i in range(n_items)]
    labels = [f"singer{i % 50}" for i in range(n_items)]
    k = 10

    def brute():
        d = (queries ** 2).sum(1)[:, None] - 2.0 * queries @ vectors.T + (vectors ** 2).sum(1)[None]
        return np.argsort(d, axis=1)[:, :k]

    truth = brute()
    brute_s = median_time(brute, repeats)
    rows, exact_build = [], None
    for kind in KINDS:
        built = {}

        def build():
            built["index"] = build_index(vectors, item_ids=ids, labels=labels,
                                         config=IndexConfig(kind=kind))

        build_s = median_time(build, repeats, warmup=0)
        index = built["index"]
        query_s = median_time(lambda: index.search(queries, k=k), repeats)
        found = index.search(queries, k=k)
        position = {item_id: i for i, item_id in enumerate(ids)}
        recall = np.mean([len({position[n.item_id] for n in hits} & set(truth[q])) / k
                          for q, hits in enumerate(found)])
        exact_build = exact_build or n_items / build_s
        rows.append(Row(f"knn build {kind}", n_items / build_s, "items/s", "exact build",
                        exact_build, note=f"{n_items} x {dim}"))
        rows.append(Row(f"knn query {kind} k={k}", n_queries / query_s, "queries/s",
                        "numpy brute force", n_queries / brute_s,
                        note=f"{n_items} x {dim}, recall@{k} {recall:.3f}"))
    return rows


# -- main ----------------------------------------------------------------------------------------

def format_table(rows: list[Row]) -> str:
    header = ("benchmark", "value", "reference", "ref value", "value/ref", "note")
    lines = []
    for r in rows:
        value = "n/a" if r.value is None else f"{r.value:,.3g} {r.unit}"
        ref = "" if r.reference_value is None else f"{r.reference_value:,.3g} {r.unit}"
        ratio = "" if r.ratio is None else f"{r.ratio:.3g}"
        lines.append((r.name, value, r.reference, ref, ratio, r.note))
    widths = [max(len(str(x)) for x in column) for column in zip(header, *lines)]
    out = [" | ".join(str(x).ljust(w) for x, w in zip(header, widths)),
           "-+-".join("-" * w for w in widths)]
    out += [" | ".join(str(x).ljust(w) for x, w in zip(line, widths)) for line in lines]
    return "\n".join(out)


def machine_info() -> dict:
    import torch

    info = {"python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    from importlib import metadata

    for package in ("librosa", "numpy", "scipy", "faiss-cpu"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS),
                        help="comma-separated registry models for the train rows")
    parser.add_argument("--device", default="auto",
                        help="device of the train rows: cpu, cuda or auto (featurize rows run on "
                             "cpu and, when available, cuda)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch intra-op threads (0 = torch's default); on a loaded machine 1 "
                             "avoids threads waiting on each other")
    parser.add_argument("--root", type=Path, default=None,
                        help="benchmark the vocaltools checkout at this path (default: the one "
                             "holding this script); rows whose code it lacks say 'not available'")
    parser.add_argument("--only", default="",
                        help="comma-separated subset of: cli,featurize,torch,train,predict,knn")
    args = parser.parse_args(argv)

    global ROOT
    if args.root is not None:
        ROOT = args.root.resolve()
        sys.path.insert(0, str(ROOT))
        if "vocaltools" in sys.modules:
            raise SystemExit("--root must be given before vocaltools is imported")
    quick = args.quick
    repeats = 3 if quick else 5
    song_seconds = 30.0 if quick else 240.0
    parts = set(filter(None, args.only.split(","))) or {"cli", "featurize", "torch", "train",
                                                        "predict", "knn"}
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="vocaltools-bench-") as tmp:
        workdir = Path(tmp)
        if "cli" in parts:
            rows.append(bench_cli_start(repeats=5 if quick else 15))
        if "featurize" in parts:
            rows += bench_featurize(workdir=workdir, seconds=song_seconds, repeats=repeats,
                                    devices=devices)
        if "torch" in parts:
            rows += bench_torch_batches(clip_seconds=10.0 if quick else 30.0, n_clips=8,
                                        cqt_seconds=5.0 if quick else 30.0, repeats=repeats,
                                        devices=devices)
        if "train" in parts:
            rows += bench_train(models=[m for m in args.models.split(",") if m],
                                batch=4 if quick else 16, steps=2 if quick else 5,
                                device=args.device)
        if "predict" in parts:
            rows.append(bench_predict(workdir=workdir, song_seconds=240.0,
                                      repeats=1 if quick else 3))
        if "knn" in parts:
            rows += bench_knn(n_items=2000 if quick else 50000, dim=16, n_queries=224,
                              repeats=repeats)
    print(format_table(rows))
    if args.json:
        payload = {"quick": quick, "machine": machine_info(), "rows": [r.to_dict() for r in rows]}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
