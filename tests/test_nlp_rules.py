"""The rule layers of nlp.py (word lists from lexicon.json) on spacy.blank("en"): no statistical model, so only the rules speak."""

from __future__ import annotations

import pytest

from regionqa.figures import Value, parse_figure
from regionqa.lexicon import FOLD_MULTIPLIERS, MULTIPLIER_WORDS, ORG_WORDS, SCALES, UNITS
from regionqa.models import Span
from regionqa.nlp import RULER_UNIT_WORDS, add_rules, attach_currencies, figure_patterns, split_blocks


@pytest.fixture(scope="module")
def nlp():
    import spacy

    return add_rules(spacy.blank("en"))


def entities(nlp, text: str) -> list[tuple[str, str]]:
    return [(ent.text, ent.label_) for ent in nlp(text).ents]


@pytest.mark.parametrize(
    ("text", "span", "label"),
    [
        ("The capacity has been increased from 15 to 25 million tons.", "from 15 to 25 million tons", "QUANTITY"),
        ("It rose 15 to 25 million tons a year.", "15 to 25 million tons", "QUANTITY"),
        ("Rail freight exceeded 31 million tons in 2023.", "31 million tons", "QUANTITY"),
        ("Trade with Tajikistan grew 1.5 times last year.", "1.5 times", "MULTIPLIER"),
        ("Trade grew sixfold since 2020.", "sixfold", "MULTIPLIER"),
        ("Kazakhstan is a member of the EAEU and the SCO.", "EAEU", "ORG"),
        ("Kazakhstan is a member of the EAEU and the SCO.", "Kazakhstan", "GPE"),
        ("Ties between Saudi Arabia and Azerbaijan grew.", "Saudi Arabia", "GPE"),
        ("Cargo passes the Alat trading port every day.", "Alat trading port", "FAC"),
        # spaCy splits "two-thirds" into three tokens: the share words need no hyphenated compounds.
        ("Two-thirds of trade goes by rail.", "Two-thirds", "PERCENT"),
    ],
)
def test_rules_label_spans(nlp, text: str, span: str, label: str) -> None:
    assert (span, label) in entities(nlp, text)


def test_a_range_is_one_quantity_not_two(nlp) -> None:
    found = entities(nlp, "The port grew from 15 to 25 million tons.")
    assert found == [("from 15 to 25 million tons", "QUANTITY")]


def test_gap_rules_do_not_override_the_figure_rules(nlp) -> None:
    # "TONS" is upper-case alphabetic like an acronym, but the quantity rule claimed it first.
    assert entities(nlp, "It moved 25 million TONS.") == [("25 million TONS", "QUANTITY")]


@pytest.mark.parametrize("text", ["The port is large.", "we met in the morning", "A 2025 plan."])
def test_ordinary_words_are_not_entities(nlp, text: str) -> None:
    assert [e for e in entities(nlp, text) if e[1] in {"QUANTITY", "MULTIPLIER", "ORG"}] == []


def test_split_blocks_cuts_at_line_ends_and_keeps_offsets() -> None:
    text = "".join(f"Line {i} about ports.\n" for i in range(200))
    blocks = list(split_blocks(text, limit=500))
    assert len(blocks) > 1
    assert "".join(block for _, block in blocks) == text
    for offset, block in blocks:
        assert text[offset : offset + len(block)] == block
        assert len(block) <= 500 and block.endswith("\n")


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("COP29", "EVENT"),  # a digit: no one is called that
        ("Consultative Meeting", "EVENT"),
        ("Caspian Investment Council", "ORG"),
        ("Central Asian", "NORP"),  # "Central Asia" is a place of the document
        ("Uzbek", "PERSON"),  # no place "Uzbe": the ending alone proves nothing
        ("Ilham Aliyev", "PERSON"),
        ("Kassym-Jomart Tokayev", "PERSON"),
    ],
)
def test_person_tags_that_cannot_be_names_are_relabelled(name: str, label: str) -> None:
    from regionqa.nlp import _not_a_person

    places = {"Central Asia", "Kazakhstan", "Uzbekistan"}
    assert _not_a_person(name, places, ORG_WORDS) == label


def test_a_real_analysis_lists_people_only_as_people() -> None:
    """en_core_web_sm tags "COP29" and "the Consultative Meeting" PERSON in the article's sentences."""
    from regionqa.models import Source
    from regionqa.nlp import analyse_sources
    from regionqa.sources import content_hash

    text = (
        "President of Azerbaijan, Ilham Aliyev, participated in the latest Consultative Meeting of Central Asian Heads of State.\n"
        "The Central Asia and Azerbaijan Energy Investment Forum is planned within COP29.\n"
        "Central Asia is a region; the Central Asian states met again.\n"
    )
    [(_, analysis)] = list(analyse_sources([Source(name="t.txt", text=text, content_hash=content_hash(text))]))
    people = {e.text for e in analysis.entities if e.label == "PERSON"}
    assert "Ilham Aliyev" in people and not people & {"COP29", "Consultative Meeting", "Central Asian"}


def test_the_ruler_and_the_figure_parser_read_the_same_word_lists() -> None:
    # Besides the -fold words the ruler tags, the parser reads "doubled" inside a tagged figure.
    assert set(FOLD_MULTIPLIERS) < set(MULTIPLIER_WORDS)
    [_, scale, unit] = next(p["pattern"] for p in figure_patterns() if p["label"] == "QUANTITY" and len(p["pattern"]) == 3)
    assert set(scale["LOWER"]["IN"]) == set(SCALES) and set(unit["LOWER"]["IN"]) == set(RULER_UNIT_WORDS)


@pytest.mark.parametrize("word", sorted(unit for unit in UNITS if " " not in unit))
def test_every_unit_the_ruler_tags_the_parser_reads(nlp, word: str) -> None:
    assert entities(nlp, f"It moved 5 million {word} last year.") == [(f"5 million {word}", "QUANTITY")]
    assert parse_figure(f"5 million {word}", "QUANTITY") == Value(5_000_000, None, UNITS[word])


@pytest.mark.parametrize("word", sorted(FOLD_MULTIPLIERS))
def test_every_multiplier_the_ruler_tags_the_parser_reads(nlp, word: str) -> None:
    assert entities(nlp, f"Trade grew {word}.") == [(word, "MULTIPLIER")]
    assert parse_figure(word, "MULTIPLIER") == Value(FOLD_MULTIPLIERS[word], None, "times")


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("Cargo doubled in the first quarter of 2024.", "first quarter of 2024"),
        ("Exports rose last quarter.", "last quarter"),
        ("Exports rose in Q3 2024.", "Q3 2024"),
        ("The decree of 01.02.2024 took effect.", "01.02.2024"),
    ],
)
def test_a_quarter_of_a_year_is_a_date_not_a_share(nlp, text: str, span: str) -> None:
    assert (span, "DATE") in entities(nlp, text)


def test_a_share_is_still_a_share(nlp) -> None:
    assert entities(nlp, "A quarter of trade goes by rail.") == [("A quarter", "PERCENT")]


def _spans(text: str, *pieces: tuple[str, str]) -> list[Span]:
    return [Span(text.index(piece), text.index(piece) + len(piece), piece, label) for piece, label in pieces]


@pytest.mark.parametrize(
    ("text", "model", "fixed"),
    [
        # the model leaves the sign out, splits the code off as an ORG, tags code and amount a LAW, or the adjective a NORP
        ("It got ₼500 million.", [("500 million", "CARDINAL")], [("₼500 million", "MONEY")]),
        ("It cost CNY 40 million.", [("CNY", "ORG"), ("40 million", "CARDINAL")], [("CNY 40 million", "MONEY")]),
        ("It spent KGS 1.2 billion.", [("KGS 1.2 billion", "LAW")], [("KGS 1.2 billion", "MONEY")]),
        ("It cost 2.5 million Turkish lira.", [("2.5 million", "CARDINAL"), ("Turkish", "NORP")], [("2.5 million Turkish lira", "MONEY")]),
        ("It got 20 billion dram.", [("20 billion", "MONEY")], [("20 billion dram", "MONEY")]),
        # kept as the model drew them: a MONEY span that holds the amount, a date, a name that is no amount
        ("It got around $7 million.", [("around $7 million", "MONEY")], [("around $7 million", "MONEY")]),
        ("In 2023 dollars, it cost more.", [("2023", "DATE")], [("2023", "DATE")]),
        ("Leaders met at COP29.", [("COP29", "EVENT")], [("COP29", "EVENT")]),
    ],
)
def test_attach_currencies_makes_one_money_span(text: str, model: list[tuple[str, str]], fixed: list[tuple[str, str]]) -> None:
    assert attach_currencies(text, _spans(text, *model)) == _spans(text, *fixed)
