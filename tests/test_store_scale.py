"""The vector index type chosen by size: approximate indexes return chunk ids, find the exact
neighbours (recall@10 against brute force) and stay right when sources are removed and re-added.

Synthetic store: 20,000 clustered, normalised 384-d vectors in 100 sources, with the flat
threshold lowered so that the approximate index is built.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from regionqa import store as store_mod
from regionqa.models import Analysis, Chunk, Source

DIMENSION = 384
SOURCES = 100
CHUNKS_PER_SOURCE = 200  # 20,000 vectors
K = 10


def mixture(n: int, rng: np.random.Generator, centres: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Normalised vectors of a few topics, each spread over its own 32-d subspace (as in
    benchmarks/bench_scale.py): a continuum of neighbours, like text embeddings, not blobs."""
    topics, bases = centres
    chosen = rng.integers(0, len(topics), n)
    steps = rng.standard_normal((n, bases.shape[1]), dtype=np.float32) / np.sqrt(bases.shape[1])
    vectors = topics[chosen] + _steps(steps, bases, chosen)
    vectors += 0.1 * _unit(rng.standard_normal((n, DIMENSION), dtype=np.float32))
    return _unit(vectors).astype(np.float32)


def _steps(steps: np.ndarray, bases: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    out = np.empty((len(steps), bases.shape[2]), dtype=np.float32)
    for topic in np.unique(chosen):
        rows = np.flatnonzero(chosen == topic)
        out[rows] = steps[rows] @ bases[topic]
    return out


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def centres() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    topics = _unit(rng.standard_normal((10, DIMENSION), dtype=np.float32))
    bases = _unit(rng.standard_normal((10 * 32, DIMENSION), dtype=np.float32)).reshape(10, 32, DIMENSION)
    return topics, bases


def source(number: int) -> Source:
    text = " ".join(f"s{number}c{i}" for i in range(CHUNKS_PER_SOURCE))
    return Source(name=f"doc-{number:03d}.txt", text=text, content_hash=f"{number:064x}")


def insert(writer: store_mod.IndexWriter, number: int, vectors: np.ndarray) -> None:
    src = source(number)
    words = src.text.split()
    chunks, offset = [], 0
    for word in words:
        chunks.append(Chunk(source=src.name, start=offset, end=offset + len(word), text=word))
        offset += len(word) + 1
    writer.insert_source(src, Analysis([], [], [], []), chunks, vectors, words, [""] * len(words))


def manifest(count: int, kind: str) -> store_mod.Manifest:
    return store_mod.Manifest(
        schema_version=store_mod.SCHEMA_VERSION, embedding_model="test", embedding_sha256="0" * 64, dimension=DIMENSION,
        spacy_model="none", chunking={}, sources=SOURCES, chunks=count, vector_index=kind,
    )  # fmt: skip


def publish(generation: Path, writer: store_mod.IndexWriter, flat_max: int) -> store_mod.Store:
    writer.commit()
    written = writer.write_vectors(generation / store_mod.VECTORS_FILE, DIMENSION, flat_max=flat_max)
    return store_mod.Store(generation, store_mod.Manifest(**{**asdict(manifest(written.count, written.kind))}))


def stored(store: store_mod.Store) -> tuple[np.ndarray, np.ndarray]:
    ids, vectors = store_mod.read_stored_vectors(store.db, DIMENSION)
    return ids, vectors


def recall_at_k(store: store_mod.Store, queries: np.ndarray) -> float:
    ids, vectors = stored(store)
    total = 0.0
    for query in queries:
        exact = set(ids[np.argsort(-(vectors @ query))[:K]].tolist())
        found = [i for i, _ in store.dense_search(query, K)]
        assert len(found) == K and set(found) <= set(ids.tolist())
        total += len(exact & set(found)) / K
    return total / len(queries)


def test_the_type_follows_the_size() -> None:
    assert store_mod.vector_index_type(0) == store_mod.FLAT
    assert store_mod.vector_index_type(store_mod.FLAT_MAX_VECTORS) == store_mod.FLAT
    assert store_mod.vector_index_type(store_mod.FLAT_MAX_VECTORS + 1) == store_mod.APPROXIMATE
    assert store_mod.vector_index_type(500, flat_max=499) == store_mod.APPROXIMATE
    assert store_mod.APPROXIMATE in (store_mod.HNSW, store_mod.IVF)
    assert [store_mod.ivf_lists(n) for n in (10, 100_000, 1_000_000)] == [16, 1024, 4096]


def test_old_manifests_without_the_field_load_as_flat() -> None:
    data = asdict(manifest(5, "flat"))
    del data["vector_index"]
    assert store_mod.Manifest(**data).vector_index == store_mod.FLAT


@pytest.mark.parametrize("kind", [store_mod.HNSW, store_mod.IVF])
def test_approximate_index_returns_chunk_ids_with_high_recall_and_survives_removal(
    tmp_path: Path, centres: tuple, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    import faiss

    monkeypatch.setattr(store_mod.vectors, "APPROXIMATE", kind)
    rng = np.random.default_rng(1)
    writer = store_mod.IndexWriter(tmp_path)
    # Make the row ids differ from positions: a first source is added, then removed after the rest.
    insert(writer, 999, mixture(CHUNKS_PER_SOURCE, rng, centres))
    vectors_by_source = {n: mixture(CHUNKS_PER_SOURCE, rng, centres) for n in range(SOURCES)}
    for number, vectors in vectors_by_source.items():
        insert(writer, number, vectors)
    writer.delete_sources([source(999).name])
    store = publish(tmp_path, writer, flat_max=1_000)
    assert store.manifest.vector_index == kind and store.chunk_count() == SOURCES * CHUNKS_PER_SOURCE
    inner = store.vectors
    if kind == store_mod.HNSW:
        assert isinstance(faiss.downcast_index(inner.index), faiss.IndexHNSWFlat)
        assert faiss.downcast_index(inner.index).hnsw.efSearch == store_mod.HNSW_EF_SEARCH
    else:
        assert faiss.extract_index_ivf(inner).nprobe == store_mod.IVF_NPROBE

    ids, vectors = stored(store)
    assert ids.min() > CHUNKS_PER_SOURCE, "ids are chunk row ids, not positions"
    # A stored vector finds its own chunk first: ids are the rows', not positions in the index.
    for row in rng.choice(len(ids), 20, replace=False):
        assert store.dense_search(vectors[row], 1)[0][0] == int(ids[row])
    queries = mixture(50, rng, centres)
    assert recall_at_k(store, queries) >= 0.95
    store.close()

    # Remove ten sources and add them back (new row ids), then rebuild the vectors as a build does.
    removed = list(range(0, SOURCES, 10))
    old_ids = {
        n: [r[0] for r in writer.db.execute("SELECT id FROM chunks WHERE source = ? ORDER BY id", (source(n).name,))] for n in removed
    }
    writer.delete_sources([source(n).name for n in removed])
    for number in removed:
        insert(writer, number, vectors_by_source[number])
    (tmp_path / store_mod.VECTORS_FILE).unlink()
    store = publish(tmp_path, writer, flat_max=1_000)
    new_ids = {
        n: [r[0] for r in writer.db.execute("SELECT id FROM chunks WHERE source = ? ORDER BY id", (source(n).name,))] for n in removed
    }
    stale = {i for ids_ in old_ids.values() for i in ids_}
    assert stale.isdisjoint(i for ids_ in new_ids.values() for i in ids_)
    for number in removed:
        for position in (0, CHUNKS_PER_SOURCE // 2, CHUNKS_PER_SOURCE - 1):
            found = store.dense_search(vectors_by_source[number][position], K)
            assert found[0][0] == new_ids[number][position]
            assert stale.isdisjoint(i for i, _ in found)
    assert recall_at_k(store, queries) >= 0.95
    store.close()
    writer.close()


def test_below_the_threshold_the_index_is_exact(tmp_path: Path, centres: tuple) -> None:
    rng = np.random.default_rng(2)
    writer = store_mod.IndexWriter(tmp_path)
    for number in range(5):
        insert(writer, number, mixture(CHUNKS_PER_SOURCE, rng, centres))
    store = publish(tmp_path, writer, flat_max=1_000)
    assert store.manifest.vector_index == store_mod.FLAT
    assert recall_at_k(store, mixture(20, rng, centres)) == 1.0
    store.close()
    writer.close()


@pytest.mark.parametrize("kind", [store_mod.FLAT, store_mod.HNSW, store_mod.IVF])
def test_a_search_among_some_chunks_finds_their_exact_nearest(
    tmp_path: Path, centres: tuple, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """`ask --source` searches only the chunks of the chosen sources: the top k among them, as brute force finds them."""
    monkeypatch.setattr(store_mod.vectors, "APPROXIMATE", store_mod.IVF if kind == store_mod.FLAT else kind)
    rng = np.random.default_rng(3)
    writer = store_mod.IndexWriter(tmp_path)
    for number in range(SOURCES):
        insert(writer, number, mixture(CHUNKS_PER_SOURCE, rng, centres))
    store = publish(tmp_path, writer, flat_max=10**9 if kind == store_mod.FLAT else 1_000)
    assert store.manifest.vector_index == kind
    ids, vectors = stored(store)
    among = store.chunk_ids_of([source(n).name for n in (3, 17)])
    assert len(among) == 2 * CHUNKS_PER_SOURCE
    chosen = np.isin(ids, among)
    for query in mixture(10, rng, centres):
        exact = ids[chosen][np.argsort(-(vectors[chosen] @ query))[:K]].tolist()
        assert [i for i, _ in store.dense_search(query, K, among)] == exact
    assert store.dense_search(mixture(1, rng, centres)[0], K, []) == []
    store.close()
