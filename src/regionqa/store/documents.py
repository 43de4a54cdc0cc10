"""BM25 over whole documents (not chunks): what BEIR's published lexical baselines rank by."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from ..lexicon import FTS_TOKENIZER


class DocumentBM25:
    """An in-memory FTS5 table of documents, cut and stemmed like the chunks of the index."""

    def __init__(self, documents: Iterable[tuple[str, str, str]]) -> None:
        """`documents`: (name, text, canonical number tokens joined by spaces)."""
        self.db = sqlite3.connect(":memory:")
        self.db.execute(f"CREATE VIRTUAL TABLE docs USING fts5(name UNINDEXED, text, numbers, tokenize = '{FTS_TOKENIZER}')")
        self.db.executemany("INSERT INTO docs (name, text, numbers) VALUES (?, ?, ?)", documents)

    def search(self, match: str, k: int) -> list[tuple[str, float]]:
        """The k best documents for an FTS5 MATCH expression: (name, BM25), higher is better."""
        if not match:
            return []
        rows = self.db.execute("SELECT name, -bm25(docs) FROM docs WHERE docs MATCH ? ORDER BY rank LIMIT ?", (match, k))
        return [(r[0], float(r[1])) for r in rows]

    def close(self) -> None:
        self.db.close()
