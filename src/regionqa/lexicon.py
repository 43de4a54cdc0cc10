"""The vocabulary every step shares: entity labels, the year pattern and the word lists.

One home for each rule, so that the spaCy rule layer, the figure parser, retrieval and the
answerer cannot disagree about what a unit, a currency or a year is. Word lists are data
(`lexicon.json`, read once); this module only loads them and names the label sets.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources

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
    return json.loads(resources.files("regionqa").joinpath("lexicon.json").read_text(encoding="utf-8"))


def is_year(token: str) -> bool:
    """True for a token that is a year (1500-2099) on its own: "2024", not "2024a" or "12024"."""
    return re.fullmatch(YEAR, token) is not None
