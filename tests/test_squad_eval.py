"""`regionqa eval --squad FILE`: a SQuAD-format file's paragraphs in a private index, every question asked and scored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import assert_one_line_error
from regionqa.evaluate import read_squad, squad_index_dir

SQUAD = {
    "version": "v2.0",
    "data": [
        {
            "title": "Zarvonsk",
            "paragraphs": [
                {
                    "context": "The Zarvonsk Maritime Gateway is a deep-water port on Lake Quellmar. "
                    "Its cargo capacity reached 42 million tons in 2031 after the third berth opened.",
                    "qas": [
                        {"id": "q1", "question": "What cargo capacity did the Zarvonsk gateway reach in 2031?",
                         "answers": [{"text": "42 million tons", "answer_start": 96}], "is_impossible": False},
                        {"id": "q2", "question": "How many ships sank at the Zarvonsk gateway in 2031?",
                         "answers": [], "plausible_answers": [{"text": "third", "answer_start": 130}], "is_impossible": True},
                    ],
                },
                {
                    "context": "The gateway is run by the Quellmar Harbour Authority under director Elvira Tamsk.",
                    "qas": [
                        {"id": "q3", "question": "Who directs the Quellmar Harbour Authority?",
                         "answers": [{"text": "Elvira Tamsk", "answer_start": 68}], "is_impossible": False},
                    ],
                },
            ],
        },
        {"title": "Other", "paragraphs": [{"context": "Tea is grown in Lankaran.", "qas": [
            {"id": "q4", "question": "Where is tea grown?", "answers": [{"text": "Lankaran", "answer_start": 16}]}]}]},
    ],
}  # fmt: skip


@pytest.fixture
def squad_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-squad.json"
    path.write_text(json.dumps(SQUAD), encoding="utf-8")
    return path


def test_a_squad_file_becomes_one_source_per_paragraph_and_its_questions(squad_file: Path) -> None:
    data = read_squad(squad_file)
    assert [s.name for s in data.sources] == ["Zarvonsk/p001", "Zarvonsk/p002", "Other/p001"]
    assert [(i.id, i.answers, i.source) for i in data.items] == [
        ("q1", ["42 million tons"], "Zarvonsk/p001"),
        ("q2", [], "Zarvonsk/p001"),
        ("q3", ["Elvira Tamsk"], "Zarvonsk/p002"),
        ("q4", ["Lankaran"], "Other/p001"),
    ]
    only = read_squad(squad_file, {"Zarvonsk"})
    assert len(only.sources) == 2 and len(only.items) == 3
    assert squad_index_dir(only, Path("/data")) != squad_index_dir(data, Path("/data"))


def test_eval_squad_scores_answers_abstention_and_where_the_paragraph_ranked(cli, small_index, squad_file: Path) -> None:
    report = cli.json("eval", "--squad", str(squad_file), "--article", "Zarvonsk")
    assert report["questions"] == 3 and report["answerable"] == 2
    assert report["evidence_recall"]["@5"] == 1.0  # two paragraphs: the gold one is always among the passages
    rows = {r["id"]: r for r in report["rows"]}
    assert rows["q3"]["prediction"] == "Elvira Tamsk" and rows["q3"]["em"] == 1.0
    assert rows["q1"]["evidence_rank"] == 1 and rows["q2"]["gold"] == []
    assert report["f1"] == pytest.approx((rows["q1"]["f1"] + rows["q3"]["f1"]) / 2)
    assert report["unanswerable_abstained"] == (1.0 if rows["q2"]["prediction"] is None else 0.0)  # its one unanswerable question


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("not json", ["not a SQuAD JSON file"]),
        ('{"data": [{"title": "x"}]}', ["lacks a field", "paragraphs"]),
        ('{"items": []}', ["not a SQuAD JSON file", '"data"']),
        ('{"data": []}', ["no questions in the file"]),
        # An answerable question with no answers key is not counted as unanswerable.
        (
            '{"data": [{"title": "x", "paragraphs": [{"context": "c", "qas": [{"id": "1", "question": "q"}]}]}]}',
            ["lacks a field", "answers"],
        ),
        (
            '{"data": [{"title": "x", "paragraphs": [{"context": "c", "qas": [{"id": "1", "question": "q", "answers": []}]}]}]}',
            ["question 1 has no answers and is not marked is_impossible"],
        ),
    ],
)
def test_a_bad_squad_file_gets_one_line(cli, tmp_path: Path, content: str, words: list[str]) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    assert_one_line_error(cli("eval", "--squad", str(path), exit_code=2), *words)


def test_eval_takes_one_kind_of_input(cli, squad_file: Path) -> None:
    assert_one_line_error(cli("eval", "x.jsonl", "--squad", str(squad_file), exit_code=2), "give one of")
    assert_one_line_error(cli("eval", "x.jsonl", "--article", "Zarvonsk", exit_code=2), "--article selects articles")
