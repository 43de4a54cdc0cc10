"""The index on disk: a folder of generations, each with `manifest.json`, `meta.sqlite`, `vectors.faiss`.

    index/
      CURRENT              name of the generation that answers (replaced atomically)
      .lock                held by a build, so that two builds cannot interleave
      gen-<time>-<rand>/   manifest.json, meta.sqlite, vectors.faiss

A build writes a whole new generation beside the current one and then switches CURRENT
with one atomic rename: a build killed at any point leaves the previous index answering.
Published generations are never modified, so readers open them immutable, without locks.

What is guaranteed (tests/test_faults.py kills builds at each step, tests/test_index_recovery.py
breaks every part):
- A build killed at any moment (SIGKILL, power cut) leaves CURRENT naming a complete, checked
  generation: the previous one, or the new one once the rename is done. What the killed build
  left (a generation folder, a .CURRENT.* file) is ignored by readers and removed by the next
  build; the kernel drops the killed build's lock.
- One build at a time: a second one fails at once (IndexBusyError, exit code 5).
- A reader opens exactly one generation: CURRENT, then that folder's manifest and files, checked
  (identity, size, sha256) before use. Builds delete superseded generations but keep the one
  before the current; a reader that has opened a generation answers from it to the end even after
  it is deleted (its SQLite file stays open, its vectors are in memory), and a reader whose
  generation vanished before it could open it opens the new current one (open_store).
- A missing, cut, altered or mismatched part (manifest, data files, CURRENT) is an
  IndexStateError (exit code 3) that names `regionqa index build --full`, which rebuilds from
  the corpus whatever state the index folder is in.
SQLite holds sources, sentences, chunks (with their vectors), entities, figures and phrases,
and an FTS5 table for BM25; FAISS ids are the chunk row ids, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import BadInputError, IndexStateError
from .models import Analysis, Chunk, Figure, Source, Span, location_of

SCHEMA_VERSION = 2
CURRENT_FILE = "CURRENT"
LOCK_FILE = ".lock"
MANIFEST_FILE = "manifest.json"
DATABASE_FILE = "meta.sqlite"
VECTORS_FILE = "vectors.faiss"
REBUILD_HINT = "run: regionqa index build --full"


@dataclass(frozen=True)
class Manifest:
    """What an index was built with; any difference from the running settings means a rebuild."""

    schema_version: int
    embedding_model: str
    embedding_sha256: str
    dimension: int
    spacy_model: str
    chunking: dict
    sources: int = 0
    chunks: int = 0
    created: str = ""
    files: dict = field(default_factory=dict)  # name -> {"size", "sha256"}: detects truncation and corruption
    vector_index: str = "flat"  # FAISS index type (flat, hnsw, ivf); older manifests had only flat

    def identity(self) -> dict:
        """The fields that must match between an index and the running code."""
        return {
            "schema_version": self.schema_version,
            "embedding_model": self.embedding_model,
            "embedding_sha256": self.embedding_sha256,
            "dimension": self.dimension,
            "spacy_model": self.spacy_model,
            "chunking": self.chunking,
        }


def m001_create_tables(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE sources (
            name TEXT PRIMARY KEY, content_hash TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL
        );
        CREATE TABLE sentences (
            id INTEGER PRIMARY KEY, source TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL
        );
        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY, source TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
            vector BLOB NOT NULL
        );
        CREATE TABLE entities (
            id INTEGER PRIMARY KEY, source TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
            text TEXT NOT NULL, label TEXT NOT NULL
        );
        CREATE TABLE figures (
            id INTEGER PRIMARY KEY, source TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
            text TEXT NOT NULL, label TEXT NOT NULL, value REAL, value_max REAL, unit TEXT
        );
        CREATE TABLE phrases (
            id INTEGER PRIMARY KEY, source TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
            label TEXT NOT NULL
        );
        CREATE INDEX sentences_by_source ON sentences (source, start);
        CREATE INDEX chunks_by_source ON chunks (source, start);
        CREATE INDEX entities_by_source ON entities (source, start);
        CREATE INDEX entities_by_label ON entities (label, text);
        CREATE INDEX figures_by_source ON figures (source, start);
        CREATE INDEX phrases_by_source ON phrases (source, start);
        -- BM25 over chunk text, plus canonical numbers ("4.5 million" -> n4500000) for number-aware search.
        CREATE VIRTUAL TABLE chunks_fts USING fts5(text, numbers, tokenize = 'porter unicode61 remove_diacritics 2');
        """
    )


def m002_add_pages(db: sqlite3.Connection) -> None:
    """Where each page of a source starts (a JSON list of offsets; NULL for a source without pages),
    so that a citation can give the page of a PDF."""
    db.execute("ALTER TABLE sources ADD COLUMN pages TEXT")


MIGRATIONS = [m001_create_tables, m002_add_pages]
assert len(MIGRATIONS) == SCHEMA_VERSION


def migrate(db: sqlite3.Connection) -> None:
    """Bring a database to SCHEMA_VERSION, one numbered migration at a time."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
        migration(db)
        db.execute(f"PRAGMA user_version = {number}")


# ---------------------------------------------------------------- generations


GENERATION_NAME = re.compile(r"gen-[A-Za-z0-9_-]+")


def current_generation(index_dir: Path) -> Path | None:
    """The folder of the generation that answers, or None when no index was built.

    IndexStateError when CURRENT cannot be read or does not name a generation folder of index_dir
    (garbage, a path, a folder that is gone): such an index is never guessed at.
    """
    check_index_dir(index_dir)
    path = index_dir / CURRENT_FILE
    try:
        with path.open("rb") as handle:
            name = handle.read(4096).decode("utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not a generation name"
        raise IndexStateError(f"the index pointer {path} cannot be read ({reason}); {REBUILD_HINT}") from None
    folder = index_dir / name
    if not GENERATION_NAME.fullmatch(name) or not folder.is_dir():
        raise IndexStateError(f"the index in {index_dir} points to a missing generation {name[:80]!r}; {REBUILD_HINT}")
    return folder


def check_index_dir(index_dir: Path) -> None:
    """BadInputError when the index folder given is a file: no build could ever write there."""
    if index_dir.exists() and not index_dir.is_dir():
        raise BadInputError(f"{index_dir} is a file, not an index folder; pass a folder with --index-dir (or REGIONQA_INDEX_DIR)")


def new_generation(index_dir: Path) -> Path:
    index_dir.mkdir(parents=True, exist_ok=True)
    folder = index_dir / f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    folder.mkdir()
    return folder


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(index_dir: Path, generation: Path) -> None:
    """Make `generation` the answering index with one atomic rename, durable across a power cut."""
    for child in generation.iterdir():
        _fsync_path(child)
    _fsync_path(generation)
    temporary = index_dir / f".{CURRENT_FILE}.{secrets.token_hex(3)}"
    temporary.write_text(generation.name + "\n", encoding="utf-8")
    _fsync_path(temporary)
    os.replace(temporary, index_dir / CURRENT_FILE)
    _fsync_path(index_dir)


def remove_stale_generations(index_dir: Path, keep: Iterable[Path], unfinished_only: bool = False) -> None:
    """Delete generations other than `keep`: unfinished builds and superseded indexes. With
    `unfinished_only`, only folders without a manifest (a build killed before it wrote one).
    Only a build calls this, under the build lock, so no other build is writing any of them."""
    kept = {p.name for p in keep}
    for child in index_dir.glob("gen-*"):
        if child.is_dir() and child.name not in kept and not (unfinished_only and (child / MANIFEST_FILE).exists()):
            shutil.rmtree(child, ignore_errors=True)
    for child in index_dir.glob(f".{CURRENT_FILE}.*"):
        child.unlink(missing_ok=True)


# ---------------------------------------------------------------- writing


def open_for_writing(generation: Path, previous: Path | None) -> sqlite3.Connection:
    """A database for a new generation: a copy of the previous one to update, or a new one."""
    path = generation / DATABASE_FILE
    db = sqlite3.connect(path)
    if previous is not None:
        source = sqlite3.connect(f"file:{previous / DATABASE_FILE}?mode=ro", uri=True)
        try:
            source.backup(db)
        finally:
            source.close()
    db.execute("PRAGMA journal_mode = DELETE")
    db.execute("PRAGMA synchronous = NORMAL")
    migrate(db)
    db.commit()
    return db


def stored_hashes(db: sqlite3.Connection) -> dict[str, str]:
    return dict(db.execute("SELECT name, content_hash FROM sources"))


def indexed_hashes(generation: Path) -> dict[str, str]:
    """{source name: content hash} of a generation, read from SQLite alone (no FAISS index loaded)."""
    db = sqlite3.connect(f"file:{generation / DATABASE_FILE}?mode=ro", uri=True)
    try:
        return stored_hashes(db)
    finally:
        db.close()


def delete_sources(db: sqlite3.Connection, names: Sequence[str]) -> None:
    """Remove sources and everything derived from them, FTS rows included."""
    for name in names:
        db.execute("DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE source = ?)", (name,))
        for table in ("chunks", "sentences", "entities", "figures", "phrases"):
            db.execute(f"DELETE FROM {table} WHERE source = ?", (name,))
        db.execute("DELETE FROM sources WHERE name = ?", (name,))


def insert_source(
    db: sqlite3.Connection,
    source: Source,
    analysis: Analysis,
    chunks: list[Chunk],
    vectors: np.ndarray,
    search_texts: list[str],
    numbers: list[str],
) -> None:
    """Store one analysed, chunked and embedded source; the caller commits.

    `search_texts` is what BM25 indexes for each chunk (its text with context), `numbers` its
    canonical number tokens.
    """
    name = source.name
    pages = json.dumps(list(source.pages)) if source.pages else None
    db.execute(
        "INSERT INTO sources (name, content_hash, title, text, pages) VALUES (?, ?, ?, ?, ?)",
        (name, source.content_hash, source.title, source.text, pages),
    )
    insert_parts(db, name, analysis, chunks, vectors, search_texts, numbers)


def insert_parts(
    db: sqlite3.Connection,
    name: str,
    analysis: Analysis,
    chunks: list[Chunk],
    vectors: np.ndarray,
    search_texts: list[str],
    numbers: list[str],
) -> None:
    """Store the analysis and embedded chunks of (a piece of) an inserted source; offsets are into its whole text.

    A large source is stored piece by piece: insert_source with the first piece, then this.
    """
    db.executemany('INSERT INTO sentences (source, start, "end") VALUES (?, ?, ?)', [(name, s.start, s.end) for s in analysis.sentences])
    db.executemany(
        'INSERT INTO entities (source, start, "end", text, label) VALUES (?, ?, ?, ?, ?)',
        [(name, e.start, e.end, e.text, e.label) for e in analysis.entities],
    )
    db.executemany(
        'INSERT INTO figures (source, start, "end", text, label, value, value_max, unit) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        [(name, f.start, f.end, f.text, f.label, f.value, f.value_max, f.unit) for f in analysis.figures],
    )
    db.executemany(
        'INSERT INTO phrases (source, start, "end", label) VALUES (?, ?, ?, ?)', [(name, p.start, p.end, p.label) for p in analysis.phrases]
    )
    for chunk, vector, search_text, number_text in zip(chunks, vectors, search_texts, numbers, strict=True):
        cursor = db.execute(
            'INSERT INTO chunks (source, start, "end", vector) VALUES (?, ?, ?, ?)',
            (name, chunk.start, chunk.end, vector.astype(np.float32).tobytes()),
        )
        db.execute("INSERT INTO chunks_fts (rowid, text, numbers) VALUES (?, ?, ?)", (cursor.lastrowid, search_text, number_text))


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


def read_stored_vectors(db: sqlite3.Connection, dimension: int) -> tuple[np.ndarray, np.ndarray]:
    """(chunk ids, their vectors) in id order, filled in place: one copy of the vectors in memory, not three."""
    count = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
    ids = np.empty(count, dtype=np.int64)
    vectors = np.empty((count, dimension), dtype=np.float32)
    filled = 0
    for filled, (chunk_id, blob) in enumerate(db.execute("SELECT id, vector FROM chunks ORDER BY id"), start=1):
        ids[filled - 1] = chunk_id
        vectors[filled - 1] = np.frombuffer(blob, dtype=np.float32)
    if filled != count:
        raise IndexStateError(f"the chunk table changed while its vectors were read ({filled} of {count})")
    return ids, vectors


class VectorsWritten(NamedTuple):
    count: int
    kind: str  # FLAT, HNSW or IVF: recorded in the manifest as `vector_index`


def write_vectors(db: sqlite3.Connection, path: Path, dimension: int, flat_max: int | None = None) -> VectorsWritten:
    """Build the FAISS index from the vectors stored in SQLite, ids = chunk row ids.

    The type follows the size (vector_index_type); returns the count and the type.
    """
    import faiss

    ids, vectors = read_stored_vectors(db, dimension)
    kind = vector_index_type(len(ids), flat_max)
    faiss.write_index(build_vector_index(vectors, ids, kind), str(path))
    return VectorsWritten(len(ids), kind)


def write_manifest(generation: Path, manifest: Manifest) -> Manifest:
    """Record each data file's size and hash, then write the manifest."""
    from .integrity import file_sha256

    files = {
        name: {"size": (generation / name).stat().st_size, "sha256": file_sha256(generation / name)}
        for name in (DATABASE_FILE, VECTORS_FILE)
    }
    final = Manifest(**{**asdict(manifest), "files": files, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    (generation / MANIFEST_FILE).write_text(json.dumps(asdict(final), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return final


# ---------------------------------------------------------------- reading


def read_manifest(generation: Path) -> Manifest:
    """The manifest of a generation; IndexStateError when it is missing, unreadable or malformed."""
    path = generation / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        manifest = Manifest(**data)
    except FileNotFoundError:
        raise IndexStateError(f"the index manifest {path} is missing; {REBUILD_HINT}") from None
    except (OSError, ValueError, TypeError) as error:  # ValueError: bad JSON or UTF-8; TypeError: not an object, unknown keys
        detail = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise IndexStateError(f"the index manifest {path} is unreadable ({detail}); {REBUILD_HINT}") from None
    counts_ok = all(type(getattr(manifest, key)) is int for key in ("schema_version", "dimension", "sources", "chunks"))
    files_ok = isinstance(manifest.files, dict) and all(
        isinstance(entry, dict) and type(entry.get("size")) is int and isinstance(entry.get("sha256"), str)
        for entry in manifest.files.values()
    )
    if not (counts_ok and files_ok):
        raise IndexStateError(f"the index manifest {path} is malformed (a count or the file list has the wrong type); {REBUILD_HINT}")
    return manifest


def check_compatible(manifest: Manifest, expected: Manifest) -> None:
    """Refuse an index built by another schema, model or chunking: never mix vectors of two models."""
    found, wanted = manifest.identity(), expected.identity()
    for key, value in wanted.items():
        if found.get(key) != value:
            raise IndexStateError(f"the index was built with {key}={found.get(key)!r} but this regionqa uses {value!r}; {REBUILD_HINT}")


def check_files(generation: Path, manifest: Manifest) -> None:
    """Detect a missing, truncated or altered data file before it can give wrong answers."""
    from .integrity import file_sha256

    for name in (DATABASE_FILE, VECTORS_FILE):
        path = generation / name
        expected = manifest.files.get(name)
        if expected is None:
            raise IndexStateError(f"the index manifest in {generation} does not list {name}; {REBUILD_HINT}")
        try:
            intact = path.stat().st_size == expected["size"] and file_sha256(path) == expected["sha256"]
        except OSError:  # gone, or not readable
            raise IndexStateError(f"the index file {path} is missing; {REBUILD_HINT}") from None
        if not intact:
            raise IndexStateError(f"the index file {path} is corrupt (its size or hash changed); {REBUILD_HINT}")


TEXT_CACHE_CHARS = 32_000_000  # source texts a Store keeps in memory (characters), then starts again
FREQUENCY_CACHE_TERMS = 50_000


class Store:
    """A published generation, opened read-only: the narrow interface search and answer use."""

    def __init__(self, generation: Path, manifest: Manifest):
        import faiss

        self.generation = generation
        self.manifest = manifest
        self.db = sqlite3.connect(f"file:{generation / DATABASE_FILE}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        # The generation never changes, so what a question reads again and again can be kept:
        # answering one question read a source's text ~40 times (sentences, phrases, contexts).
        self._texts: dict[str, str] = {}
        self._text_chars = 0
        self._frequencies: dict[str, int] = {}
        try:
            self.db.execute("SELECT count(*) FROM sources").fetchone()
            self.vectors = faiss.read_index(str(generation / VECTORS_FILE))
        except (sqlite3.DatabaseError, RuntimeError) as error:
            raise IndexStateError(f"the index in {generation} cannot be read ({str(error).splitlines()[0]}); {REBUILD_HINT}") from None
        if (
            self.vectors.d != manifest.dimension
            or self.vectors.ntotal != manifest.chunks
            or manifest.vector_index not in VECTOR_INDEX_TYPES
        ):
            raise IndexStateError(f"the vector file in {generation} does not match its manifest; {REBUILD_HINT}")
        if self.vectors.ntotal:
            set_search_parameters(self.vectors, manifest.vector_index)

    def close(self) -> None:
        self.db.close()

    # -- retrieval
    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k chunks nearest one query vector: (chunk id, inner product), best first.

        Runs on the calling thread alone. One query gains nothing from an OpenMP team, and waking
        one that slept between questions cost 5-7 ms on the loaded 2-core machine (a warm /ask
        spent 7 ms here instead of 0.4 ms; benchmarks/bench_serve.py), while its idle spinning
        took the core the answer step needed next. FAISS' thread count is per calling thread, so
        this does not slow builds or batch searches on other threads.
        """
        if self.vectors.ntotal == 0:
            return []
        import faiss

        query = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, ids = self.vectors.search(query, min(k, self.vectors.ntotal))
        finally:
            faiss.omp_set_num_threads(before)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def lexical_search(self, match: str, k: int) -> list[tuple[int, float]]:
        """BM25 over chunks for an FTS5 MATCH expression; higher is better (FTS5's rank is negated)."""
        if not match:
            return []
        rows = self.db.execute("SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?", (match, k))
        return [(int(r[0]), float(r[1])) for r in rows]

    def chunks(self, ids: Sequence[int]) -> dict[int, Chunk]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f'SELECT c.id, c.source, c.start, c."end", substr(s.text, c.start + 1, c."end" - c.start) '
            f"FROM chunks c JOIN sources s ON s.name = c.source WHERE c.id IN ({marks})",
            list(ids),
        )
        return {r[0]: Chunk(source=r[1], start=r[2], end=r[3], text=r[4], id=r[0]) for r in rows}

    def source_text(self, name: str) -> str:
        text = self._texts.get(name)
        if text is None:
            row = self.db.execute("SELECT text FROM sources WHERE name = ?", (name,)).fetchone()
            text = row[0] if row else ""
            if self._text_chars + len(text) > TEXT_CACHE_CHARS:
                self._texts.clear()
                self._text_chars = 0
            if len(text) <= TEXT_CACHE_CHARS:
                self._texts[name] = text
                self._text_chars += len(text)
        return text

    def location(self, source: str, start: int, end: int | None = None) -> str:
        """Where a span of a source is, for a citation: "p. 3" (or "pp. 3–4" up to `end`) in a PDF,
        "line 11" in a text, where lines count in the text regionqa read (of an HTML page, a DOCX)."""
        row = self.db.execute("SELECT pages FROM sources WHERE name = ?", (source,)).fetchone()
        if row is None:
            return f"char {start}"
        return location_of(self.source_text(source), json.loads(row[0]) if row[0] else (), start, end)

    def sentences(self, source: str, start: int, end: int) -> list[Span]:
        """Sentences overlapping [start, end) of a source."""
        text = self.source_text(source)
        rows = self.db.execute(
            'SELECT start, "end" FROM sentences WHERE source = ? AND "end" > ? AND start < ? ORDER BY start', (source, start, end)
        )
        return [Span(s, e, text[s:e], "SENTENCE") for s, e in rows]

    def entities(self, source: str, start: int, end: int) -> list[Span]:
        rows = self.db.execute(
            'SELECT start, "end", text, label FROM entities WHERE source = ? AND start >= ? AND "end" <= ? ORDER BY start',
            (source, start, end),
        )
        return [Span(*r) for r in rows]

    def figures(self, source: str, start: int, end: int) -> list[Figure]:
        rows = self.db.execute(
            'SELECT start, "end", text, label, value, value_max, unit FROM figures WHERE source = ? AND start >= ? AND "end" <= ? ORDER BY start',
            (source, start, end),
        )
        return [Figure(*r) for r in rows]

    def phrases(self, source: str, start: int, end: int) -> list[Span]:
        text = self.source_text(source)
        rows = self.db.execute(
            'SELECT start, "end", label FROM phrases WHERE source = ? AND start >= ? AND "end" <= ? ORDER BY start', (source, start, end)
        )
        return [Span(s, e, text[s:e], label) for s, e, label in rows]

    # -- listings
    def source_rows(self) -> list[tuple[str, str, int]]:
        """(name, content_hash, chunk count) for every indexed source."""
        return self.db.execute(
            "SELECT s.name, s.content_hash, (SELECT count(*) FROM chunks c WHERE c.source = s.name) FROM sources s ORDER BY s.name"
        ).fetchall()

    def all_entities(self, label: str | None = None, source: str | None = None) -> list[tuple[str, str, str, int, int]]:
        """(text, label, source, start, end) of every entity, optionally filtered."""
        sql = 'SELECT text, label, source, start, "end" FROM entities WHERE (? IS NULL OR label = ?) AND (? IS NULL OR source = ?) ORDER BY source, start'
        return self.db.execute(sql, (label, label, source, source)).fetchall()

    def all_figures(self, label: str | None = None, source: str | None = None) -> list[tuple[str, Figure]]:
        sql = (
            'SELECT source, start, "end", text, label, value, value_max, unit FROM figures '
            "WHERE (? IS NULL OR label = ?) AND (? IS NULL OR source = ?) ORDER BY source, start"
        )
        return [(r[0], Figure(*r[1:])) for r in self.db.execute(sql, (label, label, source, source))]

    def term_document_frequency(self, term: str) -> int:
        """How many chunks contain a term (after FTS5's stemming): for weighting question words."""
        count = self._frequencies.get(term)
        if count is None:
            row = self.db.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (f'text : "{term}"',)).fetchone()
            count = int(row[0])
            if len(self._frequencies) >= FREQUENCY_CACHE_TERMS:
                self._frequencies.clear()
            self._frequencies[term] = count
        return count

    def chunk_count(self) -> int:
        return int(self.vectors.ntotal)


def open_store(index_dir: Path, expected: Manifest, attempts: int = 3) -> Store:
    """Open the answering generation after checking its manifest and files.

    Readers take no lock. A build can switch CURRENT and delete the generation a reader picked
    between its reading CURRENT and opening the files (builds keep the previous generation, so
    only when two builds publish in that moment): the reader then opens the generation CURRENT
    names now. Once opened, a Store answers from its generation to the end even if a build deletes
    it: the SQLite file stays open (on POSIX, unlinking does not close it) and the vectors are in
    memory. So a reader sees one complete generation or gets an IndexStateError, never a mix.
    """
    for attempt in range(1, attempts + 1):
        generation = current_generation(index_dir)
        if generation is None:
            raise IndexStateError(f"no index in {index_dir}; run: regionqa index build")
        try:
            manifest = read_manifest(generation)
            check_compatible(manifest, expected)
            check_files(generation, manifest)
            return Store(generation, manifest)
        except IndexStateError:
            if attempt == attempts or _still_current(index_dir, generation):
                raise
    raise AssertionError("unreachable")


def _still_current(index_dir: Path, generation: Path) -> bool:
    try:
        return current_generation(index_dir) == generation
    except IndexStateError:
        return True
