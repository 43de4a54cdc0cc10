"""The span reader on the query path: its windows and spans, the snapping to typed candidates, its
integrity check (hash by stamp at `ask`, in full at `doctor`), and the setting that switches it off."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from conftest import SMALL_NAME, SMALL_QUESTION, SMALL_TEXT, assert_one_line_error
from regionqa.answer.candidates import Candidate
from regionqa.answer.combine import _snapped
from regionqa.answer.reader import MODEL_FILE, READER_FOLDER, TOKENIZER_FILE, Passage, Reader, ReaderSpan, load_reader
from regionqa.config import READER_DIR_ENV, READER_ENV
from regionqa.integrity import READER_FILES
from regionqa.models import Span


@pytest.fixture(scope="session")
def reader():
    return load_reader()


def test_every_span_lies_in_its_passage_and_scores_as_the_reader_scores_it(reader) -> None:
    passage = Passage(SMALL_NAME, 100, SMALL_TEXT)
    reading = reader.read(SMALL_QUESTION, [passage])
    spans = reading.best_spans(5)
    assert len(spans) == 5 and spans == sorted(spans, key=lambda s: -s.score)
    for span in spans:
        assert 100 <= span.start < span.end <= 100 + len(SMALL_TEXT)
        assert reading.span_score(span.source, span.start, span.end) == pytest.approx(span.score)
    assert reading.span_score("another source", spans[0].start, spans[0].end) is None


def test_a_long_passage_is_read_in_overlapping_windows_and_a_cut_span_has_no_score(reader) -> None:
    text = " ".join(f"Sentence {i} says that the port of Zarvonsk moved {i} million tons." for i in range(60))
    reading = reader.read(SMALL_QUESTION, [Passage("long.txt", 0, text)])
    assert len(reading.windows) > 2
    covered = [(int(w.offsets[w.offsets[:, 0] >= 0][0, 0]), int(w.offsets[:, 1].max())) for w in reading.windows]
    assert covered[0][0] == 0 and covered[-1][1] == len(text)
    assert all(later[0] < earlier[1] for earlier, later in zip(covered, covered[1:]))  # the stride overlaps them
    assert reading.span_score("long.txt", 0, len(text)) is None  # no window holds the whole text


def test_passages_of_several_sources_are_read_and_each_window_scores_as_it_does_alone(reader) -> None:
    short = Passage("b.txt", 7, "Tea is grown in Lankaran.")
    passages = [Passage("a.txt", 0, SMALL_TEXT), short]
    reading = reader.read(SMALL_QUESTION, passages)
    assert {w.source for w in reading.windows} == {"a.txt", "b.txt"}
    assert reader.read(SMALL_QUESTION, []).windows == []
    # The int8 reader scales its activations per call: read beside a longer passage (padded into one
    # batch, as it once was), the short one's logits moved; read alone or with others, they are the same.
    alone = reader.read(SMALL_QUESTION, [short]).windows[0]
    beside = next(w for w in reading.windows if w.source == "b.txt")
    assert alone.start_logits.tolist() == beside.start_logits.tolist()
    assert alone.end_logits.tolist() == beside.end_logits.tolist()


def test_the_time_spent_reading_is_counted_per_thread(reader) -> None:
    passages = [Passage(SMALL_NAME, 0, SMALL_TEXT)]
    before = reader.seconds
    elsewhere = threading.Thread(target=reader.read, args=(SMALL_QUESTION, passages))  # another request of a server
    elsewhere.start()
    elsewhere.join()
    assert reader.seconds == before  # not this thread's reading: ask's "read" timing stays its own
    reader.read(SMALL_QUESTION, passages)
    assert reader.seconds > before


def test_windows_read_side_by_side_keep_their_order_and_logits() -> None:
    text = " ".join(f"Sentence {i} says that the port of Zarvonsk moved {i} million tons." for i in range(40))
    passages = [Passage("long.txt", 0, text), Passage("a.txt", 0, SMALL_TEXT)]
    files = (READER_FOLDER / MODEL_FILE, READER_FOLDER / TOKENIZER_FILE)
    side_by_side, one_by_one = Reader(*files, threads=2), Reader(*files, threads=1)  # as on two cores and on one
    assert side_by_side._pool is not None and one_by_one._pool is None
    together, alone = side_by_side.read(SMALL_QUESTION, passages), one_by_one.read(SMALL_QUESTION, passages)
    assert len(together.windows) > 2 and [w.source for w in together.windows] == [w.source for w in alone.windows]
    for pooled, single in zip(together.windows, alone.windows):
        assert pooled.offsets.tolist() == single.offsets.tolist()
        assert pooled.start_logits.tolist() == single.start_logits.tolist()
        assert pooled.end_logits.tolist() == single.end_logits.tolist()


def _candidate(start: int, end: int, label: str) -> Candidate:
    return Candidate("s.txt", start, end, "x" * (end - start), label, Span(0, 100, "", "SENT"))


def test_a_reader_span_snaps_to_the_entity_or_figure_it_overlaps() -> None:
    money = _candidate(10, 22, "MONEY")  # "$4.4 billion"
    phrase = _candidate(0, 30, "NP")
    candidates = [phrase, money]
    assert _snapped(candidates, ReaderSpan("s.txt", 11, 14, 1.0)) is money  # "4.4" sits inside it
    assert _snapped(candidates, ReaderSpan("s.txt", 8, 22, 1.0)) is money  # covers all of it
    assert _snapped(candidates, ReaderSpan("s.txt", 0, 30, 1.0)) is phrase  # the same bounds
    assert _snapped(candidates, ReaderSpan("s.txt", 2, 9, 1.0)) is None  # only the phrase: a span of its own
    assert _snapped(candidates, ReaderSpan("other.txt", 11, 14, 1.0)) is None


def test_ask_times_the_reader_within_the_answer_step(article_env) -> None:
    from regionqa import open_engine

    with open_engine() as engine:
        result = engine.ask("How much cargo can the Alat port handle now?")
    assert result.answer is not None and 0 < result.timings["read"] <= result.timings["answer"]


def test_first_questions_asked_at_once_load_the_reader_once_in_a_thread_of_its_own(article_env, monkeypatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from regionqa import engine as engine_mod
    from regionqa import open_engine

    question = "How much cargo can the Alat port handle now?"
    with open_engine() as alone:
        expected = alone.ask(question).answer  # the same question asked by one caller
    loaded_in = []
    real_load = engine_mod._load_reader
    monkeypatch.setattr(
        engine_mod, "_load_reader", lambda settings: loaded_in.append(threading.current_thread().name) or real_load(settings)
    )
    with open_engine() as engine, ThreadPoolExecutor(3) as askers:
        results = list(askers.map(engine.ask, [question] * 3))
    assert len(loaded_in) == 1 and loaded_in[0].startswith("regionqa-load")  # not in an asker's thread
    assert expected is not None and expected.text
    assert all((r.answer.text, r.answer.score) == (expected.text, expected.score) for r in results)


def test_the_next_generations_engine_shares_the_models_loaded_or_still_loading(article_env) -> None:
    from regionqa import open_engine
    from regionqa.engine import Engine

    with open_engine() as first:
        first.start_loading_reader()  # in flight when the next generation's engine opens (as after a rebuild)
        with Engine(first.settings, models_of=first) as second:
            assert second.reader is first.reader and second.encoder is first.encoder


def test_a_model_that_failed_to_load_is_loaded_again_by_the_next_caller() -> None:
    from regionqa.engine import _Model
    from regionqa.errors import ModelError

    calls = []

    def load() -> str:
        calls.append(threading.current_thread().name)
        if len(calls) == 1:
            raise ModelError("the reader file is damaged")
        return "reader"

    model = _Model(load)
    model.start()
    with pytest.raises(ModelError, match="damaged"):
        model.get()  # the loading thread's error, raised where the model is wanted
    assert model.get() == "reader" and model.get() == "reader" and len(calls) == 2
    assert calls[0].startswith("regionqa-load") and calls[1] == threading.current_thread().name


def test_a_wait_for_a_loading_model_that_is_interrupted_keeps_the_load() -> None:
    from regionqa.engine import _Model

    class Loading:  # a load in flight whose first wait is interrupted (Ctrl-C in a session)
        waits = 0

        def result(self):
            self.waits += 1
            if self.waits == 1:
                raise KeyboardInterrupt
            return "reader"

    model = _Model(lambda: pytest.fail("loaded a second time"), loading=Loading())
    with pytest.raises(KeyboardInterrupt):
        model.get()
    assert model.get() == "reader" and model.loading is None


def test_the_reader_can_be_switched_off_and_a_bad_setting_is_refused(cli, article_env, monkeypatch) -> None:
    from regionqa import Settings, open_engine

    monkeypatch.setenv(READER_ENV, "off")
    with open_engine(Settings.from_environment()) as engine:
        result = engine.ask("Who is the President of Azerbaijan?")
        assert engine.reader is None and "read" not in result.timings
        assert engine.loaded_reader is None and engine._reader.loading is None  # never loaded, nor started loading
    off = cli.json("ask", "Who is the President of Azerbaijan?")
    assert off["answer"]["text"] == result.answer.text  # the command answers as the typed answerer does
    monkeypatch.setenv(READER_ENV, "maybe")
    assert_one_line_error(cli("ask", "Who is the President of Azerbaijan?", exit_code=4), "REGIONQA_READER='maybe'", "on, off")


def _reader_copy(target: Path, flip: str | None = None) -> Path:
    target.mkdir()
    for name in READER_FILES:
        shutil.copyfile(READER_FOLDER / name, target / name)
    if flip:
        data = bytearray((target / flip).read_bytes())
        data[len(data) // 2] ^= 0x01
        (target / flip).write_bytes(bytes(data))
    return target


@pytest.mark.parametrize("changed", sorted(READER_FILES))
def test_a_changed_reader_file_is_refused_by_ask_and_by_doctor(cli, small_copy, tmp_path, monkeypatch, changed) -> None:
    monkeypatch.setenv(READER_DIR_ENV, str(_reader_copy(tmp_path / "reader", flip=changed)))
    assert_one_line_error(cli("ask", SMALL_QUESTION, exit_code=4), changed, "has sha256", "reinstall")
    checks = {c["name"]: c for c in json.loads(cli("doctor", "--json", exit_code=1).stdout)["checks"]}
    assert checks["span reader"]["status"] == "FAIL" and changed in checks["span reader"]["detail"]


def test_the_reader_is_hashed_once_then_checked_by_its_stamp(small_copy, tmp_path, monkeypatch) -> None:
    from regionqa import integrity

    folder = _reader_copy(tmp_path / "reader")
    stamps = tmp_path / "stamps.json"
    load_reader(folder, stamps)
    assert set(json.loads(stamps.read_text())) == set(READER_FILES)

    def no_hashing(path):
        raise AssertionError(f"{path} was hashed again")

    monkeypatch.setattr(integrity, "file_sha256", no_hashing)
    load_reader(folder, stamps)  # unchanged stamps: no hash
    os.utime(folder / "tokenizer.json", ns=(1, 1))  # a rewrite changes the stamp: hashed again
    with pytest.raises(AssertionError, match="tokenizer.json was hashed again"):
        load_reader(folder, stamps)


def test_a_question_longer_than_a_window_is_cut_not_fatal(reader) -> None:
    question = "How much cargo can the port handle " * 60 + "?"
    reading = reader.read(question, [Passage(SMALL_NAME, 0, SMALL_TEXT)])
    assert reading.windows and reading.best_spans(1)[0].end <= len(SMALL_TEXT)
