"""Normalise figures: "$773.9 million" -> 773900000 USD, "₼1,5 billion" -> 1500000000 AZN, "17.2 percent" -> 0.172.

Currencies are ISO 4217 codes, found by sign ("₼", "A$"), code ("KZT") or name ("tenge", "Kyrgyz
som"); a decimal comma before a scale word is a decimal point ("1,5 million" = 1500000).

Pure functions on strings, used at index time (facts), at query time (number-aware
retrieval) and when scoring answers against gold answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from text_to_num import text2num

from .lexicon import (
    AMBIGUOUS_CODES,
    COUNT_WORDS,
    CURRENCIES,
    CURRENCY_CODES,
    CURRENCY_SYMBOLS,
    GLUE_WORDS,
    MULTIPLIER_WORDS,
    NUMBER_WORDS,
    SCALES,
    SHARE_PLURALS,
    SHARES,
    UNITS,
    YEAR_WORD,
)

_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?|\.\d+")
_TOKEN = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?|\.\d+|[a-z]+")
_WORD = re.compile(r"[a-z]+")
_LONE_WORDS = SHARES | COUNT_WORDS  # a number on their own: "half", "a dozen"
_SHARE_WORD = re.compile(r"(?i)\b(" + "|".join(map(re.escape, SHARES | SHARE_PLURALS)) + r")\b")
_SCALE_WORDS = "|".join(map(re.escape, SCALES))
# "1,5 million", "2,3 percent": a comma and one or two digits before a scale or percent word is a decimal comma (1,500 is not).
_DECIMAL_COMMA_BEFORE_SCALE = re.compile(rf"(?i)\b(\d+),(\d{{1,2}})(?=\s*(?:(?:{_SCALE_WORDS}|percent|per cent)\b|%))")
# Between the two amounts of a money range: "₸2 and ₸3 billion", "₼5–₼7 million".
_MONEY_RANGE_GAP = re.compile(r"\s*(?:[–-]|to|and)\s*")
_DECIMAL_COMMA = re.compile(r"\b(\d+),(\d{1,2})\b(?![.,]?\d)")


@dataclass(frozen=True)
class Value:
    """A parsed value: `low` alone, or `low`..`high` for a range."""

    low: float
    high: float | None = None
    unit: str | None = None


def parse_number(token: str) -> float | None:
    """One number written in digits or words: "4,523,000", "1.5", "sixteen", "half"."""
    token = token.strip().lower()
    if not token:
        return None
    if _NUMBER.fullmatch(token):
        return float(token.replace(",", ""))
    if token in _LONE_WORDS:
        return _LONE_WORDS[token]
    if token in MULTIPLIER_WORDS:
        return float(MULTIPLIER_WORDS[token])
    try:
        return float(text2num(token, "en"))
    except ValueError:
        return None


def _tidy(value: float) -> float:
    """Drop binary float noise: 8192.2 * 1e6 is 8192200000.000001, but the text meant 8192200000."""
    return float(f"{value:.15g}")


def _numbers_with_scale(text: str) -> list[float]:
    """All numbers of a text in reading order, each multiplied by the scale word that governs it.

    "from 15 to 25 million tons" -> [15e6, 25e6]: a scale after a range applies to both ends.
    """
    values: list[float] = []
    pending: list[int] = []  # indexes of the numbers not yet followed by a scale word
    run: list[str] = []  # a run of number words such as "twenty five"
    for token in _TOKEN.findall(text.lower().replace("per cent", "percent")):
        if token in NUMBER_WORDS or (token == "and" and run and run[-1] == "hundred"):
            run.append(token)
            continue
        pending = _read_token(token, values, _end_run(run, values, pending))
    _end_run(run, values, pending)
    return values


def _end_run(run: list[str], values: list[float], pending: list[int]) -> list[int]:
    """Add a finished run of number words to `values` as one number (and empty the run); the new pending."""
    if not run:
        return pending
    try:
        values.append(float(text2num(" ".join(run), "en")))
        pending = [*pending, len(values) - 1]
    except ValueError:
        pass
    run.clear()
    return pending


def _read_token(token: str, values: list[float], pending: list[int]) -> list[int]:
    """Read one token that is not a number word into `values`; the numbers still waiting for a scale."""
    if _NUMBER.fullmatch(token):
        values.append(float(token.replace(",", "")))
        return [*pending, len(values) - 1]
    if token in SCALES:
        for index in pending:
            values[index] = _tidy(values[index] * SCALES[token])
        return []
    if token in _LONE_WORDS and not values:
        values.append(_LONE_WORDS[token])
        return pending
    if token in SHARE_PLURALS and values:  # "two-thirds" = 2 x 1/3
        values[-1] = _tidy(values[-1] * SHARE_PLURALS[token])
        return []
    if token in GLUE_WORDS or token in CURRENCIES:
        return pending
    return []


def _alternatives(names) -> str:
    """A regex alternation of literal names, longest first, so that "A$" wins over "$" and "Kyrgyz som" over "som"."""
    return "|".join(map(re.escape, sorted(names, key=len, reverse=True)))


@cache
def currency_pattern() -> re.Pattern:
    """Any currency marker: a sign anywhere, an upper-case ISO code or a name (any case) as a whole word.

    One alternation, so that the first marker of a text wins and, at one place, the longest.
    """
    return re.compile(
        rf"(?P<sign>{_alternatives(CURRENCY_SYMBOLS)})"
        rf"|\b(?P<code>{_alternatives(CURRENCY_CODES)})\b"
        rf"|(?i:\b(?P<name>{_alternatives(CURRENCIES)})\b)"
    )


def currency_of(text: str) -> str | None:
    """The ISO 4217 code of the first currency a text names: "₼500 million" -> "AZN", "2 billion Kyrgyz som" -> "KGS"."""
    return _code_of(currency_pattern().search(text))


def _code_of(match: re.Match | None) -> str | None:
    if match is None:
        return None
    if match.group("sign"):
        return CURRENCY_SYMBOLS[match.group("sign")]
    if match.group("code"):
        return match.group("code")
    return CURRENCIES[match.group("name").lower()]


@cache
def _money_rules() -> tuple[re.Pattern, re.Pattern, re.Pattern]:
    """An amount ("1,5 million", "five billion"), and the currency markers that may stand before or after one."""
    signs, codes, names = _alternatives(CURRENCY_SYMBOLS), _alternatives(CURRENCY_CODES), _alternatives(CURRENCIES)
    number_words = _alternatives(NUMBER_WORDS)
    # Digits that start a word: not the "29" of "COP29" (COP is also a code).
    amount = rf"(?:(?<!\w)\d+(?:[.,]\d+)*|\b(?:{number_words})(?:[\s-]+(?:{number_words}))*\b)(?P<scale>\s*(?:{_SCALE_WORDS})\b)?"
    before = rf"(?:(?P<sign>{signs})|\b(?P<code>{codes}))[ \u00a0]?$"
    after = rf"[ \u00a0]?(?P<sign>{signs})|\s+(?:(?P<code>{codes})\b|(?i:(?P<name>{names}))\b)"
    return re.compile(amount, re.IGNORECASE), re.compile(before), re.compile(after)


def money_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every amount with a currency beside it: "₼500 million", "KZT 3 trillion", "40 billion som".

    Found from the number out (a currency pattern tried at every character would be slow on a book):
    a sign or code just before it, or a sign, code or name just after. A code that is also a word
    ("TRY", "TOP") counts before a number only with a scale word ("TRY 5 billion", not "TOP 10").
    """
    amount, before, after = _money_rules()
    spans = []
    for number in amount.finditer(text):
        start, end = number.span()
        if prefix := before.search(text, max(0, start - 8), start):
            if prefix.group("code") not in AMBIGUOUS_CODES or number.group("scale"):
                spans.append((prefix.start(), end))
                continue
        if suffix := after.match(text, end):
            spans.append((start, suffix.end()))
    return _join_ranges(text, spans)


def _join_ranges(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """One span for the two amounts of a range ("₸2 and ₸3 billion"): the scale of the second governs both."""
    joined: list[tuple[int, int]] = []
    for start, end in spans:
        if joined and _MONEY_RANGE_GAP.fullmatch(text, joined[-1][1], start):
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    return joined


def decimal_commas(text: str, money: bool = False) -> str:
    """Read a decimal comma as a point where it must be one: before a scale or percent word ("1,5 million"), and in
    money when `money` ("₼1,5"); "1,500" and "15,000,000" keep their thousands separators."""
    text = _DECIMAL_COMMA_BEFORE_SCALE.sub(r"\1.\2", text)
    return _DECIMAL_COMMA.sub(r"\1.\2", text) if money else text


def _unit_of(text: str, label: str) -> str | None:
    """The unit a figure names: a currency code, a canonical unit, "fraction", "times", or None."""
    lowered = text.lower()
    words = _WORD.findall(lowered)
    marker = currency_pattern().search(text)
    # "TOP 10" is no money in Tongan pa'anga: a code that is also a word counts only in a MONEY figure.
    if marker and (label == "MONEY" or marker.group("code") not in AMBIGUOUS_CODES):
        return _code_of(marker)
    for first, second in zip(words, words[1:] + [""]):
        if f"{first} {second}" in UNITS:
            return UNITS[f"{first} {second}"]
        if first in UNITS:
            return UNITS[first]
    if label == "PERCENT" or "%" in text or "percent" in lowered or "per cent" in lowered:
        return "fraction"
    if label == "MULTIPLIER" or "times" in words or any(w in MULTIPLIER_WORDS for w in words):
        return "times"
    return None


def parse_figure(text: str, label: str) -> Value | None:
    """Normalise a figure span by its label; None when no value can be computed.

    >>> parse_figure("$773.9 million", "MONEY")
    Value(low=773900000.0, high=None, unit='USD')
    >>> parse_figure("17.2 percent", "PERCENT")
    Value(low=0.172, high=None, unit='fraction')
    """
    if label == "DATE":
        years = YEAR_WORD.findall(text)
        if not years:
            return None
        low, high = int(years[0]), int(years[-1])
        return Value(float(low), float(high) if high != low else None, "year")
    if label in ("TIME", "ORDINAL"):
        return None
    lowered = text.lower()
    multiplier = next((MULTIPLIER_WORDS[w] for w in _WORD.findall(lowered) if w in MULTIPLIER_WORDS), None)
    if multiplier is not None and not _NUMBER.search(text):
        return Value(float(multiplier), None, "times")
    unit = _unit_of(text, label)
    values = _numbers_with_scale(decimal_commas(text, money=unit in CURRENCY_CODES))
    if not values:
        return None
    if unit == "fraction" and _NUMBER.search(text) and not _SHARE_WORD.search(text):
        values = [_tidy(v / 100) for v in values]
    low = values[0]
    high = values[-1] if len(values) > 1 and values[-1] != low else None
    return Value(round(low, 12), None if high is None else round(high, 12), unit)


def canonical_numbers(text: str) -> list[str]:
    """Canonical digit strings for every number a text mentions, for number-aware search.

    "4.5 million", "4,500,000" and "4500000" all give "4500000"; "five" gives "5".
    Years and small counts are kept as they are.
    """
    out: list[str] = []
    for value in _numbers_with_scale(decimal_commas(text)):
        out.append(format_number(value))
    return out


def format_number(value: float) -> str:
    """A compact canonical string: 4500000.0 -> "4500000", 0.172 -> "0.172"."""
    if value == int(value):
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")
