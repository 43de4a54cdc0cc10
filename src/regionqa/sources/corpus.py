"""The corpus folder: which files it holds, and each file read into its sources by the reader of its suffix."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from ..errors import SourceError
from ..models import Source
from .html import HTML_SUFFIXES, html_to_text, is_web_page, web_page_to_text
from .jsonl import JSONL_SUFFIX, read_jsonl
from .names import content_hash, file_part, is_utf8, printable
from .office import DOCX_SUFFIX, docx_to_text
from .pdf import PDF_SUFFIX, pdf_to_text
from .text import TEXT_SUFFIXES, decode

# A source's text is one SQLite value (at most 1e9 bytes), and Latin-1 can double in UTF-8.
MAX_FILE_BYTES = 400_000_000


@dataclass(frozen=True)
class LoadReport:
    """Sources read from a folder, and one message per file that could not be read (or per bad
    line of a JSONL file whose other records were read)."""

    sources: list[Source]
    errors: list[str]


def _document(path: Path, name: str, text: str, pages: tuple[int, ...] = ()) -> list[Source]:
    """The one source of a file that is a single document; SourceError if it has no text."""
    if not text.strip():
        raise SourceError(f"{name}: the file has no text; add some or remove it")
    # The page starts are part of the identity: a new pagination must refresh the stored citations.
    digest = content_hash(text + "".join(f"\f{start}" for start in pages))
    return [Source(name=name, text=text, content_hash=digest, title=path.stem, pages=pages)]


def _read_text(raw: bytes, path: Path, name: str, problems: list[str] | None) -> list[Source]:
    """A plain text file."""
    return _document(path, name, decode(raw, name))


def _read_html(raw: bytes, path: Path, name: str, problems: list[str] | None) -> list[Source]:
    """An HTML file: the main text of a fetched web page, all readable text of a local one."""
    text = decode(raw, name)
    return _document(path, name, web_page_to_text(text) if is_web_page(name) else html_to_text(text))


def _read_pdf(raw: bytes, path: Path, name: str, problems: list[str] | None) -> list[Source]:
    """A PDF, with the offset where each page starts."""
    text, pages = pdf_to_text(raw, name)
    if not text.strip():
        raise SourceError(f"{name}: the PDF has no text layer (a scanned document?); run OCR on it first")
    return _document(path, name, text, pages)


def _read_docx(raw: bytes, path: Path, name: str, problems: list[str] | None) -> list[Source]:
    """A Word document."""
    return _document(path, name, docx_to_text(raw, name))


def _read_jsonl(raw: bytes, path: Path, name: str, problems: list[str] | None) -> list[Source]:
    """A JSONL file: one source per record."""
    return read_jsonl(decode(raw, name), name, problems)


# The reader of each supported suffix: (bytes, path, source name, problems) -> the file's sources.
Reader = Callable[[bytes, Path, str, list[str] | None], list[Source]]
READERS: dict[str, Reader] = {
    **dict.fromkeys(TEXT_SUFFIXES, _read_text),
    **dict.fromkeys(HTML_SUFFIXES, _read_html),
    JSONL_SUFFIX: _read_jsonl,
    PDF_SUFFIX: _read_pdf,
    DOCX_SUFFIX: _read_docx,
}
SUPPORTED_SUFFIXES = set(READERS)


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
    reader = READERS.get(suffix)
    if reader is None:
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
    return reader(raw, path, name, problems)


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
