"""The on-disk index, opened read-only: FAISS search against brute force, offsets, corruption checks."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from conftest import ARTICLE_NAME, Dirs
from regionqa import store as store_mod
from regionqa.errors import IndexStateError


@pytest.fixture(scope="module")
def opened(article_index: Dirs):
    generation = store_mod.current_generation(article_index.index_dir)
    store = store_mod.Store(generation, store_mod.read_manifest(generation))
    yield store
    store.close()


def stored_vectors(store: store_mod.Store) -> tuple[np.ndarray, np.ndarray]:
    rows = store.db.execute("SELECT id, vector FROM chunks ORDER BY id").fetchall()
    ids = np.array([r[0] for r in rows])
    vectors = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
    return ids, vectors


def test_vectors_are_normalised(opened: store_mod.Store) -> None:
    _, vectors = stored_vectors(opened)
    assert vectors.shape[1] == opened.manifest.dimension
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 5, 1000])
def test_dense_search_matches_brute_force(opened: store_mod.Store, seed: int, k: int) -> None:
    ids, vectors = stored_vectors(opened)
    query = np.random.default_rng(seed).standard_normal(vectors.shape[1]).astype(np.float32)
    query /= np.linalg.norm(query)
    found = opened.dense_search(query, k)
    scores = vectors @ query
    order = np.argsort(-scores, kind="stable")[: min(k, len(ids))]
    assert [i for i, _ in found] == [int(ids[j]) for j in order]
    assert [s for _, s in found] == pytest.approx([float(scores[j]) for j in order], abs=1e-5)


def test_chunks_and_sentences_point_at_the_source_text(opened: store_mod.Store, article_index: Dirs) -> None:
    text = article_index.source_text(ARTICLE_NAME)
    assert opened.source_text(ARTICLE_NAME) == text
    ids, _ = stored_vectors(opened)
    chunks = opened.chunks([int(i) for i in ids])
    assert len(chunks) == opened.chunk_count() == len(ids)
    for chunk in chunks.values():
        assert text[chunk.start : chunk.end] == chunk.text
    for sentence in opened.sentences(ARTICLE_NAME, 0, len(text)):
        assert text[sentence.start : sentence.end] == sentence.text and "\n" not in sentence.text


def test_lexical_search_finds_exact_figures(opened: store_mod.Store) -> None:
    hits = opened.lexical_search('text : ("alat")', 10)
    assert hits and all(score > 0 for _, score in hits)
    assert any("Alat" in chunk.text for chunk in opened.chunks([i for i, _ in hits]).values())
    assert opened.lexical_search("", 10) == []


def test_a_new_database_gets_the_current_schema(tmp_path: Path) -> None:
    db = store_mod.IndexWriter(tmp_path).db
    assert db.execute("PRAGMA user_version").fetchone()[0] == store_mod.SCHEMA_VERSION
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"sources", "sentences", "chunks", "entities", "figures", "phrases", "chunks_fts"} <= tables
    columns = {row[1] for row in db.execute("PRAGMA table_info(sources)")}
    assert {"units", "meta"} <= columns and "pages" not in columns
    db.close()


def test_a_version_1_database_is_migrated_to_the_current_schema(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "old.sqlite")
    store_mod.database.m001_create_tables(db)
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO sources VALUES ('a.txt', 'h', 'a', 'Some text.')")
    store_mod.migrate(db)
    assert db.execute("PRAGMA user_version").fetchone()[0] == store_mod.SCHEMA_VERSION
    assert db.execute("SELECT name, units, meta FROM sources").fetchall() == [("a.txt", None, None)]
    db.close()


def test_a_version_2_database_keeps_its_page_starts_as_units(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "old.sqlite")
    store_mod.database.m001_create_tables(db)
    store_mod.database.m002_add_pages(db)
    db.execute("PRAGMA user_version = 2")
    db.execute("INSERT INTO sources VALUES ('a.pdf', 'h', 'a', 'One.\n\nTwo.', '[0, 6]'), ('b.txt', 'h2', 'b', 'Text.', NULL)")
    store_mod.migrate(db)
    rows = {name: units for name, units in db.execute("SELECT name, units FROM sources")}
    assert json.loads(rows["a.pdf"]) == {"kind": "page", "starts": [0, 6], "labels": []} and rows["b.txt"] is None
    db.close()


def test_location_cites_the_line_of_a_text(opened: store_mod.Store, article_index: Dirs) -> None:
    text = article_index.source_text(ARTICLE_NAME)
    for offset in (0, text.index("\n") + 1, len(text) - 1):
        assert opened.location(ARTICLE_NAME, offset) == f"line {text.count(chr(10), 0, offset) + 1}"
    assert opened.location("no-such-source.txt", 7) == "char 7"


def _copy_generation(article_index: Dirs, tmp_path: Path) -> tuple[Path, store_mod.Manifest]:
    source = store_mod.current_generation(article_index.index_dir)
    target = tmp_path / source.name
    shutil.copytree(source, target)
    return target, store_mod.read_manifest(target)


@pytest.mark.parametrize("part", [store_mod.DATABASE_FILE, store_mod.VECTORS_FILE])
def test_check_files_detects_a_changed_or_missing_file(article_index: Dirs, tmp_path: Path, part: str) -> None:
    generation, manifest = _copy_generation(article_index, tmp_path)
    store_mod.check_files(generation, manifest)  # intact: no error
    path = generation / part
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped
    path.write_bytes(bytes(data))
    with pytest.raises(IndexStateError, match="corrupt.*index build --full"):
        store_mod.check_files(generation, manifest)
    path.unlink()
    with pytest.raises(IndexStateError, match="missing.*index build --full"):
        store_mod.check_files(generation, manifest)


def test_check_compatible_refuses_other_models(article_index: Dirs, tmp_path: Path) -> None:
    _, manifest = _copy_generation(article_index, tmp_path)
    store_mod.check_compatible(manifest, manifest)
    other = store_mod.Manifest(**{**manifest.__dict__, "embedding_model": "another-model"})
    with pytest.raises(IndexStateError, match="embedding_model.*index build --full"):
        store_mod.check_compatible(manifest, other)


def test_a_garbled_manifest_is_an_index_error(article_index: Dirs, tmp_path: Path) -> None:
    generation, _ = _copy_generation(article_index, tmp_path)
    (generation / store_mod.MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexStateError, match="manifest.*index build --full"):
        store_mod.read_manifest(generation)


def test_the_database_is_opened_read_only(opened: store_mod.Store) -> None:
    with pytest.raises(sqlite3.OperationalError):
        opened.db.execute("DELETE FROM sources")
