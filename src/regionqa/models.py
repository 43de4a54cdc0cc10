"""The typed records that travel between the steps of the data flow.

Every span carries `start`/`end` character offsets into its source's text, so that
`source_text[start:end] == text` always holds and a citation can be checked.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple


@dataclass(frozen=True)
class Source:
    """One document: a file, or one record of a JSONL file."""

    name: str  # stable id: path relative to the corpus folder, plus "#id" for JSONL records
    text: str
    content_hash: str  # sha256 of the text (and page starts): the identity used for incremental builds
    title: str = ""
    pages: tuple[int, ...] = ()  # offset where each page starts (PDF); empty for sources without pages


def location_of(text: str, pages: Sequence[int], start: int, end: int | None = None) -> str:
    """Where a span starts, as a person looks it up: "p. 3" in a source with pages, else "line 11".

    `pages` are the page start offsets, the first 0; the blank line between two pages belongs to
    the first. With an `end`, a span that runs onto later pages gives them all: "pp. 3–4".
    """
    if not pages:
        return f"line {text.count(chr(10), 0, start) + 1}"
    first = max(bisect_right(pages, start), 1)
    last = max(bisect_right(pages, end - 1), first) if end is not None and end > start else first
    return f"p. {first}" if last == first else f"pp. {first}–{last}"


@dataclass(frozen=True)
class Span:
    """A labelled span of a source: a sentence, entity, figure or noun phrase."""

    start: int
    end: int
    text: str
    label: str


@dataclass(frozen=True)
class Figure:
    """A number found in the text, with its value normalised where it can be computed."""

    start: int
    end: int
    text: str
    label: str  # MONEY, QUANTITY, PERCENT, CARDINAL, MULTIPLIER, DATE, ORDINAL, TIME
    value: float | None = None  # the single value, or the low end of a range
    value_max: float | None = None  # the high end of a range ("from 15 to 25 million tons")
    unit: str | None = None  # "USD", "t", "fraction", "times", "year", ...
    date: str | None = None  # a DATE's ISO 8601 form at its precision: "2024", "2024-03", "2024-05-15", "2025/2027"


@dataclass(frozen=True)
class Analysis:
    """What the NLP pass found in one source."""

    sentences: list[Span]
    entities: list[Span]
    figures: list[Figure]
    phrases: list[Span]  # noun phrases and quoted titles: answer candidates for "what" questions


@dataclass(frozen=True)
class Chunk:
    """A sentence-aligned window of a source, the unit that is embedded and retrieved."""

    source: str
    start: int
    end: int
    text: str
    id: int | None = None  # row id in the store, also the FAISS id


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and rank (1-based)."""

    chunk: Chunk
    score: float
    rank: int
    dense_score: float | None = None
    lexical_score: float | None = None
    location: str = ""  # "p. 3", "pp. 3–4" or "line 11" in the source, for the citation


@dataclass(frozen=True)
class Fact:
    """An entity or figure as reported to the user, with the sentence it stands in."""

    source: str
    start: int
    end: int
    text: str
    label: str
    sentence: str
    value: float | None = None
    value_max: float | None = None
    unit: str | None = None
    score: float = 0.0
    date: str | None = None  # a DATE's ISO 8601 form (Figure.date)


@dataclass(frozen=True)
class Answer:
    """A short answer span with its confidence in [0, 1] and the sentence that supports it."""

    source: str
    start: int
    end: int
    text: str
    score: float
    sentence: str
    sentence_start: int
    label: str = ""
    location: str = ""  # "p. 3" or "line 11" in the source, for the citation


@dataclass(frozen=True)
class Result:
    """Everything `ask` returns for one question."""

    question: str
    answer: Answer | None
    passages: list[Hit]
    facts: list[Fact]
    message: str = ""  # why there is no answer, when there is none
    timings: dict[str, float] = field(default_factory=dict)


# Rows of the listings the store gives (NamedTuples: typed, and they unpack like the tuples they replace).


class IndexedSource(NamedTuple):
    """A source as the index holds it."""

    name: str
    content_hash: str
    chunks: int


class Mention(NamedTuple):
    """One occurrence of a named entity in a source."""

    text: str
    label: str
    source: str
    start: int
    end: int


class SourceFigure(NamedTuple):
    """A figure with the source it was found in."""

    source: str
    figure: Figure
