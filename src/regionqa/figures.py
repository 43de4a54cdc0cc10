"""Normalise figures: "$773.9 million" -> 773900000 USD, "17.2 percent" -> 0.172, "sixteen" -> 16.

Pure functions on strings, used at index time (facts), at query time (number-aware
retrieval) and when scoring answers against gold answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from text_to_num import text2num

SCALES = {
    "thousand": 1e3,
    "million": 1e6,
    "mln": 1e6,
    "billion": 1e9,
    "bln": 1e9,
    "bn": 1e9,
    "trillion": 1e12,
}
CURRENCIES = {
    "$": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "usd": "USD",
    "€": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "eur": "EUR",
    "£": "GBP",
    "pound": "GBP",
    "pounds": "GBP",
    "manat": "AZN",
    "manats": "AZN",
    "tenge": "KZT",
    "rubles": "RUB",
    "roubles": "RUB",
    "yuan": "CNY",
}
UNITS = {
    "ton": "t",
    "tons": "t",
    "tonne": "t",
    "tonnes": "t",
    "kilometers": "km",
    "kilometres": "km",
    "km": "km",
    "kilometer": "km",
    "kilometre": "km",
    "miles": "mi",
    "mile": "mi",
    "barrels": "bbl",
    "barrel": "bbl",
    "containers": "containers",
    "teu": "TEU",
    "cubic meters": "m3",
    "cubic metres": "m3",
    "bcm": "bcm",
    "megawatts": "MW",
    "mw": "MW",
    "gigawatts": "GW",
    "gw": "GW",
    "kwh": "kWh",
}
FRACTIONS = {"half": 0.5, "quarter": 0.25, "third": 1 / 3, "dozen": 12.0}
FRACTION_PLURALS = {"thirds": 1 / 3, "quarters": 1 / 4}  # "two-thirds" = 2 x 1/3
MULTIPLIER_WORDS = {
    "twofold": 2, "threefold": 3, "fourfold": 4, "fivefold": 5, "sixfold": 6, "sevenfold": 7,
    "eightfold": 8, "ninefold": 9, "tenfold": 10, "double": 2, "doubled": 2, "triple": 3,
    "tripled": 3, "quadrupled": 4,
}  # fmt: skip

_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?|\.\d+")
_RANGE_SPLIT = re.compile(r"\s*(?:\bto\b|–|—|-|\band\b)\s*", re.IGNORECASE)
_YEAR = re.compile(r"^(1[5-9]\d\d|20\d\d)$")


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
    if token in FRACTIONS:
        return FRACTIONS[token]
    if token in MULTIPLIER_WORDS:
        return float(MULTIPLIER_WORDS[token])
    try:
        return float(text2num(token, "en"))
    except ValueError:
        return None


NUMBER_WORDS = {
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred",
}  # fmt: skip
_TOKEN = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?|\.\d+|[a-z]+")
# Words that may stand between a number and its scale or between the ends of a range.
_GLUE = {"to", "and", "from", "between", "around", "about", "over", "almost", "nearly", "some", "up", "a"}


def _tidy(value: float) -> float:
    """Drop binary float noise: 8192.2 * 1e6 is 8192200000.000001, but the text meant 8192200000."""
    return float(f"{value:.15g}")


def _numbers_with_scale(text: str) -> list[float]:
    """All numbers of a text in reading order, each multiplied by the scale word that governs it.

    "from 15 to 25 million tons" -> [15e6, 25e6]: a scale after a range applies to both ends.
    """
    tokens = _TOKEN.findall(text.lower().replace("per cent", "percent"))
    values: list[float] = []
    pending: list[int] = []  # numbers not yet followed by a scale word
    words: list[str] = []  # a run of number words such as "twenty five"

    def flush_words() -> None:
        if words:
            try:
                values.append(float(text2num(" ".join(words), "en")))
                pending.append(len(values) - 1)
            except ValueError:
                pass
            words.clear()

    for token in tokens:
        if token in NUMBER_WORDS or (token == "and" and words and words[-1] == "hundred"):
            words.append(token)
            continue
        flush_words()
        if _NUMBER.fullmatch(token):
            values.append(float(token.replace(",", "")))
            pending.append(len(values) - 1)
        elif token in SCALES:
            for index in pending:
                values[index] = _tidy(values[index] * SCALES[token])
            pending = []
        elif token in FRACTIONS and not values:
            values.append(FRACTIONS[token])
        elif token in FRACTION_PLURALS and values:
            values[-1] = _tidy(values[-1] * FRACTION_PLURALS[token])
            pending = []
        elif token not in _GLUE and token not in CURRENCIES:
            pending = []
    flush_words()
    return values


def _unit_of(text: str, label: str) -> str | None:
    lowered = text.lower()
    for symbol, code in CURRENCIES.items():
        if symbol in "$€£" and symbol in text:
            return code
    words = re.findall(r"[a-z]+", lowered)
    for word in words:
        if word in CURRENCIES:
            return CURRENCIES[word]
    for first, second in zip(words, words[1:] + [""]):
        if f"{first} {second}" in UNITS:
            return UNITS[f"{first} {second}"]
        if first in UNITS:
            return UNITS[first]
    if label == "PERCENT" or "%" in text or "percent" in lowered or "per cent" in lowered:
        return "fraction"
    if label == "MULTIPLIER" or "times" in words or any(w in MULTIPLIER_WORDS for w in words):
        return "times"
    if label == "MONEY":
        return None
    return None


def parse_figure(text: str, label: str) -> Value | None:
    """Normalise a figure span by its label; None when no value can be computed.

    >>> parse_figure("$773.9 million", "MONEY")
    Value(low=773900000.0, high=None, unit='USD')
    >>> parse_figure("17.2 percent", "PERCENT")
    Value(low=0.172, high=None, unit='fraction')
    """
    if label == "DATE":
        years = re.findall(r"\b(1[5-9]\d\d|20\d\d)\b", text)
        if not years:
            return None
        low, high = int(years[0]), int(years[-1])
        return Value(float(low), float(high) if high != low else None, "year")
    if label in ("TIME", "ORDINAL"):
        return None
    lowered = text.lower()
    multiplier = next((MULTIPLIER_WORDS[w] for w in re.findall(r"[a-z]+", lowered) if w in MULTIPLIER_WORDS), None)
    if multiplier is not None and not _NUMBER.search(text):
        return Value(float(multiplier), None, "times")
    values = _numbers_with_scale(text)
    if not values:
        return None
    unit = _unit_of(text, label)
    if unit == "fraction" and _NUMBER.search(text) and not re.search(r"(?i)\b(half|third|thirds|quarter|quarters)\b", text):
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
    for value in _numbers_with_scale(text):
        out.append(format_number(value))
    return out


def format_number(value: float) -> str:
    """A compact canonical string: 4500000.0 -> "4500000", 0.172 -> "0.172"."""
    if value == int(value):
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def is_year(token: str) -> bool:
    return bool(_YEAR.match(token))
