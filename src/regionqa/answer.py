"""Answer the question itself: a short typed span with a confidence, or an honest abstention.

No reader model can be installed offline, so the answer is chosen from what the index
already holds: the entities, figures, quoted titles and noun phrases of the sentences in
the retrieved passages. Each candidate is scored by
  - type agreement with what the question asks for (who -> PERSON, how much -> MONEY, ...),
    and with the question's focus noun ("which roadmap" -> a phrase naming a roadmap),
  - the relevance of its sentence (embedding similarity, question-word coverage, passage rank),
  - its closeness in the sentence to the question's words, weighted by their rarity,
and is penalised when it merely repeats the question. Ranges ("from 15 to 25 million tons")
offer each end as a candidate, and cues such as "before" / "now" or a year pick the end.
The question is analysed with rules only: no spaCy import on the query path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .chunking import chunk_context
from .figures import CURRENCIES, UNITS
from .models import Answer, Fact, Hit, Span
from .search import STOPWORDS
from .store import Store

Encoder = Callable[[list[str]], np.ndarray]

PLACE = frozenset({"GPE", "LOC", "FAC"})
NUMBER_LABELS = frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT", "MULTIPLIER"})
PHRASE_LABELS = frozenset({"NP", "NP_OF", "TITLE", "PLACE_PHRASE", "PROPER", "OPTION"})
ENTITY_LABELS = frozenset({"PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"})

# Head nouns of "which X" / "what X" that say what kind of answer is wanted (matched as stems).
HEAD_TYPES = {
    "person": "person president minister leader official man woman author writer founder head chairman ceo director politician king queen ruler spokesman",
    "city": "city capital town village",
    "country": "country nation state",
    "place": "place region location shore coast sea venue site area province island river",
    "org": "organisation organization company firm body institution bank agency alliance bloc union group association",
    "amount": "capacity volume amount value turnover cost price worth size sum total trade export import investment revenue budget gdp output freight population",
    "date": "year date month day time period decade century",
    "percent": "percentage percent share proportion rate",
    "name": "title name",
    "multiplier": "factor multiple",
}
GROWTH_VERBS = "grow grew grown increase increased rise rose risen expand expanded jump jumped gain gained fall fell drop dropped decline declined decrease decreased shrink shrank change changed"
LOW_CUES = "before originally initially previously formerly earlier prior first old former start started began begin beginning"
HIGH_CUES = "now after currently current today new latest present expanded modernization modernisation upgraded upgrade reached end later"
AUXILIARIES = set("is was are were be been does did do has have had can could will would shall should may might must".split())
DETERMINERS = {"the", "a", "an", "this", "that", "these", "those", "its", "their"}
PLACE_PREPOSITIONS = {"in", "at", "on", "near", "from", "to", "into", "inside", "across"}
TIME_PREPOSITIONS = {"in", "on", "by", "since", "until", "during", "before", "after"}
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|\w+(?:[’'-]\w+)*", re.UNICODE)
CLAUSE_GAP = 2.0  # extra words of distance for each comma or semicolon crossed


@lru_cache(maxsize=1)
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=20_000)
def stem(word: str) -> str:
    return _stemmer().stemWord(word.lower().replace("’", "'").removesuffix("'s"))


def _stems(words: str) -> frozenset[str]:
    return frozenset(stem(w) for w in words.split())


HEAD_STEMS = {kind: _stems(words) for kind, words in HEAD_TYPES.items()}
PLACE_HEADS = _stems("region city town village province district coast shore capital island valley republic")
# Category nouns whose answers are proper names: "which country" is answered by a name.
NAMED_HEADS = HEAD_STEMS["country"] | HEAD_STEMS["city"] | HEAD_STEMS["org"] | HEAD_STEMS["person"]
GROWTH_STEMS = _stems(GROWTH_VERBS)
LOW_STEMS = _stems(LOW_CUES)
HIGH_STEMS = _stems(HIGH_CUES)


def tokens(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]


@dataclass(frozen=True)
class QuestionType:
    """What a question asks for: preferred labels, acceptable ones, and cues."""

    wh: str
    primary: frozenset[str]
    secondary: frozenset[str] = frozenset()
    focus: str | None = None  # stem of the noun after which/what: "roadmap", "shore"
    focus_words: frozenset[str] = frozenset()  # stems of the whole focus phrase: "railway project"
    excluded: frozenset[str] = frozenset()  # stems after "apart from", "besides", "other than"
    range_end: str | None = None  # "low", "high" or None
    years: tuple[int, ...] = ()
    units: frozenset[str] = frozenset()  # units the question names: "t", "km", "USD", "fraction"
    asks_amount: bool = False  # an amount noun (trade, capacity, turnover) stands in the question
    options: tuple[str, ...] = ()  # "in person or online?": the answer is one of these
    extreme: tuple[str, int] | None = None  # "the second-largest": ("max", 2); "the smallest": ("min", 1)


BE_VERBS = {"is", "was", "are", "were", "be", "been"}


def focus_noun(question: str) -> str | None:
    phrase = focus_phrase(question)
    return stem(phrase[-1]) if phrase else None


def focus_phrase(question: str) -> list[str]:
    """The words of the noun phrase after which/what, ending at its head noun.

    A known head noun ends it ("former Kazakh president", "country's leaders describe" ->
    "leaders"); otherwise it is at most two words ("port congestion limits" -> "port congestion").
    """
    run = _words_after_wh(question)
    known = [i for i, w in enumerate(run) if any(stem(w) in heads for heads in HEAD_STEMS.values())]
    return run[: known[-1] + 1] if known else run[:2]


def expand_contractions(question: str) -> str:
    """ "What's" -> "What is", so that the wh-word and the verb are seen apart."""
    return re.sub(r"\b(what|who|where|when|which|how)[’']s\b", r"\1 is", question, flags=re.IGNORECASE)


def _words_after_wh(question: str) -> list[str]:
    """The stem of the noun a question asks about: "which roadmap did..." -> "roadmap",
    "what was the yearly capacity of..." -> "capac", "what kind of cluster" -> "cluster".

    Only a noun right after which/what (or after "what is the") counts: in "what does
    Azerbaijan supply", Azerbaijan is the subject, not the thing asked for.
    """
    words = [w for _, _, w in tokens(expand_contractions(question).lower())]
    if not {"which", "what", "who", "whom", "whose", "where", "when", "how", "why"} & set(words):
        # A terse query ("Kazakhstan double economy target year?"): its last known head noun.
        heads = [w for w in words if any(stem(w) in h for h in HEAD_STEMS.values())]
        return heads[-1:]
    for index, word in enumerate(words):
        if word not in ("which", "what"):
            continue
        run: list[str] = []
        for next_word in words[index + 1 :]:
            if not run and (next_word in BE_VERBS or next_word in DETERMINERS or next_word in ("kind", "type", "sort", "form", "of")):
                continue
            if next_word in AUXILIARIES or next_word in STOPWORDS:
                break
            if next_word.endswith(("'s", "’s")):
                run = []  # "the Alat port's capacity": the head comes after the possessor
                continue
            if run and next_word.endswith("ed"):
                break  # "which country funded ...": a verb, not part of the noun
            run.append(next_word)
            if len(run) == 3:
                break
        return run
    return []


_CHOICE = re.compile(
    r"(?:,|\b(?:is it|was it|were they|are they))\s*((?:\w+[ -]){0,2}\w+)\s+or\s+((?:\w+[ -]){0,2}\w+)\s*\?\s*$", re.IGNORECASE
)


_SUPERLATIVE = re.compile(
    r"\b(?:(second|third|2nd|3rd)[- ])?(biggest|largest|greatest|highest|most|top|leading|smallest|lowest|least|fewest)\b", re.IGNORECASE
)


def extreme_asked(question: str) -> tuple[str, int] | None:
    """ "Which country had the second-largest trade?" -> ("max", 2); None when no superlative."""
    match = _SUPERLATIVE.search(question)
    if not match:
        return None
    rank = {"second": 2, "2nd": 2, "third": 3, "3rd": 3}.get((match.group(1) or "").lower(), 1)
    direction = "min" if match.group(2).lower() in ("smallest", "lowest", "least", "fewest") else "max"
    return direction, rank


def choice_options(question: str) -> tuple[str, ...]:
    """The alternatives of a choice question: "..., in person or online?" -> ("in person", "online")."""
    match = _CHOICE.search(question)
    return (match.group(1).strip(), match.group(2).strip()) if match else ()


_EXCLUSION = re.compile(r"\b(?:apart from|aside from|besides|other than|except(?: for)?|excluding|not counting)\s+([^,?;]+)", re.IGNORECASE)


def excluded_stems(question: str) -> frozenset[str]:
    """Words the question rules out as answers: "Apart from Astana, where ..." -> {"astana"}."""
    return frozenset(stem(w) for match in _EXCLUSION.finditer(question) for _, _, w in tokens(match.group(1)))


MONEY_WORDS = {
    "cost",
    "costs",
    "costed",
    "price",
    "spend",
    "spent",
    "paid",
    "pay",
    "worth",
    "budget",
    "invest",
    "invested",
    "investment",
    "investments",
    "dollars",
    "funding",
}


def _units_named(question: str) -> frozenset[str]:
    lowered = question.lower()
    words = set(re.findall(r"[a-z]+", lowered))
    units = {UNITS[w] for w in words if w in UNITS} | {CURRENCIES[w] for w in words if w in CURRENCIES}
    if "$" in question:
        units.add("USD")
    if words & {"percent", "percentage"} or "%" in question:
        units.add("fraction")
    if words & {"long", "far", "distance", "length"}:
        units.update({"km", "mi"})
    return frozenset(units)


def classify(question: str) -> QuestionType:
    """The expected answer type of a question, from its wording alone."""
    q = expand_contractions(question).lower()
    words = [w for _, _, w in tokens(q)]
    stems = [stem(w) for w in words]
    stem_set = set(stems)
    focus = focus_noun(question)
    focus_words = frozenset(stem(w) for w in focus_phrase(question))
    excluded = excluded_stems(question)
    range_end = "low" if stem_set & LOW_STEMS else "high" if stem_set & HIGH_STEMS else None
    years = tuple(int(y) for y in re.findall(r"\b(1[5-9]\d\d|20\d\d)\b", q))
    units = _units_named(question)

    def qt(wh: str, primary: set[str], secondary: set[str] = frozenset()) -> QuestionType:
        asks_amount = bool(stem_set & HEAD_STEMS["amount"])
        options = choice_options(question)
        extreme = extreme_asked(question)
        if extreme and wh in ("place", "org", "person", "thing"):
            return QuestionType(
                wh,
                frozenset(primary),
                frozenset(secondary),
                focus,
                focus_words,
                excluded,
                range_end,
                years,
                units,
                asks_amount,
                (),
                extreme,
            )
        if options:
            return QuestionType(
                "choice",
                frozenset({"OPTION"}),
                frozenset(secondary) | frozenset(primary),
                focus,
                focus_words,
                excluded,
                range_end,
                years,
                units,
                asks_amount,
                options,
            )
        if wh in ("amount", "measure") and set(words) & MONEY_WORDS:
            # "How much did it cost": money, whatever the currency; not for "how many investment funds".
            return QuestionType(
                wh,
                frozenset(primary),
                frozenset(secondary),
                focus,
                focus_words,
                excluded,
                range_end,
                years,
                units | frozenset(CURRENCIES.values()),
                asks_amount,
            )
        return QuestionType(
            wh, frozenset(primary), frozenset(secondary), focus, focus_words, excluded, range_end, years, units, asks_amount
        )

    head = next((kind for kind, heads in HEAD_STEMS.items() if focus in heads), None)
    # "How much did trade grow?", "By how much did it increase?": a change, not an amount.
    growth = bool(
        re.search(r"\bby (?:about |roughly |approximately )?how much\b|\bhow (?:much|many times) (?:did|has|have|had|does|do)\b", q)
    ) and bool(set(stems[-3:]) & GROWTH_STEMS or re.search(r"\bby (?:about |roughly |approximately )?how much\b", q))
    if head == "percent" or re.search(r"\bhow many percent\b|\bby what percent", q):
        return qt("percent", {"PERCENT"}, {"MULTIPLIER", "CARDINAL"})
    times_more = re.search(r"\bhow many times (?:more|larger|bigger|higher|greater|as|over)\b", q) or (growth and "how many times" in q)
    if times_more or re.search(r"\bby what factor\b|\bhow many-fold\b", q) or head == "multiplier":
        return qt("multiplier", {"MULTIPLIER"}, {"PERCENT", "CARDINAL"})
    if growth:
        return qt("growth", {"MULTIPLIER", "PERCENT"}, {"MONEY", "QUANTITY", "CARDINAL"})
    if re.search(r"\bhow (?:much|large|big)\b|\bwhat (?:size|amount)\b", q) or head == "amount":
        return qt("amount", {"MONEY", "QUANTITY"}, {"CARDINAL", "PERCENT", "MULTIPLIER"})
    if re.search(r"\bhow many\b|\bwhat number\b", q):
        return qt("count", {"CARDINAL"}, {"QUANTITY", "MONEY"})
    if re.search(r"\bhow (?:long|far|old|tall|high|deep|wide)\b", q):
        return qt("measure", {"QUANTITY"}, {"DATE", "CARDINAL"})
    if (
        re.match(r"\s*(?:and |so |but )?when\b", q)
        or re.search(r"\b(?:since|from|until|till) when\b", q)
        or re.search(r"\bin what year\b", q)
        or head == "date"
    ):
        return qt("date", {"DATE"}, {"TIME", "CARDINAL"})
    if re.search(r"\bwhose\b", q):
        return qt("person", {"PERSON", "GPE", "ORG", "NORP"}, {"PROPER", "LOC"})  # "whose interests": people or states
    # "deputy energy minister name", "the president's name": a person's name, asked tersely.
    person_named = any(s == "name" and i > 0 and stems[i - 1] in HEAD_STEMS["person"] for i, s in enumerate(stems))
    if re.search(r"\bwho(?:m)?\b", q) or head == "person" or person_named:
        return qt("person", {"PERSON"}, {"ORG", "NORP", "PROPER"})
    if head == "city":
        return qt("place", {"GPE"}, PLACE | {"PROPER", "PLACE_PHRASE"})
    if head == "country":
        return qt("place", {"GPE", "NORP"}, {"LOC", "PROPER"})  # "Italian" answers "what country" too
    if re.search(r"\bwhere\b", q) or head == "place":
        return qt("place", PLACE | {"PLACE_PHRASE"}, {"NORP", "PROPER", "ORG"})
    if head == "org":
        return qt("org", {"ORG"}, {"NORP", "GPE", "TITLE", "PROPER"})
    if head == "name" or re.search(r"\bwhat (?:is|was|are|were) (?:it|they|this|that) (?:called|named)\b|\bcalled\?$", q):
        return qt("name", {"TITLE", "WORK_OF_ART", "LAW", "EVENT", "PROPER"}, {"ORG", "PRODUCT", "FAC", "NP", "NP_OF"})
    return qt("thing", set(), ENTITY_LABELS | NUMBER_LABELS | PHRASE_LABELS)


def range_parts(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """The two ends of a range figure as (start, end, "low"/"high") spans of the source text.

    "from 15 to 25 million tons" -> "15" (low) and "25 million tons" (high).
    """
    inner = text[start:end]
    match = re.search(r"^(?:from\s+|between\s+)?(.+?)\s*(?:\bto\b|–|—|-|\band\b)\s*(.+)$", inner, re.IGNORECASE)
    if not match:
        return []
    return [(start + match.start(1), start + match.end(1), "low"), (start + match.start(2), end, "high")]


@dataclass
class Candidate:
    source: str
    start: int
    end: int
    text: str
    label: str
    sentence: Span
    unit: str | None = None
    range: str | None = None  # "low" / "high" end of a range, or "whole" for a range figure itself
    score: float = 0.0
    parts: dict = field(default_factory=dict)  # the score's factors, for calibration and debugging


def _term_weights(store: Store, question: str) -> dict[str, float]:
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


def _coverage(text: str, weights: dict[str, float]) -> float:
    """Share of the question's weight (by rarity) whose words appear in a text."""
    present = {stem(w) for _, _, w in tokens(text)}
    total = sum(abs(w) for w in weights.values())
    return sum(abs(w) for t, w in weights.items() if t in present) / total if total else 0.0


def _proximity(sentence: Span, start: int, end: int, weights: dict[str, float]) -> float:
    """Closeness of a span to the question's words in its sentence, weighted by rarity, in [0, 1]."""
    positive = {t: w for t, w in weights.items() if w > 0}
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
        place += 1 + CLAUSE_GAP * len(re.findall(r"[,;]", sentence.text[previous_end:s]))
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
            score += weight * math.exp(-max(distance - 1, 0) / 6.0)
    return score / total


def _candidates(store: Store, source: str, sentence: Span, options: tuple[str, ...] = ()) -> list[Candidate]:
    """Entities, figures (and each end of a range), titles and noun phrases of one sentence."""
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
        label = phrase.label
        inner = [e for e in entities if e.start >= phrase.start and e.end <= phrase.end]
        words = [w for _, _, w in tokens(phrase.text)]
        if label != "TITLE" and (any(e.label in PLACE for e in inner) or (len(words) > 1 and stem(words[-1]) in PLACE_HEADS)):
            label = "PLACE_PHRASE"  # "Kazakh coast of the Caspian Sea", "Aghdam region"
        elif (
            label != "TITLE"
            and all(w[:1].isupper() for w in words)
            and not any((e.start, e.end) == (phrase.start, phrase.end) for e in inner)
        ):
            label = "PROPER"  # a proper name the NER missed or cut ("Jeddah", "Cholpon-Ata")
        out.append(Candidate(source, phrase.start, phrase.end, phrase.text, label, sentence))
    return out


def _fit(candidate: Candidate, qtype: QuestionType, stems: list[str], entity_inside: set[str], question_stems: set[str]) -> float:
    label = candidate.label
    if label in qtype.primary:
        fit = 1.0
    elif label in qtype.secondary:
        fit = 0.55
    elif label in PHRASE_LABELS:
        fit = 0.25
    else:
        fit = 0.1
    if qtype.wh == "thing":
        fit = 0.6 if label in PHRASE_LABELS else 0.5
        if label in ("MONEY", "QUANTITY") and qtype.asks_amount and qtype.focus is None:
            fit = 0.8  # "what did trade fall to": an amount noun in a question without a typed wh-word
    elif label == "PROPER" and qtype.wh in ("person", "place", "org"):
        fit = 0.8  # a capitalised name the NER left unlabelled is often the person or place asked for
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
            fit = max(fit, 1.0) * 1.2
    if "PLACE_PHRASE" in qtype.primary and label == "PLACE_PHRASE" and " of " in candidate.text:
        fit = max(fit, 1.1)  # "Kazakh coast of the Caspian Sea": the whole place phrase, not a part
    return fit


def _has_name(candidate: Candidate) -> bool:
    """A capitalised word in the candidate, not counting the capital that starts its sentence."""
    words = candidate.text.split()
    starts_sentence = not candidate.sentence.text[: candidate.start - candidate.sentence.start].strip()
    return any(word[:1].isupper() for word in (words[1:] if starts_sentence else words))


def _score(candidate: Candidate, qtype: QuestionType, weights: dict[str, float], sentence_score: float, entity_inside: set[str]) -> float:
    stems = [stem(w) for _, _, w in tokens(candidate.text) if w.lower() not in STOPWORDS]
    if not stems:
        return 0.0
    question_stems = {t for t in weights}
    fit = _fit(candidate, qtype, stems, entity_inside, question_stems)
    # Repeating the question is no answer, except for the focus words a phrase answer names.
    ignored = qtype.focus_words if fit > 1.0 else frozenset()
    if candidate.label == "TITLE" and qtype.wh == "name":
        ignored = ignored | frozenset(stems)  # a title asked for by its topic repeats the topic
    if candidate.label == "OPTION":
        ignored = frozenset(stems)  # a choice question names its answer by design
    repeated = sum(1 for s in stems if s in question_stems and s not in ignored) / len(stems)
    factor = 1.0 - 0.85 * repeated
    if qtype.excluded & set(stems):
        factor *= 0.1
    if candidate.range in ("low", "high"):
        wanted = qtype.range_end or _range_end_from_years(candidate.sentence.text, qtype.years)
        factor *= 1.05 if wanted == candidate.range else 0.6
    elif candidate.range == "whole" and (qtype.range_end or qtype.years):
        factor *= 0.7
    if qtype.units and candidate.label in NUMBER_LABELS:
        factor *= 1.2 if candidate.unit in qtype.units else 0.3
    if qtype.focus and qtype.focus not in stems and _focus_next_to(candidate, qtype.focus_words):
        factor *= 1.25  # "the city of Fizuli", "the Italian company CESI": named by the focus noun
    before = _word_before(candidate)
    if qtype.wh == "place" and before in PLACE_PREPOSITIONS or qtype.wh == "date" and before in TIME_PREPOSITIONS:
        factor *= 1.15
    if len(stems) > 6:
        factor *= 6 / len(stems)
    pulling = {t: w for t, w in weights.items() if t not in qtype.excluded}
    proximity = _proximity(candidate.sentence, candidate.start, candidate.end, pulling)
    candidate.parts.update(fit=fit, repeated=repeated, proximity=proximity, sentence=sentence_score)
    return fit * factor * (0.55 * sentence_score + 0.45 * proximity)


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
    for first, last in re.findall(r"\b(1[5-9]\d\d|20\d\d)\s*[–-]\s*(1[5-9]\d\d|20\d\d)\b", sentence):
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


def rank_candidates(
    store: Store,
    question: str,
    hits: Sequence[Hit],
    encode: Encoder,
    passages: int = 5,
    sentences_embedded: int = 12,
    sentences_kept: int = 8,
) -> Ranking:
    """Score every candidate span in the best sentences of the top passages."""
    qtype = classify(question)
    weights = _term_weights(store, question)
    total = sum(abs(w) for w in weights.values())
    missing = sum(-w for w in weights.values() if w < 0) / total if total else 0.0
    names = _names(question)
    missing_names = sum(1 for n in names if weights.get(stem(n), 0) < 0) / len(names) if names else 0.0
    seen: set[tuple[str, int]] = set()
    sentences: list[tuple[Span, str, int]] = []
    for hit in hits[:passages]:
        for sentence in store.sentences(hit.chunk.source, hit.chunk.start, hit.chunk.end):
            if (hit.chunk.source, sentence.start) not in seen:
                seen.add((hit.chunk.source, sentence.start))
                sentences.append((sentence, hit.chunk.source, hit.rank))
    if not sentences:
        return Ranking(qtype, [], missing, missing_names, names)
    # A list item is read with the line that introduces the list ("trade turnover ... regions:").
    contexts = [chunk_context(store.source_text(source), sentence, heading=False) for sentence, source, _ in sentences]
    texts = [f"{context} {sentence.text}" if context else sentence.text for context, (sentence, _, _) in zip(contexts, sentences)]
    # Embedding sentences is the costly step of a cold answer: only the most promising ones,
    # by question-word coverage and passage rank, are embedded and kept.
    if len(sentences) > sentences_embedded:
        order = sorted(range(len(sentences)), key=lambda i: -(0.8 * _coverage(texts[i], weights) + 0.2 / sentences[i][2]))[
            :sentences_embedded
        ]
        order.sort()
        sentences, texts, contexts = [sentences[i] for i in order], [texts[i] for i in order], [contexts[i] for i in order]
    vectors = encode([question] + texts)
    similarity = vectors[1:] @ vectors[0]
    scored = []
    for (sentence, source, rank), text, context, cosine in zip(sentences, texts, contexts, similarity):
        coverage = _coverage(text, weights)
        scored.append((0.5 * float(cosine) + 0.4 * coverage + 0.1 / rank, sentence, source, float(cosine), coverage, context))
    scored.sort(key=lambda item: -item[0])
    best_relevance = max(scored[0][0], 1e-9)
    candidates: list[Candidate] = []
    for relevance, sentence, source, cosine, coverage, context in scored[:sentences_kept]:
        found = _candidates(store, source, sentence, qtype.options)
        entity_spans = [(c.start, c.end, c.label) for c in found if c.label in ENTITY_LABELS]
        for candidate in found:
            inside = {
                label
                for s, e, label in entity_spans
                if s >= candidate.start and e <= candidate.end and (s, e) != (candidate.start, candidate.end)
            }
            candidate.score = _score(candidate, qtype, weights, relevance / best_relevance, inside)
            candidate.parts.update(cosine=cosine, coverage=coverage, context=context)
            candidates.append(candidate)
    if qtype.extreme:
        _promote_extreme(candidates, qtype)
    candidates.sort(key=lambda c: (-c.score, c.end - c.start))
    return Ranking(qtype, candidates, missing, missing_names, names)


def _promote_extreme(candidates: list[Candidate], qtype: QuestionType) -> None:
    """Answer "which had the largest / second-largest / smallest X" by comparing the figures.

    Parallel sentences (a list such as "Azerbaijan – Kazakhstan: $529.4 million") each pair one
    entity of the asked-for type with one figure; an entity named in most of them (the anchor,
    "Azerbaijan") is not an answer. The entity at the asked rank of the sorted values is promoted.
    """
    wanted = qtype.primary or ENTITY_LABELS
    by_sentence: dict[tuple[str, int], dict] = {}
    for c in candidates:
        row = by_sentence.setdefault((c.source, c.sentence.start), {"entities": [], "figures": []})
        if c.label in wanted and c.label in ENTITY_LABELS and c.parts.get("repeated", 0) < 0.5:
            row["entities"].append(c)  # not "Central Asian" of "which Central Asian country"
        elif c.label in ("MONEY", "QUANTITY", "PERCENT", "CARDINAL") and c.range is None:
            row["figures"].append(c)
    rows = [r for r in by_sentence.values() if r["entities"] and len(r["figures"]) == 1]
    counts: dict[str, int] = {}
    for row in rows:
        for name in {e.text for e in row["entities"]}:
            counts[name] = counts.get(name, 0) + 1
    pairs = []
    for row in rows:
        varying = {e.text: e for e in row["entities"] if counts[e.text] <= len(rows) / 2}
        if len(varying) == 1:
            value = _figure_value(row["figures"][0])
            if value is not None:
                pairs.append((value, next(iter(varying.values()))))
    direction, rank = qtype.extreme
    if len(pairs) < 3 or rank > len(pairs):
        return
    pairs.sort(key=lambda p: p[0], reverse=direction == "max")
    winner = pairs[rank - 1][1]
    top = max(c.score for c in candidates)
    for c in candidates:
        if c.source == winner.source and (c.start, c.end) == (winner.start, winner.end):
            c.score = max(c.score, top) * 1.2
            c.parts["extreme"] = 1.0


def _figure_value(candidate: Candidate) -> float | None:
    from .figures import parse_figure

    value = parse_figure(candidate.text, candidate.label)
    return value.low if value else None


def _names(question: str) -> list[str]:
    """Capitalised words after the first, and years: the question's names ("FIFA", "Everest", "2019")."""
    words = [w for _, _, w in tokens(question)]
    return [w for i, w in enumerate(words) if (i > 0 and w[:1].isupper()) or re.fullmatch(r"1[5-9]\d\d|20\d\d", w)]


# Confidence = logistic(features · COEFFICIENTS), fitted by eval/calibrate.py on the tuning sets
# (the sample set and eval/{dev,heldout,final}_*.jsonl with their out-of-corpus companions); the
# threshold is the lowest that abstains on 85% of their out-of-corpus questions.
# eval/blind_*.jsonl were never used for tuning: they measure how this holds on unseen questions.
COEFFICIENTS = {
    "bias": -5.001,
    "score": 1.943,
    "cosine": 2.495,
    "coverage": 2.78,
    "fit": 1.158,
    "missing_names": -0.94,
    "names_found": 0.535,
    "untyped": -0.869,
    "other_year": -0.478,
}
ABSTAIN_BELOW = 0.49


def features(ranking: Ranking) -> dict[str, float]:
    """What the confidence is computed from, for the best candidate."""
    best = ranking.candidates[0]
    p = best.parts
    qtype = ranking.qtype
    typed = qtype.wh == "thing" or best.label in qtype.primary or best.label in qtype.secondary
    return {
        "bias": 1.0,
        "score": best.score,
        "cosine": p.get("cosine", 0.0),
        "coverage": p.get("coverage", 0.0),
        "fit": min(p.get("fit", 0.0), 1.0) * (1 - p.get("repeated", 0.0)),
        "missing_names": ranking.missing_names,
        "names_found": _names_found(ranking.names, best),
        "untyped": 0.0 if typed else 1.0,  # no candidate of the asked-for type: an NP fallback
        "other_year": 1.0 if qtype.years and not set(qtype.years) & _years_near(best) else 0.0,
    }


def _names_found(names: list[str], candidate: Candidate) -> float:
    """Share of the question's names that the candidate's sentence (with its context) mentions;
    1 when the question names nothing. Paraphrases change words, rarely names."""
    if not names:
        return 1.0
    present = {stem(w) for _, _, w in tokens(candidate.parts.get("context", "") + " " + candidate.sentence.text)}
    return sum(1 for n in names if stem(n) in present) / len(names)


def _years_near(candidate: Candidate) -> set[int]:
    """Years written in the candidate's sentence or its context (a list's introduction)."""
    text = candidate.parts.get("context", "") + " " + candidate.sentence.text
    return {int(y) for y in re.findall(r"\b(1[5-9]\d\d|20\d\d)\b", text)}


def confidence(values: dict[str, float], coefficients: dict[str, float] = COEFFICIENTS) -> float:
    z = sum(coefficients[name] * values[name] for name in coefficients)
    return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))


def answer_question(store: Store, question: str, hits: Sequence[Hit], encode: Encoder) -> tuple[Answer | None, list[Fact], str]:
    """The best answer span (or None with a reason) and the facts that bear on the question."""
    if not hits:
        return None, [], "nothing in the index matches the question"
    ranking = rank_candidates(store, question, hits, encode)
    facts = relevant_facts(store, ranking.candidates)
    if not ranking.candidates:
        return None, facts, "the retrieved passages hold no candidate answer"
    best = ranking.candidates[0]
    score = confidence(features(ranking))
    if score < ABSTAIN_BELOW:
        return None, facts, f"no confident answer in the corpus (best guess {best.text!r}, confidence {score:.2f}); see the passages"
    answer = Answer(
        source=best.source, start=best.start, end=best.end, text=best.text, score=round(score, 4),
        sentence=best.sentence.text, sentence_start=best.sentence.start, label=best.label,
    )  # fmt: skip
    return answer, facts, ""


MIN_FACT_COVERAGE = 0.3


def relevant_facts(store: Store, candidates: list[Candidate], limit: int = 8) -> list[Fact]:
    """Entities and figures of the top sentences that fit the question's type or stand near its words."""
    best: dict[tuple[str, int, int], Candidate] = {}
    for c in candidates:
        if c.label in PHRASE_LABELS or c.range in ("low", "high") or c.score <= 0:
            continue
        if c.parts.get("fit", 0) < 0.5 and c.parts.get("proximity", 0) < 0.3:
            continue
        if c.parts.get("coverage", 0) < MIN_FACT_COVERAGE:
            continue  # a sentence that shares (almost) none of the question's words does not bear on it
        key = (c.text, c.label)  # one row per fact, from its best-scoring mention
        if key not in best or best[key].score < c.score:
            best[key] = c
    facts = []
    for c in sorted(best.values(), key=lambda c: -c.score)[:limit]:
        value = value_max = None
        if c.label in NUMBER_LABELS | {"DATE"}:
            for figure in store.figures(c.source, c.start, c.end):
                if (figure.start, figure.end) == (c.start, c.end):
                    value, value_max = figure.value, figure.value_max
        facts.append(
            Fact(
                source=c.source, start=c.start, end=c.end, text=c.text, label=c.label, sentence=c.sentence.text,
                value=value, value_max=value_max, unit=c.unit, score=round(c.score, 4),
            )
        )  # fmt: skip
    return facts
