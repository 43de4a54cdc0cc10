"""Question typing and quoted titles: the rules that decide what kind of span answers a question; the
calibration file and the scoring weights."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from regionqa.answer import SCORING_WEIGHTS, QuestionType, ScoringWeights, calibration, classify, confidence
from regionqa.answer.confidence import calibration_file
from regionqa.lexicon import PLACE_LABELS
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


@pytest.mark.parametrize(
    ("question", "wh"),
    [
        ("How many percent of the cargo is grain?", "percent"),  # before "how many"
        ("How many times more cargo does it handle?", "multiplier"),
        ("How many times did exports grow?", "multiplier"),  # a growth asked as a multiple
        ("By how much did trade increase?", "growth"),  # before "how much": a change, not an amount
        ("How much cargo does the port handle?", "amount"),
        ("How many ships call there?", "count"),
        ("How long is the railway?", "measure"),
        ("Since when has the line run?", "date"),
        ("Whose interests does the treaty serve?", "person"),
        ("Which city hosts the forum?", "place"),
        ("Which company built the bridge?", "org"),
        ("What was it called?", "name"),
        ("What does the port export?", "thing"),  # no rule matches
    ],
)
def test_the_first_type_rule_that_matches_wins(question: str, wh: str) -> None:
    assert classify(question).wh == wh


def test_a_question_type_carries_its_cues() -> None:
    qtype = classify("Apart from Astana, which city had the second-largest trade in 2019, before the upgrade?")
    assert qtype == QuestionType(
        wh="place",
        primary=frozenset({"GPE"}),
        secondary=PLACE_LABELS | {"PROPER", "PLACE_PHRASE"},
        focus="citi",
        focus_words=frozenset({"citi"}),
        excluded=frozenset({"astana"}),
        range_end="low",
        years=(2019,),
        asks_amount=True,
        extreme=("max", 2),
    )
    assert classify("Is the forum held, in person or online?").options == ("in person", "online")
    assert "EUR" in classify("How much did the bridge cost?").units  # a money word: any currency


def test_the_calibration_is_read_from_its_data_file() -> None:
    data = json.loads(calibration_file().read_text(encoding="utf-8"))
    fitted = calibration()
    assert list(fitted.coefficients)[0] == "bias" and fitted.coefficients == data["coefficients"]
    assert fitted.abstain_below == data["abstain_below"]
    values = dict.fromkeys(fitted.coefficients, 0.0) | {"bias": 1.0}
    assert confidence(values) == pytest.approx(1 / (1 + math.exp(-data["coefficients"]["bias"])))


def test_calibrate_writes_the_file_the_answerer_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "eval"))
    import calibrate

    shipped = calibration_file().read_text(encoding="utf-8")
    target = tmp_path / "calibration.json"
    target.write_text(shipped, encoding="utf-8")
    monkeypatch.setattr(calibrate, "calibration_file", lambda: target)
    calibrate.write(calibration().coefficients, calibration().abstain_below)
    assert target.read_text(encoding="utf-8") == shipped  # the same numbers write the same file
    calibrate.write({"bias": -1.0, "score": 2.0}, 0.3)
    assert json.loads(target.read_text(encoding="utf-8"))["coefficients"] == {"bias": -1.0, "score": 2.0}


def test_scoring_weights_are_one_frozen_instance() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SCORING_WEIGHTS.fit_primary = 2.0  # type: ignore[misc]
    changed = SCORING_WEIGHTS.excluded + 0.5
    assert ScoringWeights(excluded=changed).excluded == changed and SCORING_WEIGHTS == ScoringWeights()


def test_a_fact_stated_after_a_pronoun_is_answered_with_the_name_from_the_sentence_before(cli, small_copy, tmp_path: Path) -> None:
    """ "Its population ..." names Samarkand only through the sentence before: the confidence counts the
    question's names there too (it abstained on this, at 0.19, when it read the answer's sentence alone)."""
    path = tmp_path / "samarkand.txt"
    path.write_text("Samarkand is a city in Uzbekistan. Its population reached 550,000 people in 2020.\n", encoding="utf-8")
    cli.json("index", "add", str(path))
    data = cli.json("ask", "What is the population of Samarkand?")
    assert data["answer"] is not None, data["message"]
    assert (data["answer"]["text"], data["answer"]["source"]) == ("550,000", "samarkand.txt")


def test_the_sentence_before_is_read_only_when_the_answer_sentence_opens_with_a_pronoun() -> None:
    from regionqa.answer.candidates import Candidate, ScoreParts
    from regionqa.answer.confidence import _names_found
    from regionqa.answer.scoring import _antecedent
    from regionqa.models import Span

    text = "Samarkand is a city in Uzbekistan. Its population reached 550,000. Bukhara has 280,000 people."
    spans = [Span(0, 34, text[0:34], ""), Span(35, 66, text[35:66], ""), Span(67, len(text), text[67:], "")]

    class Sentences:  # the one Store call _antecedent makes
        def sentences(self, source: str, start: int, end: int) -> list[Span]:
            return [s for s in spans if s.start < end and s.end > start]

    assert _antecedent(Sentences(), "s.txt", spans[1]) == spans[0].text  # "Its ..." refers back
    assert _antecedent(Sentences(), "s.txt", spans[2]) == ""  # "Bukhara ..." names its own subject
    assert _antecedent(Sentences(), "s.txt", spans[0]) == ""
    opening = Span(0, 20, "It opened in 2019.", "")  # a pronoun at the very start of a source: nothing before it
    assert _antecedent(Sentences(), "s.txt", opening) == ""

    def candidate(sentence: Span, antecedent: str) -> Candidate:
        return Candidate("s.txt", 0, 7, "550,000", "CARDINAL", sentence, parts=ScoreParts(antecedent=antecedent))

    assert _names_found(["Samarkand"], candidate(spans[1], spans[0].text)) == 1.0
    assert _names_found(["Samarkand"], candidate(spans[1], "")) == 0.0
