"""Question typing and quoted titles: the rules that decide what kind of span answers a question."""

from __future__ import annotations

import pytest

from regionqa.answer import classify
from regionqa.nlp import _quoted_titles


@pytest.mark.parametrize(
    ("question", "wh", "label"),
    [
        ("Who chairs the port authority?", "person", "PERSON"),
        ("georgia transport minister name", "person", "PERSON"),  # terse: a person word before "name"
        ("What is the president's name?", "person", "PERSON"),
        ("What is the name of the treaty the president signed?", "name", "TITLE"),  # the treaty's name
        ("Which country hosts the forum?", "place", "GPE"),
        ("How much cargo does the port handle?", "amount", "QUANTITY"),
        ("When did the bridge open?", "date", "DATE"),
    ],
)
def test_questions_are_typed_by_their_wording(question: str, wh: str, label: str) -> None:
    qtype = classify(question)
    assert qtype.wh == wh and label in qtype.primary


def test_only_capitalised_quotations_are_titles() -> None:
    text = "The “five” met in “Astana Format” talks and signed the “2030 Agenda”; a “gateway”, they said."
    assert [span.text for span in _quoted_titles(text)] == ["Astana Format", "2030 Agenda"]
