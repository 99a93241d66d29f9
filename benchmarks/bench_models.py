"""Forward + backward time and peak memory of every registry model at its paper input size.

Each model runs in its own subprocess so that its peak memory (max resident set size above the
process's baseline after imports, on CPU; ``torch.cuda.max_memory_allocated`` on GPU) is its own.
Prints a table and writes JSON.

    python benchmarks/bench_models.py                     # every model, CPU (and CUDA if present)
    python benchmarks/bench_models.py crnn crnn_fgnl --batch-size 4 --repeats 3 -o bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))


def _max_rss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def measure(name: str, *, device: str, batch_size: int | None, repeats: int, threads: int | None) -> dict:
    """Time ``repeats`` forward+backward passes (after one warm-up) of ``name`` on ``device``."""
    import torch

    from vocaltools.models.registry import build_model, count_params, count_params_keras, get_spec
    from vocaltools.training.config import SEED_DEFAULTS

    if threads:
        torch.set_num_threads(threads)
    spec = get_spec(name)
    batch = batch_size or SEED_DEFAULTS.get(spec.seed, SEED_DEFAULTS[""]).batch_size
    torch.manual_seed(0)
    baseline = _max_rss_bytes()
    model = build_model(name).to(device).train()
    x = torch.randn(batch, *spec.input_shape, device=device)
    target = torch.randint(0, spec.n_classes, (batch,), device=device)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), target)
        loss.backward()
        if device == "cuda":
            torch.cuda.synchronize()

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    step()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else _max_rss_bytes() - baseline
    return {"name": name, "seed": spec.seed, "device": device, "batch_size": batch,
            "input_shape": list(spec.input_shape), "params": count_params(model),
            "params_keras": count_params_keras(model), "seconds_per_step": min(times),
            "seconds_per_step_mean": sum(times) / len(times), "peak_memory_mb": peak / 2**20,
            "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="registry names (default: all)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="auto = CPU, and CUDA too when available")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="batch size (default: the seed paper's training batch)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per model")
    parser.add_argument("-o", "--output", default="bench_models.json")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # child process
    args = parser.parse_args(argv)

    if args.one:  # child: one model, one device, JSON on stdout
        print(json.dumps(measure(args.models[0], device=args.device, batch_size=args.batch_size,
                                 repeats=args.repeats, threads=args.threads)))
        return 0

    import torch

    from vocaltools.models.catalog import SPECS

    names = args.models or [s.name for s in SPECS]
    devices = ["cpu", "cuda"] if args.device == "auto" and torch.cuda.is_available() else \
        ["cpu"] if args.device == "auto" else [args.device]
    results = []
    print(f"{'model':<17}{'device':<7}{'batch':>6}{'params':>12}{'s/step':>9}{'peak MB':>10}")
    for device in devices:
        for name in names:
            command = [sys.executable, __file__, name, "--one", "--device", device,
                       "--repeats", str(args.repeats)]
            if args.batch_size:
                command += ["--batch-size", str(args.batch_size)]
            if args.threads:
                command += ["--threads", str(args.threads)]
            env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
            try:
                done = subprocess.run(command, capture_output=True, text=True, env=env,
                                      timeout=args.timeout)
            except subprocess.TimeoutExpired:
                results.append({"name": name, "device": device, "error": f"timeout {args.timeout} s"})
                print(f"{name:<17}{device:<7}  timed out after {args.timeout} s")
                continue
            if done.returncode != 0:
                message = (done.stderr.strip().splitlines() or ["failed"])[-1]
                results.append({"name": name, "device": device, "error": message})
                print(f"{name:<17}{device:<7}  error: {message}")
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            results.append(row)
            print(f"{name:<17}{device:<7}{row['batch_size']:>6}{row['params']:>12,}"
                  f"{row['seconds_per_step']:>9.3f}{row['peak_memory_mb']:>10.0f}", flush=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
