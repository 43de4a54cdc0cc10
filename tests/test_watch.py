"""`regionqa index watch`: a file dropped into the corpus folder is indexed and answered from, a bad one is
named and skipped, a deleted one is gone from the answers; Ctrl-C ends the command with exit code 130."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading

from conftest import REPO, SMALL_NAME, Dirs, assert_one_line_error
from regionqa import watch
from regionqa.config import Settings
from regionqa.engine import Engine

NEW_NAME = "velmora-observatory.txt"
NEW_TEXT = (
    "The Velmora Observatory is a fictional observatory on the slopes of Mount Arrand.\n"
    "It was founded in 2019 by the astronomer Ilse Varga, who still directs it.\n"
)
NEW_QUESTION = "Who founded the Velmora Observatory?"
WAIT_S = 180  # a generous bound on a shared machine; the latency itself is measured by benchmarks/bench_watch.py


def cited(engine: Engine, question: str) -> set[str]:
    result = engine.ask(question, top_k=10)
    return {hit.chunk.source for hit in result.passages} | ({result.answer.source} if result.answer else set())


class Watcher:
    """watch.watch in a thread, its events in a queue."""

    def __init__(self, settings: Settings) -> None:
        self.events: queue.Queue = queue.Queue()
        self.stop, self.ready = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, args=(settings,), daemon=True)
        self.thread.start()

    def _run(self, settings: Settings) -> None:
        try:
            for event in watch.watch(settings, stop_event=self.stop, on_ready=self.ready.set):
                self.events.put(event)
        except BaseException as error:  # the test fails on it instead of hanging
            self.events.put(error)

    def next_build(self, wanted) -> watch.WatchEvent:
        """The first event that `wanted` accepts (a burst may be split into more than one build)."""
        while True:
            event = self.events.get(timeout=WAIT_S)
            if isinstance(event, BaseException):
                raise event
            if wanted(event):
                return event


def test_a_dropped_file_is_answered_a_bad_one_named_and_a_deleted_one_gone(small_copy: Dirs) -> None:
    settings = Settings.from_environment()
    watcher = Watcher(settings)
    try:
        catch_up = watcher.next_build(lambda e: True)
        assert catch_up.changed == [] and catch_up.report.unchanged == [SMALL_NAME] and catch_up.report.chunks_embedded == 0
        assert watcher.ready.wait(WAIT_S)

        (small_copy.corpus_dir / NEW_NAME).write_text(NEW_TEXT, encoding="utf-8")
        added = watcher.next_build(lambda e: e.report and NEW_NAME in e.report.added)
        assert NEW_NAME in added.changed and added.report.unchanged == [SMALL_NAME]
        assert 0 < added.report.chunks_embedded < added.report.chunks_total, "only the new file is embedded"
        with Engine(settings) as engine:
            result = engine.ask(NEW_QUESTION)
        assert result.passages[0].chunk.source == NEW_NAME, "the new file holds the best passage"
        assert (
            small_copy.source_text(NEW_NAME)[result.passages[0].chunk.start : result.passages[0].chunk.end] == result.passages[0].chunk.text
        )
        if result.answer is not None:
            assert result.answer.source == NEW_NAME

        (small_copy.corpus_dir / "broken.pdf").write_bytes(b"%PDF-1.7 cut short")
        bad = watcher.next_build(lambda e: e.report and any("broken.pdf" in line for line in e.report.errors))
        assert "broken.pdf" in bad.changed and set(bad.report.unchanged) == {SMALL_NAME, NEW_NAME}, "the others stay indexed"

        (small_copy.corpus_dir / NEW_NAME).unlink()
        removed = watcher.next_build(lambda e: e.report and NEW_NAME in e.report.removed)
        assert NEW_NAME in removed.changed
        with Engine(settings) as engine:
            assert NEW_NAME not in cited(engine, NEW_QUESTION)
            assert SMALL_NAME in cited(engine, "What is the annual cargo capacity of the Zarvonsk Maritime Gateway?")

        (small_copy.corpus_dir / SMALL_NAME).unlink()
        (small_copy.corpus_dir / "broken.pdf").unlink()
        empty = watcher.next_build(lambda e: e.error is not None)
        assert "no readable source" in empty.error and "\n" not in empty.error, "an empty corpus is one line; the watch goes on"
        (small_copy.corpus_dir / NEW_NAME).write_text(NEW_TEXT, encoding="utf-8")
        back = watcher.next_build(lambda e: e.report and NEW_NAME in e.report.added)
        assert back.report.removed == [SMALL_NAME]
    finally:
        watcher.stop.set()
        watcher.thread.join(timeout=30)
    assert not watcher.thread.is_alive(), "the watch ends when asked to"


def test_hidden_files_other_suffixes_and_the_index_folder_are_ignored(tmp_path) -> None:
    corpus = tmp_path / "corpus"
    keep = watch.corpus_filter(corpus, corpus / "index")
    from watchfiles import Change

    assert keep(Change.added, str(corpus / "notes.txt")) and keep(Change.deleted, str(corpus / "sub" / "report.PDF"))
    for ignored in (".notes.txt.part", "clip.mp4", "notes.txt.swp", "~$memo.docx", "index/gen-1/meta.sqlite"):
        assert not keep(Change.added, str(corpus / ignored)), ignored


def test_ctrl_c_ends_the_command_with_130(small_copy: Dirs) -> None:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-c", "import sys; sys.argv[0] = 'regionqa'; from regionqa.cli import app; app()", "index", "watch"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment, text=True)
    try:
        lines = []
        for line in process.stderr:
            lines.append(line)
            if "Ctrl-C to stop" in line:
                break
        assert lines and "Ctrl-C to stop" in lines[-1], "".join(lines)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130
        rest = process.stderr.read()
    finally:
        process.kill()
    assert rest.startswith("stopped watching") and rest.count("\n") == 1 and "Traceback" not in rest, rest
    assert process.stdout.read() == "", "reports go to stderr unless --json"


def test_watching_a_folder_that_does_not_exist_is_a_one_line_error(cli, small_copy: Dirs) -> None:
    missing = small_copy.corpus_dir.parent / "missing"
    assert_one_line_error(cli("index", "watch", str(missing), exit_code=2), str(missing), "does not exist")
    a_file = small_copy.corpus_dir / SMALL_NAME
    assert_one_line_error(cli("index", "watch", str(a_file), exit_code=2), str(a_file), "is a file, not a folder")


def test_a_failed_rebuild_is_a_json_line_too_with_json(capsys) -> None:
    from regionqa import render
    from regionqa.cli_index import _print_watch_event

    _print_watch_event(watch.WatchEvent(["notes.txt"], error="no readable source in corpus"), render.stderr(), True)
    out = capsys.readouterr().out
    assert [json.loads(line) for line in out.splitlines()] == [{"error": "no readable source in corpus", "changed": ["notes.txt"]}]
