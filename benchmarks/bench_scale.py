"""FAISS index types at scale: build time, query latency, memory and recall@10 on synthetic vectors.

    .venv/bin/python benchmarks/bench_scale.py [--sizes 100000 1000000] [--types flat hnsw ivf] [--queries 200]

The vectors are 384-d and normalised like MiniLM's, drawn from a mixture of topics, each spread
over its own 32-d subspace (see `data`), so that neighbours are not all equally far, as in
uniform noise, nor neatly inside one blob each, and recall@10 means something. Queries come from
the same mixture but are not in the index. Each index is built by the code regionqa uses
(`store.build_vector_index`, ids = synthetic chunk ids with gaps), with FAISS on all cores.
Reported per type: build seconds; size of the index file and the resident memory a fresh
process adds by loading it (what a Store pays);
query latency one query at a time on one thread (what `Store.dense_search` does: median, p99)
and for all queries in one batch on all cores (ms per query); recall@10 against exact search
(IndexFlatIP on the same vectors). HNSW is also swept over efSearch and IVF over nprobe.
Expect minutes at 1M (the HNSW build dominates; lower --hnsw-ef-construction to shorten it).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cold_ask import machine  # noqa: E402

from regionqa import store as store_mod  # noqa: E402

DIMENSION = 384
K = 10


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def unit(rows: np.ndarray) -> np.ndarray:
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


TOPIC_DIMENSIONS = 32  # each topic varies along its own 32-d subspace: a continuum, not blobs


def sample(
    topics: np.ndarray, bases: np.ndarray, n: int, rng: np.random.Generator, spread: float = 1.0, jitter: float = 0.1, block: int = 100_000
) -> np.ndarray:
    """n normalised vectors: a random topic, plus a Gaussian step of norm ~`spread` inside the
    topic's subspace, plus isotropic jitter of norm `jitter`."""
    out = np.empty((n, topics.shape[1]), dtype=np.float32)
    for start in range(0, n, block):
        size = min(block, n - start)
        chosen = rng.integers(0, len(topics), size)
        part = topics[chosen] + jitter * unit(rng.standard_normal((size, topics.shape[1]), dtype=np.float32))
        steps = rng.standard_normal((size, TOPIC_DIMENSIONS), dtype=np.float32) * (spread / np.sqrt(TOPIC_DIMENSIONS))
        for topic in np.unique(chosen):
            rows = np.flatnonzero(chosen == topic)
            part[rows] += steps[rows] @ bases[topic]
        out[start : start + size] = unit(part)
    return out


def data(n: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A mixture of topics (~2,000 vectors each), each spread over its own low-dimensional subspace.

    Text embeddings have a low intrinsic dimension and topical structure: here the cosine of
    two vectors of one topic runs from ~0.5 to ~0.95 and of two topics is ~0, so that nearest
    neighbours form a continuum that crosses IVF's lists and HNSW's shortcuts, unlike uniform
    noise (all points equally far) or tight blobs (every method finds the whole blob).
    """
    rng = np.random.default_rng(seed)
    topics = unit(rng.standard_normal((max(10, n // 2000), DIMENSION), dtype=np.float32))
    bases = unit(rng.standard_normal((len(topics) * TOPIC_DIMENSIONS, DIMENSION), dtype=np.float32)).reshape(
        len(topics), TOPIC_DIMENSIONS, DIMENSION
    )
    # Chunk ids as a store has them after removals and re-adds: increasing, with gaps.
    ids = np.cumsum(rng.integers(1, 4, n)).astype(np.int64) + 1000
    return sample(topics, bases, n, rng), ids, sample(topics, bases, queries, rng)


def single_thread_latency(index, queries: np.ndarray) -> tuple[list[float], np.ndarray]:
    """Milliseconds per query, one query per call on one thread (as Store.dense_search); and the ids found."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        for query in queries[:10]:  # warm caches
            index.search(query[None], K)
        times, found = [], np.empty((len(queries), K), dtype=np.int64)
        for row, query in enumerate(queries):
            started = time.perf_counter()
            _, ids = index.search(query[None], K)
            times.append((time.perf_counter() - started) * 1000)
            found[row] = ids[0]
    finally:
        faiss.omp_set_num_threads(before)
    return times, found


def batch_latency(index, queries: np.ndarray, runs: int = 3) -> float:
    """Milliseconds per query for all queries in one call on all cores (median of `runs`)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        index.search(queries, K)
        times.append((time.perf_counter() - started) * 1000 / len(queries))
    return statistics.median(times)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)]))


LOAD_PROBE = """
import os, sys, faiss
def rss():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
base = rss()
index = faiss.read_index(sys.argv[1])
print(rss() - base)
"""


def size_and_memory_mb(index) -> tuple[float, float]:
    """(index file MB, resident MB a fresh process adds by loading it): what a Store pays to open it."""
    import subprocess

    import faiss

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as folder:
        path = Path(folder) / "index.faiss"
        faiss.write_index(index, str(path))
        loaded = subprocess.run([sys.executable, "-c", LOAD_PROBE, str(path)], capture_output=True, text=True, check=True, timeout=600)
        return path.stat().st_size / 2**20, float(loaded.stdout.strip())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def row(
    n: int,
    kind: str,
    setting: str,
    build: float | None,
    size: float | None,
    added: float | None,
    times: list[float],
    batch: float | None,
    rec: float,
) -> None:
    def fmt(value, spec):
        return format(value, spec) if value is not None else "-"

    print(
        f"| {n:>9,} | {kind:<5} | {setting:<18} | {fmt(build, '8.1f')} | {fmt(size, '8.0f')} | {fmt(added, '8.0f')} | "
        f"{statistics.median(times):7.2f} | {percentile(times, 0.99):7.2f} | {fmt(batch, '7.3f')} | {rec:6.3f} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--types", nargs="+", default=list(store_mod.VECTOR_INDEX_TYPES), choices=store_mod.VECTOR_INDEX_TYPES)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--hnsw-m", type=int, default=store_mod.HNSW_M)
    parser.add_argument("--hnsw-ef-construction", type=int, default=store_mod.HNSW_EF_CONSTRUCTION)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[32, 64, store_mod.HNSW_EF_SEARCH, 256])
    parser.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, store_mod.IVF_NPROBE, 64])
    args = parser.parse_args()
    if any(not 1_000 <= n <= 5_000_000 for n in args.sizes) or not 10 <= args.queries <= 10_000:
        parser.error("sizes 1,000..5,000,000 and 10..10,000 queries keep the run bounded")
    import faiss

    store_mod.HNSW_M, store_mod.HNSW_EF_CONSTRUCTION = args.hnsw_m, args.hnsw_ef_construction
    print(f"machine: {machine()}; faiss {faiss.__version__}, {faiss.omp_get_max_threads()} OpenMP threads")
    print(f"HNSW M={store_mod.HNSW_M} efConstruction={store_mod.HNSW_EF_CONSTRUCTION} (default efSearch {store_mod.HNSW_EF_SEARCH}); "
          f"IVF lists ~4 sqrt(n), {store_mod.IVF_TRAIN_PER_LIST} training vectors per list, 10 k-means rounds (default nprobe {store_mod.IVF_NPROBE}); "
          f"{args.queries} queries, recall@{K} against exact search")  # fmt: skip
    print("| vectors | type | search setting | build s | file MB | RSS to load MB | 1 query p50 ms | p99 ms | batch ms/query | recall@10 |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        vectors, ids, queries = data(n, args.queries)
        truth = None
        for kind in ["flat"] + [t for t in args.types if t != "flat"]:
            gc.collect()
            started = time.perf_counter()
            index = store_mod.build_vector_index(vectors, ids, kind)
            build = time.perf_counter() - started
            size, added = size_and_memory_mb(index)
            if kind == "flat":
                _, truth = index.search(queries, K)  # exact: the reference for recall
                if "flat" not in args.types:
                    del index
                    continue
            if kind == "flat":
                settings = [("exact", None)]
            elif kind == "hnsw":
                settings = [(f"efSearch {ef}", ef) for ef in args.ef_search]
            else:
                settings = [(f"nprobe {p} of {store_mod.ivf_lists(n)}", p) for p in args.nprobe]
            for number, (label, value) in enumerate(settings):
                if kind == "hnsw":
                    faiss.downcast_index(index.index).hnsw.efSearch = value
                elif kind == "ivf":
                    faiss.extract_index_ivf(index).nprobe = value
                times, found = single_thread_latency(index, queries)
                first = number == 0
                row(
                    n,
                    kind,
                    label,
                    build if first else None,
                    size if first else None,
                    added if first else None,
                    times,
                    batch_latency(index, queries),
                    recall(found, truth),
                )
            del index
        del vectors, ids, queries, truth
        gc.collect()
    print(f"peak RSS of this process: {peak_rss_mb():,.0f} MB; load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
