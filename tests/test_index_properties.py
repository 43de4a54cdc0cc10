"""Property tests of the index's id mapping: random add/change/remove/copy sequences, fake models.

Whatever the sequence of builds, every FAISS id is a chunk row whose stored index text embeds
to exactly the vector FAISS holds for it, no table keeps rows of a source that is gone, and
nothing is stored twice. The models are fakes (tests/fakes.py), so each build takes milliseconds.
"""

from __future__ import annotations

import tempfile
import unicodedata
from pathlib import Path

import faiss
import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fakes import fake_encode, fake_models
from regionqa import batches, indexing
from regionqa import store as store_mod
from regionqa.chunking import ChunkSettings, index_text
from regionqa.config import Settings
from regionqa.sources import content_hash, load_corpus

NAMES = ["a.txt", "b.md", "c.txt", "sub/d.txt", "sub/deeper/e.md"]
# Words the rule layers turn into entities and figures, so that those tables have rows to orphan.
WORDS = [
    "Azerbaijan",
    "Kazakhstan",
    "EAEU",
    "port",
    "rail",
    "25 million tons",
    "grew",
    "by 17.2%",
    "in 2024",
    "Baku",
    "trade",
    "Ünïcödé",
    "the",
]
_sentence = st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(lambda words: " ".join(words) + ".")
_text = st.lists(_sentence, min_size=1, max_size=8).map(lambda sentences: "\n".join(sentences) + "\n")
_operation = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES), _text),  # add or change
    st.tuples(st.just("delete"), st.sampled_from(NAMES), st.none()),
    st.tuples(st.just("copy"), st.sampled_from(NAMES), st.sampled_from(NAMES)),  # same text under another name
    st.tuples(st.just("full"), st.none(), st.none()),  # a full rebuild
)
SOURCE_TABLES = ("sentences", "chunks", "entities", "figures", "phrases")


def check_index(settings: Settings, corpus: dict[str, str]) -> None:
    """The index holds exactly the deduplicated corpus, and FAISS ids and SQLite rows agree."""
    store = store_mod.open_store(settings.index_dir, indexing.expected_manifest(settings))
    try:
        db = store.db
        # Exactly the corpus, each text once (the first name in name order keeps a shared text).
        owners: dict[str, str] = {}
        for name in sorted(corpus):
            owners.setdefault(content_hash(corpus[name]), name)
        sources = dict(db.execute("SELECT name, text FROM sources"))
        assert sources == {name: corpus[name] for name in owners.values()}
        # No orphans anywhere: every row belongs to an indexed source; FTS rows are chunk rows.
        for table in SOURCE_TABLES:
            orphans = db.execute(f"SELECT count(*) FROM {table} WHERE source NOT IN (SELECT name FROM sources)").fetchone()[0]
            assert orphans == 0, table
        chunk_ids = [row[0] for row in db.execute("SELECT id FROM chunks ORDER BY id")]
        fts = dict(db.execute("SELECT rowid, text FROM chunks_fts"))
        assert sorted(fts) == chunk_ids
        # No duplicates: one row per chunk span and per sentence.
        for table in ("chunks", "sentences"):
            rows, distinct = db.execute(
                f'SELECT count(*), count(DISTINCT source || char(0) || start || char(0) || "end") FROM {table}'
            ).fetchone()
            assert rows == distinct, table
        # FAISS holds exactly the chunk ids, and each id's vector is the embedding of that chunk's text.
        index = store.vectors
        assert index.ntotal == len(chunk_ids) == store.manifest.chunks
        assert store.manifest.sources == len(sources)
        if chunk_ids:
            faiss_ids = sorted(int(i) for i in faiss.vector_to_array(index.id_map))
            assert faiss_ids == chunk_ids
            texts = [fts[i] for i in chunk_ids]
            expected = fake_encode(texts)
            actual = np.stack([index.reconstruct(i) for i in chunk_ids])
            np.testing.assert_allclose(actual, expected, atol=1e-6)
        # The stored text of each chunk is its source's text at its offsets, with its context.
        for chunk in store.chunks(chunk_ids).values():
            text = sources[chunk.source]
            assert text[chunk.start : chunk.end] == chunk.text
            assert fts[chunk.id] == index_text(text, chunk)
        for name, text in sources.items():
            for sentence in store.sentences(name, 0, len(text)):
                assert text[sentence.start : sentence.end] == sentence.text
    finally:
        store.close()


def apply(corpus_dir: Path, corpus: dict[str, str], operation: tuple) -> bool:
    """Apply one operation to the corpus folder and its model; False when it changes nothing to build."""
    kind, name, argument = operation
    if kind == "write":
        path = corpus_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(argument, encoding="utf-8")
        corpus[name] = argument
    elif kind == "delete":
        if name not in corpus:
            return False
        (corpus_dir / name).unlink()
        del corpus[name]
    elif kind == "copy":
        if name not in corpus or name == argument:
            return False
        target = corpus_dir / argument
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(corpus[name], encoding="utf-8")
        corpus[argument] = corpus[name]
    return True


@settings(max_examples=12)
@given(st.lists(_operation, min_size=1, max_size=10))
def test_faiss_ids_and_sqlite_rows_never_drift_apart(operations: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index", chunking=ChunkSettings(max_tokens=16))
        settings.corpus_dir.mkdir()
        corpus: dict[str, str] = {}
        for operation in operations:
            if not apply(settings.corpus_dir, corpus, operation) or not corpus:
                continue
            assert {s.name: s.text for s in load_corpus(settings.corpus_dir).sources} == corpus
            report = indexing.build(settings, full=operation[0] == "full", models=fake_models())
            assert report.errors == []
            check_index(settings, corpus)
            # Superseded and unfinished generations are cleaned: the answering one and the one before.
            assert len(list(settings.index_dir.glob("gen-*"))) <= 2


def test_a_large_source_is_indexed_piece_by_piece_with_offsets_into_the_whole(monkeypatch) -> None:
    """A source longer than PIECE_CHARS is cut into pieces; offsets still point into the whole text."""
    monkeypatch.setattr(batches, "PIECE_CHARS", 2_000)
    lines = [f"Line {i}: Azerbaijan shipped {i} million tons through the port of Baku." for i in range(300)]
    text = "\n".join(lines) + "\n"
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index", chunking=ChunkSettings(max_tokens=40))
        settings.corpus_dir.mkdir()
        (settings.corpus_dir / "big.txt").write_text(text, encoding="utf-8")
        (settings.corpus_dir / "small.txt").write_text("Kazakhstan joined the EAEU.\n", encoding="utf-8")
        indexing.build(settings, models=fake_models())
        check_index(settings, {"big.txt": text, "small.txt": "Kazakhstan joined the EAEU.\n"})
        store = store_mod.open_store(settings.index_dir, indexing.expected_manifest(settings))
        try:
            covered = store.db.execute("SELECT min(start), max(\"end\"), count(*) FROM sentences WHERE source = 'big.txt'").fetchone()
            assert covered == (0, len(text) - 1, 300)  # every line is a sentence, the last one too
            figures = store.db.execute("SELECT start, \"end\", text FROM figures WHERE source = 'big.txt'").fetchall()
            assert len(figures) >= 250 and all(text[s:e] == t for s, e, t in figures)
        finally:
            store.close()


_any_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300)
_wordy_text = st.lists(
    st.one_of(st.sampled_from(WORDS + [".", "\n", "\r\n", "\t", "“", "”", "\u200b", "\ufeff", "😀", "ﬁ", "İ"]), _any_text), max_size=40
).map(" ".join)


@settings(max_examples=60)
@given(st.one_of(_any_text, _wordy_text))
@example("\x1b")  # found by this test when any control character could make a file binary
@example("Plain text with one \x1b escape in the middle of many ordinary words, which stays text.")
def test_offsets_point_into_the_source_text_for_any_unicode(text: str) -> None:
    """read_file -> analysis -> chunks: every span's offsets give back its text, whatever the text."""
    from fakes import count_words, fake_analyse
    from regionqa.chunking import chunk_source
    from regionqa.errors import SourceError
    from regionqa.sources import read_file

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "doc.txt"
        path.write_bytes(text.encode("utf-8"))
        try:
            [source] = read_file(path, "doc.txt")
        except SourceError:
            # Refused: a file without text, or binary for the reader: a NUL byte, or more than 1%
            # control characters at its start (counted here more widely than the reader does).
            decoded = text.removeprefix("\ufeff")[:65_536]
            controls = sum(unicodedata.category(c) == "Cc" and c not in "\t\n\x0b\x0c\r" for c in decoded)
            assert not text.lstrip("\ufeff").strip() or "\x00" in text or controls > 0.01 * len(decoded)
            return
    for _, _, _, analysis in batches.analysed_pieces([source], fake_analyse):
        spans = analysis.sentences + analysis.entities + analysis.figures + analysis.phrases
        for span in spans:
            assert 0 <= span.start < span.end <= len(source.text)
            assert source.text[span.start : span.end] == span.text
        for chunk in chunk_source(source.name, source.text, analysis.sentences, count_words, ChunkSettings(max_tokens=8)):
            assert source.text[chunk.start : chunk.end] == chunk.text
