"""The typed records that travel between the steps of the data flow.

Every span carries `start`/`end` character offsets into its source's text, so that
`source_text[start:end] == text` always holds and a citation can be checked.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

PAGE, ROW, SLIDE, CHAPTER = "page", "row", "slide", "chapter"
UNIT_KINDS = (PAGE, ROW, SLIDE, CHAPTER)
# The kinds a passage that runs on is cited as a range of ("pp. 3–4", "slides 4–5"); a row or a
# chapter is cited where the span starts, as a line is.
_RANGES = {PAGE: ("p. {}", "pp. {}–{}"), SLIDE: ("slide {}", "slides {}–{}")}


@dataclass(frozen=True)
class Units:
    """The parts a source is cited by: its pages, sheet rows, slides or chapters, where each starts in the text.

    `labels` name the parts that are not cited by their number alone ("Sheet1 row 12",
    "chapter 2: Rail ferries"); pages and slides have none and are cited as "p. 3", "slide 4".
    """

    kind: str  # one of UNIT_KINDS
    starts: tuple[int, ...]  # offset where each part starts, the first 0
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in UNIT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(UNIT_KINDS)}; got {self.kind!r}")
        if self.labels and len(self.labels) != len(self.starts):
            raise ValueError(f"{len(self.labels)} labels for {len(self.starts)} parts")

    def as_json(self) -> dict:
        return {"kind": self.kind, "starts": list(self.starts), "labels": list(self.labels)}

    @classmethod
    def from_json(cls, data: dict) -> Units:
        return cls(data["kind"], tuple(data["starts"]), tuple(data.get("labels", ())))


@dataclass(frozen=True)
class Source:
    """One document: a file, one record of a JSONL file, one message of a mailbox or one attachment of a message."""

    name: str  # stable id: path relative to the corpus folder, plus "#id" for records, messages and attachments
    text: str
    content_hash: str  # sha256 of the text (and units and metadata): the identity used for incremental builds
    title: str = ""
    units: Units | None = None  # the pages, rows, slides or chapters it is cited by; None: cited by line
    # Provenance, keys as known: "url", "title", "author", "date" (ISO: YYYY-MM-DD, or YYYY-MM / YYYY
    # when that is all that is known), "modified", and for email "from", "to", "subject".
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def pages(self) -> tuple[int, ...]:
        """Where each page starts (a PDF, a scan); empty for a source that has no pages."""
        return self.units.starts if self.units is not None and self.units.kind == PAGE else ()


def location_of(text: str, units: Units | Sequence[int] | None, start: int, end: int | None = None) -> str:
    """Where a span starts, as a person looks it up: "p. 3", "slide 4", "Sheet1 row 12", "chapter 2", else "line 11".

    `units` are the parts of the source (a plain sequence of offsets is taken as page starts); the
    blank line between two parts belongs to the first. With an `end`, a span that runs onto later
    pages or slides gives them all: "pp. 3–4".
    """
    if units is not None and not isinstance(units, Units):
        units = Units(PAGE, tuple(units)) if units else None
    if units is None or not units.starts:
        return f"line {text.count(chr(10), 0, start) + 1}"
    first = max(bisect_right(units.starts, start), 1)
    if units.labels:
        return units.labels[first - 1]
    last = max(bisect_right(units.starts, end - 1), first) if end is not None and end > start else first
    one, several = _RANGES[units.kind]
    return one.format(first) if last == first else several.format(first, last)


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
    location: str = ""  # "p. 3", "pp. 3–4", "slide 4", "Sheet1 row 12" or "line 11" in the source, for the citation
    meta: dict[str, str] = field(default_factory=dict)  # the source's provenance (Source.meta), for the citation


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
    location: str = ""  # "p. 3", "Sheet1 row 12" or "line 11" in the source, for the citation
    meta: dict[str, str] = field(default_factory=dict)  # the source's provenance (Source.meta), for the citation


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
