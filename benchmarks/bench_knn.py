"""Benchmark the embedding index: build time, queries per second, memory and recall@10.

Indexes ``--n`` (default 1,000,000) synthetic 16-d embeddings with every index kind of
:mod:`vocaltools.index.faiss_index` (exact, IVF, HNSW), runs ``--queries`` (default 10,000)
queries for their ``--k`` (default 10) nearest neighbours, and compares the approximate indexes'
neighbours with the exact ones (recall@k = share of the exact top-k found). Prints a table and
writes JSON.

The embeddings are drawn like singer embeddings: ``--clusters`` singers (Gaussian clusters on a
sphere, default 10,000, so 100 clips per singer), queries from the same distribution
(``--data gaussian`` draws plain N(0, I) vectors, the hardest case for approximate search).

    python benchmarks/bench_knn.py -o bench_knn.json
    python benchmarks/bench_knn.py --n 100000 --queries 1000   # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vocaltools.index.faiss_index import IndexConfig, build_index  # noqa: E402


def rss_bytes() -> int:
    """Resident memory of this process (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def make_data(*, n: int, n_queries: int, dim: int, clusters: int, data: str, seed: int):
    """``(base float32 [n, dim], queries float32 [n_queries, dim])``."""
    rng = np.random.default_rng(seed)
    if data == "gaussian":
        return (rng.standard_normal((n, dim), dtype=np.float32),
                rng.standard_normal((n_queries, dim), dtype=np.float32))
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def draw(count: int) -> np.ndarray:
        owner = rng.integers(clusters, size=count)
        return centres[owner] + 0.15 * rng.standard_normal((count, dim), dtype=np.float32)

    return draw(n), draw(n_queries)


def bench_kind(kind: str, base: np.ndarray, queries: np.ndarray, *, k: int, config: IndexConfig,
               ids: list[str], labels: list[str], sweep_values=()) -> tuple:
    before = rss_bytes()
    start = time.perf_counter()
    index = build_index(base, item_ids=ids, labels=labels, config=config)
    build_s = time.perf_counter() - start
    memory = rss_bytes() - before
    index.search(queries[:10], k=k)  # warm-up
    start = time.perf_counter()
    distances, rows = index.faiss_index.search(queries, k)
    search_s = time.perf_counter() - start
    # the library path (Neighbor records with ids and labels) on a slice, to show its overhead
    sample = queries[: min(1000, len(queries))]
    start = time.perf_counter()
    index.search(sample, k=k)
    wrapped_qps = len(sample) / (time.perf_counter() - start)
    result = {"kind": kind, "config": {f: getattr(config, f) for f in config.__dataclass_fields__},
              "build_s": round(build_s, 3), "search_s": round(search_s, 3),
              "queries_per_s": round(len(queries) / search_s, 1),
              "queries_per_s_with_records": round(wrapped_qps, 1),
              "rss_increase_mb": round(memory / 2**20, 1)}
    sweep = []
    for value in sweep_values:
        # the search-time knob of the same built index: IVF nprobe, HNSW efSearch
        if kind == "ivf":
            index.faiss_index.nprobe = value
        else:
            index.faiss_index.hnsw.efSearch = value
        start = time.perf_counter()
        _, sweep_rows = index.faiss_index.search(queries, k)
        seconds = time.perf_counter() - start
        sweep.append({"nprobe" if kind == "ivf" else "ef_search": value,
                      "queries_per_s": round(len(queries) / seconds, 1), "rows": sweep_rows})
    del index
    return result, rows, sweep


def recall(rows: np.ndarray, exact_rows: np.ndarray, *, k: int) -> float:
    """Share of the exact top-k found by the approximate top-k (mean over queries)."""
    hits = sum(len(set(a[a >= 0]) & set(b)) for a, b in zip(rows, exact_rows))
    return round(hits / (k * len(rows)), 4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="indexed embeddings")
    parser.add_argument("--queries", type=int, default=10_000, help="query embeddings")
    parser.add_argument("--dim", type=int, default=16, help="embedding dimension (S2: 16)")
    parser.add_argument("--k", type=int, default=10, help="neighbours per query")
    parser.add_argument("--data", choices=("clustered", "gaussian"), default="clustered")
    parser.add_argument("--clusters", type=int, default=10_000, help="singers (clustered data)")
    parser.add_argument("--nlist", type=int, default=1024, help="IVF cells")
    parser.add_argument("--nprobe", type=int, default=16, help="IVF cells searched")
    parser.add_argument("--hnsw-m", type=int, default=32, help="HNSW links per node")
    parser.add_argument("--ef-construction", type=int, default=64)
    parser.add_argument("--ef-search", type=int, default=64)
    parser.add_argument("--kinds", default="exact,ivf,hnsw")
    parser.add_argument("--nprobe-sweep", default="1,4,64", help="more IVF nprobe values to time")
    parser.add_argument("--ef-sweep", default="16,128", help="more HNSW efSearch values to time")
    parser.add_argument("--threads", type=int, default=0, help="FAISS threads (0: its default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", default="bench_knn.json", help="JSON results file")
    args = parser.parse_args(argv)

    import faiss

    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    load_at_start = [round(v, 2) for v in os.getloadavg()]
    base, queries = make_data(n=args.n, n_queries=args.queries, dim=args.dim,
                              clusters=args.clusters, data=args.data, seed=args.seed)
    ids = [f"item{i}" for i in range(args.n)]
    labels = [f"singer{i % args.clusters}" for i in range(args.n)]
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if "exact" not in kinds:
        kinds.insert(0, "exact")  # the reference for recall
    results, exact_rows = [], None
    for kind in kinds:
        config = IndexConfig(kind=kind, nlist=args.nlist, nprobe=args.nprobe, hnsw_m=args.hnsw_m,
                             ef_construction=args.ef_construction, ef_search=args.ef_search)
        sweep_text = {"ivf": args.nprobe_sweep, "hnsw": args.ef_sweep}.get(kind, "")
        sweep_values = [int(v) for v in sweep_text.split(",") if v.strip()]
        result, rows, sweep = bench_kind(kind, base, queries, k=args.k, config=config, ids=ids,
                                         labels=labels, sweep_values=sweep_values)
        if kind == "exact":
            exact_rows = rows
            result["recall_at_k"] = 1.0
        else:
            result["recall_at_k"] = recall(rows, exact_rows, k=args.k)
            for point in sweep:
                point["recall_at_k"] = recall(point.pop("rows"), exact_rows, k=args.k)
                print(f"  {kind} {next(iter(point))}={next(iter(point.values()))}: "
                      f"{point['queries_per_s']:10.1f} q/s  recall@{args.k} "
                      f"{point['recall_at_k']:.4f}", flush=True)
            result["sweep"] = sweep
        results.append(result)
        print(f"{kind:<6} build {result['build_s']:8.2f} s  {result['queries_per_s']:10.1f} q/s  "
              f"(with records {result['queries_per_s_with_records']:8.1f} q/s)  "
              f"memory +{result['rss_increase_mb']:7.1f} MB  recall@{args.k} "
              f"{result['recall_at_k']:.4f}", flush=True)
    report = {"benchmark": "knn", "n": args.n, "queries": args.queries, "dim": args.dim,
              "k": args.k, "data": args.data, "clusters": args.clusters,
              "faiss": faiss.__version__, "threads": faiss.omp_get_max_threads(),
              "machine": platform.platform(), "cpu_count": os.cpu_count(),
              "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()],
              "load_average_at_start": load_at_start, "results": results}
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"-> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
