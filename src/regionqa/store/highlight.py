"""Where a question's words occur in passages, found as the index's full-text search finds them.

The passages are put in a throwaway in-memory FTS5 table with the index's tokenizer (stems,
case, diacritics: `lexicon.FTS_TOKENIZER`), and FTS5's `highlight()` marks the matched words, so
"handle" marks "handled" just as BM25 matched it. The marks come back as character offsets into
each passage: the caller shows them (escaped) without ever parsing markup out of document text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ..lexicon import FTS_TOKENIZER

OPEN, CLOSE = "\x01", "\x02"  # highlight()'s markers; a passage's own control characters are blanked first


def term_spans(texts: Sequence[str], terms: Sequence[str]) -> list[list[tuple[int, int]]]:
    """For each text, the (start, end) offsets of the words that match any of `terms`, in order.

    >>> term_spans(["The port handled 25 million tons."], ["handle", "tons"])
    [[(9, 16), (28, 32)]]
    """
    if not texts or not terms:
        return [[] for _ in texts]
    db = sqlite3.connect(":memory:")
    try:
        db.execute(f"CREATE VIRTUAL TABLE passages USING fts5(text, tokenize = '{FTS_TOKENIZER}')")
        blanked = [text.replace(OPEN, " ").replace(CLOSE, " ") for text in texts]  # same length: offsets hold
        db.executemany("INSERT INTO passages (rowid, text) VALUES (?, ?)", enumerate(blanked, start=1))
        match = " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
        rows = db.execute("SELECT rowid, highlight(passages, 0, ?, ?) FROM passages WHERE passages MATCH ?", (OPEN, CLOSE, match))
        marked = dict(rows.fetchall())
    finally:
        db.close()
    return [_offsets(marked[i]) if i in marked else [] for i in range(1, len(texts) + 1)]


def _offsets(marked: str) -> list[tuple[int, int]]:
    """The spans between OPEN and CLOSE markers, as offsets into the text without them."""
    spans, removed, start = [], 0, 0
    for position, char in enumerate(marked):
        if char == OPEN:
            start = position - removed
            removed += 1
        elif char == CLOSE:
            spans.append((start, position - removed))
            removed += 1
    return spans
