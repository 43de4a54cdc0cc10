"""One answerer: the reader's spans join the typed candidates, and one learned scorer ranks them all.

The typed scorer (scoring.py) knows what kind of answer the question asks for; the reader knows
which words of a passage answer it. Each candidate gets the features of both (`candidate_features`)
and one logistic regression, fitted by training/fit_answerer.py on questions the reader was never
trained on, gives its score. A reader span that overlaps a typed entity or figure becomes that
candidate ("$4.4 billion", not "4.4"); any other becomes a candidate of its own (label SPAN).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from ..lexicon import STOPWORDS
from ..models import Hit
from ..store import Store
from .candidates import Candidate
from .confidence import confidence, features
from .question import PHRASE_LABELS, tokens
from .reader import Passage, Reader, ReaderSpan, Reading, reader_margin
from .scoring import Encoder, Ranking, ScoredSentence, rank_candidates, score_candidates

READ_SENTENCES = 3  # the most relevant sentences the reader reads, each with the sentences either side
READER_SPANS = 5  # the reader's best spans offered as candidates
SNAP_OVERLAP = 0.5  # a reader span covering at least this share of a typed entity or figure becomes it


@dataclass(frozen=True)
class Joined:
    """The learned scorer and confidence of the joined answerer (`joined.json`)."""

    scorer: dict[str, float]  # coefficient per candidate feature; "bias" multiplies 1
    confidence: dict[str, float]  # coefficient per answer feature (confidence.joined_features)
    abstain_below: float


@cache
def joined() -> Joined:
    """The fitted weights of `joined.json` next to this module (read once a process)."""
    data = json.loads(Path(__file__).with_name("joined.json").read_text(encoding="utf-8"))
    return Joined(data["scorer"], data["confidence"], data["abstain_below"])


def rank_answers(
    store: Store, question: str, hits: Sequence[Hit], encode: Encoder, get_reader: Callable[[], Reader | None]
) -> tuple[Ranking, Reading | None]:
    """The typed ranking, or with a reader the joined one: typed candidates and reader spans under the learned scorer."""
    ranking, reading = read_and_join(store, question, hits, encode, get_reader)
    if reading is not None:
        apply_scorer(ranking, ranking_features(ranking), joined().scorer)
    return ranking, reading


def read_and_join(
    store: Store, question: str, hits: Sequence[Hit], encode: Encoder, get_reader: Callable[[], Reader | None]
) -> tuple[Ranking, Reading | None]:
    """The typed ranking, and with a reader its reading of the best sentences joined in (scores still the typed ones).

    `get_reader` gives the reader (None: there is none) and is called only once the sentences are ranked:
    on a first question the reader is still loading in a thread of its own (engine.py), and it goes on
    loading while the sentences are embedded instead of keeping them waiting."""
    ranking = rank_candidates(store, question, hits, encode)
    reader = get_reader() if ranking.sentences else None
    if reader is None:
        return ranking, None
    if ranking.candidates:  # what the typed answerer alone would say, before the reader's spans join
        ranking.typed_confidence = confidence(features(ranking))
    reading = reader.read(question, reader_passages(store, ranking.sentences[:READ_SENTENCES]))
    join_reading(store, ranking, reading)
    return ranking, reading


def apply_scorer(ranking: Ranking, features: list[dict[str, float]], weights: dict[str, float]) -> None:
    """Score each candidate by the logistic scorer over its features (in the order of ranking.candidates), best first."""
    for candidate, values in zip(ranking.candidates, features):
        candidate.score = confidence(values, weights)  # the same logistic over named features
    ranking.candidates.sort(key=lambda c: (-c.score, c.end - c.start))


def reader_passages(store: Store, sentences: Sequence[ScoredSentence]) -> list[Passage]:
    """Each sentence with its neighbours in its source, overlapping pieces merged, in source order."""
    pieces: dict[str, list[list[int]]] = {}
    for sentence in sentences:
        around = store.sentences(sentence.source, max(sentence.span.start - 1, 0), sentence.span.end + 1)
        start, end = min(s.start for s in around), max(s.end for s in around)
        pieces.setdefault(sentence.source, []).append([start, end])
    passages = []
    for source, spans in pieces.items():
        text = store.source_text(source)
        merged: list[list[int]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        passages.extend(Passage(source, start, text[start:end]) for start, end in merged)
    return passages


def join_reading(store: Store, ranking: Ranking, reading: Reading) -> None:
    """Give every candidate its reader score, and add the reader's best spans that no typed candidate holds."""
    spans = reading.best_spans(READER_SPANS)
    best = spans[0].score if spans else 0.0
    for candidate in ranking.candidates:
        score = reading.span_score(candidate.source, candidate.start, candidate.end)
        candidate.parts = replace(candidate.parts, reader=None if score is None else score - best)
    for place, span in enumerate(spans):
        candidate = _snapped(ranking.candidates, span) or _span_candidate(store, ranking, span)
        if candidate is None:
            continue
        margin = span.score - best
        reader = margin if candidate.parts.reader is None else max(candidate.parts.reader, margin)
        candidate.parts = replace(candidate.parts, reader=reader, reader_top=candidate.parts.reader_top or place == 0)


def _snapped(candidates: list[Candidate], span: ReaderSpan) -> Candidate | None:
    """The typed candidate a reader span stands for: the same bounds, or an entity or figure it mostly covers or sits in."""
    best, best_overlap = None, 0.0
    for c in candidates:
        if c.source != span.source or c.end <= span.start or span.end <= c.start:
            continue
        if (c.start, c.end) == (span.start, span.end):
            return c
        if c.label in PHRASE_LABELS:
            continue
        overlap = (min(c.end, span.end) - max(c.start, span.start)) / (c.end - c.start)
        inside = c.start <= span.start and span.end <= c.end
        if (overlap >= SNAP_OVERLAP or inside) and overlap > best_overlap:
            best, best_overlap = c, overlap
    return best


def _span_candidate(store: Store, ranking: Ranking, span: ReaderSpan) -> Candidate | None:
    """A reader span as a candidate of its own, scored by the typed scorer too; None outside the scored sentences."""
    sentence = next(
        (s for s in ranking.sentences if s.source == span.source and s.span.start <= span.start and span.end <= s.span.end), None
    )
    if sentence is None:
        return None
    text = store.source_text(span.source)[span.start : span.end]
    if not any(w.lower() not in STOPWORDS for _, _, w in tokens(text)):
        return None
    best_relevance = max(ranking.sentences[0].relevance, 1e-9)
    found = [Candidate(span.source, span.start, span.end, text, "SPAN", sentence.span)]
    (candidate,) = score_candidates(found, sentence, ranking.qtype, ranking.terms, sentence.relevance / best_relevance)
    ranking.candidates.append(candidate)
    return candidate


def ranking_features(ranking: Ranking) -> list[dict[str, float]]:
    """candidate_features of every candidate of the ranking, in its order (the best typed score found once)."""
    top_typed = max((c.score for c in ranking.candidates if c.label != "SPAN"), default=0.0)
    return [candidate_features(ranking, c, top_typed) for c in ranking.candidates]


def candidate_features(ranking: Ranking, candidate: Candidate, top_typed: float) -> dict[str, float]:
    """What the learned scorer weighs: the typed score and its parts, the reader's score, the kind of span.
    `top_typed`: the best typed score among the ranking's candidates."""
    p = candidate.parts
    qtype = ranking.qtype
    words = [w for _, _, w in tokens(candidate.text) if w.lower() not in STOPWORDS]
    values = {
        "bias": 1.0,
        "typed": candidate.score if candidate.label != "SPAN" else 0.0,
        "typed_share": candidate.score / top_typed if top_typed > 0 else 0.0,
        "typed_top": 1.0 if candidate.label != "SPAN" and top_typed > 0 and candidate.score == top_typed else 0.0,
        "fit": min(p.fit, 1.5),
        "repeated": p.repeated,
        "proximity": p.proximity,
        "sentence": p.sentence,
        "cosine": p.cosine,
        "coverage": p.coverage,
        "passage": 1.0 / max(p.rank, 1),
        "reader": reader_margin(p.reader),
        "read": 0.0 if p.reader is None else 1.0,
        "reader_top": 1.0 if p.reader_top else 0.0,
        "reader_only": 1.0 if candidate.label == "SPAN" else 0.0,
        "phrase": 1.0 if candidate.label in PHRASE_LABELS else 0.0,
        "primary": 1.0 if candidate.label in qtype.primary else 0.0,
        "secondary": 1.0 if candidate.label in qtype.secondary else 0.0,
        "untyped_question": 1.0 if qtype.wh == "thing" else 0.0,
        "words": min(len(words), 10) / 10,
        "extreme": 1.0 if p.extreme else 0.0,
    }
    # Where the typed scorer knows little (no typed wh-word), the reader should count for more.
    untyped = values["untyped_question"]
    values.update(reader_untyped=values["reader"] * untyped, reader_top_untyped=values["reader_top"] * untyped)
    return values
