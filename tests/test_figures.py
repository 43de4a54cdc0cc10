"""Figures normalised from text: money in any ISO 4217 currency, percentages, number words, ranges,
decimal commas, canonical numbers, and dates as ISO 8601."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import regionqa.lexicon
from regionqa.dates import date_bounds, iso_date, reference_date
from regionqa.figures import Value, canonical_numbers, currency_of, format_number, money_spans, parse_figure, parse_number
from regionqa.lexicon import CURRENCIES, CURRENCY_CODES, CURRENCY_SYMBOLS


@pytest.mark.parametrize(
    ("text", "label", "expected"),
    [
        ("$773.9 million", "MONEY", Value(773_900_000, None, "USD")),
        ("$64.9 million", "MONEY", Value(64_900_000, None, "USD")),
        ("1.605 billion dollars", "MONEY", Value(1_605_000_000, None, "USD")),
        ("five billion dollars", "MONEY", Value(5_000_000_000, None, "USD")),
        ("17.2 percent", "PERCENT", Value(0.172, None, "fraction")),
        ("almost 25 percent", "PERCENT", Value(0.25, None, "fraction")),
        ("40%", "PERCENT", Value(0.4, None, "fraction")),
        ("sixteen", "CARDINAL", Value(16, None, None)),
        ("31 million tons", "QUANTITY", Value(31_000_000, None, "t")),
        ("1.5 times", "MULTIPLIER", Value(1.5, None, "times")),
        ("sixfold", "MULTIPLIER", Value(6, None, "times")),
        ("February 2022", "DATE", Value(2022, None, "year")),
        ("2025-2027", "DATE", Value(2025, 2027, "year")),
    ],
)
def test_parse_figure_normalises_value_and_unit(text: str, label: str, expected: Value) -> None:
    # Exact equality on purpose: "$64.9 million" must be 64900000, not 64900000.00000001.
    assert parse_figure(text, label) == expected


@pytest.mark.parametrize(
    ("text", "label", "low", "high", "unit"),
    [
        ("from 15 to 25 million tons", "QUANTITY", 15e6, 25e6, "t"),
        ("from one to five million tons", "QUANTITY", 1e6, 5e6, "t"),
        ("$5.7 to $11 billion", "MONEY", 5.7e9, 11e9, "USD"),
        ("10–20 percent", "PERCENT", 0.1, 0.2, "fraction"),
    ],
)
def test_ranges_keep_both_ends_and_the_scale_applies_to_both(text: str, label: str, low: float, high: float, unit: str) -> None:
    value = parse_figure(text, label)
    assert value == Value(low, high, unit)


@pytest.mark.parametrize(("text", "label"), [("this year", "DATE"), ("first", "ORDINAL"), ("tens of percent", "PERCENT"), ("", "CARDINAL")])
def test_parse_figure_returns_none_when_there_is_no_value(text: str, label: str) -> None:
    assert parse_figure(text, label) is None


@pytest.mark.parametrize("text", ["4.5 million", "4,500,000", "4500000", "4.5 mln"])
def test_canonical_numbers_meet_whatever_the_notation(text: str) -> None:
    assert canonical_numbers(text) == ["4500000"]


@pytest.mark.parametrize(
    ("words", "digits"), [("five", "5"), ("sixteen", "16"), ("twenty five tons", "25 tons"), ("two hundred and five", "205")]
)
def test_number_words_and_digits_give_the_same_canonical_number(words: str, digits: str) -> None:
    assert canonical_numbers(words) == canonical_numbers(digits) == [digits.split()[0]]


def test_canonical_numbers_in_reading_order_with_ranges() -> None:
    assert canonical_numbers("grew from $5.7 to $11 billion in 2023, by 17.2 percent") == ["5700000000", "11000000000", "2023", "17.2"]


@pytest.mark.parametrize("text", ["", "no numbers here", "???", "million billion"])
def test_canonical_numbers_of_text_without_numbers_is_empty(text: str) -> None:
    assert canonical_numbers(text) == []


@pytest.mark.parametrize(
    ("token", "value"),
    [("4,523,000", 4_523_000), ("1.5", 1.5), ("sixteen", 16), ("half", 0.5), ("sixfold", 6), ("zebra", None), ("", None)],
)
def test_parse_number(token: str, value: float | None) -> None:
    assert parse_number(token) == value


@pytest.mark.parametrize(("value", "text"), [(4_500_000.0, "4500000"), (0.172, "0.172"), (5.0, "5"), (1 / 3, "0.333333")])
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


@given(st.integers(min_value=0, max_value=10**15 - 1))
def test_integers_with_thousands_separators_round_trip(number: int) -> None:
    assert canonical_numbers(f"{number:,}") == [str(number)]
    assert canonical_numbers(str(number)) == [str(number)]
    assert parse_figure(f"{number:,} tons", "QUANTITY") == Value(float(number), None, "t")


@given(st.integers(min_value=1, max_value=10**7), st.sampled_from([("thousand", 10**3), ("million", 10**6), ("billion", 10**9)]))
def test_one_decimal_with_a_scale_word_equals_the_written_out_integer(tenths: int, scale: tuple[str, int]) -> None:
    word, factor = scale
    written = f"{tenths // 10}.{tenths % 10} {word}"
    exact = tenths * factor // 10
    assert canonical_numbers(written) == canonical_numbers(f"{exact:,}") == [str(exact)]
    assert parse_figure(f"${written}", "MONEY") == Value(float(exact), None, "USD")


# ---------------------------------------------------------------- currencies (ISO 4217)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("₼500 million", "AZN"),
        ("KZT 3 trillion", "KZT"),
        ("₸2.4 billion", "KZT"),
        ("40 billion som", "UZS"),
        ("2 billion Kyrgyz som", "KGS"),  # the full name wins over the local word
        ("350 million somoni", "TJS"),
        ("500 million manats", "AZN"),
        ("500 million Turkmen manats", "TMT"),
        ("₽15 billion", "RUB"),
        ("3 billion roubles", "RUB"),
        ("5 billion yuan", "CNY"),
        ("RMB 3 billion", "CNY"),
        ("€2.3 billion", "EUR"),
        ("£45 million", "GBP"),
        ("8 billion lira", "TRY"),
        ("$64.9 million", "USD"),
        ("US$1.2 billion", "USD"),
        ("A$300 million", "AUD"),  # not USD: the longest sign wins
        ("C$75 million", "CAD"),
        ("HK$2 billion", "HKD"),
        ("NZ$40 million", "NZD"),
        ("20 billion Armenian drams", "AMD"),
    ],
)
def test_currencies_by_sign_code_and_name(text: str, code: str) -> None:
    assert currency_of(text) == code
    assert parse_figure(text, "MONEY").unit == code


def test_every_code_sign_and_name_of_the_table_reads_as_its_currency() -> None:
    for code in CURRENCY_CODES:
        assert parse_figure(f"{code} 5 million", "MONEY") == Value(5e6, None, code), code
    for sign, code in CURRENCY_SYMBOLS.items():
        assert parse_figure(f"{sign}5 million", "MONEY") == Value(5e6, None, code), sign
    for name, code in CURRENCIES.items():
        assert parse_figure(f"5 million {name}", "MONEY") == Value(5e6, None, code), name


def test_a_code_that_is_also_a_word_is_money_only_in_money() -> None:
    assert parse_figure("TOP 10", "CARDINAL") == Value(10, None, None)
    assert parse_figure("TRY 5 billion", "MONEY") == Value(5e9, None, "TRY")
    text = "TOP 10 ports and TRY 5 billion"
    assert [text[start:end] for start, end in money_spans(text)] == ["TRY 5 billion"]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("The state allocated ₼500 million to it.", ["₼500 million"]),
        ("It costs CNY 40 million, or RUB 500 million.", ["CNY 40 million", "RUB 500 million"]),
        ("It cost 2.5 million Turkish lira.", ["2.5 million Turkish lira"]),
        ("five billion dollars", ["five billion dollars"]),
        ("A ticket is 500 ₽.", ["500 ₽"]),
        ("Revenue was between ₸2 and ₸3 billion.", ["₸2 and ₸3 billion"]),
        ("It costs ₼5–₼7 million.", ["₼5–₼7 million"]),
        ("Leaders met at COP29 in Baku in 2024.", []),  # COP is a code, but "29" does not start a word
        ("one of the ports moved 25 million tons", []),
    ],
)
def test_money_spans_find_amounts_with_a_currency_beside_them(text: str, found: list[str]) -> None:
    assert [text[start:end] for start, end in money_spans(text)] == found


def test_the_currency_table_is_the_one_babel_generates() -> None:
    """currencies.json is generated (`make lexicon`); regenerate it after a Babel upgrade."""
    from regionqa.lexicon import CURRENCY_TABLE_FILE, generate_currency_table

    committed = json.loads((Path(regionqa.lexicon.__file__).with_name(CURRENCY_TABLE_FILE)).read_text(encoding="utf-8"))
    assert committed == generate_currency_table()
    assert {"AZN", "KZT", "UZS", "KGS", "TJS", "TMT", "RUB", "CNY", "EUR", "GBP", "TRY", "USD"} <= set(committed["codes"])


# ---------------------------------------------------------------- decimal commas


@pytest.mark.parametrize(
    ("text", "label", "expected"),
    [
        ("1,5 million", "CARDINAL", Value(1_500_000, None, None)),
        ("1,5 million manats", "MONEY", Value(1_500_000, None, "AZN")),
        ("1,25 billion tenge", "MONEY", Value(1_250_000_000, None, "KZT")),
        ("₼1,5", "MONEY", Value(1.5, None, "AZN")),  # money: a decimal comma even without a scale word
        ("2,3 percent", "PERCENT", Value(0.023, None, "fraction")),
        ("2,3%", "PERCENT", Value(0.023, None, "fraction")),
        ("1,500 tons", "QUANTITY", Value(1500, None, "t")),
        ("15,000,000 dollars", "MONEY", Value(15_000_000, None, "USD")),
        ("1,500 million", "CARDINAL", Value(1_500_000_000, None, None)),
    ],
)
def test_a_decimal_comma_before_a_scale_word_or_in_money_is_a_decimal_point(text: str, label: str, expected: Value) -> None:
    assert parse_figure(text, label) == expected


def test_decimal_commas_in_canonical_numbers() -> None:
    assert canonical_numbers("1,5 million, 1,500 and 15,000,000") == ["1500000", "1500", "15000000"]
    assert canonical_numbers("items 1,5 and 7") == ["1", "5", "7"]  # no scale word: a list, as before


# ---------------------------------------------------------------- dates

REFERENCE = date(2024, 6, 10)


@pytest.mark.parametrize(
    ("text", "absolute", "relative"),
    [
        ("March 2024", "2024-03", "2024-03"),
        ("15 May 2024", "2024-05-15", "2024-05-15"),
        ("May 15, 2024", "2024-05-15", "2024-05-15"),
        ("2024-03-15", "2024-03-15", "2024-03-15"),
        ("2024", "2024", "2024"),
        ("2025-2027", "2025/2027", "2025/2027"),
        ("from 2019 to 2023", "2019/2023", "2019/2023"),
        ("the end of 2023", "2023", "2023"),
        ("mid-2024", "2024", "2024"),
        ("the first quarter of 2024", "2024-01/2024-03", "2024-01/2024-03"),
        ("Q3 2024", "2024-07/2024-09", "2024-07/2024-09"),
        ("in May of this year", None, "2024-05"),
        ("May of last year", None, "2023-05"),
        ("last year", None, "2023"),
        ("next month", None, "2024-07"),
        ("15 May", None, "2024-05-15"),
        ("two years ago", None, "2022"),
        ("today", None, "2024-06-10"),
        ("15-17 May 2024", "2024-05-15/2024-05-17", "2024-05-15/2024-05-17"),
        ("March to May 2024", "2024-03/2024-05", "2024-03/2024-05"),
        ("May 2023 – March 2024", "2023-05/2024-03", "2023-05/2024-03"),
        ("2024/25", "2024/2025", "2024/2025"),  # a fiscal year
        ("01.02.2024", "2024-02-01", "2024-02-01"),  # dotted: day first
        ("31.02.2024", None, None),
        ("earlier this year", None, "2024"),
        ("three years", None, None),  # a duration, not a date
        ("26 years", None, None),
        ("the past five years", None, None),
        ("the previous year", None, None),  # the year before the one the text speaks of, not before its date
        ("the 1990s", None, None),  # a decade
        ("recent years", None, None),
        ("", None, None),
    ],
)
def test_iso_date_keeps_the_precision_of_the_text_and_needs_a_reference_for_relative_dates(
    text: str, absolute: str | None, relative: str | None
) -> None:
    assert iso_date(text) == absolute
    assert iso_date(text, REFERENCE) == relative


@pytest.mark.parametrize(
    ("iso", "bounds"),
    [
        ("2024", (date(2024, 1, 1), date(2024, 12, 31))),
        ("2024-02", (date(2024, 2, 1), date(2024, 2, 29))),
        ("2024-05-15", (date(2024, 5, 15), date(2024, 5, 15))),
        ("2025/2027", (date(2025, 1, 1), date(2027, 12, 31))),
        ("2024-01/2024-03", (date(2024, 1, 1), date(2024, 3, 31))),
    ],
)
def test_date_bounds_cover_the_whole_period(iso: str, bounds: tuple[date, date]) -> None:
    assert date_bounds(iso) == bounds


@given(st.dates(min_value=date(1500, 1, 1), max_value=date(2099, 12, 31)))
def test_a_written_out_day_round_trips_to_its_iso_date(day: date) -> None:
    assert iso_date(f"{day.day} {day:%B} {day.year}") == day.isoformat()
    assert date_bounds(day.isoformat()) == (day, day)


@pytest.mark.parametrize(
    ("value", "expected"), [("2024-06-10", REFERENCE), ("2024-06-10T08:00:00Z", REFERENCE), ("June", None), (None, None), (20240610, None)]
)
def test_reference_date_of_a_sources_metadata(value: object, expected: date | None) -> None:
    assert reference_date(value) == expected
