"""JSONL files: one source per line, a {"id","title","text"} object, named "<file>#<id>"."""

from __future__ import annotations

import json

from ..errors import SourceError
from ..models import Source
from .names import RECORD_SEPARATOR, content_hash, is_utf8

JSONL_SUFFIX = ".jsonl"

MAX_LINE_PROBLEMS = 5  # bad JSONL lines described one by one; the rest are counted


def read_jsonl(text: str, name: str, problems: list[str] | None = None) -> list[Source]:
    """One source per record of a JSONL file's text; see `read_file` for what `problems` does."""
    sources: list[Source] = []
    seen: set[str] = set()
    bad: list[str] = []
    # Lines end at "\n" only: str.splitlines would also cut at U+2028 and U+0085, which JSON allows
    # unescaped inside a string.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record_id, title, body = _jsonl_record(line, f"{name} line {number}", number, seen)
        except SourceError as error:
            if problems is None:
                raise
            bad.append(str(error))
            continue
        seen.add(record_id)
        sources.append(Source(name=f"{name}{RECORD_SEPARATOR}{record_id}", text=body, content_hash=content_hash(body), title=title))
    if not sources:
        if bad:
            more = f" (and {len(bad) - 1} more bad line{'s' if len(bad) > 2 else ''})" if len(bad) > 1 else ""
            raise SourceError(f"{bad[0]}{more}")
        raise SourceError(f"{name}: the file has no records; add one JSON object a line")
    if problems is not None and bad:
        problems.extend(f"{message}; line skipped, the file's other records are read" for message in bad[:MAX_LINE_PROBLEMS])
        if len(bad) > MAX_LINE_PROBLEMS:
            problems.append(f"{name}: {len(bad) - MAX_LINE_PROBLEMS} more bad lines skipped")
    return sources


def _jsonl_record(line: str, where: str, number: int, seen: set[str]) -> tuple[str, str, str]:
    """(id, title, text) of one JSONL line; SourceError saying what is wrong with it."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise SourceError(f'{where}: not valid JSON ({error.msg}); each line must be one {{"id","title","text"}} object') from None
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise SourceError(f'{where}: expected an object with a string "text" field')
    record_id = str(record.get("id", number)).strip()
    if not record_id or "/" in record_id or RECORD_SEPARATOR in record_id:
        raise SourceError(f"{where}: the id {record_id!r} must be non-empty and contain no '/' or '#'")
    if record_id in seen:
        raise SourceError(f"{where}: the id {record_id!r} is used twice in this file; ids must be unique")
    if not record["text"].strip():
        raise SourceError(f"{where}: the record has no text")
    title = str(record.get("title") or "")
    if not (is_utf8(record_id) and is_utf8(title) and is_utf8(record["text"])):
        raise SourceError(f"{where}: the record holds a lone surrogate escape (such as \\ud800), which is not text")
    return record_id, title, record["text"]
