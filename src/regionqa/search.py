"""Hybrid retrieval: dense (FAISS) and lexical (SQLite FTS5 BM25) results fused into one ranking.

Dense retrieval finds paraphrases; BM25 finds the exact names and numbers dense retrieval
misses. Numbers are matched in canonical form, so "4.5 million", "4,500,000" and
"4500000" meet, and so do "five" and "5".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .figures import canonical_numbers
from .lexicon import STOPWORDS
from .models import Hit

if TYPE_CHECKING:  # numpy and the store load only where retrieval runs, not for `regionqa --help`
    import numpy as np

    from .store import Store

_WORD = re.compile(r"\w+", re.UNICODE)
NEAR_DISTANCE = 3  # words allowed between two neighbouring question words


@dataclass(frozen=True)
class RetrievalSettings:
    depth: int = 50  # candidates taken from each retriever before fusion
    dense_weight: float = 0.5  # weight of the dense side in min-max fusion; tuned on SciFact train
    method: str = "minmax"  # "minmax" (convex combination of normalised scores) or "rrf"

    def __post_init__(self) -> None:
        if self.method not in ("minmax", "rrf"):
            raise ValueError(f"method must be 'minmax' or 'rrf'; got {self.method!r}")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ValueError(f"dense_weight must be between 0 and 1; got {self.dense_weight}")


def number_tokens(text: str) -> list[str]:
    """Canonical number tokens for the FTS `numbers` column: "4.5 million" -> ["n4500000"]."""
    return ["n" + value.replace(".", "p") for value in canonical_numbers(text)]


def query_terms(question: str) -> list[str]:
    """The content words of a question, lower-cased, in order, without duplicates."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(question.lower()):
        if word not in STOPWORDS and (len(word) > 1 or word.isdigit()):
            seen.setdefault(word, None)
    return list(seen)


def match_expression(question: str, near: bool = True) -> str:
    """An FTS5 MATCH expression: any content word in the text, or any canonical number.

    `near=False` gives plain BM25 (evaluation on BEIR measures both).
    """
    terms = query_terms(question)
    parts = [f'"{term}"' for term in terms]
    # Neighbouring question words that also stand close together in a chunk ("President of
    # Azerbaijan") score again: BM25 alone ignores word order.
    if near:
        parts += [f'NEAR("{a}" "{b}", {NEAR_DISTANCE})' for a, b in zip(terms, terms[1:])]
    text = f"text : ({' OR '.join(parts)})" if parts else ""
    numbers = " OR ".join(f'"{token}"' for token in dict.fromkeys(number_tokens(question)))
    if numbers:
        return f"{text} OR numbers : ({numbers})" if text else f"numbers : ({numbers})"
    return text


def min_max(scores: dict[int, float]) -> dict[int, float]:
    """Scale scores to [0, 1]; a single score (or all equal) maps to 1."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high - low < 1e-12:
        return {key: 1.0 for key in scores}
    return {key: (value - low) / (high - low) for key, value in scores.items()}


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = 60) -> dict[int, float]:
    """Sum of 1 / (k + rank) over the rankings an item appears in (rank 1-based; k = 60 as in Cormack et al. 2009)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            fused[key] = fused.get(key, 0.0) + 1.0 / (k + rank)
    return fused


def fuse(dense: Sequence[tuple[int, float]], lexical: Sequence[tuple[int, float]], settings: RetrievalSettings) -> list[tuple[int, float]]:
    """One ranking from two: (id, fused score), best first; ties broken by id for determinism."""
    if settings.method == "rrf":
        fused = reciprocal_rank_fusion([[i for i, _ in dense], [i for i, _ in lexical]])
    else:
        dense_scores, lexical_scores = min_max(dict(dense)), min_max(dict(lexical))
        w = settings.dense_weight
        fused = {
            key: w * dense_scores.get(key, 0.0) + (1 - w) * lexical_scores.get(key, 0.0)
            for key in dense_scores.keys() | lexical_scores.keys()
        }
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def retrieve(
    store: Store,
    question: str,
    query_vector: np.ndarray | None,
    top_k: int,
    settings: RetrievalSettings = RetrievalSettings(),
    among: Sequence[int] | None = None,
) -> list[Hit]:
    """The top_k chunks for a question by fused dense and lexical scores.

    With `query_vector=None` only BM25 is used (and with an empty match only dense). With `among`,
    only those chunk ids are searched, by both retrievers, so that top_k still come back when the
    question is asked of a few sources.
    """
    dense = store.dense_search(query_vector, settings.depth, among) if query_vector is not None else []
    lexical = store.lexical_search(match_expression(question), settings.depth, among)
    if not dense or not lexical:
        settings = RetrievalSettings(settings.depth, 1.0 if dense else 0.0, "minmax")
    ranked = fuse(dense, lexical, settings)[:top_k]
    chunks = store.chunks([key for key, _ in ranked])
    dense_scores, lexical_scores = dict(dense), dict(lexical)
    return [
        Hit(chunk=chunks[key], score=score, rank=rank, dense_score=dense_scores.get(key), lexical_score=lexical_scores.get(key))
        for rank, (key, score) in enumerate(ranked, start=1)
        if key in chunks
    ]
