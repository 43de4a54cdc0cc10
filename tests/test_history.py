"""`regionqa history`: what `ask` records in the per-user data folder, and how to leave it out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CLI, Dirs
from regionqa.config import CONFIG_ENV, DATA_DIR_ENV

QUESTIONS = [
    "Who is the President of Kazakhstan?",
    "How much cargo can the Alat port handle now?",
    "What is the boiling point of mercury on Mars?",
]


@pytest.fixture
def history_file(tmp_path: Path) -> Path:
    """Where the history goes in these tests: the isolated per-user data folder, never the real one."""
    return tmp_path / "user-data" / "history.sqlite"


def test_asks_are_recorded_and_listed_newest_first_with_what_was_printed(cli: CLI, article_env: Dirs, history_file: Path) -> None:
    printed = [cli.json("ask", question) for question in QUESTIONS]
    assert history_file.is_file()
    rows = cli.json("history")
    assert [row["question"] for row in rows] == QUESTIONS[::-1]
    for row, data in zip(rows, printed[::-1]):
        assert row["result"] == data, "the whole ask --json object is kept"
        answer = data["answer"]
        assert row["answer"] == (answer["text"] if answer else None)
        assert row["source"] == (answer["source"] if answer else None)
        assert row["location"] == (answer["location"] if answer else None)
        assert row["message"] == data["message"]
        assert row["generation"] == (article_env.index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    assert [row["question"] for row in cli.json("history", "--limit", "1")] == [QUESTIONS[-1]]
    assert [row["question"] for row in cli.json("history", "--search", "alat PORT")] == [QUESTIONS[1]]
    assert cli.json("history", "--search", "_") == [] == cli.json("history", "--search", "%"), "LIKE wildcards are literal"
    table = cli("history").stdout  # 80 columns: long questions are folded, their words are all there
    for question in QUESTIONS:
        assert all(word in table for word in question.rstrip("?").split()), question


def test_no_history_and_the_config_switch_leave_questions_out(
    cli: CLI, article_env: Dirs, history_file: Path, tmp_path: Path, monkeypatch
) -> None:
    cli("ask", "--no-history", QUESTIONS[0])
    assert cli.json("history") == []
    config = tmp_path / "history-off.toml"
    config.write_text("history = false\n", encoding="utf-8")
    monkeypatch.setenv(CONFIG_ENV, str(config))
    cli("ask", QUESTIONS[1])
    cli("ask", "--batch", "-", input="\n".join(QUESTIONS) + "\n")
    assert cli.json("history") == []
    assert "no questions in the history" in cli("history").stdout


def test_a_batch_records_each_question_and_clear_empties_it(cli: CLI, article_env: Dirs, history_file: Path) -> None:
    out = cli("ask", "--batch", "-", input="\n".join(QUESTIONS) + "\n\n   \n").stdout
    assert len(out.splitlines()) == len(QUESTIONS)
    assert {row["question"] for row in cli.json("history")} == set(QUESTIONS)
    cleared = cli("history", "--clear")
    assert f"removed {len(QUESTIONS)} entries" in cleared.stderr
    assert cli.json("history") == []


def test_a_history_that_cannot_be_written_is_a_warning_not_a_failed_question(
    cli: CLI, article_env: Dirs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the data folder should be", encoding="utf-8")
    monkeypatch.setenv(DATA_DIR_ENV, str(blocked))
    result = cli("ask", "--json", QUESTIONS[0])
    assert json.loads(result.stdout)["question"] == QUESTIONS[0]
    assert "warning: the question was not recorded" in result.stderr and "--no-history" in result.stderr


def test_a_broken_history_file_is_one_line_and_clear_starts_it_afresh(cli: CLI, article_env: Dirs, history_file: Path) -> None:
    history_file.parent.mkdir(parents=True)
    history_file.write_bytes(b"not a database " * 200)
    refused = cli("history", exit_code=1)
    assert refused.stderr.startswith("error: cannot read the history") and refused.stderr.count("\n") == 1
    assert "regionqa history --clear" in refused.stderr
    cleared = cli("history", "--clear")
    assert "removed the unreadable history file" in cleared.stderr and not history_file.exists()
    cli.json("ask", QUESTIONS[0])
    assert [row["question"] for row in cli.json("history")] == [QUESTIONS[0]]


def test_clear_leaves_a_history_it_cannot_open_for_writing_in_place(cli: CLI, history_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a file that is not a database is deleted whole; a locked or read-only one stays (and says so)."""
    import sqlite3

    from regionqa.store import history

    history_file.parent.mkdir(parents=True)
    history_file.write_bytes(b"")
    history._connect(history_file).close()  # an empty, valid history
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorname = "SQLITE_BUSY"
    monkeypatch.setattr(history, "_connect", lambda path: (_ for _ in ()).throw(locked))
    refused = cli("history", "--clear", exit_code=1)
    assert refused.stderr.startswith("error: cannot clear the history") and "locked" in refused.stderr
    assert history_file.is_file()
