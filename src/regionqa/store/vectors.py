"""The vector index: FAISS over the chunk vectors, exact while small, approximate beyond."""

from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------- the vector index
#
# Exact search (IndexFlatIP) while it is fast enough, an approximate index beyond: the choice is
# made by size at every build, recorded in the manifest, and the search-time parameter is set
# when the Store opens the index. Numbers behind the constants: benchmarks/bench_scale.py and
# docs/scaling.md.

FLAT = "flat"
HNSW = "hnsw"
IVF = "ivf"
VECTOR_INDEX_TYPES = (FLAT, HNSW, IVF)
# Exact search costs ~0.1 µs per vector and query on one core of this machine (100k: 10 ms,
# 1M: 120 ms): past 50k it would take more than a third of the 15 ms a warm /ask may spend.
FLAT_MAX_VECTORS = 50_000
# Past it, IVF: at 1M synthetic vectors it built in 163 s against HNSW's 474 s (every build
# rebuilds this index from SQLite), held 1.48 GB against 1.77 GB, and found the exact top 10
# (recall@10 1.000 at nprobe 32, 0.7 ms a query) where HNSW (M 32, efConstruction 64) reached
# 0.92 at efSearch 128 (benchmarks/bench_scale.py; docs/scaling.md).
APPROXIMATE = IVF
HNSW_M = 32  # neighbours per node (64 on the bottom layer)
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 128
IVF_NPROBE = 32  # lists searched of ivf_lists(n): 0.998 at 16, 1.000 at 32 on 1M vectors
IVF_TRAIN_PER_LIST = 64  # training vectors per inverted list (faiss warns below 39)


def vector_index_type(count: int, flat_max: int | None = None) -> str:
    """The index type for `count` vectors: exact up to `flat_max` (default FLAT_MAX_VECTORS), else APPROXIMATE."""
    return FLAT if count <= (FLAT_MAX_VECTORS if flat_max is None else flat_max) else APPROXIMATE


def ivf_lists(count: int) -> int:
    """Inverted lists for IVF: about 4 sqrt(n) (faiss' rule of thumb), a power of two, 16 at least."""
    return max(16, 1 << round(np.log2(max(4 * np.sqrt(max(count, 1)), 1))))


def build_vector_index(vectors: np.ndarray, ids: np.ndarray, kind: str, threads: int | None = None):
    """A FAISS inner-product index of normalised `vectors` whose search returns `ids` (chunk row ids).

    flat: IndexIDMap2(IndexFlatIP), exact. hnsw: IndexIDMap2(IndexHNSWFlat) with HNSW_M and
    HNSW_EF_CONSTRUCTION. ivf: IndexIVFFlat with ivf_lists(n) lists trained on a sample (its
    own ids: add_with_ids). `threads` caps FAISS' OpenMP threads for the build.
    """
    import faiss

    if kind not in VECTOR_INDEX_TYPES:
        raise ValueError(f"unknown vector index type {kind!r}; use one of {', '.join(VECTOR_INDEX_TYPES)}")
    dimension = vectors.shape[1]
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    before = faiss.omp_get_max_threads()
    if threads:
        faiss.omp_set_num_threads(threads)
    try:
        if kind == FLAT or len(vectors) == 0:
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        elif kind == HNSW:
            inner = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            index = faiss.IndexIDMap2(inner)
        else:
            lists = ivf_lists(len(vectors))
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, lists, faiss.METRIC_INNER_PRODUCT)
            sample = min(len(vectors), lists * IVF_TRAIN_PER_LIST)
            chosen = np.random.default_rng(0).choice(len(vectors), sample, replace=False) if sample < len(vectors) else slice(None)
            index.cp.niter = 10  # k-means rounds: past ~10 recall barely moves and training time grows linearly
            index.train(vectors[chosen])
        if len(vectors):
            index.add_with_ids(vectors, ids)
    finally:
        faiss.omp_set_num_threads(before)
    set_search_parameters(index, kind if len(vectors) else FLAT)
    return index


def set_search_parameters(index, kind: str) -> None:
    """efSearch for HNSW, nprobe for IVF (they are not kept in the index file)."""
    import faiss

    if kind == HNSW:
        faiss.downcast_index(index.index).hnsw.efSearch = HNSW_EF_SEARCH
    elif kind == IVF:
        faiss.extract_index_ivf(index).nprobe = IVF_NPROBE


def search_parameters(kind: str, selector):
    """Search parameters that restrict a search to the ids `selector` takes, with the index type's own
    search setting (efSearch, nprobe) kept: parameters given to a search replace those set on the index."""
    import faiss

    if kind == HNSW:
        return faiss.SearchParametersHNSW(sel=selector, efSearch=HNSW_EF_SEARCH)
    if kind == IVF:
        return faiss.SearchParametersIVF(sel=selector, nprobe=IVF_NPROBE)
    return faiss.SearchParameters(sel=selector)
