"""The candidate answers of one sentence: its entities, figures (and each end of a range), titles and phrases."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..lexicon import PLACE_LABELS
from ..models import Span
from ..store import Store
from .question import PLACE_HEADS, stem, tokens


@dataclass(frozen=True)
class ScoreParts:
    """The factors of a candidate's score, kept for the confidence, the facts and debugging."""

    fit: float = 0.0  # agreement of its label with the question's type
    repeated: float = 0.0  # share of its content words that repeat the question
    proximity: float = 0.0  # closeness to the question's words in its sentence, in [0, 1]
    sentence: float = 0.0  # relevance of its sentence, relative to the best sentence
    cosine: float = 0.0  # embedding similarity of its sentence (with context) to the question
    coverage: float = 0.0  # share of the question's weight its sentence (with context) covers
    context: str = ""  # the line that introduces its sentence when that is a list item
    antecedent: str = ""  # the sentence before its sentence, when that opens with a pronoun ("Its population ...")
    extreme: bool = False  # promoted as the entity at the asked rank of a superlative
    rank: int = 1  # the rank of its sentence's passage
    reader: float | None = None  # the span reader's score of it, less the reader's best (None: not read whole)
    reader_top: bool = False  # it is (or snaps) the reader's best span


@dataclass
class Candidate:
    """A span that may answer the question, with its score once ranked."""

    source: str
    start: int
    end: int
    text: str
    label: str
    sentence: Span
    unit: str | None = None
    range: str | None = None  # "low" / "high" end of a range, or "whole" for a range figure itself
    score: float = 0.0
    parts: ScoreParts = field(default_factory=ScoreParts)


def range_parts(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """The two ends of a range figure as (start, end, "low"/"high") spans of the source text.

    "from 15 to 25 million tons" -> "15" (low) and "25 million tons" (high).
    """
    inner = text[start:end]
    match = re.search(r"^(?:from\s+|between\s+)?(.+?)\s*(?:\bto\b|–|—|-|\band\b)\s*(.+)$", inner, re.IGNORECASE)
    if not match:
        return []
    return [(start + match.start(1), start + match.end(1), "low"), (start + match.start(2), end, "high")]


def sentence_candidates(store: Store, source: str, sentence: Span, options: tuple[str, ...] = ()) -> list[Candidate]:
    """Entities, figures (and each end of a range), choice options, titles and noun phrases of one sentence."""
    text = store.source_text(source)
    out: list[Candidate] = []
    entities = store.entities(source, sentence.start, sentence.end)
    figures = [f for f in store.figures(source, sentence.start, sentence.end) if f.label != "ORDINAL"]
    for entity in entities:
        out.append(Candidate(source, entity.start, entity.end, entity.text, entity.label, sentence))
    for figure in figures:
        whole = "whole" if figure.value_max is not None else None
        out.append(Candidate(source, figure.start, figure.end, figure.text, figure.label, sentence, figure.unit, whole))
        if whole:
            for start, end, end_name in range_parts(text, figure.start, figure.end):
                out.append(Candidate(source, start, end, text[start:end], figure.label, sentence, figure.unit, end_name))
    for option in options:
        for match in re.finditer(rf"(?i)\b{re.escape(option)}\b", sentence.text):
            start = sentence.start + match.start()
            out.append(Candidate(source, start, start + len(option), text[start : start + len(option)], "OPTION", sentence))
    for phrase in store.phrases(source, sentence.start, sentence.end):
        if any(f.start < phrase.end and phrase.start < f.end for f in figures) and phrase.label != "TITLE":
            continue  # a phrase around a figure: the typed figure is the better candidate
        out.append(Candidate(source, phrase.start, phrase.end, phrase.text, _phrase_label(phrase, entities), sentence))
    return out


def _phrase_label(phrase: Span, entities: list[Span]) -> str:
    """A phrase's label, or PLACE_PHRASE / PROPER for a phrase that names a place or is an unlabelled name."""
    if phrase.label == "TITLE":
        return phrase.label
    inner = [e for e in entities if e.start >= phrase.start and e.end <= phrase.end]
    words = [w for _, _, w in tokens(phrase.text)]
    if any(e.label in PLACE_LABELS for e in inner) or (len(words) > 1 and stem(words[-1]) in PLACE_HEADS):
        return "PLACE_PHRASE"  # "Kazakh coast of the Caspian Sea", "Aghdam region"
    if all(w[:1].isupper() for w in words) and not any((e.start, e.end) == (phrase.start, phrase.end) for e in inner):
        return "PROPER"  # a proper name the NER missed or cut ("Jeddah", "Cholpon-Ata")
    return phrase.label
