"""The history of questions asked from the command line: one SQLite file in the per-user data folder
(`Settings.history_file`), apart from any index, so that rebuilding or deleting an index keeps it.

Each row keeps the question, the short answer with its citation, and the whole `ask --json` object,
so that `regionqa history --json` gives back exactly what was printed.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..errors import RegionQAError

# Numbered migrations, run in order on open; PRAGMA user_version says how many have run.
MIGRATIONS = (
    """CREATE TABLE asks (
        id INTEGER PRIMARY KEY,
        asked_at TEXT NOT NULL,      -- ISO 8601, UTC, to the second
        question TEXT NOT NULL,
        answer TEXT,                 -- null when the corpus gave no answer
        source TEXT,
        location TEXT,
        score REAL,
        message TEXT,
        generation TEXT NOT NULL,    -- the index generation that answered
        result TEXT NOT NULL         -- the ask --json object
    )""",
)
BUSY_TIMEOUT_S = 5  # two commands finishing at once wait for each other instead of failing


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    asked_at: str
    question: str
    answer: str | None
    source: str | None
    location: str | None
    score: float | None
    message: str | None
    generation: str
    result: dict


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
    done = connection.execute("PRAGMA user_version").fetchone()[0]
    for number, statement in enumerate(MIGRATIONS[done:], start=done + 1):
        with connection:
            connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {number}")
    return connection


def record(path: Path, result: dict, generation: str) -> None:
    """Append one answered question (`result` is the `ask --json` object) to the history at `path`;
    RegionQAError when the file cannot be written (a read-only folder, a locked or broken file)."""
    answer = result.get("answer") or {}
    row = (
        datetime.now(UTC).isoformat(timespec="seconds"),
        result["question"],
        answer.get("text"),
        answer.get("source"),
        answer.get("location"),
        answer.get("score"),
        result.get("message"),
        generation,
        json.dumps(result, ensure_ascii=False),
    )
    try:
        connection = _connect(path)
        try:
            with connection:
                connection.execute(
                    "INSERT INTO asks (asked_at, question, answer, source, location, score, message, generation, result) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
        finally:
            connection.close()
    except (sqlite3.Error, OSError) as error:
        raise RegionQAError(f"cannot write the history {path} ({error})") from None


def entries(path: Path, limit: int = 20, containing: str | None = None) -> list[HistoryEntry]:
    """The latest `limit` entries, newest first; only questions containing `containing` (case ignored) when given."""
    if not path.is_file():
        return []
    where, parameters = ("WHERE question LIKE ? ESCAPE '\\'", [f"%{_like_escape(containing)}%"]) if containing else ("", [])
    try:
        connection = _connect(path)
        try:
            rows = connection.execute(
                "SELECT id, asked_at, question, answer, source, location, score, message, generation, result "
                f"FROM asks {where} ORDER BY id DESC LIMIT ?",
                [*parameters, limit],
            ).fetchall()
        finally:
            connection.close()
        return [HistoryEntry(*row[:9], result=json.loads(row[9])) for row in rows]
    except (sqlite3.Error, OSError, ValueError) as error:  # ValueError: a stored result that is not JSON
        raise RegionQAError(f"cannot read the history {path} ({error}); start it afresh with: regionqa history --clear") from None


def clear(path: Path) -> int | None:
    """Delete every entry; how many there were, or None when the file was unreadable and was deleted whole."""
    if not path.is_file():
        return 0
    try:
        connection = _connect(path)
        try:
            with connection:
                return connection.execute("DELETE FROM asks").rowcount
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        # Only a file that is not a database, or a corrupt one, is deleted whole (clearing it is starting
        # afresh); a locked or read-only history is an error that leaves it as it is.
        if getattr(error, "sqlite_errorname", None) not in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
            raise RegionQAError(f"cannot clear the history {path} ({error}); try again, or delete the file") from None
        try:
            path.unlink()
        except OSError as error:
            raise RegionQAError(f"cannot delete the unreadable history {path} ({error.strerror})") from None
        return None
    except OSError as error:
        raise RegionQAError(f"cannot clear the history {path} ({error.strerror})") from None


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
