"""Fault injection: builds killed with SIGKILL at named points, two builds at once, readers during builds.

The builds run as the real `regionqa` command in a subprocess; through tests/fault_launcher.py,
`<point>` makes the build kill itself at that step (see batches.reached), and
`<point>:stop` makes it stop itself (SIGSTOP) there, so that a test can act while it holds the lock.
After a kill the previous index must answer exactly as before, and the next build must finish
the work and remove what the killed one left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import ARTICLE_NAME, CLI, Dirs

PORT_NAME = "zarvonsk-port.txt"
PORT_TEXT = (
    "The Zarvonsk Maritime Gateway is a fictional deep-water port on the eastern shore of Lake Quellmar.\n"
    "Its annual cargo capacity reached 42 million tons in 2031 after the third berth opened.\n"
)
PORT_QUESTION = "What is the annual cargo capacity of the Zarvonsk Maritime Gateway?"
QUESTIONS = ["Who is the President of Kazakhstan?", PORT_QUESTION]
# The points of a build, in order; all but "published" come before the switch of CURRENT.
BEFORE_SWITCH = ["analysed", "embedded", "committed", "vectors", "manifest"]


def regionqa(*args: str, fault: str | None = None, timeout: float = 600) -> subprocess.Popen:
    """Start the real console script (data folders from the test's environment)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if fault:
        command = [sys.executable, str(Path(__file__).with_name("fault_launcher.py")), fault]
    else:
        command = [str(Path(sys.executable).with_name("regionqa"))]
    return subprocess.Popen([*command, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_killed(*args: str, fault: str) -> None:
    process = regionqa(*args, fault=fault)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == -signal.SIGKILL, f"the build was not killed at {fault}: exit {process.returncode}\n{stderr}"


def answers(cli: CLI) -> list[str]:
    """The exact `ask --json` output for each question: what "answers exactly as before" compares."""
    return [cli("ask", "--json", question).stdout for question in QUESTIONS]


def generations(dirs: Dirs) -> set[str]:
    return {p.name for p in dirs.index_dir.glob("gen-*")}


def current(dirs: Dirs) -> str:
    return (dirs.index_dir / "CURRENT").read_text(encoding="utf-8").strip()


def cites(output: str, source: str) -> bool:
    return any(p["source"] == source for p in json.loads(output)["passages"])


@pytest.mark.parametrize("point", BEFORE_SWITCH)  # a build in a subprocess per point: ~7 s each
def test_a_build_killed_before_the_switch_leaves_the_previous_index(cli: CLI, index_copy: Dirs, point: str) -> None:
    (index_copy.corpus_dir / PORT_NAME).write_text(PORT_TEXT, encoding="utf-8")
    before, status, listing = answers(cli), cli.json("index", "status"), cli("entities", "--json").stdout
    folders, answering = generations(index_copy), current(index_copy)

    run_killed("index", "build", fault=point)

    # The previous index answers exactly as before; the killed build's folder is left over.
    assert current(index_copy) == answering
    assert answers(cli) == before and cli("entities", "--json").stdout == listing
    assert cli.json("index", "status") == status  # no problem; the new source is still "added"
    assert status["problem"] is None and status["stale"]["added"] == [PORT_NAME]
    leftovers = generations(index_copy) - folders
    assert leftovers, "a killed build leaves its unfinished generation (cleaned by the next build)"

    # The next build finishes the work and removes the leftovers.
    report = cli.json("index", "build")
    assert report["added"] == [PORT_NAME] and report["unchanged"] == [ARTICLE_NAME]
    assert generations(index_copy) == {answering, report["generation"]}
    after = answers(cli)
    assert after[0] == before[0] or not cites(after[0], PORT_NAME)
    assert cites(after[1], PORT_NAME)
    assert cli.json("index", "status")["stale"] == {"added": [], "changed": [], "removed": []}


def test_a_build_killed_after_the_switch_leaves_the_new_index_whole(cli: CLI, index_copy: Dirs) -> None:
    (index_copy.corpus_dir / PORT_NAME).write_text(PORT_TEXT, encoding="utf-8")
    answering = current(index_copy)
    run_killed("index", "build", fault="published")
    assert current(index_copy) != answering
    assert cites(answers(cli)[1], PORT_NAME)
    status = cli.json("index", "status")
    assert status["problem"] is None and status["stale"] == {"added": [], "changed": [], "removed": []}
    assert cli.json("index", "build")["chunks_embedded"] == 0


def test_index_add_and_remove_killed_mid_build(cli: CLI, index_copy: Dirs, tmp_path: Path) -> None:
    incoming = tmp_path / "incoming" / PORT_NAME
    incoming.parent.mkdir()
    incoming.write_text(PORT_TEXT, encoding="utf-8")
    before = answers(cli)
    # add: the file is copied into the corpus, the build dies; the index is untouched, the file waits.
    run_killed("index", "add", str(incoming), fault="embedded")
    assert answers(cli) == before
    assert cli.json("index", "status")["stale"]["added"] == [PORT_NAME]
    assert cli.json("index", "build")["added"] == [PORT_NAME]
    with_port = answers(cli)
    # remove: the file is deleted, the build dies; the index still answers with it until the next build.
    run_killed("index", "remove", PORT_NAME, fault="committed")
    assert not (index_copy.corpus_dir / PORT_NAME).exists()
    assert answers(cli) == with_port
    assert cli.json("index", "status")["stale"]["removed"] == [PORT_NAME]
    assert cli.json("index", "build")["removed"] == [PORT_NAME]
    assert not cites(answers(cli)[1], PORT_NAME)


def test_leftovers_of_a_killed_build_are_removed_by_a_build_with_nothing_to_do(cli: CLI, index_copy: Dirs) -> None:
    answering = current(index_copy)
    # What killed builds leave: a generation without a manifest and a half-written CURRENT.
    unfinished = index_copy.index_dir / "gen-20000101T000000-dead00"
    unfinished.mkdir()
    (unfinished / "meta.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    (index_copy.index_dir / ".CURRENT.abc123").write_text("gen-20000101T000000-dead00\n", encoding="utf-8")
    before = answers(cli)
    assert cli.json("index", "status")["problem"] is None
    report = cli.json("index", "build")
    assert report["generation"] == answering and report["chunks_embedded"] == 0
    assert not unfinished.exists()
    assert answers(cli) == before


def _stopped(process: subprocess.Popen) -> None:
    """Wait until the child stops itself (SIGSTOP at its fault point) or dies."""
    _, status = os.waitpid(process.pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status), f"the build ended instead of stopping: {status}\n{process.stderr.read() if process.stderr else ''}"


def test_a_second_build_fails_fast_and_a_killed_build_leaves_the_previous_index(cli: CLI, index_copy: Dirs) -> None:
    """One build, stopped where its new generation is fully written but not yet switched to: a
    second build is refused at once, readers see the previous index; then it is killed there."""
    (index_copy.corpus_dir / PORT_NAME).write_text(PORT_TEXT, encoding="utf-8")
    before, status, answering = answers(cli), cli.json("index", "status"), current(index_copy)
    first = regionqa("index", "build", fault="manifest:stop")
    try:
        _stopped(first)
        second = cli("index", "build", exit_code=5)
        assert second.stderr.startswith("error: another build is running") and second.stderr.count("\n") == 1
        assert "try again" in second.stderr
        refused = cli("index", "remove", ARTICLE_NAME, exit_code=5)
        assert "another build is running" in refused.stderr
        assert (index_copy.corpus_dir / ARTICLE_NAME).exists(), "a refused remove deletes nothing"
        extra = index_copy.corpus_dir.parent / "incoming" / "extra.txt"
        extra.parent.mkdir()
        extra.write_text("An extra note about the Misla bridge.\n", encoding="utf-8")
        refused = cli("index", "add", str(extra), exit_code=5)
        assert "another build is running" in refused.stderr
        assert not (index_copy.corpus_dir / "extra.txt").exists(), "a refused add copies nothing into the corpus"
        # Readers take no lock: they see the previous index, whole.
        assert answers(cli) == before and cli.json("index", "status") == status
    finally:
        first.kill()  # SIGKILL, at the "manifest" point
        first.communicate(timeout=60)
    assert first.returncode == -signal.SIGKILL
    leftovers = generations(index_copy) - {answering}
    assert len(leftovers) == 1 and (index_copy.index_dir / leftovers.pop() / "manifest.json").exists()
    assert current(index_copy) == answering
    assert answers(cli) == before and cli.json("index", "status") == status
    # The lock died with the build; the next build finishes the work and removes the leftover.
    report = cli.json("index", "build")
    assert report["added"] == [PORT_NAME]
    assert generations(index_copy) == {answering, report["generation"]}
    assert cites(answers(cli)[1], PORT_NAME)


def test_an_interrupted_build_exits_130_and_leaves_the_previous_index(cli: CLI, index_copy: Dirs) -> None:
    """Ctrl-C (SIGINT) in the middle of a build: one line, exit 130, the index as it was, no leftovers."""
    (index_copy.corpus_dir / PORT_NAME).write_text(PORT_TEXT, encoding="utf-8")
    before, folders, answering = answers(cli), generations(index_copy), current(index_copy)
    build = regionqa("index", "build", fault="analysed:stop")
    try:
        _stopped(build)
        build.send_signal(signal.SIGINT)  # delivered when it continues
    finally:
        build.send_signal(signal.SIGCONT)
        _, stderr = build.communicate(timeout=120)
    assert build.returncode == 130, stderr
    assert stderr == "interrupted; the previous index is unchanged\n"
    assert current(index_copy) == answering and generations(index_copy) == folders
    assert answers(cli) == before
    assert cli.json("index", "build")["added"] == [PORT_NAME]  # the lock was released


def test_the_first_of_two_builds_completes(cli: CLI, index_copy: Dirs) -> None:
    (index_copy.corpus_dir / PORT_NAME).write_text(PORT_TEXT, encoding="utf-8")
    first = regionqa("index", "build", "--json", fault="analysed:stop")
    try:
        _stopped(first)
        cli("index", "build", exit_code=5)
    finally:
        first.send_signal(signal.SIGCONT)
        stdout, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    assert json.loads(stdout)["added"] == [PORT_NAME]
    assert cites(answers(cli)[1], PORT_NAME)
    assert cli.json("index", "build")["chunks_embedded"] == 0  # and released the lock


@pytest.fixture
def settings(index_copy: Dirs):
    from regionqa.config import Settings

    return Settings(corpus_dir=index_copy.corpus_dir, index_dir=index_copy.index_dir)


@pytest.fixture
def query_encoder(index_copy: Dirs):
    from regionqa.onnx_encoder import open_query_encoder

    return open_query_encoder(index_copy.index_dir)


def _result(engine, question: str) -> str:
    from regionqa import render

    return render.dumps(render.result_json(engine.ask(question)))


def test_readers_see_only_whole_generations_while_builds_switch(index_copy: Dirs, settings, query_encoder) -> None:
    """A reader asking in a loop while builds add and remove a source gets, every time, the answer
    of one of the two corpus states, never an error and never a mix of two generations."""
    from regionqa import engine as engine_mod
    from regionqa import indexing

    port = index_copy.corpus_dir / PORT_NAME

    def ask_once() -> tuple[str, list[str]]:
        engine = engine_mod.Engine(settings, encoder=query_encoder)
        try:
            return engine.store.generation.name, [_result(engine, q) for q in QUESTIONS]
        finally:
            engine.close()

    without = ask_once()[1]
    port.write_text(PORT_TEXT, encoding="utf-8")
    indexing.build(settings)
    with_port = ask_once()[1]
    assert without != with_port
    seen: list[str] = []
    problems: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                generation, results = ask_once()
                assert results in (without, with_port), results
                seen.append(generation)
            except BaseException as error:  # noqa: BLE001 - every failure is reported below
                problems.append(error)
                return

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for round in range(4):
            if round % 2 == 0:
                port.unlink()
            else:
                port.write_text(PORT_TEXT, encoding="utf-8")
            indexing.build(settings)
    finally:
        stop.set()
        thread.join(timeout=120)
    assert not problems, problems[0]
    assert len(seen) >= 4 and len(set(seen)) >= 2, seen


def test_a_reader_finishes_on_a_generation_that_builds_deleted(index_copy: Dirs, settings, query_encoder) -> None:
    """Builds keep the answering generation and the one before it; a reader that opened generation
    N keeps answering from it after N+2 is published and N's folder is gone."""
    from regionqa import engine as engine_mod
    from regionqa import indexing

    engine = engine_mod.Engine(settings, encoder=query_encoder)
    try:
        opened = engine.store.generation
        before = [_result(engine, q) for q in QUESTIONS]
        entities = engine_mod.list_entities(engine)
        port = index_copy.corpus_dir / PORT_NAME
        port.write_text(PORT_TEXT, encoding="utf-8")
        indexing.build(settings)  # N+1: N is kept as the previous generation
        assert opened.is_dir()
        port.unlink()
        indexing.build(settings)  # N+2: N is deleted
        assert not opened.exists()
        assert [_result(engine, q) for q in QUESTIONS] == before
        assert engine_mod.list_entities(engine) == entities
    finally:
        engine.close()


def test_a_reader_that_picked_a_deleted_generation_opens_the_current_one(index_copy: Dirs, settings, monkeypatch) -> None:
    """The moment between reading CURRENT and opening the files: if builds deleted the generation
    meanwhile, open_store opens the one CURRENT names now instead of failing."""
    from regionqa import indexing
    from regionqa import store as store_mod

    real = store_mod.current_generation
    stale = index_copy.index_dir / "gen-20000101T000000-old000"
    shutil.copytree(real(index_copy.index_dir), stale)
    calls = []

    def first_the_stale_one(index_dir: Path):
        calls.append(index_dir)
        if len(calls) == 1:
            shutil.rmtree(stale)  # deleted by a build right after this reader read CURRENT
            return stale
        return real(index_dir)

    monkeypatch.setattr(store_mod.reader, "current_generation", first_the_stale_one)
    opened = store_mod.open_store(index_copy.index_dir, indexing.expected_manifest(settings))
    try:
        assert opened.generation == real(index_copy.index_dir)
    finally:
        opened.close()


def test_an_encoder_error_in_the_worker_thread_fails_the_build_and_keeps_the_index(tmp_path: Path) -> None:
    """The build embeds in a worker thread: its error must reach the build, stop the worker and
    leave the previous index answering, with nothing half-written left behind."""
    from dataclasses import replace

    from fakes import fake_encode, fake_models
    from regionqa import indexing
    from regionqa.config import Settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for number in range(150):
        (corpus / f"doc{number:03}.txt").write_text(
            f"Port {number} handles {number} million tons of cargo a year.\n" * 40, encoding="utf-8"
        )
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    before = indexing.build(settings, models=fake_models())
    for path in corpus.glob("*.txt"):
        path.write_text(path.read_text(encoding="utf-8") + "It was expanded.\n", encoding="utf-8")
    calls: list[int] = []

    def failing(texts: list[str]):
        calls.append(len(texts))
        if len(calls) == 5:  # in the second batch, while the main thread analyses the third
            raise RuntimeError("the encoder failed")
        return fake_encode(texts)

    with pytest.raises(RuntimeError, match="the encoder failed"):
        indexing.build(settings, models=replace(fake_models(), encode=failing))
    assert len(calls) == 5, "the worker stopped at the failing step"
    assert not [t for t in threading.enumerate() if t.name.startswith("regionqa-embed")]
    assert (settings.index_dir / "CURRENT").read_text(encoding="utf-8").strip() == before.generation
    assert {p.name for p in settings.index_dir.glob("gen-*")} == {before.generation}
    assert indexing.build(settings, models=fake_models()).changed == sorted(p.name for p in corpus.glob("*.txt"))
