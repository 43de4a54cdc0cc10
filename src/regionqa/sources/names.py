"""How a source is named and identified, and how names and errors are put into messages.

A source's name is its path relative to the corpus folder (POSIX form), plus "#<id>" for
a JSONL record. Its identity for incremental builds is the sha256 of its text (and of its
page starts, for a PDF).
"""

from __future__ import annotations

import hashlib

RECORD_SEPARATOR = "#"
WEB_FOLDER = "web"  # the corpus subfolder of pages fetched from URLs


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_part(source_name: str) -> str:
    """The corpus file a source comes from: "data.jsonl#a1" -> "data.jsonl", "notes#2.txt" -> itself.

    Only a JSONL file has records, and a record id has no "#", so a "#" in a file name stays.
    """
    head, separator, record = source_name.rpartition(RECORD_SEPARATOR)
    return head if separator and head.lower().endswith(".jsonl") and "/" not in record else source_name


def is_utf8(text: str) -> bool:
    """False for a str holding undecodable bytes (Python keeps those of file names and arguments
    as lone surrogates), which can be neither stored nor printed as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """A str for messages: undecodable bytes shown as U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if not is_utf8(text) else text


def error_summary(error: Exception) -> str:
    """An exception as a short one-line phrase for a message."""
    text = " ".join(str(error).split())[:120]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
