"""The live index (live.LiveEngine, and `serve` through it): a build's new generation answers the next
request, a request in flight finishes on its own generation even when a later build deletes it, and
a generation that cannot be opened leaves the current one answering. Correctness only; the load
test with figures is benchmarks/bench_live_reload.py."""

from __future__ import annotations

import sqlite3

import pytest

from conftest import SMALL_NAME, SMALL_QUESTION, Dirs

NEW_NAME = "veltrane-bridge.txt"
NEW_TEXT = (
    "The Veltrane Bridge is a fictional road bridge across the Quellmar Strait.\n"
    "The Veltrane Bridge is 7.4 kilometres long and was opened in 2029.\n"
)
NEW_QUESTION = "How long is the Veltrane Bridge?"
OTHER_NAME = "osric-pellam.txt"
OTHER_TEXT = "Osric Pellam is a fictional engineer who designed the Quellmar lighthouse in 2027.\n"


def _settings(dirs: Dirs):
    from regionqa.config import Settings

    return Settings(corpus_dir=dirs.corpus_dir, index_dir=dirs.index_dir)


def _add_and_build(dirs: Dirs, name: str, text: str) -> str:
    """Add a source and rebuild; the name of the new current generation."""
    from regionqa import indexing, store

    (dirs.corpus_dir / name).write_text(text, encoding="utf-8")
    report = indexing.build(_settings(dirs))
    assert report.added == [name]
    return store.current_generation(dirs.index_dir).name


def test_the_next_question_after_a_build_is_answered_from_the_new_generation(small_copy: Dirs) -> None:
    from regionqa.engine import Engine
    from regionqa.live import LiveEngine

    live = LiveEngine(_settings(small_copy))
    with live.use() as engine:
        before = engine.store.generation.name
        old_answer = engine.ask(NEW_QUESTION).answer
        assert old_answer is None or old_answer.source == SMALL_NAME
    assert live.generation == before
    opened_before = Engine(_settings(small_copy))
    after = _add_and_build(small_copy, NEW_NAME, NEW_TEXT)
    assert after != before
    late = LiveEngine(_settings(small_copy), opened_before)  # handed an engine older than CURRENT: switches at once
    with late.use() as engine:
        assert engine.store.generation.name == after
    late.close()
    with live.use() as engine:
        assert engine.store.generation.name == after == live.generation
        result = engine.ask(NEW_QUESTION)
    assert result.answer is not None and result.answer.source == NEW_NAME and "7.4" in result.answer.text
    assert live.switches == 1
    with live.use() as engine:  # CURRENT unchanged: no second switch
        assert engine.store.generation.name == after and engine.ask(SMALL_QUESTION).answer.source == SMALL_NAME
    assert live.switches == 1
    live.close()


def test_a_request_in_flight_finishes_on_its_generation_even_when_a_build_deletes_it(small_copy: Dirs) -> None:
    from regionqa.errors import RegionQAError
    from regionqa.live import LiveEngine

    live = LiveEngine(_settings(small_copy))
    with live.use() as old:
        first = old.store.generation
        second = _add_and_build(small_copy, NEW_NAME, NEW_TEXT)
        with live.use() as middle:  # a request that starts now gets the new generation, while `old` is still lent
            assert middle.store.generation.name == second
        third = _add_and_build(small_copy, OTHER_NAME, OTHER_TEXT)  # deletes `first` (builds keep only the previous one)
        assert not first.exists()
        result = old.ask(SMALL_QUESTION)  # the borrowed engine still answers, from its own generation
        assert result.answer is not None and result.answer.source == SMALL_NAME
        assert old.ask(NEW_QUESTION).answer is None or old.ask(NEW_QUESTION).answer.source != NEW_NAME
    with pytest.raises(sqlite3.ProgrammingError):  # given back and superseded: closed
        old.store.db.execute("SELECT 1")
    with live.use() as engine:
        assert engine.store.generation.name == third and engine.ask(NEW_QUESTION).answer.source == NEW_NAME
    assert live.switches == 2
    live.close()
    with pytest.raises(RegionQAError, match="closed"):
        with live.use():
            pass


def test_a_generation_that_cannot_be_opened_leaves_the_current_one_answering(small_copy: Dirs) -> None:
    from regionqa.errors import IndexStateError
    from regionqa.live import LiveEngine

    notes: list[str] = []
    attempts: list[str] = []

    def broken(settings, previous):
        attempts.append("open")
        raise IndexStateError("the index file meta.sqlite is corrupt")

    live = LiveEngine(_settings(small_copy), notify=notes.append, open_engine=broken)
    before = live.generation
    _add_and_build(small_copy, NEW_NAME, NEW_TEXT)
    for _ in range(3):
        with live.use() as engine:
            assert engine.store.generation.name == before
            assert engine.ask(SMALL_QUESTION).answer.source == SMALL_NAME
    assert attempts == ["open"]  # not retried until CURRENT changes again
    assert len(notes) == 1 and "is corrupt" in notes[0] and f"still answering from {before}" in notes[0]
    live.close()


def test_serve_switches_between_requests_and_names_the_generation(small_copy: Dirs) -> None:
    from fastapi.testclient import TestClient

    from regionqa.server import GENERATION_HEADER, create_app

    with TestClient(create_app(_settings(small_copy)), base_url="http://127.0.0.1") as client:
        reply = client.post("/ask", json={"question": SMALL_QUESTION})
        before = reply.headers[GENERATION_HEADER]
        assert reply.status_code == 200 and client.get("/health").json()["generation"] == before
        after = _add_and_build(small_copy, NEW_NAME, NEW_TEXT)
        reply = client.post("/ask", json={"question": NEW_QUESTION})
        assert reply.status_code == 200 and reply.headers[GENERATION_HEADER] == after != before
        assert reply.json()["answer"]["source"] == NEW_NAME
        assert client.get("/health").json()["generation"] == after
        assert NEW_NAME in {source for row in client.get("/entities").json() for source in row["sources"]}
        assert client.get(f"/source/{NEW_NAME}").status_code == 200


def test_a_pdf_citation_opens_its_page(small_copy: Dirs) -> None:
    """A PDF's answer is cited by page ("p. 2"), and its source page has that page's anchor with the span marked."""
    import re

    from fastapi.testclient import TestClient

    from documents import make_pdf
    from regionqa import indexing
    from regionqa.server import create_app

    pages = [
        ["The Quellmar ferry report, first page.", "Nothing of note happened here."],
        ["The Quellmar ferry carried 3,100 passengers in 2030."],
    ]
    (small_copy.corpus_dir / "ferry.pdf").write_bytes(make_pdf(pages))
    indexing.build(_settings(small_copy))
    with TestClient(create_app(_settings(small_copy)), base_url="http://127.0.0.1") as client:
        answer = client.post("/ask", json={"question": "How many passengers did the Quellmar ferry carry in 2030?"}).json()["answer"]
        assert answer["source"] == "ferry.pdf" and answer["location"] == "p. 2"
        page = client.get("/source/ferry.pdf", params={"start": answer["start"], "end": answer["end"]}).text
    item = re.search(r'<li id="line-\d+"><span class="page" id="page-2">p. 2</span>(.*?)</li>', page, re.S)
    assert item and f'<mark class="cited" id="cited">{answer["text"]}</mark>' in item.group(1)
    assert 'id="page-1"' in page and 'id="page-3"' not in page
