"""The answer to a question: the best candidate when it is confident enough, and the facts that bear on it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..lexicon import NUMBER_LABELS
from ..models import Answer, Fact, Hit
from ..store import Store
from .candidates import Candidate
from .combine import joined, rank_answers
from .confidence import calibration, confidence, features, joined_features
from .question import PHRASE_LABELS
from .reader import Reader
from .scoring import Encoder

MIN_FACT_COVERAGE = 0.3


def answer_question(
    store: Store, question: str, hits: Sequence[Hit], encode: Encoder, get_reader: Callable[[], Reader | None] = lambda: None
) -> tuple[Answer | None, list[Fact], str]:
    """The best answer span (or None with a reason) and the facts that bear on the question.

    With a reader, its spans and the typed candidates are ranked together (combine.py) and the
    joined confidence decides; without one, the typed scorer and its calibration do."""
    if not hits:
        return None, [], "nothing in the index matches the question"
    ranking, reading = rank_answers(store, question, hits, encode, get_reader)
    facts = relevant_facts(store, ranking.candidates)
    if not ranking.candidates:
        return None, facts, "the retrieved passages hold no candidate answer"
    best = ranking.candidates[0]
    if reading is None:
        score, abstain_below = confidence(features(ranking)), calibration().abstain_below
    else:
        score, abstain_below = confidence(joined_features(ranking, reading), joined().confidence), joined().abstain_below
    if score < abstain_below:
        return None, facts, f"no confident answer in the corpus (best guess {best.text!r}, confidence {score:.2f}); see the passages"
    answer = Answer(
        source=best.source, start=best.start, end=best.end, text=best.text, score=round(score, 4),
        sentence=best.sentence.text, sentence_start=best.sentence.start, label=best.label,
    )  # fmt: skip
    return answer, facts, ""


def relevant_facts(store: Store, candidates: list[Candidate], limit: int = 8) -> list[Fact]:
    """Entities and figures of the top sentences that fit the question's type or stand near its words."""
    best: dict[tuple[str, str], Candidate] = {}
    for c in candidates:
        if c.label in PHRASE_LABELS or c.range in ("low", "high") or c.score <= 0:
            continue
        if c.parts.fit < 0.5 and c.parts.proximity < 0.3:
            continue
        if c.parts.coverage < MIN_FACT_COVERAGE:
            continue  # a sentence that shares (almost) none of the question's words does not bear on it
        key = (c.text, c.label)  # one row per fact, from its best-scoring mention
        if key not in best or best[key].score < c.score:
            best[key] = c
    return [_fact(store, c) for c in sorted(best.values(), key=lambda c: -c.score)[:limit]]


def _fact(store: Store, c: Candidate) -> Fact:
    """A candidate as a fact, with the parsed value of its figure."""
    value = value_max = date = None
    if c.label in NUMBER_LABELS | {"DATE"}:
        for figure in store.figures(c.source, c.start, c.end):
            if (figure.start, figure.end) == (c.start, c.end):
                value, value_max, date = figure.value, figure.value_max, figure.date
    return Fact(
        source=c.source, start=c.start, end=c.end, text=c.text, label=c.label, sentence=c.sentence.text,
        value=value, value_max=value_max, unit=c.unit, score=round(c.score, 4), date=date,
    )  # fmt: skip
