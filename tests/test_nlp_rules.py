"""The rule layers of rules.json on spacy.blank("en"): no statistical model, so only the rules speak."""

from __future__ import annotations

import pytest

from regionqa.nlp import add_rules, split_blocks


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
