"""A bounded fuzz run of the two entry points for untrusted input: the source readers and the
question path. Only a RegionQAError (a one-line message with its exit code) or a valid result may
come out. Inputs that once crashed are kept as @example regression cases.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import Dirs
from regionqa.errors import RegionQAError
from regionqa.models import Result
from regionqa.sources import SUPPORTED_SUFFIXES, read_file, source_identity

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
_html = st.lists(
    st.sampled_from(
        ["<div>", "</div>", "<p>", "</p>", "<script>", "</script>", "<!--", "-->", "<br>", "&amp;", "&#0;", "<b>", "text", " ", "\n"]
    ),
    max_size=60,
).map("".join)
_jsonl = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"id": st.one_of(st.text(max_size=5), st.integers(), st.none()), "text": st.one_of(_text, st.integers())}
        ).map(json.dumps),
        st.builds(
            json.dumps,
            st.recursive(
                st.none() | st.booleans() | st.floats() | st.text(max_size=5),
                lambda inner: st.lists(inner) | st.dictionaries(st.text(max_size=3), inner),
                max_leaves=8,
            ),
        ),
        _text,
    ),
    max_size=6,
).map("\n".join)
_bytes = st.one_of(
    st.binary(max_size=600),
    _text.map(lambda t: t.encode("utf-8")),
    _text.map(lambda t: t.encode("utf-16")),
    _text.map(lambda t: t.encode("latin-1", "replace")),
    _html.map(lambda t: t.encode("utf-8")),
    _jsonl.map(lambda t: t.encode("utf-8")),
)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(SUPPORTED_SUFFIXES)), _bytes)
@example(".txt", b"\xff\xfe\x00\xd8")  # UTF-16 with a lone surrogate
@example(".jsonl", b'{"id": "[/b]", "text": "x"}')
@example(".html", b"<div>" * 5000)
def test_source_readers_only_raise_regionqa_errors(suffix: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(data)
        try:
            sources = read_file(path, path.name)
        except RegionQAError as error:
            assert path.name in str(error) and "\n" not in str(error)
            return
    assert sources
    for source in sources:
        assert source.name.startswith(path.name) and source.text.strip()
        assert source.content_hash == source_identity(source.text, source.units, source.meta)


@pytest.fixture(scope="module")
def engine(article_index: Dirs):
    from regionqa import engine as engine_mod
    from regionqa.config import Settings

    opened = engine_mod.open_engine(Settings(corpus_dir=article_index.corpus_dir, index_dir=article_index.index_dir))
    yield opened
    opened.close()


_words = st.sampled_from(
    [
        "Who",
        "What",
        "How much",
        "President",
        "Kazakhstan",
        "Alat",
        "port",
        "cargo",
        "million",
        "tons",
        "?",
        "the",
        "1.5",
        "2024",
        "%",
        "$",
        "NEAR",
        "AND",
        '"',
        "*",
        "(",
        ")",
    ]
)
_question = st.one_of(st.text(max_size=200), st.lists(st.one_of(_words, st.text(max_size=4)), max_size=25).map(" ".join))


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(_question, st.integers(min_value=-3, max_value=120))
@example('"', 5)
@example("NEAR(", 5)
@example("\x00", 1)
def test_the_question_path_only_raises_regionqa_errors(engine, article_index: Dirs, question: str, top_k: int) -> None:
    try:
        result = engine.ask(question, top_k)
    except RegionQAError as error:
        assert "\n" not in str(error)
        return
    assert isinstance(result, Result)
    assert 1 <= top_k <= 100 and len(result.passages) <= top_k
    assert result.answer is not None or result.message
    for hit in result.passages:
        text = article_index.source_text(hit.chunk.source)
        assert text[hit.chunk.start : hit.chunk.end] == hit.chunk.text
    if result.answer is not None:
        text = article_index.source_text(result.answer.source)
        assert text[result.answer.start : result.answer.end] == result.answer.text
