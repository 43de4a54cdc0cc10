"""The SQLite database of a generation: its schema, as numbered migrations, and the writer a build uses."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import IndexStateError
from ..lexicon import FTS_TOKENIZER
from ..models import Analysis, Chunk, Source
from .generations import DATABASE_FILE, REBUILD_HINT, Manifest
from .vectors import build_vector_index, vector_index_type

SCHEMA_VERSION = 4

# SQLite's codes for a write that failed for want of room or rights (a full disk, an I/O error, a
# read-only file): a build reports these in one line (indexing.build_sources); any other SQLite error
# (a bug, a lock) goes on up as it is.
WRITE_ERROR_CODES = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN")


def is_write_failure(error: BaseException) -> bool:
    """Whether `error` is SQLite failing to write the index (see WRITE_ERROR_CODES)."""
    name = getattr(error, "sqlite_errorname", None) or ""
    return isinstance(error, sqlite3.Error) and name.startswith(WRITE_ERROR_CODES)


def manifest_for(chunking) -> Manifest:
    """The manifest identity this code builds and accepts: the schema, the models, the chunk settings (a ChunkSettings)."""
    from ..embedding import DIMENSION, MODEL_NAME, MODEL_PACKAGE, WEIGHTS_SHA256
    from ..nlp import SPACY_MODEL, SPACY_VERSION

    return Manifest(
        schema_version=SCHEMA_VERSION,
        embedding_model=f"{MODEL_NAME} ({MODEL_PACKAGE})",
        embedding_sha256=WEIGHTS_SHA256,
        dimension=DIMENSION,
        spacy_model=f"{SPACY_MODEL}=={SPACY_VERSION}",
        chunking=asdict(chunking),
    )


def m001_create_tables(db: sqlite3.Connection) -> None:
    db.executescript(
        f"""
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
        CREATE VIRTUAL TABLE chunks_fts USING fts5(text, numbers, tokenize = '{FTS_TOKENIZER}');
        """
    )


def m002_add_pages(db: sqlite3.Connection) -> None:
    """Where each page of a source starts (a JSON list of offsets; NULL for a source without pages),
    so that a citation can give the page of a PDF."""
    db.execute("ALTER TABLE sources ADD COLUMN pages TEXT")


def m003_units_and_meta(db: sqlite3.Connection) -> None:
    """The parts a source is cited by, in place of its pages (a JSON `Units`: kind "page", "row",
    "slide" or "chapter", their starts and labels; NULL for a source cited by line), and its
    provenance (a JSON object: url, title, author, date, ...; NULL when nothing is known)."""
    db.execute("ALTER TABLE sources ADD COLUMN units TEXT")
    db.execute("ALTER TABLE sources ADD COLUMN meta TEXT")
    db.execute(
        """UPDATE sources SET units = json_object('kind', 'page', 'starts', json(pages), 'labels', json('[]')) WHERE pages IS NOT NULL"""
    )
    db.execute("ALTER TABLE sources DROP COLUMN pages")


def m004_add_figure_dates(db: sqlite3.Connection) -> None:
    """The ISO 8601 form of a DATE figure ("2024-03", "2025/2027"; NULL for other figures), so that
    facts can give it and date filters compare it without parsing dates again."""
    db.execute("ALTER TABLE figures ADD COLUMN iso_date TEXT")


MIGRATIONS = [m001_create_tables, m002_add_pages, m003_units_and_meta, m004_add_figure_dates]
assert len(MIGRATIONS) == SCHEMA_VERSION


def migrate(db: sqlite3.Connection) -> None:
    """Bring a database to SCHEMA_VERSION, one numbered migration at a time."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
        migration(db)
        db.execute(f"PRAGMA user_version = {number}")


# ---------------------------------------------------------------- writing


class VectorsWritten(NamedTuple):
    count: int
    kind: str  # FLAT, HNSW or IVF: recorded in the manifest as `vector_index`


class IndexWriter:
    """The database of a generation being built: every write of a build goes through it.

    Opened on a copy of the previous generation's database (an incremental build) or on a new one;
    nothing is visible to readers until the build publishes the generation. The caller commits.
    """

    def __init__(self, generation: Path, previous: Path | None = None):
        self.generation = generation
        self.db = sqlite3.connect(generation / DATABASE_FILE)
        if previous is not None:
            source = sqlite3.connect(f"file:{previous / DATABASE_FILE}?mode=ro", uri=True)
            try:
                source.backup(self.db)
            finally:
                source.close()
        self.db.execute("PRAGMA journal_mode = DELETE")
        self.db.execute("PRAGMA synchronous = NORMAL")
        migrate(self.db)
        self.db.commit()

    def __enter__(self) -> IndexWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    def commit(self) -> None:
        self.db.commit()

    def source_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM sources").fetchone()[0])

    def delete_sources(self, names: Sequence[str]) -> None:
        """Remove sources and everything derived from them, FTS rows included."""
        for name in names:
            self.db.execute("DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE source = ?)", (name,))
            for table in ("chunks", "sentences", "entities", "figures", "phrases"):
                self.db.execute(f"DELETE FROM {table} WHERE source = ?", (name,))
            self.db.execute("DELETE FROM sources WHERE name = ?", (name,))

    def insert_source(
        self, source: Source, analysis: Analysis, chunks: list[Chunk], vectors: np.ndarray, search_texts: list[str], numbers: list[str]
    ) -> None:
        """Store one analysed, chunked and embedded source.

        `search_texts` is what BM25 indexes for each chunk (its text with context), `numbers` its
        canonical number tokens.
        """
        units = json.dumps(source.units.as_json()) if source.units is not None else None
        meta = json.dumps(source.meta, ensure_ascii=False, sort_keys=True) if source.meta else None
        self.db.execute(
            "INSERT INTO sources (name, content_hash, title, text, units, meta) VALUES (?, ?, ?, ?, ?, ?)",
            (source.name, source.content_hash, source.title, source.text, units, meta),
        )
        self.insert_parts(source.name, analysis, chunks, vectors, search_texts, numbers)

    def insert_parts(
        self, name: str, analysis: Analysis, chunks: list[Chunk], vectors: np.ndarray, search_texts: list[str], numbers: list[str]
    ) -> None:
        """Store the analysis and embedded chunks of (a piece of) an inserted source; offsets are into its whole text.

        A large source is stored piece by piece: insert_source with the first piece, then this.
        """
        db = self.db
        db.executemany(
            'INSERT INTO sentences (source, start, "end") VALUES (?, ?, ?)', [(name, s.start, s.end) for s in analysis.sentences]
        )
        db.executemany(
            'INSERT INTO entities (source, start, "end", text, label) VALUES (?, ?, ?, ?, ?)',
            [(name, e.start, e.end, e.text, e.label) for e in analysis.entities],
        )
        db.executemany(
            'INSERT INTO figures (source, start, "end", text, label, value, value_max, unit, iso_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
            [(name, f.start, f.end, f.text, f.label, f.value, f.value_max, f.unit, f.date) for f in analysis.figures],
        )
        db.executemany(
            'INSERT INTO phrases (source, start, "end", label) VALUES (?, ?, ?, ?)',
            [(name, p.start, p.end, p.label) for p in analysis.phrases],
        )
        for chunk, vector, search_text, number_text in zip(chunks, vectors, search_texts, numbers, strict=True):
            cursor = db.execute(
                'INSERT INTO chunks (source, start, "end", vector) VALUES (?, ?, ?, ?)',
                (name, chunk.start, chunk.end, vector.astype(np.float32).tobytes()),
            )
            db.execute("INSERT INTO chunks_fts (rowid, text, numbers) VALUES (?, ?, ?)", (cursor.lastrowid, search_text, number_text))

    def write_vectors(self, path: Path, dimension: int, flat_max: int | None = None) -> VectorsWritten:
        """Build the FAISS index from the vectors stored in SQLite, ids = chunk row ids.

        The type follows the size (vector_index_type); returns the count and the type.
        """
        import faiss

        ids, vectors = read_stored_vectors(self.db, dimension)
        kind = vector_index_type(len(ids), flat_max)
        # Written from Python, not by faiss.write_index: a failed write (a full disk) is then an
        # OSError with its reason, which the build reports in one line, not faiss's C++ assertion text.
        path.write_bytes(faiss.serialize_index(build_vector_index(vectors, ids, kind)))
        return VectorsWritten(len(ids), kind)


def indexed_hashes(generation: Path) -> dict[str, str]:
    """{source name: content hash} of a generation, read from SQLite alone (no FAISS index loaded).

    IndexStateError when the database cannot be read.
    """
    try:
        db = sqlite3.connect(f"file:{generation / DATABASE_FILE}?mode=ro", uri=True)
        try:
            return dict(db.execute("SELECT name, content_hash FROM sources"))
        finally:
            db.close()
    except sqlite3.Error as error:
        raise IndexStateError(f"the index database in {generation} cannot be read ({error}); {REBUILD_HINT}") from None


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
