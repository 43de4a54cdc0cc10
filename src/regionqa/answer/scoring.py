"""Score and rank the candidate answers of the best sentences of the retrieved passages.

Each candidate is scored by
  - type agreement with what the question asks for (who -> PERSON, how much -> MONEY, ...),
    and with the question's focus noun ("which roadmap" -> a phrase naming a roadmap),
  - the relevance of its sentence (embedding similarity, question-word coverage, passage rank),
  - its closeness in the sentence to the question's words, weighted by their rarity,
and is penalised when it merely repeats the question. Ranges ("from 15 to 25 million tons")
offer each end as a candidate, and cues such as "before" / "now" or a year pick the end.
Every number of the scoring is a field of `ScoringWeights` (weights.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..chunking import chunk_context
from ..figures import parse_figure
from ..lexicon import ENTITY_LABELS, NUMBER_LABELS, STOPWORDS, YEAR_RANGE
from ..models import Hit, Span
from ..store import Store
from .candidates import Candidate, ScoreParts, sentence_candidates
from .question import (
    DETERMINERS,
    NAMED_HEADS,
    PHRASE_LABELS,
    PLACE_PREPOSITIONS,
    TIME_PREPOSITIONS,
    QuestionType,
    classify,
    question_names,
    stem,
    tokens,
)
from .weights import SCORING_WEIGHTS, ScoringWeights

Encoder = Callable[[list[str]], np.ndarray]


def term_weights(store: Store, question: str) -> dict[str, float]:
    """Question stems weighted by inverse document frequency over chunks (0 weight: not in the corpus)."""
    n = max(store.chunk_count(), 1)
    weights: dict[str, float] = {}
    for _, _, word in tokens(question):
        plain = re.sub(r"\W", "", word.lower())
        if not plain or word.lower() in STOPWORDS:
            continue
        term = stem(word)
        if term not in weights:
            df = store.term_document_frequency(plain)
            weights[term] = math.log(1 + n / (1 + df)) if df else -math.log(1 + n)  # negative: absent
    return weights


def question_coverage(text: str, terms: dict[str, float]) -> float:
    """Share of the question's weight (by rarity) whose words appear in a text."""
    present = {stem(w) for _, _, w in tokens(text)}
    total = sum(abs(w) for w in terms.values())
    return sum(abs(w) for t, w in terms.items() if t in present) / total if total else 0.0


def _proximity(sentence: Span, start: int, end: int, terms: dict[str, float], weights: ScoringWeights) -> float:
    """Closeness of a span to the question's words in its sentence, weighted by rarity, in [0, 1]."""
    positive = {t: w for t, w in terms.items() if w > 0}
    total = sum(positive.values())
    if total <= 0:
        return 0.0
    positions: dict[str, list[float]] = {}
    inside: list[float] = []
    place = 0.0
    previous_end = 0
    for s, e, word in tokens(sentence.text):
        # A comma or semicolon between two words counts as extra distance: they are likely in
        # different clauses ("support from Uzbekistan, and ... funds from Kazakhstan").
        place += 1 + weights.clause_gap * len(re.findall(r"[,;]", sentence.text[previous_end:s]))
        previous_end = e
        if sentence.start + s >= start and sentence.start + e <= end:
            inside.append(place)
        else:
            positions.setdefault(stem(word), []).append(place)
    if not inside:
        return 0.0
    lo, hi = min(inside), max(inside)
    score = 0.0
    for term, weight in positive.items():
        places = positions.get(term)
        if places:
            distance = min(lo - p if p < lo else p - hi for p in places)
            score += weight * math.exp(-max(distance - weights.free_distance, 0) / weights.distance_decay)
    return score / total


def _fit(
    candidate: Candidate, qtype: QuestionType, stems: list[str], entity_inside: set[str], question_stems: set[str], weights: ScoringWeights
) -> float:
    """How well the candidate's label (and wording) answers what the question asks for."""
    label = candidate.label
    if label in qtype.primary:
        fit = weights.fit_primary
    elif label in qtype.secondary:
        fit = weights.fit_secondary
    elif label in PHRASE_LABELS:
        fit = weights.fit_phrase
    else:
        fit = weights.fit_other
    if qtype.wh == "thing":
        fit = weights.fit_untyped_phrase if label in PHRASE_LABELS else weights.fit_untyped
        if label in ("MONEY", "QUANTITY") and qtype.asks_amount and qtype.focus is None:
            fit = weights.fit_untyped_amount  # "what did trade fall to": an amount noun in a question without a typed wh-word
    elif label == "PROPER" and qtype.wh in ("person", "place", "org"):
        fit = weights.fit_proper_name  # a capitalised name the NER left unlabelled is often the person or place asked for
    if qtype.wh in ("thing", "place", "org") and label in PHRASE_LABELS and qtype.focus in stems and len(stems) > 1:
        # "which roadmap" -> "Roadmap for Regional Cooperation ...": a phrase naming the focus,
        # unless it only wraps an entity of the wanted type ("former President X": X is the answer),
        # only repeats the question ("what is the Central Asia 2040 concept for" -> "Central Asia"),
        # or is no name where a name is asked for ("which country" -> "the sector of both countries";
        # "which shore" -> "western shore" is fine).
        wraps_entity = entity_inside & qtype.primary and "PLACE_PHRASE" not in qtype.primary
        says_more = bool(set(stems) - question_stems)
        named = qtype.focus not in NAMED_HEADS or _has_name(candidate)
        if not wraps_entity and says_more and named:
            fit = max(fit, weights.fit_focus_floor) * weights.fit_focus_boost
    if "PLACE_PHRASE" in qtype.primary and label == "PLACE_PHRASE" and " of " in candidate.text:
        fit = max(fit, weights.fit_place_of)  # "Kazakh coast of the Caspian Sea": the whole place phrase, not a part
    return fit


def _has_name(candidate: Candidate) -> bool:
    """A capitalised word in the candidate, not counting the capital that starts its sentence."""
    words = candidate.text.split()
    starts_sentence = not candidate.sentence.text[: candidate.start - candidate.sentence.start].strip()
    return any(word[:1].isupper() for word in (words[1:] if starts_sentence else words))


def _score(
    candidate: Candidate,
    qtype: QuestionType,
    terms: dict[str, float],
    sentence_score: float,
    entity_inside: set[str],
    weights: ScoringWeights,
) -> tuple[float, ScoreParts]:
    """The candidate's score and its factors."""
    stems = [stem(w) for _, _, w in tokens(candidate.text) if w.lower() not in STOPWORDS]
    if not stems:
        return 0.0, candidate.parts
    question_stems = set(terms)
    fit = _fit(candidate, qtype, stems, entity_inside, question_stems, weights)
    # Repeating the question is no answer, except for the focus words a phrase answer names.
    ignored = qtype.focus_words if fit > 1.0 else frozenset()
    if candidate.label == "TITLE" and qtype.wh == "name":
        ignored = ignored | frozenset(stems)  # a title asked for by its topic repeats the topic
    if candidate.label == "OPTION":
        ignored = frozenset(stems)  # a choice question names its answer by design
    repeated = sum(1 for s in stems if s in question_stems and s not in ignored) / len(stems)
    factor = 1.0 - weights.repeat_penalty * repeated
    if qtype.excluded & set(stems):
        factor *= weights.excluded
    if candidate.range in ("low", "high"):
        wanted = qtype.range_end or _range_end_from_years(candidate.sentence.text, qtype.years)
        factor *= weights.range_end_wanted if wanted == candidate.range else weights.range_end_unwanted
    elif candidate.range == "whole" and (qtype.range_end or qtype.years):
        factor *= weights.whole_range
    if qtype.units and candidate.label in NUMBER_LABELS:
        factor *= weights.unit_named if candidate.unit in qtype.units else weights.unit_other
    if qtype.focus and qtype.focus not in stems and _focus_next_to(candidate, qtype.focus_words):
        factor *= weights.focus_next_to  # "the city of Fizuli", "the Italian company CESI": named by the focus noun
    before = _word_before(candidate)
    if qtype.wh == "place" and before in PLACE_PREPOSITIONS or qtype.wh == "date" and before in TIME_PREPOSITIONS:
        factor *= weights.preposition
    if len(stems) > weights.long_words:
        factor *= weights.long_words / len(stems)
    pulling = {t: w for t, w in terms.items() if t not in qtype.excluded}
    proximity = _proximity(candidate.sentence, candidate.start, candidate.end, pulling, weights)
    parts = replace(candidate.parts, fit=fit, repeated=repeated, proximity=proximity, sentence=sentence_score)
    return fit * factor * (weights.sentence_share * sentence_score + weights.proximity_share * proximity), parts


def _focus_next_to(candidate: Candidate, focus: frozenset[str]) -> bool:
    """Whether the focus noun stands just before the candidate ("city of X", "company X") or after ("X city")."""
    offset = candidate.start - candidate.sentence.start
    before = [stem(w) for w in re.findall(r"[\w’']+", candidate.sentence.text[:offset])[-2:] if w.lower() != "of"]
    after = [stem(w) for w in re.findall(r"[\w’']+", candidate.sentence.text[candidate.end - candidate.sentence.start :])[:1]]
    return bool(focus & set(before + after))


def _word_before(candidate: Candidate) -> str:
    """The word before a candidate, skipping an article: "on the Kazakh coast" -> "on"."""
    offset = candidate.start - candidate.sentence.start
    words = re.findall(r"\w+", candidate.sentence.text[:offset].lower())
    while words and words[-1] in DETERMINERS:
        words.pop()
    return words[-1] if words else ""


def _range_end_from_years(sentence: str, years: tuple[int, ...]) -> str | None:
    """ "in 2018" against "(2018–2023) ... from $5.7 to $11 billion": the first year asks for the low end."""
    for first, last in YEAR_RANGE.findall(sentence):
        if int(first) in years:
            return "low"
        if int(last) in years:
            return "high"
    return None


@dataclass
class Ranking:
    """Candidates best first, with what the confidence is computed from."""

    qtype: QuestionType
    candidates: list[Candidate]
    missing_weight: float  # share of the question's weight in words the corpus never uses
    missing_names: float  # share of the question's names and years that the corpus never mentions
    names: list[str] = field(default_factory=list)  # the question's names and years
    terms: dict[str, float] = field(default_factory=dict)  # the question's stems and their weights (term_weights)
    sentences: list[ScoredSentence] = field(default_factory=list)  # the sentences scored, most relevant first
    typed_confidence: float = 0.0  # the typed answerer's calibrated confidence in its best candidate (combine.read_and_join)


@dataclass(frozen=True)
class ScoredSentence:
    """A sentence of a retrieved passage with its relevance to the question."""

    relevance: float
    span: Span
    source: str
    cosine: float
    coverage: float
    context: str  # the line that introduces it when it is a list item
    rank: int  # the rank of its passage
    antecedent: str = ""  # the sentence before it, when it opens with a pronoun that refers back


def rank_candidates(
    store: Store,
    question: str,
    hits: Sequence[Hit],
    encode: Encoder,
    passages: int = 5,
    sentences_embedded: int = 10,
    sentences_kept: int = 8,
    weights: ScoringWeights = SCORING_WEIGHTS,
) -> Ranking:
    """Score every candidate span in the best sentences of the top passages."""
    qtype = classify(question)
    terms = term_weights(store, question)
    total = sum(abs(w) for w in terms.values())
    missing = sum(-w for w in terms.values() if w < 0) / total if total else 0.0
    names = question_names(question)
    missing_names = sum(1 for n in names if terms.get(stem(n), 0) < 0) / len(names) if names else 0.0
    ranking = Ranking(qtype, [], missing, missing_names, names, terms)
    sentences = _passage_sentences(store, hits[:passages])
    if not sentences:
        return ranking
    ranking.sentences = scored = _relevant_sentences(store, question, sentences, terms, encode, sentences_embedded, weights)
    best_relevance = max(scored[0].relevance, 1e-9)
    for sentence in scored[:sentences_kept]:
        found = sentence_candidates(store, sentence.source, sentence.span, qtype.options)
        ranking.candidates.extend(score_candidates(found, sentence, qtype, terms, sentence.relevance / best_relevance, weights))
    if qtype.extreme:
        _promote_extreme(ranking.candidates, qtype, weights)
    ranking.candidates.sort(key=lambda c: (-c.score, c.end - c.start))
    return ranking


def _passage_sentences(store: Store, hits: Sequence[Hit]) -> list[tuple[Span, str, int]]:
    """The sentences of the passages as (sentence, source, passage rank), each once."""
    seen: set[tuple[str, int]] = set()
    sentences: list[tuple[Span, str, int]] = []
    for hit in hits:
        for sentence in store.sentences(hit.chunk.source, hit.chunk.start, hit.chunk.end):
            if (hit.chunk.source, sentence.start) not in seen:
                seen.add((hit.chunk.source, sentence.start))
                sentences.append((sentence, hit.chunk.source, hit.rank))
    return sentences


def _relevant_sentences(
    store: Store,
    question: str,
    sentences: list[tuple[Span, str, int]],
    terms: dict[str, float],
    encode: Encoder,
    embedded: int,
    weights: ScoringWeights,
) -> list[ScoredSentence]:
    """The most promising sentences, embedded and scored against the question, most relevant first."""
    # A list item is read with the line that introduces the list ("trade turnover ... regions:").
    contexts = [chunk_context(store.source_text(source), sentence, heading=False) for sentence, source, _ in sentences]
    texts = [f"{context} {sentence.text}" if context else sentence.text for context, (sentence, _, _) in zip(contexts, sentences)]
    coverages = [question_coverage(text, terms) for text in texts]
    # Embedding sentences is the costly step of a cold answer: only the most promising ones,
    # by question-word coverage and passage rank, are embedded and kept.
    if len(sentences) > embedded:
        order = sorted(
            range(len(sentences)),
            key=lambda i: -(weights.select_coverage * coverages[i] + weights.select_rank / sentences[i][2]),
        )[:embedded]
        order.sort()
        sentences, texts, contexts = [sentences[i] for i in order], [texts[i] for i in order], [contexts[i] for i in order]
        coverages = [coverages[i] for i in order]
    vectors = encode([question] + texts)
    similarity = vectors[1:] @ vectors[0]
    scored = []
    for (sentence, source, rank), context, coverage, cosine in zip(sentences, contexts, coverages, similarity):
        relevance = weights.relevance_cosine * float(cosine) + weights.relevance_coverage * coverage + weights.relevance_rank / rank
        scored.append(
            ScoredSentence(relevance, sentence, source, float(cosine), coverage, context, rank, _antecedent(store, source, sentence))
        )
    scored.sort(key=lambda s: -s.relevance)
    return scored


# Words that open a sentence about something named before it ("Samarkand is a city in Uzbekistan.
# Its population reached 550,000."): the names a question asks about are in that sentence.
REFERRING_OPENERS = frozenset({"it", "its", "they", "their", "he", "his", "she", "her", "this", "these"})


def _antecedent(store: Store, source: str, sentence: Span) -> str:
    """The sentence before `sentence` when `sentence` opens with a pronoun that refers back; else ""."""
    words = sentence.text.split(maxsplit=1)
    if not words or words[0].lower().strip("\"'“‘(") not in REFERRING_OPENERS:
        return ""
    before = [s for s in store.sentences(source, max(0, sentence.start - 2000), sentence.start) if s.end <= sentence.start]
    return before[-1].text if before else ""


def score_candidates(
    found: list[Candidate],
    sentence: ScoredSentence,
    qtype: QuestionType,
    terms: dict[str, float],
    sentence_score: float,
    weights: ScoringWeights = SCORING_WEIGHTS,
) -> list[Candidate]:
    """The candidates of one sentence, each with its score and score parts."""
    entity_spans = [(c.start, c.end, c.label) for c in found if c.label in ENTITY_LABELS]
    for candidate in found:
        inside = {
            label
            for s, e, label in entity_spans
            if s >= candidate.start and e <= candidate.end and (s, e) != (candidate.start, candidate.end)
        }
        candidate.score, parts = _score(candidate, qtype, terms, sentence_score, inside, weights)
        candidate.parts = replace(
            parts,
            cosine=sentence.cosine,
            coverage=sentence.coverage,
            context=sentence.context,
            rank=sentence.rank,
            antecedent=sentence.antecedent,
        )
    return found


def _promote_extreme(candidates: list[Candidate], qtype: QuestionType, weights: ScoringWeights) -> None:
    """Answer "which had the largest / second-largest / smallest X" by comparing the figures.

    Parallel sentences (a list such as "Azerbaijan – Kazakhstan: $529.4 million") each pair one
    entity of the asked-for type with one figure; an entity named in most of them (the anchor,
    "Azerbaijan") is not an answer. The entity at the asked rank of the sorted values is promoted.
    """
    pairs = _entity_figure_pairs(candidates, qtype, weights)
    direction, rank = qtype.extreme
    if len(pairs) < weights.extreme_rows or rank > len(pairs):
        return
    pairs.sort(key=lambda p: p[0], reverse=direction == "max")
    winner = pairs[rank - 1][1]
    top = max(c.score for c in candidates)
    for c in candidates:
        if c.source == winner.source and (c.start, c.end) == (winner.start, winner.end):
            c.score = max(c.score, top) * weights.extreme_boost
            c.parts = replace(c.parts, extreme=True)


@dataclass
class _Row:
    """The entities and figures of one sentence, for comparing figures across parallel sentences."""

    entities: list[Candidate] = field(default_factory=list)
    figures: list[Candidate] = field(default_factory=list)


def _entity_figure_pairs(candidates: list[Candidate], qtype: QuestionType, weights: ScoringWeights) -> list[tuple[float, Candidate]]:
    """(value, entity) of each sentence that pairs one figure with one entity other than the anchor."""
    wanted = qtype.primary or ENTITY_LABELS
    by_sentence: dict[tuple[str, int], _Row] = {}
    for c in candidates:
        row = by_sentence.setdefault((c.source, c.sentence.start), _Row())
        if c.label in wanted and c.label in ENTITY_LABELS and c.parts.repeated < weights.extreme_repeated:
            row.entities.append(c)  # not "Central Asian" of "which Central Asian country"
        elif c.label in ("MONEY", "QUANTITY", "PERCENT", "CARDINAL") and c.range is None:
            row.figures.append(c)
    rows = [r for r in by_sentence.values() if r.entities and len(r.figures) == 1]
    counts: dict[str, int] = {}
    for row in rows:
        for name in {e.text for e in row.entities}:
            counts[name] = counts.get(name, 0) + 1
    pairs = []
    for row in rows:
        varying = {e.text: e for e in row.entities if counts[e.text] <= len(rows) * weights.extreme_anchor}
        if len(varying) == 1:
            value = _figure_value(row.figures[0])
            if value is not None:
                pairs.append((value, next(iter(varying.values()))))
    return pairs


def _figure_value(candidate: Candidate) -> float | None:
    """The value of a figure candidate (the low end of a range)."""
    value = parse_figure(candidate.text, candidate.label)
    return value.low if value else None
