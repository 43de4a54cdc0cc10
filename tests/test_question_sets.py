"""The project's question sets (eval/*.jsonl) are what their figures in the README claim to measure.

An answerable question's evidence is a sentence of the article copied verbatim and holds one of its gold answers,
so that evidence recall@k and the gold answers check against the text; an out-of-corpus question has neither.
Ids are unique within a set, so that its rows (and a refit's cache) never mix two questions. No models are loaded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ARTICLE, REPO
from regionqa.evaluate import read_qa_file

SETS = sorted((REPO / "eval").glob("*.jsonl"))


def test_every_set_is_found() -> None:
    names = {path.name for path in SETS}
    assert {"blind_questions.jsonl", "blind6_questions.jsonl", "blind6_out_of_corpus.jsonl", "out_of_corpus.jsonl"} <= names


@pytest.mark.parametrize("path", SETS, ids=lambda path: path.stem)
def test_a_set_checks_against_the_article(path: Path) -> None:
    article = ARTICLE.read_text(encoding="utf-8")
    items = read_qa_file(path)
    out_of_corpus = path.stem.endswith("out_of_corpus")
    for item in items:
        assert item.question.strip(), item.id
        if out_of_corpus:
            assert item.answers == [] and not item.evidence, f"{item.id}: an out-of-corpus question has no answer and no evidence"
            continue
        assert item.answers, f"{item.id}: no gold answer"
        assert item.evidence and item.evidence in article, f"{item.id}: the evidence is not a verbatim piece of the article"
        assert any(answer in item.evidence for answer in item.answers), f"{item.id}: no gold answer in its evidence"


@pytest.mark.parametrize("path", SETS, ids=lambda path: path.stem)
def test_ids_are_unique_within_a_set(path: Path) -> None:
    ids = [item.id for item in read_qa_file(path)]
    assert len(ids) == len(set(ids))
