"""What a question asks for: its answer type, focus noun, excluded words, range end, years and units.

The question is analysed with rules only: no spaCy import on the query path. The word lists
are data (the answerer's entries of `lexicon.json`, read once by `regionqa.lexicon`), like the
label sets and the year pattern that come from there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

from ..lexicon import CURRENCIES, ENTITY_LABELS, NUMBER_LABELS, PLACE_LABELS, STOPWORDS, UNITS, YEAR_WORD, is_year
from ..lexicon import words as lexicon_words

# Labels the answerer gives to spans that are not spaCy entities or figures: noun phrases,
# "X of Y" phrases, quoted titles, place phrases, unlabelled proper names and choice options.
PHRASE_LABELS = frozenset({"NP", "NP_OF", "TITLE", "PLACE_PHRASE", "PROPER", "OPTION", "SPAN"})  # SPAN: a reader span (combine.py)

_CUES = lexicon_words()  # the answerer's word lists are entries of lexicon.json
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|\w+(?:[’'-]\w+)*", re.UNICODE)


@lru_cache(maxsize=1)
def _stemmer():
    """The English Snowball stemmer, imported on first use."""
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=20_000)
def stem(word: str) -> str:
    """The stem the answerer matches words by: "capacities" -> "capac", "Kazakhstan's" -> "kazakhstan"."""
    return _stemmer().stemWord(word.lower().replace("’", "'").removesuffix("'s"))


def _stems(words: list[str]) -> frozenset[str]:
    """The stems of a word list."""
    return frozenset(stem(w) for w in words)


def tokens(text: str) -> list[tuple[int, int, str]]:
    """The words and numbers of a text as (start, end, word)."""
    return [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]


# Head nouns of "which X" / "what X" that say what kind of answer is wanted (matched as stems).
HEAD_STEMS = {kind: _stems(words) for kind, words in _CUES["head_types"].items()}
PLACE_HEADS = _stems(_CUES["place_heads"])
# Category nouns whose answers are proper names: "which country" is answered by a name.
NAMED_HEADS = HEAD_STEMS["country"] | HEAD_STEMS["city"] | HEAD_STEMS["org"] | HEAD_STEMS["person"]
GROWTH_STEMS = _stems(_CUES["growth_verbs"])
LOW_STEMS = _stems(_CUES["low_cues"])
HIGH_STEMS = _stems(_CUES["high_cues"])
MONEY_WORDS = frozenset(_CUES["money_words"])
WH_WORDS = frozenset(_CUES["wh_words"])
AUXILIARIES = frozenset(_CUES["auxiliaries"])
BE_VERBS = frozenset(_CUES["be_verbs"])
DETERMINERS = frozenset(_CUES["determiners"])
KIND_WORDS = frozenset(_CUES["kind_words"])  # "what kind of cluster": skipped before the noun
PLACE_PREPOSITIONS = frozenset(_CUES["place_prepositions"])
TIME_PREPOSITIONS = frozenset(_CUES["time_prepositions"])
PERCENT_WORDS = frozenset(_CUES["percent_words"])
DISTANCE_WORDS = frozenset(_CUES["distance_words"])


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
    """The words of the noun a question asks about: "which roadmap did..." -> "roadmap",
    "what was the yearly capacity of..." -> "yearly capacity", "what kind of cluster" -> "cluster".

    Only a noun right after which/what (or after "what is the") counts: in "what does
    Azerbaijan supply", Azerbaijan is the subject, not the thing asked for.
    """
    words = [w for _, _, w in tokens(expand_contractions(question).lower())]
    if not WH_WORDS & set(words):
        # A terse query ("Kazakhstan double economy target year?"): its last known head noun.
        heads = [w for w in words if any(stem(w) in h for h in HEAD_STEMS.values())]
        return heads[-1:]
    for index, word in enumerate(words):
        if word in ("which", "what"):
            return _noun_run(words[index + 1 :])
    return []


def _noun_run(words: list[str]) -> list[str]:
    """Up to three words of the noun phrase that starts a word list (the words after which/what)."""
    run: list[str] = []
    for word in words:
        if not run and (word in BE_VERBS or word in DETERMINERS or word in KIND_WORDS):
            continue
        if word in AUXILIARIES or word in STOPWORDS:
            break
        if word.endswith(("'s", "’s")):
            run = []  # "the Alat port's capacity": the head comes after the possessor
            continue
        if run and word.endswith("ed"):
            break  # "which country funded ...": a verb, not part of the noun
        run.append(word)
        if len(run) == 3:
            break
    return run


_CHOICE = re.compile(
    r"(?:,|\b(?:is it|was it|were they|are they))\s*((?:\w+[ -]){0,2}\w+)\s+or\s+((?:\w+[ -]){0,2}\w+)\s*\?\s*$", re.IGNORECASE
)
_SUPERLATIVE = re.compile(
    r"\b(?:(second|third|2nd|3rd)[- ])?(biggest|largest|greatest|highest|most|top|leading|smallest|lowest|least|fewest)\b", re.IGNORECASE
)
_EXCLUSION = re.compile(r"\b(?:apart from|aside from|besides|other than|except(?: for)?|excluding|not counting)\s+([^,?;]+)", re.IGNORECASE)


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


def excluded_stems(question: str) -> frozenset[str]:
    """Words the question rules out as answers: "Apart from Astana, where ..." -> {"astana"}."""
    return frozenset(stem(w) for match in _EXCLUSION.finditer(question) for _, _, w in tokens(match.group(1)))


def _units_named(question: str) -> frozenset[str]:
    """The units and currencies a question names ("in tons", "$", "what percentage", "how far")."""
    lowered = question.lower()
    words = set(re.findall(r"[a-z]+", lowered))
    units = {UNITS[w] for w in words if w in UNITS} | {CURRENCIES[w] for w in words if w in CURRENCIES}
    if "$" in question:
        units.add("USD")
    if words & PERCENT_WORDS or "%" in question:
        units.add("fraction")
    if words & DISTANCE_WORDS:
        units.update({"km", "mi"})
    return frozenset(units)


def question_names(question: str) -> list[str]:
    """Capitalised words after the first, and years: the question's names ("FIFA", "Everest", "2019")."""
    words = [w for _, _, w in tokens(question)]
    return [w for i, w in enumerate(words) if (i > 0 and w[:1].isupper()) or is_year(w)]


@dataclass(frozen=True)
class _Wording:
    """A question as the type rules read it."""

    text: str  # lower case, contractions expanded
    words: list[str]
    stems: list[str]
    head: str | None  # the HEAD_TYPES kind of the focus noun: "city", "amount", ...


_BY_HOW_MUCH = re.compile(r"\bby (?:about |roughly |approximately )?how much\b")
_HOW_MUCH_DID = re.compile(r"\bhow (?:much|many times) (?:did|has|have|had|does|do)\b")


def _asks_growth(q: _Wording) -> bool:
    """ "How much did trade grow?", "By how much did it increase?": a change, not an amount."""
    return bool(_BY_HOW_MUCH.search(q.text) or (_HOW_MUCH_DID.search(q.text) and set(q.stems[-3:]) & GROWTH_STEMS))


def _asks_times_of_growth(q: _Wording) -> bool:
    """ "How many times did exports grow?": a multiplier."""
    return _asks_growth(q) and "how many times" in q.text


def _person_named(q: _Wording) -> bool:
    """ "deputy energy minister name", "the president's name": a person's name, asked tersely."""
    return any(s == "name" and i > 0 and q.stems[i - 1] in HEAD_STEMS["person"] for i, s in enumerate(q.stems))


@dataclass(frozen=True)
class TypeRule:
    """One rule of question typing: it matches when its pattern is found, the focus noun is of
    one of its head kinds, or its test holds; the question then asks for its labels."""

    wh: str
    primary: frozenset[str]
    secondary: frozenset[str]
    pattern: re.Pattern[str] | None = None
    heads: frozenset[str] = frozenset()
    test: Callable[[_Wording], bool] | None = None

    def matches(self, q: _Wording) -> bool:
        """Whether this rule types the question."""
        return bool(
            (self.pattern is not None and self.pattern.search(q.text)) or q.head in self.heads or (self.test is not None and self.test(q))
        )


def _rule(
    wh: str,
    primary: set[str],
    secondary: set[str],
    pattern: str | None = None,
    heads: str = "",
    test: Callable[[_Wording], bool] | None = None,
) -> TypeRule:
    """A TypeRule from plain sets, a pattern string and space-separated head kinds."""
    return TypeRule(wh, frozenset(primary), frozenset(secondary), re.compile(pattern) if pattern else None, frozenset(heads.split()), test)


# The rules in the order they are tried; the first that matches types the question. The order
# matters: a percentage or a multiplier is a more specific ask than an amount ("how many percent"
# before "how many"), a change before an amount ("how much did it grow"), a date, "whose" and
# "who" before the place and organisation nouns, and names last. A question no rule types asks
# for a "thing": any entity, figure or phrase.
TYPE_RULES = (
    _rule("percent", {"PERCENT"}, {"MULTIPLIER", "CARDINAL"}, r"\bhow many percent\b|\bby what percent", "percent"),
    _rule(
        "multiplier",
        {"MULTIPLIER"},
        {"PERCENT", "CARDINAL"},
        r"\bhow many times (?:more|larger|bigger|higher|greater|as|over)\b|\bby what factor\b|\bhow many-fold\b",
        "multiplier",
        _asks_times_of_growth,
    ),
    _rule("growth", {"MULTIPLIER", "PERCENT"}, {"MONEY", "QUANTITY", "CARDINAL"}, test=_asks_growth),
    _rule(
        "amount",
        {"MONEY", "QUANTITY"},
        {"CARDINAL", "PERCENT", "MULTIPLIER"},
        r"\bhow (?:much|large|big)\b|\bwhat (?:size|amount)\b",
        "amount",
    ),
    _rule("count", {"CARDINAL"}, {"QUANTITY", "MONEY"}, r"\bhow many\b|\bwhat number\b"),
    _rule("measure", {"QUANTITY"}, {"DATE", "CARDINAL"}, r"\bhow (?:long|far|old|tall|high|deep|wide)\b"),
    _rule(
        "date", {"DATE"}, {"TIME", "CARDINAL"}, r"^\s*(?:and |so |but )?when\b|\b(?:since|from|until|till) when\b|\bin what year\b", "date"
    ),
    _rule("person", {"PERSON", "GPE", "ORG", "NORP"}, {"PROPER", "LOC"}, r"\bwhose\b"),  # "whose interests": people or states
    _rule("person", {"PERSON"}, {"ORG", "NORP", "PROPER"}, r"\bwho(?:m)?\b", "person", _person_named),
    _rule("place", {"GPE"}, PLACE_LABELS | {"PROPER", "PLACE_PHRASE"}, heads="city"),
    _rule("place", {"GPE", "NORP"}, {"LOC", "PROPER"}, heads="country"),  # "Italian" answers "what country" too
    _rule("place", PLACE_LABELS | {"PLACE_PHRASE"}, {"NORP", "PROPER", "ORG"}, r"\bwhere\b", "place"),
    _rule("org", {"ORG"}, {"NORP", "GPE", "TITLE", "PROPER"}, heads="org"),
    _rule(
        "name",
        {"TITLE", "WORK_OF_ART", "LAW", "EVENT", "PROPER"},
        {"ORG", "PRODUCT", "FAC", "NP", "NP_OF"},
        r"\bwhat (?:is|was|are|were) (?:it|they|this|that) (?:called|named)\b|\bcalled\?$",
        "name",
    ),
)
_THING = TypeRule("thing", frozenset(), ENTITY_LABELS | NUMBER_LABELS | PHRASE_LABELS)
# Kinds of answer that a superlative ("the largest") asks to pick by comparing figures.
_EXTREME_KINDS = ("place", "org", "person", "thing")


def classify(question: str) -> QuestionType:
    """The expected answer type of a question, from its wording alone."""
    q = expand_contractions(question).lower()
    words = [w for _, _, w in tokens(q)]
    stems = [stem(w) for w in words]
    phrase = focus_phrase(question)
    focus = stem(phrase[-1]) if phrase else None  # the stem of the phrase's head noun
    head = next((kind for kind, heads in HEAD_STEMS.items() if focus in heads), None)
    wording = _Wording(q, words, stems, head)
    rule = next((r for r in TYPE_RULES if r.matches(wording)), _THING)
    stem_set = set(stems)
    qtype = QuestionType(
        wh=rule.wh,
        primary=rule.primary,
        secondary=rule.secondary,
        focus=focus,
        focus_words=frozenset(stem(w) for w in phrase),
        excluded=excluded_stems(question),
        range_end="low" if stem_set & LOW_STEMS else "high" if stem_set & HIGH_STEMS else None,
        years=tuple(int(y) for y in YEAR_WORD.findall(q)),
        units=_units_named(question),
        asks_amount=bool(stem_set & HEAD_STEMS["amount"]),
    )
    extreme = extreme_asked(question)
    if extreme and rule.wh in _EXTREME_KINDS:
        return replace(qtype, extreme=extreme)
    options = choice_options(question)
    if options:
        return replace(qtype, wh="choice", primary=frozenset({"OPTION"}), secondary=qtype.secondary | qtype.primary, options=options)
    if rule.wh in ("amount", "measure") and set(words) & MONEY_WORDS:
        # "How much did it cost": money, whatever the currency; not for "how many investment funds".
        return replace(qtype, units=qtype.units | frozenset(CURRENCIES.values()))
    return qtype
