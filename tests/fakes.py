"""Fake models for fast index builds: a deterministic hash encoder and spaCy's blank English.

`indexing.build(..., models=fake_models())` builds a real index (SQLite, FAISS, manifest,
generations) in milliseconds, so that property tests can build hundreds of them.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

from regionqa.batches import BuildModels
from regionqa.embedding import DIMENSION


def fake_encode(texts: list[str]) -> np.ndarray:
    """A unit vector per text, seeded by the SHA-256 of the text: equal texts, equal vectors."""
    vectors = np.zeros((len(texts), DIMENSION), dtype=np.float32)
    for row, text in enumerate(texts):
        seed = int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8], "little")
        vector = np.random.default_rng(seed).standard_normal(DIMENSION).astype(np.float32)
        vectors[row] = vector / np.linalg.norm(vector)
    return vectors


def count_words(text: str) -> int:
    return len(text.split())


@lru_cache(maxsize=1)
def blank_pipeline():
    """spacy.blank("en") with a rule-based sentencizer and regionqa's rule layers: no statistical model."""
    import spacy

    from regionqa.nlp import add_rules

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    add_rules(nlp)
    return nlp


def fake_analyse(sources):
    from regionqa.nlp import analyse_sources

    return analyse_sources(sources, nlp=blank_pipeline())


def fake_models() -> BuildModels:
    return BuildModels(encode=fake_encode, count_tokens=count_words, analyse=fake_analyse, export_query_encoder=False)
