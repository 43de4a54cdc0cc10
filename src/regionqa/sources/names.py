"""How a source is named and identified, and how names and errors are put into messages.

A source's name is its path relative to the corpus folder (POSIX form), plus "#<id>" for a
JSONL record, "#<n>" for the n-th message of a mailbox and "#<file name>" for an attachment
("mail.eml#report.pdf", "archive.mbox#2#report.pdf"). Its identity for incremental builds is the
sha256 of its text, of where its pages (rows, slides, chapters) start and of its metadata.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from fnmatch import fnmatchcase

from ..models import PAGE, Units

RECORD_SEPARATOR = "#"
# The files whose sources are parts of them, named "<file>#<part>": JSONL records, the messages of
# a mailbox, the attachments of a message. A part's name has no "/", so "notes.eml#1/a.txt" is a file.
CONTAINER_SUFFIXES = (".jsonl", ".eml", ".mbox")
_PART_NAME = re.compile(r"(.*?(?:" + "|".join(re.escape(s) for s in CONTAINER_SUFFIXES) + r"))#[^/]*", re.IGNORECASE)
WEB_FOLDER = "web"  # the corpus subfolder of pages fetched from URLs


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_part(source_name: str) -> str:
    """The corpus file a source comes from: "data.jsonl#a1" -> "data.jsonl", "mail.eml#report.pdf" ->
    "mail.eml", "notes#2.txt" -> itself (only JSONL files, mailboxes and messages have parts)."""
    match = _PART_NAME.fullmatch(source_name)
    return match.group(1) if match else source_name


def source_identity(text: str, units: Units | None = None, meta: dict[str, str] | None = None) -> str:
    """The content hash of a source: its text, where its parts start and its metadata, so that a new
    pagination or a corrected date refreshes what the index keeps (a plain text: content_hash(text))."""
    extra = ""
    if units is not None:
        # Page starts as they were hashed before units had kinds: a PDF keeps its identity.
        extra += "".join(f"\f{start}" for start in units.starts) + ("" if units.kind == PAGE else f"\v{units.kind}")
        extra += "".join(f"\v{label}" for label in units.labels)
    if meta:
        extra += "\x1e" + json.dumps(meta, ensure_ascii=False, sort_keys=True)
    return content_hash(text + extra)


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


def matches_globs(relative_path: str, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> bool:
    """Whether a file passes `--include`/`--exclude` globs (fnmatch, ignoring case).

    A pattern is matched against the path inside the folder being added, where `*` also crosses
    "/" ("*.pdf" takes PDFs at any depth); a pattern without "/" is also matched against the file
    name alone ("draft*" skips drafts in subfolders too). With no include pattern, every file is in.
    """
    path = relative_path.lower()
    file_name = path.rsplit("/", 1)[-1]

    def hit(pattern: str) -> bool:
        pattern = pattern.lower()
        return fnmatchcase(path, pattern) or ("/" not in pattern and fnmatchcase(file_name, pattern))

    return (not include or any(hit(p) for p in include)) and not any(hit(p) for p in exclude)
