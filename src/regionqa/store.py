"""The index on disk: a folder of generations, each with `manifest.json`, `meta.sqlite`, `vectors.faiss`.

    index/
      CURRENT              name of the generation that answers (replaced atomically)
      .lock                held by a build, so that two builds cannot interleave
      gen-<time>-<rand>/   manifest.json, meta.sqlite, vectors.faiss

A build writes a whole new generation beside the current one and then switches CURRENT
with one atomic rename: a build killed at any point leaves the previous index answering.
Published generations are never modified, so readers open them immutable, without locks.
SQLite holds sources, sentences, chunks (with their vectors), entities, figures and phrases,
and an FTS5 table for BM25; FAISS ids are the chunk row ids, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .errors import IndexStateError
from .models import Analysis, Chunk, Figure, Source, Span

SCHEMA_VERSION = 1
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


MIGRATIONS = [m001_create_tables]
assert len(MIGRATIONS) == SCHEMA_VERSION


def migrate(db: sqlite3.Connection) -> None:
    """Bring a database to SCHEMA_VERSION, one numbered migration at a time."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
        migration(db)
        db.execute(f"PRAGMA user_version = {number}")


# ---------------------------------------------------------------- generations


def current_generation(index_dir: Path) -> Path | None:
    """The folder of the generation that answers, or None when no index was built."""
    try:
        name = (index_dir / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    folder = index_dir / name
    if not name or "/" in name or not folder.is_dir():
        raise IndexStateError(f"the index in {index_dir} points to a missing generation {name!r}; {REBUILD_HINT}")
    return folder


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


def remove_stale_generations(index_dir: Path, keep: Iterable[Path]) -> None:
    """Delete generations other than `keep`: unfinished builds and superseded indexes."""
    kept = {p.name for p in keep}
    for child in index_dir.glob("gen-*"):
        if child.is_dir() and child.name not in kept:
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


def delete_sources(db: sqlite3.Connection, names: Sequence[str]) -> None:
    """Remove sources and everything derived from them, FTS rows included."""
    for name in names:
        db.execute("DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE source = ?)", (name,))
        for table in ("chunks", "sentences", "entities", "figures", "phrases"):
            db.execute(f"DELETE FROM {table} WHERE source = ?", (name,))
        db.execute("DELETE FROM sources WHERE name = ?", (name,))


def insert_source(
    db: sqlite3.Connection, source: Source, analysis: Analysis, chunks: list[Chunk], vectors: np.ndarray, search_texts: list[str], numbers: list[str]
) -> None:
    """Store one analysed, chunked and embedded source; the caller commits.

    `search_texts` is what BM25 indexes for each chunk (its text with context), `numbers` its
    canonical number tokens.
    """
    name = source.name
    db.execute("INSERT INTO sources VALUES (?, ?, ?, ?)", (name, source.content_hash, source.title, source.text))
    db.executemany('INSERT INTO sentences (source, start, "end") VALUES (?, ?, ?)', [(name, s.start, s.end) for s in analysis.sentences])
    db.executemany(
        'INSERT INTO entities (source, start, "end", text, label) VALUES (?, ?, ?, ?, ?)',
        [(name, e.start, e.end, e.text, e.label) for e in analysis.entities],
    )
    db.executemany(
        'INSERT INTO figures (source, start, "end", text, label, value, value_max, unit) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        [(name, f.start, f.end, f.text, f.label, f.value, f.value_max, f.unit) for f in analysis.figures],
    )
    db.executemany('INSERT INTO phrases (source, start, "end", label) VALUES (?, ?, ?, ?)', [(name, p.start, p.end, p.label) for p in analysis.phrases])
    for chunk, vector, search_text, number_text in zip(chunks, vectors, search_texts, numbers, strict=True):
        cursor = db.execute('INSERT INTO chunks (source, start, "end", vector) VALUES (?, ?, ?, ?)', (name, chunk.start, chunk.end, vector.astype(np.float32).tobytes()))
        db.execute("INSERT INTO chunks_fts (rowid, text, numbers) VALUES (?, ?, ?)", (cursor.lastrowid, search_text, number_text))


def write_vectors(db: sqlite3.Connection, path: Path, dimension: int) -> int:
    """Build the FAISS index from the vectors stored in SQLite, ids = chunk row ids; returns the count."""
    import faiss

    rows = db.execute("SELECT id, vector FROM chunks ORDER BY id").fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dimension) if rows else np.zeros((0, dimension), np.float32)
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    if len(rows):
        index.add_with_ids(vectors, ids)
    faiss.write_index(index, str(path))
    return len(rows)


def write_manifest(generation: Path, manifest: Manifest) -> Manifest:
    """Record each data file's size and hash, then write the manifest."""
    from .embedding import file_sha256

    files = {name: {"size": (generation / name).stat().st_size, "sha256": file_sha256(generation / name)} for name in (DATABASE_FILE, VECTORS_FILE)}
    final = Manifest(**{**asdict(manifest), "files": files, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    (generation / MANIFEST_FILE).write_text(json.dumps(asdict(final), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return final


# ---------------------------------------------------------------- reading


def read_manifest(generation: Path) -> Manifest:
    try:
        data = json.loads((generation / MANIFEST_FILE).read_text(encoding="utf-8"))
        return Manifest(**data)
    except FileNotFoundError:
        raise IndexStateError(f"the index manifest {generation / MANIFEST_FILE} is missing; {REBUILD_HINT}") from None
    except (json.JSONDecodeError, TypeError) as error:
        raise IndexStateError(f"the index manifest {generation / MANIFEST_FILE} is unreadable ({error}); {REBUILD_HINT}") from None


def check_compatible(manifest: Manifest, expected: Manifest) -> None:
    """Refuse an index built by another schema, model or chunking: never mix vectors of two models."""
    found, wanted = manifest.identity(), expected.identity()
    for key, value in wanted.items():
        if found.get(key) != value:
            raise IndexStateError(f"the index was built with {key}={found.get(key)!r} but this regionqa uses {value!r}; {REBUILD_HINT}")


def check_files(generation: Path, manifest: Manifest) -> None:
    """Detect a missing, truncated or altered data file before it can give wrong answers."""
    from .embedding import file_sha256

    for name, expected in manifest.files.items():
        path = generation / name
        if not path.is_file():
            raise IndexStateError(f"the index file {path} is missing; {REBUILD_HINT}")
        if path.stat().st_size != expected["size"] or file_sha256(path) != expected["sha256"]:
            raise IndexStateError(f"the index file {path} is corrupt (its size or hash changed); {REBUILD_HINT}")


class Store:
    """A published generation, opened read-only: the narrow interface search and answer use."""

    def __init__(self, generation: Path, manifest: Manifest):
        import faiss

        self.generation = generation
        self.manifest = manifest
        self.db = sqlite3.connect(f"file:{generation / DATABASE_FILE}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        try:
            self.db.execute("SELECT count(*) FROM sources").fetchone()
            self.vectors = faiss.read_index(str(generation / VECTORS_FILE))
        except (sqlite3.DatabaseError, RuntimeError) as error:
            raise IndexStateError(f"the index in {generation} cannot be read ({str(error).splitlines()[0]}); {REBUILD_HINT}") from None
        if self.vectors.d != manifest.dimension or self.vectors.ntotal != manifest.chunks:
            raise IndexStateError(f"the vector file in {generation} does not match its manifest; {REBUILD_HINT}")

    def close(self) -> None:
        self.db.close()

    # -- retrieval
    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        if self.vectors.ntotal == 0:
            return []
        scores, ids = self.vectors.search(vector.reshape(1, -1).astype(np.float32), min(k, self.vectors.ntotal))
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
        row = self.db.execute("SELECT text FROM sources WHERE name = ?", (name,)).fetchone()
        return row[0] if row else ""

    def sentences(self, source: str, start: int, end: int) -> list[Span]:
        """Sentences overlapping [start, end) of a source."""
        text = self.source_text(source)
        rows = self.db.execute('SELECT start, "end" FROM sentences WHERE source = ? AND "end" > ? AND start < ? ORDER BY start', (source, start, end))
        return [Span(s, e, text[s:e], "SENTENCE") for s, e in rows]

    def entities(self, source: str, start: int, end: int) -> list[Span]:
        rows = self.db.execute('SELECT start, "end", text, label FROM entities WHERE source = ? AND start >= ? AND "end" <= ? ORDER BY start', (source, start, end))
        return [Span(*r) for r in rows]

    def figures(self, source: str, start: int, end: int) -> list[Figure]:
        rows = self.db.execute(
            'SELECT start, "end", text, label, value, value_max, unit FROM figures WHERE source = ? AND start >= ? AND "end" <= ? ORDER BY start',
            (source, start, end),
        )
        return [Figure(*r) for r in rows]

    def phrases(self, source: str, start: int, end: int) -> list[Span]:
        text = self.source_text(source)
        rows = self.db.execute('SELECT start, "end", label FROM phrases WHERE source = ? AND start >= ? AND "end" <= ? ORDER BY start', (source, start, end))
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
        row = self.db.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (f'text : "{term}"',)).fetchone()
        return int(row[0])

    def chunk_count(self) -> int:
        return int(self.vectors.ntotal)


def open_store(index_dir: Path, expected: Manifest) -> Store:
    """Open the answering generation after checking its manifest and files."""
    generation = current_generation(index_dir)
    if generation is None:
        raise IndexStateError(f"no index in {index_dir}; run: regionqa index build")
    manifest = read_manifest(generation)
    check_compatible(manifest, expected)
    check_files(generation, manifest)
    return Store(generation, manifest)
