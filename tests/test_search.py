"""Fusion maths and the FTS5 query, checked against hand and brute-force computations."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regionqa.lexicon import FTS_TOKENIZER
from regionqa.search import RetrievalSettings, fuse, match_expression, min_max, number_tokens, query_terms, reciprocal_rank_fusion


def test_min_max_scales_to_unit_interval() -> None:
    assert min_max({1: 2.0, 2: 4.0, 3: 3.0}) == {1: 0.0, 2: 1.0, 3: 0.5}


@pytest.mark.parametrize("scores", [{}, {7: -3.5}, {1: 0.2, 2: 0.2, 3: 0.2}])
def test_min_max_edge_cases(scores: dict[int, float]) -> None:
    assert min_max(scores) == {key: 1.0 for key in scores}


def test_reciprocal_rank_fusion_by_hand() -> None:
    fused = reciprocal_rank_fusion([[10, 20, 30], [30, 10]], k=60)
    assert fused == pytest.approx({10: 1 / 61 + 1 / 62, 20: 1 / 62, 30: 1 / 63 + 1 / 61})


def test_reciprocal_rank_fusion_of_nothing_is_empty() -> None:
    assert reciprocal_rank_fusion([[], []]) == {}


def brute_force_fuse(
    dense: list[tuple[int, float]], lexical: list[tuple[int, float]], method: str, weight: float
) -> list[tuple[int, float]]:
    """The fusion written out the slow way, independently of search.py."""
    ids = sorted({i for i, _ in dense} | {i for i, _ in lexical})
    scores = {}
    for key in ids:
        if method == "rrf":
            total = 0.0
            for ranking in (dense, lexical):
                for position, (other, _) in enumerate(ranking):
                    if other == key:
                        total += 1 / (60 + position + 1)
            scores[key] = total
        else:
            total = 0.0
            for side, w in ((dense, weight), (lexical, 1 - weight)):
                values = [s for _, s in side]
                mine = [s for other, s in side if other == key]
                if not mine:
                    continue
                spread = max(values) - min(values)
                total += w * ((mine[0] - min(values)) / spread if spread >= 1e-12 else 1.0)
            scores[key] = total
    ordered = sorted(ids, key=lambda key: (-scores[key], key))
    return [(key, scores[key]) for key in ordered]


def test_fuse_by_hand_minmax() -> None:
    dense = [(1, 0.9), (2, 0.5), (3, 0.1)]
    lexical = [(3, 12.0), (4, 2.0)]
    fused = fuse(dense, lexical, RetrievalSettings(dense_weight=0.5, method="minmax"))
    assert [key for key, _ in fused] == [1, 3, 2, 4]
    assert dict(fused) == pytest.approx({1: 0.5, 2: 0.25, 3: 0.5, 4: 0.0})


def _ranking(ids: list[int]):
    return st.lists(st.floats(min_value=-50, max_value=50, allow_nan=False), min_size=len(ids), max_size=len(ids)).map(
        lambda scores: sorted(zip(ids, scores), key=lambda item: -item[1])
    )


_rankings = st.tuples(
    st.lists(st.integers(0, 40), unique=True, max_size=12).flatmap(_ranking),
    st.lists(st.integers(0, 40), unique=True, max_size=12).flatmap(_ranking),
)


@given(_rankings, st.sampled_from(["minmax", "rrf"]), st.floats(min_value=0, max_value=1))
def test_fuse_matches_brute_force(rankings, method: str, weight: float) -> None:
    dense, lexical = rankings
    fused = fuse(dense, lexical, RetrievalSettings(dense_weight=weight, method=method))
    expected = brute_force_fuse(dense, lexical, method, weight)
    assert {key for key, _ in fused} == {key for key, _ in expected}
    assert dict(fused) == pytest.approx(dict(expected))
    scores = [score for _, score in fused]
    assert scores == sorted(scores, reverse=True)
    # Equal scores are ordered by id, so the ranking is deterministic.
    for (a, sa), (b, sb) in zip(fused, fused[1:]):
        assert sa > sb or a < b


def test_retrieval_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="method"):
        RetrievalSettings(method="sum")
    with pytest.raises(ValueError, match="dense_weight"):
        RetrievalSettings(dense_weight=1.5)


def test_query_terms_drop_stopwords_and_duplicates() -> None:
    assert query_terms("What is the capacity of the Alat port, the Alat PORT?") == ["capacity", "alat", "port"]


def test_match_expression_searches_words_and_canonical_numbers() -> None:
    expression = match_expression("Which port handles 4.5 million tons?")
    for term in ("port", "handles", "million", "tons"):
        assert f'"{term}"' in expression
    assert '"which"' not in expression
    assert expression.startswith("text : (") and expression.endswith('numbers : ("n4500000")')
    assert match_expression("five").endswith('numbers : ("n5")')
    assert number_tokens("17.2 percent and 4,500,000") == ["n17p2", "n4500000"]


def test_match_expression_without_near_is_plain_bm25() -> None:
    expression = match_expression("Which port handles 4.5 million tons?", near=False)
    assert expression == 'text : ("port" OR "handles" OR "4" OR "5" OR "million" OR "tons") OR numbers : ("n4500000")'


@pytest.mark.parametrize("question", ["", "???", "...!!!", '"', '""" "', "“”‘’", "the of and", "AND OR NOT", "*"])
def test_match_expression_is_empty_without_content_words(question: str) -> None:
    assert match_expression(question) == ""


@pytest.fixture(scope="module")
def fts() -> sqlite3.Connection:
    """An FTS5 table like the store's, to run the expressions for real."""
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE VIRTUAL TABLE chunks_fts USING fts5(text, numbers, tokenize = '{FTS_TOKENIZER}')")
    rows = [
        ("The Alat port handles 25 million tons.", "n25000000"),
        ("Trade reached 4,500,000 dollars.", "n4500000"),
        ("Leaders met in “Astana” on NEAR-shore talks.", ""),
    ]
    db.executemany("INSERT INTO chunks_fts (text, numbers) VALUES (?, ?)", rows)
    return db


def _run(db: sqlite3.Connection, question: str) -> list[int]:
    expression = match_expression(question)
    if not expression:
        return []
    return [row[0] for row in db.execute("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank", (expression,))]


def test_numbers_column_matches_other_notations(fts: sqlite3.Connection) -> None:
    assert _run(fts, "Which deal was 4.5 mln?") == [2]  # only through the numbers column
    assert _run(fts, "What was 4.5 million?")[0] == 2
    assert _run(fts, "twenty five million") == [1]


@pytest.mark.parametrize(
    "question",
    [
        'Who said "port"?',
        "“Astana”?",
        "NEAR(port, 2)",
        "port*",
        "AND",
        "col : x",
        "'; DROP TABLE chunks_fts; --",
        "^port",
        "x_y",
        "٣ tons",
        "²",
    ],
)
def test_punctuation_quotes_and_fts_syntax_never_break_the_query(fts: sqlite3.Connection, question: str) -> None:
    assert isinstance(_run(fts, question), list)


@given(st.text(max_size=80))
def test_any_question_gives_a_valid_fts5_expression(fts: sqlite3.Connection, question: str) -> None:
    expression = match_expression(question)
    if expression:
        fts.execute("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?", (expression,)).fetchall()
