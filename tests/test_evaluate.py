"""Evaluation metrics against hand computations."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from regionqa.errors import BadInputError
from regionqa.evaluate import _squash, evaluate_qa, exact_match, f1_score, ndcg_at_k, normalize_answer, read_qa_file, recall_at_k
from regionqa.models import Answer, Chunk, Hit, Result


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("The Caspian Sea", "caspian sea"),
        ("  New   York!  ", "new york"),
        ("five", "5"),
        ("Five", "5"),
        ("an “investment” fund; a roadmap", "investment fund roadmap"),
        ("$5.7", "5.7"),
        ("4,500,000 tons", "4500000 tons"),
        ("Kassym-Jomart Tokayev", "kassym jomart tokayev"),
        ("", ""),
    ],
)
def test_normalize_answer(text: str, normal: str) -> None:
    assert normalize_answer(text) == normal


@pytest.mark.parametrize(
    ("prediction", "gold"),
    [("five", ["5"]), ("5", ["five"]), ("the New York", ["new york"]), ("Berlin.", ["Paris", "berlin"]), ("$5.7 billion", ["5.7 billion"])],
)
def test_exact_match_after_normalisation(prediction: str, gold: list[str]) -> None:
    assert exact_match(prediction, gold) == 1.0


@pytest.mark.parametrize(("prediction", "gold"), [("Berlin", ["Bern"]), ("15 million tons", ["25 million tons"]), ("x", [])])
def test_exact_match_misses(prediction: str, gold: list[str]) -> None:
    assert exact_match(prediction, gold) == 0.0


def test_f1_by_hand() -> None:
    # predicted {25, million, tons} vs gold {15, million, tons}: precision = recall = 2/3.
    assert f1_score("25 million tons", ["15 million tons"]) == pytest.approx(2 / 3)
    # predicted {kazakh, coast} vs gold "kazakh coast of caspian sea" (5 tokens): p = 1, r = 2/5.
    gold = "Kazakh coast of the Caspian Sea"
    assert f1_score("Kazakh coast", [gold]) == pytest.approx(2 * 1.0 * (2 / 5) / (1.0 + 2 / 5))
    assert f1_score("Kazakh coast", ["nothing alike", gold]) == f1_score("Kazakh coast", [gold])
    assert f1_score("alumina", ["Alumina"]) == 1.0
    assert f1_score("cats", ["dogs"]) == 0.0
    assert f1_score("", ["dogs"]) == 0.0


def test_squash_ignores_quote_styles_dashes_and_spacing() -> None:
    assert _squash("“Central Asia – USA”  (New\nYork)") == _squash('"central asia - usa" (new york)')


def test_ndcg_at_k_by_hand() -> None:
    relevant = {"a": 1, "c": 2}
    # DCG = 1/log2(2) + 0 + 2/log2(4) = 2; ideal = 2/log2(2) + 1/log2(3).
    assert ndcg_at_k(["a", "b", "c"], relevant, k=10) == pytest.approx(2 / (2 + 1 / math.log2(3)))
    assert ndcg_at_k(["c", "a", "b"], relevant, k=10) == pytest.approx(1.0)
    assert ndcg_at_k(["b", "a"], relevant, k=1) == 0.0
    assert ndcg_at_k(["a", "c"], {}, k=10) == 0.0


def test_recall_at_k_by_hand() -> None:
    relevant = {"a": 1, "c": 2, "z": 0}
    assert recall_at_k(["a", "b", "c"], relevant, k=2) == 0.5
    assert recall_at_k(["a", "b", "c"], relevant, k=3) == 1.0
    assert recall_at_k(["z"], relevant, k=1) == 0.0
    assert recall_at_k(["a"], {}, k=1) == 0.0


def _result(question: str, passages: list[str], answer: str | None) -> Result:
    hits = [
        Hit(chunk=Chunk("doc.txt", 0, len(text), text, id=rank), score=1 / rank, rank=rank) for rank, text in enumerate(passages, start=1)
    ]
    found = Answer("doc.txt", 0, len(answer), answer, 0.9, answer, 0) if answer else None
    return Result(question=question, answer=found, passages=hits, facts=[])


def test_evaluate_qa_scores_answers_and_evidence_ranks(tmp_path: Path) -> None:
    lines = [
        '{"id": "q1", "question": "Where?", "answers": ["New York"], "evidence": "summit (New York)"}',
        '{"id": "q2", "question": "How many?", "answers": ["three"], "evidence": "three funds"}',
        '{"id": "q3", "question": "Unknowable?", "answers": [], "evidence": null}',
    ]
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    canned = {
        "Where?": _result("Where?", ["other text", "The summit  (New\nYork) was held."], "New York"),
        "How many?": _result("How many?", ["nothing here"], "two"),
        "Unknowable?": _result("Unknowable?", ["nothing"], None),
    }
    report = evaluate_qa(read_qa_file(path), lambda q: canned[q], ks=(1, 3))
    assert (report.questions, report.answerable) == (3, 2)
    assert report.exact_match == 0.5 and report.f1 == 0.5
    assert report.evidence_recall == {"@1": 0.0, "@3": 0.5}
    assert report.mrr == pytest.approx(0.25)  # ranks 2 and none: (1/2 + 0) / 2
    assert report.abstention_rate == 0.0 and report.unanswerable_abstained == 1.0
    assert [row["evidence_rank"] for row in report.rows] == [2, None, None]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("", "no questions"),
        ('{"id": "x"}\n', "line 1"),
        ("not json\n", "line 1"),
        # A string would be scored letter by letter: "I | l | h | a | m".
        ('{"question": "Who?", "answers": "Ilham Aliyev"}\n', '"answers" must be a list of strings'),
        ('{"question": "Who?", "answers": [1]}\n', '"answers" must be a list of strings'),
        ('{"question": "Who?", "answers": ""}\n', '"answers" must be a list of strings'),  # not read as unanswerable
        ('{"question": ""}\n', '"question" must be a non-empty string'),
        ('{"question": "Who?", "evidence": 3}\n', '"evidence" must be a string'),
        ("[1, 2]\n", "line 1: each line must be one JSON object"),
    ],
)
def test_read_qa_file_errors(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BadInputError, match=words):
        read_qa_file(path)
