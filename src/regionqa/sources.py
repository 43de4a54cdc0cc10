"""Read source documents from files: .txt, .md, .html/.htm, .pdf, .docx and .jsonl (one {"id","title","text"} a line).

A source's name is its path relative to the corpus folder (POSIX form), plus "#<id>" for
a JSONL record. Its identity for incremental builds is the sha256 of its text (and of its
page starts, for a PDF). Offsets index the text read here, not the file's bytes: a PDF keeps
the offset where each page starts, so that a citation can say the page.

Pages fetched from the web are kept under `web/` in the corpus and read with trafilatura,
which drops navigation and other boilerplate; local HTML files keep all their text.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import logging
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from .errors import SourceError
from .models import Source

TEXT_SUFFIXES = {".txt", ".md"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIX = ".pdf"
DOCX_SUFFIX = ".docx"
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | {".jsonl", PDF_SUFFIX, DOCX_SUFFIX}
RECORD_SEPARATOR = "#"
# A source's text is one SQLite value (at most 1e9 bytes), and Latin-1 can double in UTF-8.
MAX_FILE_BYTES = 400_000_000
WEB_FOLDER = "web"  # the corpus subfolder of pages fetched from URLs
PAGE_SEPARATOR = "\n\n"  # between the pages of a PDF: a paragraph break, never inside a sentence


@dataclass(frozen=True)
class LoadReport:
    """Sources read from a folder, and one message per file that could not be read (or per bad
    line of a JSONL file whose other records were read)."""

    sources: list[Source]
    errors: list[str]


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_part(source_name: str) -> str:
    """The corpus file a source comes from: "data.jsonl#a1" -> "data.jsonl", "notes#2.txt" -> itself.

    Only a JSONL file has records, and a record id has no "#", so a "#" in a file name stays.
    """
    head, separator, record = source_name.rpartition(RECORD_SEPARATOR)
    return head if separator and head.lower().endswith(".jsonl") and "/" not in record else source_name


BINARY_SAMPLE_CHARS = 65_536
BINARY_MIN_CHARS = 200  # a short note with one stray control character (a DOS Ctrl-Z) is still text
# C0 controls other than tab, line ends, form feed and escape (coloured logs); DEL; the C1 controls.
_BINARY_CONTROL = re.compile(r"[\x01-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
codecs.register_error("regionqa-latin1", lambda error: (error.object[error.start : error.end].decode("latin-1"), error.end))


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


def decode(raw: bytes, label: str) -> str:
    """Bytes to text: UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252 or Latin-1;
    binary is refused."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as error:
            raise SourceError(f"{label}: invalid UTF-16 text ({error.reason}); re-save it as UTF-8") from None
    binary = SourceError(f"{label}: looks like a binary file, not text; convert it to .txt first")
    if b"\x00" in raw:
        raise binary
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Legacy Western files: Windows-1252 (Latin-1 plus “curly quotes” and dashes in 0x80-0x9f),
        # else Latin-1, which maps every byte, so they still come through readable.
        # The five bytes Windows-1252 leaves undefined keep their Latin-1 meaning.
        text = raw.decode("cp1252", errors="regionqa-latin1")
    # Without a NUL, binary data still shows itself by control characters (Latin-1 decodes any
    # byte), which text holds only by accident: more than 1% of the start is not text.
    start = text[:BINARY_SAMPLE_CHARS]
    if len(start) >= BINARY_MIN_CHARS and len(_BINARY_CONTROL.findall(start)) > 0.01 * len(start):
        raise binary
    return text


# Elements that start a new line of text; everything else (b, a, span, ...) flows inline.
BLOCK_TAGS = frozenset(
    """address article aside blockquote body br dd details div dl dt fieldset figcaption figure footer form h1 h2 h3 h4
    h5 h6 header hr html li main nav ol p pre section summary table td th tr ul""".split()
)


def html_to_text(html: str) -> str:
    """The readable text of an HTML page: scripts, styles and markup dropped, blocks on their own lines.

    Inline markup ("The <b>Alat</b> port") and line breaks inside a paragraph do not cut a sentence.
    """
    if too_deep(html):
        return _flat_html_text(html)
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


# An HTML5 parser checks the stack of open elements at every tag, so its time grows with the
# square of the nesting depth: a 1 MB page nested 100,000 levels deep took 18 s, 3 MB did not end.
# Real pages nest a few dozen levels; past MAX_HTML_DEPTH the text is taken without a tree.
MAX_HTML_DEPTH = 1_000
# No "<" inside a tag: with [^>] an unclosed "<" would scan to the end of the page, once per "<".
_TAG_TOKEN = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^<>]*?(/?)>")
# Elements that never nest: void ones, and those whose end tag is implied by the next sibling.
_FLAT_TAGS = frozenset(
    """area base br col embed hr img input link meta param source track wbr keygen
    p li td th tr dt dd option optgroup rb rt rp thead tbody tfoot colgroup caption html head body""".split()
)
_SKIPPED_OPENING = re.compile(r"<(script|style|noscript|template|head)\b", re.IGNORECASE)
_BLOCK_TAG = re.compile(r"</?(?:" + "|".join(sorted(BLOCK_TAGS)) + r")\b[^<>]*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[^<>]*>")


def too_deep(html: str, limit: int = MAX_HTML_DEPTH) -> bool:
    """Whether the elements of a page nest deeper than `limit` (estimated from its tags, in linear time)."""
    depth = 0
    for match in _TAG_TOKEN.finditer(html):
        closing, tag, self_closing = match.group(1), match.group(2).lower(), match.group(3)
        if tag in _FLAT_TAGS or self_closing:
            continue
        if closing:
            depth = max(0, depth - 1)
        else:
            depth += 1
            if depth > limit:
                return True
    return False


def _without_skipped_elements(html: str) -> str:
    """The page without its scripts, styles and head, in one pass (an unclosed one runs to the end)."""
    kept: list[str] = []
    position = 0
    while (opening := _SKIPPED_OPENING.search(html, position)) is not None:
        kept.append(html[position : opening.start()])
        closing = re.compile(f"</{opening.group(1)}", re.IGNORECASE).search(html, opening.end())
        if closing is None:
            return " ".join(kept)
        position = html.find(">", closing.end())
        position = len(html) if position < 0 else position + 1
        kept.append(" ")
    kept.append(html[position:])
    return "".join(kept)


def _flat_html_text(html: str) -> str:
    """The text of a page without building its tree: scripts and styles dropped, block tags as line ends."""
    from html import unescape

    text = _ANY_TAG.sub("", _BLOCK_TAG.sub("\n", _without_skipped_elements(html)))
    lines = [" ".join(line.split()) for line in unescape(text).split("\n")]
    return "\n".join(line for line in lines if line)


def web_page_to_text(html: str) -> str:
    """The main text of a web page, without navigation, headers, footers and other boilerplate.

    trafilatura finds the content; a page where it finds none falls back to all of the page's
    readable text, so that nothing the page says is lost.
    """
    if too_deep(html):
        return _flat_html_text(html)
    import trafilatura

    text = trafilatura.extract(
        html, output_format="txt", include_comments=False, include_tables=True, favor_recall=True, with_metadata=False
    )
    if not text or not text.strip():
        return html_to_text(html)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


def is_web_page(name: str) -> bool:
    """A page fetched from a URL (kept under web/ in the corpus), as opposed to a local HTML file."""
    return name.startswith(f"{WEB_FOLDER}/") and Path(file_part(name)).suffix.lower() in HTML_SUFFIXES


# ---------------------------------------------------------------- PDF

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BULLET = re.compile(r"^(?:[•◦▪‣·*–—-]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s")
_SENTENCE_END = re.compile(r"[.!?:;][\"”’')\]]*$")


def reflow(page_text: str) -> str:
    """Join the lines a PDF wraps inside a paragraph, so that a sentence is not cut at every line end.

    A line runs on into the next when it is nearly as wide as the page's text lines (at least 60% of
    their 90th-percentile width) and does not end a sentence, and the next line is not a list item.
    Short lines (headings, list items, a paragraph's last line) keep their line end; blank lines stay.
    """
    lines = [" ".join(_CONTROL.sub("", line).split()) for line in page_text.splitlines()]
    widths = sorted(len(line) for line in lines if line)
    if not widths:
        return ""
    wide = 0.6 * widths[round(0.9 * (len(widths) - 1))]
    blocks: list[str] = []
    runs_on = False  # whether the last line read continues into the next one
    for line in lines:
        if not line:
            if blocks and blocks[-1]:
                blocks.append("")
            runs_on = False
            continue
        if runs_on and not _BULLET.match(line):
            # A word hyphenated at the line end keeps its hyphen: the text stays what the page shows.
            blocks[-1] += ("" if blocks[-1].endswith("-") else " ") + line
        else:
            blocks.append(line)
        runs_on = len(line) >= wide and not _SENTENCE_END.search(line)
    return "\n".join(blocks).strip("\n")


def join_pages(pages: Sequence[str]) -> tuple[str, tuple[int, ...]]:
    """One text from the pages' texts, and the offset where each page starts in it."""
    starts: list[int] = []
    offset = 0
    for page in pages:
        starts.append(offset)
        offset += len(page) + len(PAGE_SEPARATOR)
    return PAGE_SEPARATOR.join(pages), tuple(starts)


@contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """pypdf logs every repair of a damaged file as a warning on stderr; a file that cannot be read
    is reported as one SourceError instead."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def pdf_to_text(raw: bytes, name: str) -> tuple[str, tuple[int, ...]]:
    """The text of a PDF, page after page, and the offset where each page starts in it.

    Raises SourceError for a password-protected or damaged file. A PDF that only restricts
    printing or copying (an owner password, with an empty user password) opens as it is.
    """
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    with _quiet_pypdf():
        try:
            reader = PdfReader(io.BytesIO(raw))
            if reader.is_encrypted and not reader.decrypt(""):
                raise FileNotDecryptedError("a user password is needed")
            texts: list[str] = []
            for number, page in enumerate(reader.pages, start=1):
                try:
                    texts.append(reflow(page.extract_text() or ""))
                except (FileNotDecryptedError, DependencyError):
                    raise
                except Exception as error:  # a damaged page; pypdf raises many kinds of error
                    raise SourceError(f"{name}: page {number} cannot be read ({_summary(error)}); re-save or re-export the PDF") from None
        except SourceError:
            raise
        except FileNotDecryptedError:
            raise SourceError(f"{name}: the PDF is password-protected; save a copy without the password and add that") from None
        except DependencyError as error:
            raise SourceError(f"{name}: the PDF's encryption cannot be read ({_summary(error)})") from None
        except Exception as error:  # a damaged file can fail anywhere in the parser
            raise SourceError(f"{name}: not a readable PDF ({_summary(error)}); re-save or re-export it") from None
    return join_pages(texts)


def _summary(error: Exception) -> str:
    """An exception as a short one-line phrase for a message."""
    text = " ".join(str(error).split())[:120]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


# ---------------------------------------------------------------- DOCX

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # a compound file: an old .doc, or a password-protected .docx


def docx_to_text(raw: bytes, name: str) -> str:
    """The text of a Word document in reading order: each paragraph and each table cell on a line of its own."""
    if raw.startswith(_OLE_MAGIC):
        raise SourceError(f"{name}: the file is password-protected or an old Word .doc; save it from Word as .docx without a password")
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(raw))
    except Exception as error:  # not a zip, parts missing, bad XML: python-docx raises many kinds of error
        raise SourceError(f"{name}: not a readable DOCX file ({_summary(error)}); re-save it from Word as .docx") from None
    lines: list[str] = []
    seen_cells: set = set()  # a merged cell is listed once per grid column or row it spans; read it once

    def read(container) -> None:
        for block in container.iter_inner_content():
            if isinstance(block, Table):
                for row in block.rows:
                    for cell in row.cells:
                        if cell._tc not in seen_cells:
                            seen_cells.add(cell._tc)
                            read(cell)
            else:
                lines.extend(block.text.splitlines())  # a manual line break starts a new line

    read(document)
    cleaned = (" ".join(line.split()) for line in lines)
    return "\n".join(line for line in cleaned if line)


# ---------------------------------------------------------------- files


def read_file(path: Path, name: str, problems: list[str] | None = None) -> list[Source]:
    """Read one file into its sources; raises SourceError naming the file (and line) when it can't.

    With a `problems` list, a JSONL file's bad lines are skipped and described there (one message
    a line, the first MAX_LINE_PROBLEMS) while its good records are read; without one, the first
    bad line fails the file.
    """
    if not is_utf8(name):
        # The name is stored (SQLite text) and printed: a byte sequence that is not UTF-8 (an old
        # Latin-1 file name) would fail at the first write and stop the whole build.
        raise SourceError(f"{printable(name)}: the file name is not valid UTF-8; rename the file")
    if file_part(name) != name:
        raise SourceError(f'{name}: a file name with ".jsonl#" in it reads as a record of a JSONL file; rename the file')
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise SourceError(f"{name}: unsupported file type {suffix or '(none)'}; use one of {', '.join(sorted(SUPPORTED_SUFFIXES))}")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SourceError(
                f"{name}: the file has {size / 1e6:,.0f} MB; regionqa reads at most {MAX_FILE_BYTES / 1e6:,.0f} MB a file; split it"
            )
        raw = path.read_bytes()
    except OSError as error:
        raise SourceError(f"{name}: cannot read the file ({error.strerror})") from None
    pages: tuple[int, ...] = ()
    if suffix == PDF_SUFFIX:
        text, pages = pdf_to_text(raw, name)
        if not text.strip():
            raise SourceError(f"{name}: the PDF has no text layer (a scanned document?); run OCR on it first")
    elif suffix == DOCX_SUFFIX:
        text = docx_to_text(raw, name)
    else:
        text = decode(raw, name)
        if suffix == ".jsonl":
            return _read_jsonl(text, name, problems)
        if suffix in HTML_SUFFIXES:
            text = web_page_to_text(text) if is_web_page(name) else html_to_text(text)
    if not text.strip():
        raise SourceError(f"{name}: the file has no text; add some or remove it")
    # The page starts are part of the identity: a new pagination must refresh the stored citations.
    digest = content_hash(text + "".join(f"\f{start}" for start in pages))
    return [Source(name=name, text=text, content_hash=digest, title=path.stem, pages=pages)]


MAX_LINE_PROBLEMS = 5  # bad JSONL lines described one by one; the rest are counted


def _read_jsonl(text: str, name: str, problems: list[str] | None = None) -> list[Source]:
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


def discover(corpus_dir: Path) -> list[Path]:
    """Every supported file below the corpus folder, sorted; hidden files, symlinked folders and
    the "~$name.docx" lock files Word leaves beside an open document are skipped."""
    found: list[Path] = []
    # followlinks=False: a symlink loop cannot send the walk round for ever.
    for folder, subfolders, files in os.walk(corpus_dir, followlinks=False):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for file_name in sorted(files):
            path = Path(folder) / file_name
            if not file_name.startswith((".", "~$")) and path.suffix.lower() in SUPPORTED_SUFFIXES:
                found.append(path)
    return found


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


def source_name(path: Path, corpus_dir: Path) -> str:
    return path.relative_to(corpus_dir).as_posix()


def load_corpus(corpus_dir: Path) -> LoadReport:
    """Read every source of the corpus folder; unreadable files are reported, the others still load."""
    sources: list[Source] = []
    errors: list[str] = []
    for path in discover(corpus_dir):
        try:
            sources.extend(read_file(path, source_name(path, corpus_dir), errors))
        except SourceError as error:
            errors.append(str(error))
    return LoadReport(sources, errors)
