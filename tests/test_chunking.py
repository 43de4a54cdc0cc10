"""Sentence-aligned chunking with a fake whitespace token counter (no model needed)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regionqa.chunking import ChunkSettings, chunk_source, split_long_sentence
from regionqa.models import Chunk, Span


def count_words(text: str) -> int:
    """A fake tokenizer: one token per whitespace-separated word."""
    return len(text.split())


def sentences_of(text: str) -> list[Span]:
    """Naive sentence spans: runs ending in . ! ? (or at the end of the text), without outer spaces."""
    return [Span(m.start(), m.end(), m.group(), "SENTENCE") for m in re.finditer(r"[^\s.!?][^.!?]*[.!?]?", text)]


def chunk(text: str, max_tokens: int = 12, overlap: int = 1) -> list[Chunk]:
    return chunk_source("doc.txt", text, sentences_of(text), count_words, ChunkSettings(max_tokens=max_tokens, overlap_sentences=overlap))


def assert_chunk_invariants(text: str, chunks: list[Chunk], max_tokens: int) -> None:
    for c in chunks:
        assert c.source == "doc.txt"
        assert 0 <= c.start < c.end <= len(text)
        assert text[c.start : c.end] == c.text
        assert count_words(c.text) <= max_tokens or len(c.text.split()) == 1, c
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    # Every word of the text is inside some chunk: nothing is dropped.
    for word in re.finditer(r"\S+", text):
        assert any(c.start <= word.start() and word.end() <= c.end for c in chunks), word


TEXT = (
    "Azerbaijan borders the Caspian Sea. The Alat port grew from 15 to 25 million tons. "
    "Trade with Tajikistan rose 1.5 times. Three investment funds were created. "
    "The railway now carries five million tons a year. Leaders met in Astana."
)


def test_offsets_and_limits_hold_on_a_small_text() -> None:
    chunks = chunk(TEXT, max_tokens=14)
    assert len(chunks) > 1
    assert_chunk_invariants(TEXT, chunks, 14)


def test_chunks_start_and_end_on_sentence_boundaries() -> None:
    sentences = sentences_of(TEXT)
    starts, ends = {s.start for s in sentences}, {s.end for s in sentences}
    for c in chunk(TEXT, max_tokens=14):
        assert c.start in starts and c.end in ends


@pytest.mark.parametrize("max_tokens", [10, 14, 20])
def test_consecutive_chunks_overlap_by_one_sentence(max_tokens: int) -> None:
    sentences = sentences_of(TEXT)
    chunks = chunk(TEXT, max_tokens=max_tokens, overlap=1)
    overlapping = 0
    for before, after in zip(chunks, chunks[1:]):
        inside = [s for s in sentences if before.start <= s.start and s.end <= before.end]
        following = next(s for s in sentences if s.start >= before.end)
        if len(inside) > 1 and count_words(inside[-1].text) + count_words(following.text) <= max_tokens:
            assert after.start == inside[-1].start  # the last sentence is repeated
            overlapping += 1
        else:
            assert after.start == following.start  # no room for the overlap: no gap either
    assert overlapping > 0


def test_without_overlap_chunks_partition_the_sentences() -> None:
    chunks = chunk(TEXT, max_tokens=14, overlap=0)
    for before, after in zip(chunks, chunks[1:]):
        assert before.end <= after.start
    assert chunks[0].start == 0 and chunks[-1].end == len(TEXT)


def test_text_that_fits_is_one_chunk() -> None:
    chunks = chunk(TEXT, max_tokens=200)
    assert [(c.start, c.end) for c in chunks] == [(0, len(TEXT))]


def test_a_very_long_sentence_is_split_at_word_boundaries() -> None:
    text = " ".join(f"word{i}" for i in range(100)) + "."
    chunks = chunk(text, max_tokens=10)
    assert len(chunks) >= 10
    assert_chunk_invariants(text, chunks, 10)
    for c in chunks:
        assert c.start == 0 or text[c.start - 1] == " "
        assert c.end == len(text) or text[c.end] == " "


def test_split_long_sentence_pieces_fit_and_cover_the_sentence() -> None:
    text = "  " + " ".join(["alpha", "beta", "gamma"] * 9) + "  "
    sentence = Span(2, len(text) - 2, text[2:-2], "SENTENCE")
    pieces = split_long_sentence(text, sentence, count_words, 8)
    assert all(count_words(p.text) <= 8 and text[p.start : p.end] == p.text for p in pieces)
    assert " ".join(p.text for p in pieces) == sentence.text


def test_a_single_word_longer_than_the_limit_is_kept_whole() -> None:
    def count_chars(text: str) -> int:
        return len(text)

    text = "Short one. " + "x" * 40 + " tail."
    chunks = chunk_source("doc.txt", text, sentences_of(text), count_chars, ChunkSettings(max_tokens=10, overlap_sentences=0))
    assert any(c.text == "x" * 40 for c in chunks)
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert len(c.text) <= 10 or " " not in c.text


@pytest.mark.parametrize("text", ["", "   \n\t  "])
def test_empty_input_gives_no_chunks(text: str) -> None:
    assert chunk(text) == []


@pytest.mark.parametrize(("max_tokens", "overlap"), [(7, 1), (255, 1), (128, -1)])
def test_settings_are_checked(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="max_tokens|overlap_sentences"):
        ChunkSettings(max_tokens=max_tokens, overlap_sentences=overlap)


_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyzAÄé0123456789-’,", min_size=1, max_size=12)
_sentence = st.lists(_word, min_size=1, max_size=40).map(lambda words: " ".join(words) + ".")
_text = st.lists(st.tuples(_sentence, st.sampled_from([" ", "  ", "\n", "\n\n", " \t"])), max_size=15).map(
    lambda parts: "".join(s + sep for s, sep in parts)
)


@given(_text, st.integers(min_value=8, max_value=40), st.integers(min_value=0, max_value=3))
def test_offset_invariant_and_limit_hold_for_any_text(text: str, max_tokens: int, overlap: int) -> None:
    chunks = chunk(text, max_tokens=max_tokens, overlap=overlap)
    assert_chunk_invariants(text, chunks, max_tokens)
    assert (chunks == []) == (text.strip() == "")
