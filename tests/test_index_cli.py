"""The index commands end to end, each on a private copy of the article index."""

from __future__ import annotations

import errno
import json
import sqlite3
from pathlib import Path

import pytest

from conftest import ARTICLE_NAME, CLI, Dirs

PORT_NAME = "zarvonsk-port.txt"
PORT_TEXT = (
    "The Zarvonsk Maritime Gateway is a fictional deep-water port on the eastern shore of Lake Quellmar.\n"
    "Its annual cargo capacity reached 42 million tons in 2031 after the third berth opened.\n"
    "The gateway is run by the Quellmar Harbour Authority under director Elvira Tamsk.\n"
)
PORT_QUESTION = "What is the annual cargo capacity of the Zarvonsk Maritime Gateway?"


@pytest.fixture
def port_file(tmp_path: Path) -> Path:
    """A small made-up source, outside the corpus folder."""
    path = tmp_path / "incoming" / PORT_NAME
    path.parent.mkdir()
    path.write_text(PORT_TEXT, encoding="utf-8")
    return path


def sources_of(data: dict) -> set[str]:
    """Every source an `ask --json` object cites."""
    cited = {p["source"] for p in data["passages"]} | {f["source"] for f in data["facts"]}
    if data["answer"]:
        cited.add(data["answer"]["source"])
    return cited


def test_second_build_embeds_nothing_and_full_build_embeds_everything(cli: CLI, index_copy: Dirs) -> None:
    before = (index_copy.index_dir / "CURRENT").read_text(encoding="utf-8")
    again = cli.json("index", "build")
    assert again["chunks_embedded"] == 0
    assert again["unchanged"] == [ARTICLE_NAME]
    assert again["added"] == again["changed"] == again["removed"] == []
    assert again["chunks_total"] > 0
    assert (index_copy.index_dir / "CURRENT").read_text(encoding="utf-8") == before, "nothing changed: same generation"
    full = cli.json("index", "build", "--full")
    assert full["chunks_embedded"] == full["chunks_total"] == again["chunks_total"]
    assert full["added"] == [ARTICLE_NAME]
    assert full["generation"] != again["generation"]
    assert cli.json("ask", PORT_QUESTION)["passages"]


def test_a_changed_source_is_re_embedded(cli: CLI, index_copy: Dirs) -> None:
    article = index_copy.corpus_dir / ARTICLE_NAME
    article.write_bytes(article.read_bytes() + b"\nA closing sentence was appended for this test.\n")
    report = cli.json("index", "build")
    assert report["changed"] == [ARTICLE_NAME] and report["chunks_embedded"] > 0
    passages = cli.json("ask", "Which closing sentence was appended for this test?")["passages"]
    assert any("appended for this test" in p["text"] for p in passages)


def test_add_then_ask_then_remove(cli: CLI, index_copy: Dirs, port_file: Path) -> None:
    before = cli.json("index", "status")
    added = cli.json("index", "add", str(port_file))
    assert added["copied"] == [PORT_NAME] and added["errors"] == []
    assert added["build"]["added"] == [PORT_NAME] and added["build"]["unchanged"] == [ARTICLE_NAME]
    assert 0 < added["build"]["chunks_embedded"] < added["build"]["chunks_total"], "only the new source is embedded"
    assert (index_copy.corpus_dir / PORT_NAME).read_text(encoding="utf-8") == PORT_TEXT

    data = cli.json("ask", PORT_QUESTION)
    assert PORT_NAME in {p["source"] for p in data["passages"]}
    text = index_copy.source_text(PORT_NAME)
    for passage in data["passages"]:
        assert index_copy.source_text(passage["source"])[passage["start"] : passage["end"]] == passage["text"]
    assert any(p["source"] == PORT_NAME and text[p["start"] : p["end"]] == p["text"] for p in data["passages"])

    facts = cli.json("facts", "--source", PORT_NAME)
    assert facts and {f["source"] for f in facts} == {PORT_NAME}
    assert any(f["value"] == 42_000_000 and f["unit"] == "t" for f in facts)
    entities = cli.json("entities", "--source", PORT_NAME)
    assert entities and all(row["sources"] == [PORT_NAME] for row in entities)
    assert all(PORT_NAME not in row["sources"] for row in cli.json("entities", "--source", ARTICLE_NAME))

    removed = cli.json("index", "remove", PORT_NAME)
    assert removed["removed"] == [PORT_NAME] and removed["chunks_embedded"] == 0
    assert not (index_copy.corpus_dir / PORT_NAME).exists()
    assert cli.json("entities", "--source", PORT_NAME) == []
    assert cli.json("facts", "--source", PORT_NAME) == []
    assert all(PORT_NAME not in row["sources"] for row in cli.json("entities"))
    assert all(f["source"] != PORT_NAME for f in cli.json("facts"))
    for question in (PORT_QUESTION, "Who is the director of the Quellmar Harbour Authority?"):
        data = cli.json("ask", "--top-k", "20", question)
        assert PORT_NAME not in sources_of(data)
    after = cli.json("index", "status")
    assert after["sources"] == before["sources"]
    assert after["manifest"]["chunks"] == before["manifest"]["chunks"]


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _database_full(*args, **kwargs):
    error = sqlite3.OperationalError("database or disk is full")
    error.sqlite_errorname = "SQLITE_FULL"  # as SQLite sets it
    raise error


def test_only_sqlite_errors_of_a_failed_write_count_as_one() -> None:
    from regionqa.store import is_write_failure

    def raised(name: str | None) -> sqlite3.OperationalError:
        error = sqlite3.OperationalError("x")
        error.sqlite_errorname = name
        return error

    assert all(is_write_failure(raised(name)) for name in ("SQLITE_FULL", "SQLITE_IOERR_WRITE", "SQLITE_READONLY"))
    assert not any(is_write_failure(raised(name)) for name in ("SQLITE_ERROR", "SQLITE_BUSY", None))  # a bug, a lock
    assert not is_write_failure(OSError(28, "No space left on device"))  # OSErrors are the build's own check


@pytest.mark.parametrize(
    ("method", "failure", "reason"),
    [("write_vectors", _disk_full, "No space left on device"), ("insert_source", _database_full, "database or disk is full")],
)
def test_a_build_that_cannot_write_is_one_line_and_the_index_keeps_answering(
    cli: CLI, index_copy: Dirs, port_file: Path, monkeypatch: pytest.MonkeyPatch, method: str, failure, reason: str
) -> None:
    from regionqa.store.database import IndexWriter

    pointer = (index_copy.index_dir / "CURRENT").read_text(encoding="utf-8")
    generations = sorted(p.name for p in index_copy.index_dir.glob("gen-*"))
    answered = cli.json("ask", PORT_QUESTION)
    with monkeypatch.context() as patch:
        patch.setattr(IndexWriter, method, failure)
        refused = cli("index", "add", str(port_file), exit_code=1)
    assert refused.stderr.startswith("error: cannot write the new index") and refused.stderr.count("\n") == 1, refused.stderr
    assert reason in refused.stderr and "the previous index is unchanged" in refused.stderr
    assert refused.stderr.rstrip().endswith("run: regionqa index build")
    assert (index_copy.index_dir / "CURRENT").read_text(encoding="utf-8") == pointer
    assert sorted(p.name for p in index_copy.index_dir.glob("gen-*")) == generations, "the unfinished generation is removed"
    assert cli.json("ask", PORT_QUESTION) == answered
    # The copied file stayed in the corpus: the build the message names indexes it.
    assert cli.json("index", "build")["added"] == [PORT_NAME]


def test_adding_the_same_file_twice_duplicates_nothing(cli: CLI, index_copy: Dirs, port_file: Path, tmp_path: Path) -> None:
    cli.json("index", "add", str(port_file))
    status = cli.json("index", "status")
    entities = cli.json("entities", "--source", PORT_NAME)
    facts = cli.json("facts", "--source", PORT_NAME)

    again = cli.json("index", "add", str(port_file))
    assert again["copied"] == [] and len(again["skipped"]) == 1 and PORT_NAME in again["skipped"][0]
    assert again["build"]["chunks_embedded"] == 0
    copy = tmp_path / "renamed.txt"
    copy.write_bytes(port_file.read_bytes())
    renamed = cli.json("index", "add", str(copy))
    assert renamed["copied"] == [] and "same text" in renamed["skipped"][0]
    assert not (index_copy.corpus_dir / "renamed.txt").exists()

    assert cli.json("index", "status")["sources"] == status["sources"]
    assert [s["name"] for s in status["sources"]] == [ARTICLE_NAME, PORT_NAME]
    assert cli.json("entities", "--source", PORT_NAME) == entities
    assert cli.json("facts", "--source", PORT_NAME) == facts
    passages = cli.json("ask", "--top-k", "10", PORT_QUESTION)["passages"]
    spans = [(p["source"], p["start"], p["end"]) for p in passages]
    assert len(spans) == len(set(spans))


def test_a_copy_dropped_into_the_corpus_folder_is_indexed_once_and_named(cli: CLI, index_copy: Dirs) -> None:
    """A copy that bypasses `index add` (saved straight into the folder): the build indexes the
    text once, under the first name, and says so in one line, in JSON and on the terminal."""
    (index_copy.corpus_dir / "copy-of-the-article.txt").write_bytes((index_copy.corpus_dir / ARTICLE_NAME).read_bytes())
    report = cli.json("index", "build")
    assert report["added"] == [] and report["chunks_embedded"] == 0
    assert report["duplicates"] == [f"copy-of-the-article.txt has the same text as {ARTICLE_NAME}; indexed once, as {ARTICLE_NAME}"]
    human = cli("index", "build")
    assert f"copy-of-the-article.txt has the same text as {ARTICLE_NAME}" in human.output
    assert [s["name"] for s in cli.json("index", "status")["sources"]] == [ARTICLE_NAME]


def test_adding_a_different_file_with_a_taken_name_is_refused(cli: CLI, index_copy: Dirs, tmp_path: Path) -> None:
    other = tmp_path / ARTICLE_NAME
    other.write_text("A different text with the same file name.", encoding="utf-8")
    result = cli("index", "add", str(other), exit_code=2)
    assert "already in the corpus" in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


@pytest.mark.parametrize(("name", "content"), [("empty.txt", b""), ("data.bin.txt", b"\x00\x01\x02binary"), ("notes.pdf", b"%PDF")])
def test_adding_an_unreadable_file_is_refused_with_its_name(cli: CLI, index_copy: Dirs, tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = cli("index", "add", str(path), exit_code=2)
    assert name in result.stderr and result.stderr.count("\n") == 1
    assert not (index_copy.corpus_dir / name).exists()


def test_removing_an_unknown_source_changes_nothing(cli: CLI, index_copy: Dirs) -> None:
    before = cli.json("index", "status")
    result = cli("index", "remove", "no-such-source.txt", exit_code=2)
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "no-such-source.txt" in result.stderr and "Traceback" not in result.output
    assert cli.json("index", "status") == before


def test_status_lists_sources_and_models(cli: CLI, article_env: Dirs) -> None:
    status = cli.json("index", "status")
    assert status["problem"] is None and status["generation"].startswith("gen-")
    assert [s["name"] for s in status["sources"]] == [ARTICLE_NAME]
    assert status["sources"][0]["chunks"] == status["manifest"]["chunks"] > 0
    assert status["stale"] == {"added": [], "changed": [], "removed": []}
    assert "all-MiniLM-L6-v2" in status["manifest"]["embedding_model"]
    assert status["manifest"]["dimension"] == 384
    human = cli("index", "status")
    assert ARTICLE_NAME in human.stdout and "up to date" in human.stdout


def test_status_reports_stale_sources_without_building(cli: CLI, index_copy: Dirs, port_file: Path) -> None:
    (index_copy.corpus_dir / PORT_NAME).write_bytes(port_file.read_bytes())
    article = index_copy.corpus_dir / ARTICLE_NAME
    article.write_bytes(article.read_bytes() + b"\nOne more line.\n")
    status = cli.json("index", "status")
    assert status["stale"] == {"added": [PORT_NAME], "changed": [ARTICLE_NAME], "removed": []}
    assert [s["name"] for s in status["sources"]] == [ARTICLE_NAME], "status must not build"
    assert "stale" in cli("index", "status").stdout
    article.unlink()
    assert cli.json("index", "status")["stale"]["removed"] == [ARTICLE_NAME]


def test_status_with_a_missing_corpus_folder_says_so_instead_of_advising_a_build(cli: CLI, index_copy: Dirs, tmp_path: Path) -> None:
    gone = tmp_path / "no-such-corpus"
    shown = " ".join(cli("--corpus-dir", str(gone), "index", "status").stdout.split())
    assert f"the corpus folder {gone} does not exist" in shown and "run: regionqa index build" not in shown
    assert cli("--corpus-dir", str(gone), "index", "build", exit_code=2).stderr.count("\n") == 1  # what the old advice led to


def test_status_without_an_index(cli: CLI, isolated_dirs: Dirs) -> None:
    status = cli.json("index", "status")
    assert status["generation"] is None and status["sources"] == [] and status["problem"] is None
    assert "no index" in cli("index", "status").stdout
    assert not isolated_dirs.index_dir.exists()


def test_index_add_a_folder_of_mixed_formats(cli: CLI, index_copy: Dirs, tmp_path: Path) -> None:
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "page.html").write_text(
        "<html><body><p>The <b>Oskemen</b> dry port opened in 2030.</p><script>x()</script></body></html>", encoding="utf-8"
    )
    records = [
        {"id": "r1", "title": "One", "text": "The Tervel canal carries barges."},
        {"id": "r2", "text": "The Misla bridge spans the river."},
    ]
    (folder / "notes.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    report = cli.json("index", "add", str(folder))
    assert sorted(report["copied"]) == ["bundle/notes.jsonl", "bundle/page.html"]
    names = [s["name"] for s in cli.json("index", "status")["sources"]]
    assert {"bundle/page.html", "bundle/notes.jsonl#r1", "bundle/notes.jsonl#r2"} <= set(names)
    passages = cli.json("ask", "When did the Oskemen dry port open?")["passages"]
    page = [p for p in passages if p["source"] == "bundle/page.html"]
    assert page and "The Oskemen dry port opened in 2030." in page[0]["text"] and "x()" not in page[0]["text"]
    # A JSONL record is removed by editing its file; removing the record name alone is refused.
    result = cli("index", "remove", "bundle/notes.jsonl#r1", exit_code=2)
    assert "bundle/notes.jsonl" in result.stderr
