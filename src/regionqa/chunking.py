"""Sentence-aligned chunks that fit the embedding model's word-piece limit, with overlap.

Pure functions: the token counter is passed in, so tests can use a fake one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .models import Chunk, Span

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class ChunkSettings:
    max_tokens: int = 128  # word pieces per chunk, at most the model's 256 less [CLS] and [SEP]
    overlap_sentences: int = 1  # sentences repeated at the start of the next chunk

    def __post_init__(self) -> None:
        if not 8 <= self.max_tokens <= 254:
            raise ValueError(f"max_tokens must be between 8 and 254 (the model reads 256 word pieces); got {self.max_tokens}")
        if self.overlap_sentences < 0:
            raise ValueError(f"overlap_sentences must be 0 or more; got {self.overlap_sentences}")


def split_long_sentence(text: str, sentence: Span, count: TokenCounter, max_tokens: int) -> list[Span]:
    """Cut a sentence longer than the limit at word boundaries into pieces that fit."""
    pieces: list[Span] = []
    words = [(m.start(), m.end()) for m in _words(text, sentence.start, sentence.end)]
    start_index = 0
    while start_index < len(words):
        # Grow the piece word by word; binary search would be faster but sentences are short.
        end_index = start_index + 1
        while end_index < len(words):
            candidate = text[words[start_index][0] : words[end_index][1]]
            if count(candidate) > max_tokens:
                break
            end_index += 1
        s, e = words[start_index][0], words[end_index - 1][1]
        pieces.append(Span(s, e, text[s:e], "SENTENCE"))
        start_index = end_index
    return pieces


def _words(text: str, start: int, end: int):
    pattern = re.compile(r"\S+")
    return pattern.finditer(text, start, end)


def chunk_source(name: str, text: str, sentences: list[Span], count: TokenCounter, settings: ChunkSettings) -> list[Chunk]:
    """Group consecutive sentences into chunks of at most `settings.max_tokens` word pieces.

    Each chunk after the first repeats the last `overlap_sentences` sentences of the one before,
    so an answer that spans a sentence boundary is still inside one chunk.
    """
    units: list[tuple[Span, int]] = []
    for sentence in sentences:
        size = count(sentence.text)
        if size > settings.max_tokens:
            units.extend((piece, count(piece.text)) for piece in split_long_sentence(text, sentence, count, settings.max_tokens))
        else:
            units.append((sentence, size))
    chunks: list[Chunk] = []
    first = 0
    while first < len(units):
        last = first
        total = units[first][1]
        while last + 1 < len(units) and total + units[last + 1][1] <= settings.max_tokens:
            last += 1
            total += units[last][1]
        start, end = units[first][0].start, units[last][0].end
        chunks.append(Chunk(source=name, start=start, end=end, text=text[start:end]))
        if last + 1 >= len(units):
            break
        # Step forward, keeping the overlap, but always by at least one unit; skip the overlap when
        # the next window could not add a unit to it (it would only repeat the end of this chunk).
        following = max(first + 1, last + 1 - settings.overlap_sentences)
        overlap_size = sum(size for _, size in units[following : last + 1])
        if overlap_size + units[last + 1][1] > settings.max_tokens:
            following = last + 1
        first = following
    return chunks


_LIST_ITEM = re.compile(r"^\s*(?:[-–•*]|\d+[.)])\s+")
_HEADING = re.compile(r"^[^\n.!?:;]{3,100}$")
CONTEXT_CHARS = 300


def _lines_before(text: str, position: int, limit: int = 60):
    """The lines that end before `position`, nearest first (at most `limit`)."""
    end = text.rfind("\n", 0, position)
    while end >= 0 and limit > 0:
        start = text.rfind("\n", 0, end) + 1
        yield text[start:end].strip()
        end = start - 1
        limit -= 1


def chunk_context(text: str, chunk: Chunk | Span, heading: bool = True) -> str:
    """Words that situate a chunk, added to what is embedded and searched (never to what is shown).

    A chunk that starts inside a list gets the list's introduction ("... trade turnover ...
    between the regions:"), and a chunk gets the nearest heading above it, so that
    "- Azerbaijan – Tajikistan: around $7 million" can still be found by a question about trade.
    """
    first_line = chunk.text.lstrip().split("\n", 1)[0]
    in_list = bool(_LIST_ITEM.match(first_line))
    needs_heading = heading and not _HEADING.match(first_line)
    intro = found_heading = ""
    for line in _lines_before(text, chunk.start + 1):
        if in_list:
            if _LIST_ITEM.match(line) or not line:
                continue
            in_list = False
            if line.endswith(":"):
                intro = line[-CONTEXT_CHARS:]
                continue
        if needs_heading and line and _HEADING.match(line) and not _LIST_ITEM.match(line):
            found_heading = line
            break
        if not in_list and not needs_heading:
            break
    return " ".join(part for part in (found_heading, intro) if part)


def index_text(text: str, chunk: Chunk) -> str:
    """What is embedded and searched for a chunk: its context, then its own text."""
    context = chunk_context(text, chunk)
    return f"{context}\n{chunk.text}" if context else chunk.text
