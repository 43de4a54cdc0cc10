"""The vocabulary every step shares: entity labels, the year pattern and the word lists.

One home for each rule, so that the spaCy rule layer, the figure parser, retrieval and the
answerer cannot disagree about what a unit, a currency or a year is. Word lists are data
(`lexicon.json`, read once, where each list says who reads it and why); this module loads
them into typed constants and names the label sets.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

# A year as the documents write one: 1500-2099. Wider ranges catch quantities ("2500 tons").
YEAR = r"(?:1[5-9]\d\d|20\d\d)"
YEAR_WORD = re.compile(rf"\b({YEAR})\b")
YEAR_RANGE = re.compile(rf"\b({YEAR})\s*[–-]\s*({YEAR})\b")

# spaCy labels of figures: they become `Figure`s with a parsed value, not entities.
FIGURE_LABELS = frozenset({"MONEY", "QUANTITY", "PERCENT", "CARDINAL", "MULTIPLIER", "DATE", "ORDINAL", "TIME"})
# Figures that carry an amount (DATE, ORDINAL and TIME do not).
NUMBER_LABELS = frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT", "MULTIPLIER"})
PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})
# Named entities (OntoNotes labels of en_core_web_sm that are not figures).
ENTITY_LABELS = frozenset({"PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"})


@cache
def words() -> dict:
    """The word lists of `lexicon.json` (read once a process)."""
    # Beside this file (package data), read with pathlib: importlib.resources costs ~10 ms of every cold `ask`.
    return json.loads(Path(__file__).with_name("lexicon.json").read_text(encoding="utf-8"))


def is_year(token: str) -> bool:
    """True for a token that is a year (1500-2099) on its own: "2024", not "2024a" or "12024"."""
    return re.fullmatch(YEAR, token) is not None


# Figures: what the parser reads and the entity ruler tags (see "_about" in lexicon.json).
SCALES: dict[str, float] = {word: float(factor) for word, factor in words()["scales"].items()}
UNITS: dict[str, str] = dict(words()["units"])  # one or two words -> canonical unit
CURRENCIES: dict[str, str] = dict(words()["currencies"])  # word or symbol -> ISO 4217 code
CURRENCY_SYMBOLS: dict[str, str] = {sign: code for sign, code in CURRENCIES.items() if not sign.isalpha()}
FOLD_MULTIPLIERS: dict[str, int] = dict(words()["multipliers"])  # always a multiplier: the ruler tags them
# Only inside a figure already tagged ("doubled", "triple"): the parser reads them, the ruler does not.
MULTIPLIER_WORDS: dict[str, int] = FOLD_MULTIPLIERS | words()["multiplier_verbs"]
SHARES: dict[str, float] = {word: 1 / denominator for word, denominator in words()["shares"].items()}
SHARE_PLURALS: dict[str, float] = {word: 1 / denominator for word, denominator in words()["share_plurals"].items()}
COUNT_WORDS: dict[str, float] = {word: float(value) for word, value in words()["counts"].items()}
NUMBER_WORDS = frozenset(words()["number_words"])
GLUE_WORDS = frozenset(words()["glue_words"])

# Retrieval and answers.
STOPWORDS = frozenset(words()["stopwords"])
# The FTS5 tokenizer of the store's chunks_fts table and of any other table that search.match_expression
# queries, so that chunk-level and document-level BM25 stem alike. Here, below the store and search
# steps, so that both can import it.
FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"

# Named entities: the rule layers and the entity fixer of nlp.py.
FACILITY_WORDS: tuple[str, ...] = tuple(words()["facility_words"])
PERSON_TITLES = frozenset(words()["person_titles"])
ORG_WORDS = frozenset(words()["org_words"])
EVENT_WORDS = frozenset(words()["event_words"])
DEMONYM_ENDINGS: tuple[str, ...] = tuple(words()["demonym_endings"])
COUNTRIES: tuple[str, ...] = tuple(words()["countries"])
CITIES: tuple[str, ...] = tuple(words()["cities"])
PLACE_NAMES = frozenset(COUNTRIES + CITIES)  # always a GPE
