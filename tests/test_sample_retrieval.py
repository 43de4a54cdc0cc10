"""Retrieval and answer quality on the shared sample questions, as aggregate thresholds only.

No question's answer is asserted: the thresholds are what the current pipeline reaches, so a
regression shows up here without the test encoding any particular answer.
"""

from __future__ import annotations

import pytest

from conftest import SAMPLE_QA, Dirs
from regionqa.evaluate import _squash, exact_match, f1_score, read_qa_file

MIN_EVIDENCE_IN_TOP_3 = 14  # of 15 questions
MIN_MRR = 0.85
MIN_EXACT_MATCH = 0.6
MIN_F1 = 0.65


@pytest.fixture(scope="module")
def measured(article_index: Dirs) -> dict:
    if not SAMPLE_QA.is_file():
        pytest.skip(f"{SAMPLE_QA} is not available (set REGIONQA_SHARED_DIR to the shared folder)")
    from regionqa import engine as engine_mod
    from regionqa.config import Settings

    items = [item for item in read_qa_file(SAMPLE_QA) if item.answers and item.evidence]
    engine = engine_mod.open_engine(Settings(corpus_dir=article_index.corpus_dir, index_dir=article_index.index_dir))
    ranks, em, f1 = [], [], []
    try:
        for item in items:
            result = engine.ask(item.question, top_k=5)
            wanted = _squash(item.evidence)
            ranks.append(next((hit.rank for hit in result.passages if wanted in _squash(hit.chunk.text)), None))
            prediction = result.answer.text if result.answer else ""
            em.append(exact_match(prediction, item.answers) if result.answer else 0.0)
            f1.append(f1_score(prediction, item.answers) if result.answer else 0.0)
    finally:
        engine.close()
    n = len(items)
    numbers = {
        "questions": n,
        "evidence_in_top_3": sum(1 for r in ranks if r is not None and r <= 3),
        "recall@1": sum(1 for r in ranks if r == 1) / n,
        "recall@5": sum(1 for r in ranks if r is not None) / n,
        "mrr": sum(1 / r for r in ranks if r) / n,
        "exact_match": sum(em) / n,
        "f1": sum(f1) / n,
        "missed": [item.id for item, r in zip(items, ranks) if r is None or r > 3],
    }
    print(f"\nsample set ({SAMPLE_QA.name}): {numbers}")
    return numbers


def test_evidence_is_in_the_top_3_passages(measured: dict) -> None:
    assert measured["questions"] == 15
    assert measured["evidence_in_top_3"] >= MIN_EVIDENCE_IN_TOP_3, measured


def test_retrieval_ranks_evidence_high(measured: dict) -> None:
    assert measured["mrr"] >= MIN_MRR, measured


def test_answers_reach_the_aggregate_thresholds(measured: dict) -> None:
    assert measured["exact_match"] >= MIN_EXACT_MATCH, measured
    assert measured["f1"] >= MIN_F1, measured
