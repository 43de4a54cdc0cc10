"""Figures normalised from text: money, percentages, number words, ranges, canonical numbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regionqa.figures import Value, canonical_numbers, format_number, parse_figure, parse_number


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
