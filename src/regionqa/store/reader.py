"""A published generation opened read-only: the one interface search, answers and listings read through."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import IndexStateError
from ..models import Chunk, Figure, IndexedSource, Mention, SourceFigure, Span, Units, location_of
from .generations import (
    DATABASE_FILE,
    REBUILD_HINT,
    VECTORS_FILE,
    Manifest,
    check_compatible,
    check_files,
    current_generation,
    read_manifest,
)
from .vectors import FLAT, FLAT_MAX_VECTORS, VECTOR_INDEX_TYPES, search_parameters, set_search_parameters

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
    def dense_search(self, vector: np.ndarray, k: int, among: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """The k chunks nearest one query vector: (chunk id, inner product), best first; with `among`,
        only those chunk ids are searched (FAISS' IDSelector), so that k are found among them.

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
        parameters = None
        if among is not None:
            if not among:
                return []
            if self.manifest.vector_index != FLAT and len(among) <= FLAT_MAX_VECTORS:
                # An approximate index searched for a few ids misses most of them (IVF probes lists
                # that hold none): a few are scored exactly, from the vectors SQLite keeps.
                return self._exact_search(query[0], k, among)
            parameters = search_parameters(self.manifest.vector_index, faiss.IDSelectorBatch(np.asarray(among, dtype=np.int64)))
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, ids = self.vectors.search(query, min(k, self.vectors.ntotal), params=parameters)
        finally:
            faiss.omp_set_num_threads(before)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def _exact_search(self, query: np.ndarray, k: int, among: Sequence[int]) -> list[tuple[int, float]]:
        """The k of `among` nearest the query, by exact inner product over their stored vectors."""
        sql = "SELECT id, vector FROM chunks WHERE id IN (SELECT value FROM json_each(?))"
        rows = self.db.execute(sql, (json.dumps(list(among)),)).fetchall()
        if not rows:
            return []
        ids, blobs = zip(*rows, strict=True)
        scores = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), -1) @ query
        best = np.argsort(-scores, kind="stable")[:k]
        return [(int(ids[i]), float(scores[i])) for i in best]

    def lexical_search(self, match: str, k: int, among: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """BM25 over chunks for an FTS5 MATCH expression; higher is better (FTS5's rank is negated).
        With `among`, only those chunk ids are ranked."""
        if not match:
            return []
        if among is not None:
            rows = self.db.execute(
                "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
                "AND rowid IN (SELECT value FROM json_each(?)) ORDER BY rank LIMIT ?",
                (match, json.dumps(list(among)), k),
            )
            return [(int(r[0]), float(r[1])) for r in rows]
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

    def pages(self, source: str) -> tuple[int, ...] | None:
        """Where each page of a source starts (empty for a source not cited by page); None for no such source."""
        row = self.db.execute("SELECT units FROM sources WHERE name = ?", (source,)).fetchone()
        if row is None:
            return None
        units = Units.from_json(json.loads(row[0])) if row[0] else None
        return units.starts if units is not None and units.kind == "page" else ()

    def location(self, source: str, start: int, end: int | None = None) -> str:
        """Where a span of a source is, for a citation: "p. 3" (or "pp. 3–4" up to `end`) in a PDF,
        "slide 4", "Sheet1 row 12", "chapter 2", else "line 11", where lines count in the text regionqa
        read (of an HTML page, a DOCX)."""
        row = self.db.execute("SELECT units FROM sources WHERE name = ?", (source,)).fetchone()
        if row is None:
            return f"char {start}"
        return location_of(self.source_text(source), Units.from_json(json.loads(row[0])) if row[0] else None, start, end)

    def source_meta(self, source: str) -> dict[str, str]:
        """The provenance of a source (url, title, author, date, ...); empty when nothing is known."""
        row = self.db.execute("SELECT meta FROM sources WHERE name = ?", (source,)).fetchone()
        return json.loads(row[0]) if row and row[0] else {}

    def all_source_meta(self) -> dict[str, dict[str, str]]:
        """{name: provenance} of every indexed source, for choosing the sources a question is asked of."""
        return {name: json.loads(meta) if meta else {} for name, meta in self.db.execute("SELECT name, meta FROM sources")}

    def chunk_ids_of(self, sources: Sequence[str]) -> list[int]:
        """The ids of the chunks of these sources."""
        rows = self.db.execute("SELECT id FROM chunks WHERE source IN (SELECT value FROM json_each(?))", (json.dumps(list(sources)),))
        return [row[0] for row in rows]

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
            'SELECT start, "end", text, label, value, value_max, unit, iso_date FROM figures WHERE source = ? AND start >= ? AND "end" <= ? ORDER BY start',
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
    def source_rows(self) -> list[IndexedSource]:
        """Every indexed source with its content hash and chunk count, by name."""
        rows = self.db.execute(
            "SELECT s.name, s.content_hash, (SELECT count(*) FROM chunks c WHERE c.source = s.name) FROM sources s ORDER BY s.name"
        )
        return [IndexedSource(*row) for row in rows]

    def source_texts(self) -> list[tuple[str, str]]:
        """(name, text) of every indexed source."""
        return self.db.execute("SELECT name, text FROM sources").fetchall()

    def chunk_sources(self) -> dict[int, str]:
        """{chunk id: the name of its source} for every chunk."""
        return dict(self.db.execute("SELECT id, source FROM chunks"))

    def all_entities(self, label: str | None = None, source: str | None = None) -> list[Mention]:
        """Every entity mention, optionally filtered, in source order."""
        sql = 'SELECT text, label, source, start, "end" FROM entities WHERE (? IS NULL OR label = ?) AND (? IS NULL OR source = ?) ORDER BY source, start'
        return [Mention(*row) for row in self.db.execute(sql, (label, label, source, source))]

    def all_figures(self, label: str | None = None, source: str | None = None) -> list[SourceFigure]:
        """Every figure with its source, optionally filtered, in source order."""
        sql = (
            'SELECT source, start, "end", text, label, value, value_max, unit, iso_date FROM figures '
            "WHERE (? IS NULL OR label = ?) AND (? IS NULL OR source = ?) ORDER BY source, start"
        )
        return [SourceFigure(r[0], Figure(*r[1:])) for r in self.db.execute(sql, (label, label, source, source))]

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
