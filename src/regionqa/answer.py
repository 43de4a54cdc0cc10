"""Answer the question itself: a short typed span with a confidence, or an honest abstention.

No reader model can be installed offline, so the answer is chosen from what the index
already holds: the entities, figures, quoted titles and noun phrases of the sentences in
the retrieved passages. Each candidate is scored by
  - type agreement with what the question asks for (who -> PERSON, how much -> MONEY, ...),
  - the relevance of its sentence (embedding similarity, question-word coverage, passage rank),
  - its closeness in the sentence to the question's rarer words,
and is penalised when it merely repeats the question. Ranges ("from 15 to 25 million tons")
offer each end as a candidate, and words like "before" / "now" pick the end.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .models import Answer, Fact, Figure, Hit, Span
from .search import STOPWORDS
from .store import Store

Encoder = Callable[[list[str]], np.ndarray]

PERSON = {"PERSON"}
PLACE = {"GPE", "LOC", "FAC"}
ORG = {"ORG"}
NUMBER_LABELS = {"CARDINAL", "QUANTITY", "MONEY", "PERCENT", "MULTIPLIER"}
GROWTH_WORDS = {"grow", "grew", "grown", "growth", "increase", "increased", "rise", "rose", "risen", "expand", "expanded", "jump", "jumped", "up", "gain", "gained", "fell", "fall", "drop", "dropped", "decline", "declined", "decrease", "decreased"}
LOW_CUES = {"before", "originally", "initially", "previously", "formerly", "earlier", "prior", "first", "old", "former", "start", "began", "begin", "beginning"}
HIGH_CUES = {"now", "after", "currently", "current", "today", "new", "latest", "present", "expanded", "modernized", "modernised", "upgraded", "reach", "reached", "raised", "end"}
AUXILIARIES = {"is", "was", "are", "were", "does", "did", "do", "has", "have", "had", "can", "could", "will", "would", "the", "a", "an", "of"}
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|\w+(?:[’'-]\w+)*", re.UNICODE)


@dataclass(frozen=True)
class QuestionType:
    """What a question asks for: preferred labels, acceptable ones, and cues."""

    wh: str
    primary: frozenset[str]
    secondary: frozenset[str] = frozenset()
    focus: str | None = None  # the noun after which/what: "roadmap", "shore"
    range_end: str | None = None  # "low", "high" or None
    years: tuple[int, ...] = ()


@dataclass
class Candidate:
    source: str
    start: int
    end: int
    text: str
    label: str
    sentence: Span
    score: float = 0.0
    parts: dict = field(default_factory=dict)


@lru_cache(maxsize=1)
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


def stem(word: str) -> str:
    return _stemmer().stemWord(word.lower().replace("’", "'").removesuffix("'s"))


def tokens(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]


def content_stems(text: str) -> list[str]:
    return [stem(t) for _, _, t in tokens(text) if t.lower() not in STOPWORDS]


def classify(question: str) -> QuestionType:
    """The expected answer type of a question, from its wording alone (no model needed)."""
    q = question.lower()
    words = re.findall(r"\w+", q)
    focus = None
    match = re.search(r"\b(?:which|what)\s+((?:\w+\s+){0,2}?\w+)", q)
    if match:
        candidates = [w for w in match.group(1).split() if w not in AUXILIARIES]
        focus = candidates[0] if candidates else None
    word_set = set(words)
    range_end = "low" if word_set & LOW_CUES else "high" if word_set & HIGH_CUES else None
    years = tuple(int(y) for y in re.findall(r"\b(1[5-9]\d\d|20\d\d)\b", q))

    def qt(wh: str, primary: set[str], secondary: set[str] = set()) -> QuestionType:
        return QuestionType(wh, frozenset(primary), frozenset(secondary), focus, range_end, years)

    if re.search(r"\b(what|which) (percentage|percent|share|proportion)\b|\bhow many percent\b|\bby what percent", q):
        return qt("percent", {"PERCENT"}, {"MULTIPLIER", "CARDINAL"})
    if re.search(r"\bhow many times\b|\bhow many-fold\b|\bby what factor\b", q):
        return qt("multiplier", {"MULTIPLIER"}, {"PERCENT", "CARDINAL"})
    if re.search(r"\bhow much\b|\bwhat (?:is|was|were) the (?:value|amount|volume|capacity|cost|price|sum|total)\b", q) or (
        focus in {"capacity", "volume", "amount", "value", "turnover", "cost", "price", "sum", "total"}
    ):
        if word_set & GROWTH_WORDS:
            return qt("growth", {"MULTIPLIER", "PERCENT"}, {"MONEY", "QUANTITY", "CARDINAL"})
        return qt("amount", {"MONEY", "QUANTITY"}, {"CARDINAL", "PERCENT", "MULTIPLIER"})
    if re.search(r"\bhow many\b|\bwhat number\b|\bnumber of\b", q):
        return qt("count", {"CARDINAL"}, {"QUANTITY", "MONEY"})
    if re.search(r"\bhow (?:long|far)\b", q):
        return qt("measure", {"QUANTITY", "DATE"}, {"CARDINAL"})
    if re.search(r"\bwhen\b|\b(what|which) (year|date|month|day|time)\b|\bin what year\b", q):
        return qt("date", {"DATE"}, {"TIME", "CARDINAL"})
    if re.search(r"\bwho(m|se)?\b", q) or focus in {"person", "president", "minister", "leader", "official", "man", "woman"}:
        return qt("person", PERSON, ORG | {"NORP"})
    if re.search(r"\bwhere\b", q) or focus in {"city", "country", "place", "region", "capital", "location", "town", "port", "state", "shore", "coast", "sea"}:
        primary = {"GPE"} if focus in {"city", "country", "capital", "town", "state"} else PLACE
        return qt("place", primary, PLACE | {"NORP", "PLACE_PHRASE"})
    if focus in {"organisation", "organization", "company", "firm", "body", "institution", "bank", "agency", "fund", "group", "alliance", "bloc"}:
        return qt("org", ORG, {"NORP", "GPE", "TITLE"})
    return qt("thing", {"TITLE", "NP", "NP_OF"}, {"ORG", "WORK_OF_ART", "LAW", "EVENT", "PRODUCT", "NORP", "GPE", "LOC", "FAC", "PERSON"} | NUMBER_LABELS)


def range_parts(text: str, figure: Figure) -> list[tuple[int, int, str]]:
    """For a range figure, (start, end, "low"/"high") spans of its two ends, relative to the source.

    "from 15 to 25 million tons" -> "15" (low) and "25 million tons" (high).
    """
    if figure.value_max is None:
        return []
    inner = text[figure.start : figure.end]
    match = re.search(r"(?:from\s+)?(.+?)\s*(?:\bto\b|–|—|-|\band\b)\s*(.+)$", inner, re.IGNORECASE)
    if not match:
        return []
    low_start = figure.start + match.start(1)
    low_end = figure.start + match.end(1)
    high_start = figure.start + match.start(2)
    return [(low_start, low_end, "low"), (high_start, figure.end, "high")]


def _label_fit(label: str, qtype: QuestionType) -> float:
    if label in qtype.primary:
        return 1.0
    if label in qtype.secondary:
        return 0.55
    if label in ("NP", "NP_OF", "TITLE"):
        return 0.3
    return 0.1


def _proximity(sentence: Span, start: int, end: int, weights: dict[str, float]) -> float:
    """Closeness of a span to the question's words in its sentence, weighted by their rarity, in [0, 1]."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    positions: dict[str, list[int]] = {}
    sentence_tokens = tokens(sentence.text)
    cand_index = []
    for index, (s, e, word) in enumerate(sentence_tokens):
        absolute_start, absolute_end = sentence.start + s, sentence.start + e
        if absolute_start >= start and absolute_end <= end:
            cand_index.append(index)
            continue
        positions.setdefault(stem(word), []).append(index)
    if not cand_index:
        return 0.0
    lo, hi = min(cand_index), max(cand_index)
    score = 0.0
    for term, weight in weights.items():
        places = positions.get(term)
        if not places:
            continue
        distance = min(lo - p if p < lo else p - hi for p in places)
        score += weight * math.exp(-max(distance - 1, 0) / 6.0)
    return score / total


def _term_weights(store: Store, question: str) -> dict[str, float]:
    """Question stems weighted by inverse document frequency over chunks."""
    n = max(store.chunk_count(), 1)
    weights: dict[str, float] = {}
    for _, _, word in tokens(question):
        if word.lower() in STOPWORDS:
            continue
        term = stem(word)
        if term in weights:
            continue
        df = store.term_document_frequency(re.sub(r"\W", "", word.lower()) or word.lower()) if re.sub(r"\W", "", word) else 0
        weights[term] = math.log(1 + n / (1 + df))
    return weights


def _coverage(sentence_text: str, weights: dict[str, float]) -> float:
    present = {stem(w) for _, _, w in tokens(sentence_text)}
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in present) / total if total else 0.0


def _candidates(store: Store, source: str, sentence: Span, qtype: QuestionType) -> list[Candidate]:
    text_of = store.source_text(source)
    out: list[Candidate] = []
    for entity in store.entities(source, sentence.start, sentence.end):
        out.append(Candidate(source, entity.start, entity.end, entity.text, entity.label, sentence))
    places = [c for c in out if c.label in PLACE]
    for figure in store.figures(source, sentence.start, sentence.end):
        if figure.label == "ORDINAL":
            continue
        out.append(Candidate(source, figure.start, figure.end, figure.text, figure.label, sentence, parts={"range": "whole" if figure.value_max is not None else None}))
        for start, end, end_name in range_parts(text_of, figure):
            out.append(Candidate(source, start, end, text_of[start:end], figure.label, sentence, parts={"range": end_name}))
    for phrase in store.phrases(source, sentence.start, sentence.end):
        label = phrase.label
        if label.startswith("NP") and any(p.start >= phrase.start and p.end <= phrase.end for p in places):
            label = "PLACE_PHRASE"
        out.append(Candidate(source, phrase.start, phrase.end, phrase.text, label, sentence))
    return out


def _score(candidate: Candidate, qtype: QuestionType, question_stems: set[str], weights: dict[str, float], sentence_score: float) -> float:
    fit = _label_fit(candidate.label, qtype)
    stems = [stem(w) for _, _, w in tokens(candidate.text) if w.lower() not in STOPWORDS]
    if not stems:
        return 0.0
    repeated = sum(1 for s in stems if s in question_stems) / len(stems)
    if qtype.focus and candidate.label in ("NP", "NP_OF", "TITLE", "PLACE_PHRASE") and stem(qtype.focus) in stems and repeated < 1:
        # "which roadmap" -> "Roadmap for Regional Cooperation ...": the focus noun names the answer.
        fit = max(fit, 0.9)
        repeated = 0.0
    if qtype.wh == "place" and candidate.label == "PLACE_PHRASE":
        fit = max(fit, 0.95 if " of " in candidate.text else 0.5)
    penalty = 1.0 - 0.85 * repeated
    range_factor = 1.0
    end_name = candidate.parts.get("range")
    if end_name in ("low", "high"):
        wanted = qtype.range_end or _range_end_from_years(candidate, qtype)
        range_factor = 1.05 if wanted == end_name else 0.6
    elif end_name == "whole":
        range_factor = 0.7 if (qtype.range_end or qtype.years) else 1.0
    proximity = _proximity(candidate.sentence, candidate.start, candidate.end, weights)
    length_factor = 1.0 if len(stems) <= 6 else 6 / len(stems)
    candidate.parts.update(fit=fit, repeated=repeated, proximity=proximity, sentence=sentence_score)
    return fit * penalty * range_factor * length_factor * (0.55 * sentence_score + 0.45 * proximity)


def _range_end_from_years(candidate: Candidate, qtype: QuestionType) -> str | None:
    """"in 2018" against "(2018–2023) ... from $5.7 to $11 billion": the first year asks for the low end."""
    if not qtype.years:
        return None
    spans = re.findall(r"\b(1[5-9]\d\d|20\d\d)\s*[–-]\s*(1[5-9]\d\d|20\d\d)\b", candidate.sentence.text)
    for first, last in spans:
        if int(first) in qtype.years:
            return "low"
        if int(last) in qtype.years:
            return "high"
    return None


def answer_question(store: Store, question: str, hits: Sequence[Hit], encode: Encoder, passages: int = 5) -> tuple[Answer | None, list[Fact], str]:
    """The best answer span (or None with a reason) and the facts that bear on the question."""
    if not hits:
        return None, [], "nothing in the index matches the question"
    qtype = classify(question)
    weights = _term_weights(store, question)
    question_stems = set(weights)
    seen: set[tuple[str, int]] = set()
    sentences: list[tuple[Span, str, int]] = []
    for hit in hits[:passages]:
        for sentence in store.sentences(hit.chunk.source, hit.chunk.start, hit.chunk.end):
            key = (hit.chunk.source, sentence.start)
            if key not in seen:
                seen.add(key)
                sentences.append((sentence, hit.chunk.source, hit.rank))
    vectors = encode([question] + [s.text for s, _, _ in sentences])
    similarity = vectors[1:] @ vectors[0]
    scored_sentences = []
    for (sentence, source, rank), cosine in zip(sentences, similarity):
        coverage = _coverage(sentence.text, weights)
        relevance = 0.5 * float(cosine) + 0.4 * coverage + 0.1 / rank
        scored_sentences.append((sentence, source, relevance, float(cosine), coverage))
    scored_sentences.sort(key=lambda item: -item[2])
    best_relevance = scored_sentences[0][2]
    candidates: list[Candidate] = []
    for sentence, source, relevance, cosine, coverage in scored_sentences[:8]:
        normalised = relevance / best_relevance if best_relevance > 0 else 0.0
        for candidate in _candidates(store, source, sentence, qtype):
            candidate.score = _score(candidate, qtype, question_stems, weights, normalised)
            candidate.parts.update(cosine=cosine, coverage=coverage)
            candidates.append(candidate)
    facts = _relevant_facts(store, candidates, qtype)
    if not candidates:
        return None, facts, "the retrieved passages hold no candidate answer"
    best = max(candidates, key=lambda c: (c.score, -(c.end - c.start)))
    confidence = _confidence(best)
    if confidence < ABSTAIN_BELOW:
        return None, facts, f"no confident answer in the corpus (best guess {best.text!r} at {confidence:.2f}); see the passages"
    sentence = best.sentence
    answer = Answer(source=best.source, start=best.start, end=best.end, text=best.text, score=round(confidence, 4), sentence=sentence.text, sentence_start=sentence.start, label=best.label)
    return answer, facts, ""


# Confidence: a logistic function of the evidence, with the threshold calibrated by
# `regionqa eval` on in-corpus and out-of-corpus questions (see README, "Evaluation").
ABSTAIN_BELOW = 0.35


def _confidence(candidate: Candidate) -> float:
    p = candidate.parts
    z = -4.0 + 4.0 * p.get("cosine", 0.0) + 3.0 * p.get("coverage", 0.0) + 2.0 * p.get("fit", 0.0) * (1 - p.get("repeated", 0.0))
    return 1.0 / (1.0 + math.exp(-z))


def _relevant_facts(store: Store, candidates: list[Candidate], qtype: QuestionType, limit: int = 8) -> list[Fact]:
    """Entities and figures of the top sentences that fit the question's type, best first."""
    best: dict[tuple[str, int, int], Candidate] = {}
    for c in candidates:
        if c.label in ("NP", "NP_OF", "TITLE", "PLACE_PHRASE") or c.parts.get("range") in ("low", "high"):
            continue
        if c.parts.get("fit", 0) < 0.5 and c.parts.get("proximity", 0) < 0.3:
            continue
        key = (c.source, c.start, c.end)
        if key not in best or best[key].score < c.score:
            best[key] = c
    ranked = sorted(best.values(), key=lambda c: -c.score)[:limit]
    facts = []
    for c in ranked:
        value = value_max = unit = None
        if c.label in NUMBER_LABELS | {"DATE"}:
            for figure in store.figures(c.source, c.start, c.end):
                if figure.start == c.start and figure.end == c.end:
                    value, value_max, unit = figure.value, figure.value_max, figure.unit
        facts.append(Fact(source=c.source, start=c.start, end=c.end, text=c.text, label=c.label, sentence=c.sentence.text, value=value, value_max=value_max, unit=unit, score=round(c.score, 4)))
    return facts
