"""Read source documents from files: .txt, .md, .html/.htm and .jsonl (one {"id","title","text"} a line).

A source's name is its path relative to the corpus folder (POSIX form), plus "#<id>" for
a JSONL record. Its identity for incremental builds is the sha256 of its text.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import SourceError
from .models import Source

TEXT_SUFFIXES = {".txt", ".md"}
HTML_SUFFIXES = {".html", ".htm"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | {".jsonl"}
RECORD_SEPARATOR = "#"


@dataclass(frozen=True)
class LoadReport:
    """Sources read from a folder, and one message per file that could not be read."""

    sources: list[Source]
    errors: list[str]


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_part(source_name: str) -> str:
    """The corpus file a source comes from: "data.jsonl#a1" -> "data.jsonl"."""
    return source_name.split(RECORD_SEPARATOR, 1)[0]


def decode(raw: bytes, label: str) -> str:
    """Bytes to text: UTF-8 (with or without BOM), UTF-16 with BOM, else Latin-1; binary is refused."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as error:
            raise SourceError(f"{label}: invalid UTF-16 text ({error.reason}); re-save it as UTF-8") from None
    if b"\x00" in raw[:8192]:
        raise SourceError(f"{label}: looks like a binary file, not text; convert it to .txt first")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Latin-1 maps every byte, so legacy Western files still come through readable.
        return raw.decode("latin-1")


# Elements that start a new line of text; everything else (b, a, span, ...) flows inline.
BLOCK_TAGS = frozenset(
    """address article aside blockquote body br dd details div dl dt fieldset figcaption figure footer form h1 h2 h3 h4
    h5 h6 header hr html li main nav ol p pre section summary table td th tr ul""".split()
)


def html_to_text(html: str) -> str:
    """The readable text of an HTML page: scripts, styles and markup dropped, blocks on their own lines.

    Inline markup ("The <b>Alat</b> port") and line breaks inside a paragraph do not cut a sentence.
    """
    # The lexbor backend: selectolax 1.0 removed the old `selectolax.parser` (Modest) module.
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    for node in tree.css("script, style, noscript, template, head"):
        node.decompose()
    root = tree.body or tree.root
    if root is None:
        return ""
    parts: list[str] = []
    stack = [(root, False)]  # iterative: deeply nested pages cannot exhaust the recursion limit
    while stack:
        node, closing = stack.pop()
        if closing:
            parts.append("\n")
        elif node.is_text_node:
            parts.append(re.sub(r"\s+", " ", node.text_content or ""))  # a newline in a paragraph is a space
        elif node.is_element_node:
            if node.tag in BLOCK_TAGS:
                parts.append("\n")
                stack.append((node, True))
            stack.extend((child, False) for child in reversed(list(node.iter(include_text=True))))
    lines = [" ".join(line.split()) for line in "".join(parts).split("\n")]
    return "\n".join(line for line in lines if line)


def read_file(path: Path, name: str) -> list[Source]:
    """Read one file into its sources; raises SourceError naming the file (and line) when it can't."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise SourceError(f"{name}: unsupported file type {suffix or '(none)'}; use one of {', '.join(sorted(SUPPORTED_SUFFIXES))}")
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise SourceError(f"{name}: cannot read the file ({error.strerror})") from None
    text = decode(raw, name)
    if suffix == ".jsonl":
        return _read_jsonl(text, name)
    if suffix in HTML_SUFFIXES:
        text = html_to_text(text)
    if not text.strip():
        raise SourceError(f"{name}: the file has no text; add some or remove it")
    return [Source(name=name, text=text, content_hash=content_hash(text), title=path.stem)]


def _read_jsonl(text: str, name: str) -> list[Source]:
    sources: list[Source] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise SourceError(f"{where}: not valid JSON ({error.msg}); each line must be one {{\"id\",\"title\",\"text\"}} object") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise SourceError(f"{where}: expected an object with a string \"text\" field")
        record_id = str(record.get("id", number)).strip()
        if not record_id or "/" in record_id or RECORD_SEPARATOR in record_id:
            raise SourceError(f"{where}: the id {record_id!r} must be non-empty and contain no '/' or '#'")
        if record_id in seen:
            raise SourceError(f"{where}: the id {record_id!r} is used twice in this file; ids must be unique")
        seen.add(record_id)
        body = record["text"]
        if not body.strip():
            raise SourceError(f"{where}: the record has no text")
        title = str(record.get("title") or "")
        sources.append(Source(name=f"{name}{RECORD_SEPARATOR}{record_id}", text=body, content_hash=content_hash(body), title=title))
    if not sources:
        raise SourceError(f"{name}: the file has no records; add one JSON object a line")
    return sources


def discover(corpus_dir: Path) -> list[Path]:
    """Every supported file below the corpus folder, sorted; hidden files and symlinked folders are skipped."""
    found: list[Path] = []
    # followlinks=False: a symlink loop cannot send the walk round for ever.
    for folder, subfolders, files in os.walk(corpus_dir, followlinks=False):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for file_name in sorted(files):
            path = Path(folder) / file_name
            if not file_name.startswith(".") and path.suffix.lower() in SUPPORTED_SUFFIXES:
                found.append(path)
    return found


def source_name(path: Path, corpus_dir: Path) -> str:
    return path.relative_to(corpus_dir).as_posix()


def load_corpus(corpus_dir: Path) -> LoadReport:
    """Read every source of the corpus folder; unreadable files are reported, the others still load."""
    sources: list[Source] = []
    errors: list[str] = []
    for path in discover(corpus_dir):
        try:
            sources.extend(read_file(path, source_name(path, corpus_dir)))
        except SourceError as error:
            errors.append(str(error))
    return LoadReport(sources, errors)
