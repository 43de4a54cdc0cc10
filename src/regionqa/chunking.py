"""Sentence-aligned chunks that fit the embedding model's word-piece limit, with overlap.

Pure functions: the token counter is passed in, so tests can use a fake one.
"""

from __future__ import annotations

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
    import re

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
        # Step forward, keeping the overlap, but always by at least one unit.
        first = max(first + 1, last + 1 - settings.overlap_sentences)
    return chunks
