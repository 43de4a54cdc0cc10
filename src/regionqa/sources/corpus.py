"""The corpus folder: which files it holds, and each file read into its sources by the reader of its suffix."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import SourceError
from ..models import CHAPTER, PAGE, SLIDE, Source, Units
from .books import EPUB_SUFFIX, epub_chapters
from .html import HTML_SUFFIXES, declared_charset, html_to_text, is_web_page, page_metadata, web_page_to_text
from .jsonl import JSONL_SUFFIX, read_jsonl
from .mail import EML_SUFFIX, MBOX_SUFFIX, mbox_messages, parse_message
from .names import RECORD_SEPARATOR, WEB_FOLDER, file_part, is_utf8, printable, source_identity
from .ocr import IMAGE_SUFFIXES, INSTALL_TESSERACT, image_pages, ocr_pdf_pages, tesseract_installed
from .office import DOCX_SUFFIX, read_docx
from .pdf import PDF_SUFFIX, join_pages, pdf_pages
from .provenance import origin_url
from .slides import PPTX_SUFFIX, pptx_slides
from .tables import CSV_SUFFIX, XLSX_SUFFIX, csv_to_text, xlsx_to_text
from .text import TEXT_SUFFIXES, decode

# A source's text is one SQLite value (at most 1e9 bytes), and Latin-1 can double in UTF-8.
MAX_FILE_BYTES = 400_000_000


@dataclass(frozen=True)
class LoadReport:
    """Sources read from a folder, and one message per file that could not be read (or per bad
    line of a JSONL file whose other records were read)."""

    sources: list[Source]
    errors: list[str]


def _document(
    path: Path, name: str, text: str, units: Units | None = None, meta: dict[str, str] | None = None, empty: str = "the file has no text"
) -> list[Source]:
    """The one source of a file that is a single document; SourceError (`empty`) if it has no text."""
    if not text.strip():
        raise SourceError(f"{name}: {empty}; add some or remove it")
    meta = meta or {}
    return [Source(name=name, text=text, content_hash=source_identity(text, units, meta), title=path.stem, units=units, meta=meta)]


def _read_text(raw: bytes, path: Path, name: str, problems: list[str] | None) -> list[Source]:
    """A plain text file."""
    return _document(path, name, decode(raw, name))


def _read_html(raw: bytes, path: Path, name: str, problems: list[str] | None) -> list[Source]:
    """An HTML file: the main text of a fetched web page, all readable text of a local one; its title, author, date and URL."""
    html = decode(raw, name, declared_charset(raw))
    text = web_page_to_text(html) if is_web_page(name) else html_to_text(html)
    return _document(path, name, text, meta=page_metadata(html))


def _paged(path: Path, name: str, pages: list[str], meta: dict[str, str], empty: str) -> list[Source]:
    text, starts = join_pages(pages)
    return _document(path, name, text, Units(PAGE, starts), meta, empty)


def _read_pdf(raw: bytes, path: Path, name: str, problems: list[str] | None) -> list[Source]:
    """A PDF, with the offset where each page starts; pages without a text layer are read by OCR."""
    pages, meta = pdf_pages(raw, name)
    scanned = [number for number, page in enumerate(pages, start=1) if not page.strip()]
    if scanned and tesseract_installed():
        recognised = ocr_pdf_pages(raw, name)
        if len(recognised) == len(pages):  # the text pages keep the text pypdf read from their layer
            pages = [recognised[i] if not page.strip() else page for i, page in enumerate(pages)]
        return _paged(path, name, pages, meta, "the PDF has no text layer and OCR found no text in it (blank pages?)")
    if scanned and problems is not None and len(scanned) < len(pages):
        listed = ", ".join(map(str, scanned))
        problems.append(
            f"{name}: no text layer on page(s) {listed}, which are left out (the others are read); to read scans, {INSTALL_TESSERACT}"
        )
    return _paged(path, name, pages, meta, f"the PDF has no text layer (a scanned document?); to run OCR on it, {INSTALL_TESSERACT}")


def _read_image(raw: bytes, path: Path, name: str, problems: list[str] | None) -> list[Source]:
    """A scanned page (or a multi-page TIFF), read by OCR."""
    return _paged(path, name, image_pages(raw, name), {}, "OCR found no text in the image")


def _read_docx(raw: bytes, path: Path, name: str, problems: list[str] | None) -> list[Source]:
    """A Word document."""
    text, meta = read_docx(raw, name)
    return _document(path, name, text, meta=meta)


def _read_pptx(raw: bytes, path: Path, name: str, problems: list[str] | None) -> list[Source]:
    """A PowerPoint deck, cited by slide."""
    slides, meta = pptx_slides(raw, name)
    text, starts = join_pages(slides)
    return _document(path, name, text, Units(SLIDE, starts), meta, "the slides have no text")


def _read_epub(raw: bytes, path: Path, name: str, problems: list[str] | None) -> list[Source]:
    """An EPUB book, cited by chapter."""
    chapters, meta = epub_chapters(raw, name)
    text, starts = join_pages([chapter for _, chapter in chapters])
    return _document(
        path, name, text, Units(CHAPTER, starts, tuple(label for label, _ in chapters)) if chapters else None, meta, "the book has no text"
    )


def _read_csv(raw: bytes, path: Path, name: str, problems: list[str] | None) -> list[Source]:
    """A CSV table, one row a line with its header names, cited by row."""
    text, units = csv_to_text(decode(raw, name), name)
    return _document(path, name, text, units, empty="the table has no rows with values under a header row")


def _read_xlsx(raw: bytes, path: Path, name: str, problems: list[str] | None) -> list[Source]:
    """An Excel workbook, every sheet's rows, cited as "Sheet1 row 12"."""
    text, units, meta = xlsx_to_text(raw, name)
    return _document(path, name, text, units, meta, "the workbook has no rows with values under a header row")


def _read_jsonl(raw: bytes, path: Path, name: str, problems: list[str] | None) -> list[Source]:
    """A JSONL file: one source per record."""
    return read_jsonl(decode(raw, name), name, problems)


def _read_message(raw: bytes, name: str, problems: list[str] | None) -> list[Source]:
    """A message and each attachment in a format regionqa reads, named "<message>#<file name>"."""
    message = parse_message(raw, name)
    sources = [
        Source(
            name=name,
            text=message.text,
            content_hash=source_identity(message.text, None, message.meta),
            title=message.meta.get("subject", ""),
            meta=message.meta,
        )
    ]
    for file_name, data in message.attachments:
        attachment = f"{name}{RECORD_SEPARATOR}{file_name}"
        reader = READERS.get(Path(file_name).suffix.lower())
        if reader is None or reader in (_read_eml, _read_mbox, _read_jsonl):
            continue  # a logo or a calendar invitation: nothing to cite (nor a message inside a message)
        try:
            found = reader(data, Path(file_name), attachment, problems)
        except SourceError as error:
            if problems is None:
                raise
            problems.append(f"{error}; the attachment is left out, the message is read")
            continue
        # The attachment keeps its own metadata (a PDF's title), and what it came with: the message's.
        inherited = {key: value for key, value in message.meta.items() if key != "title"}
        sources.extend(_with_meta(source, **{**inherited, **source.meta}) for source in found)
    return sources


def _read_eml(raw: bytes, path: Path, name: str, problems: list[str] | None) -> list[Source]:
    """An email message, and its attachments as sources of their own."""
    return _read_message(raw, name, problems)


def _read_mbox(raw: bytes, path: Path, name: str, problems: list[str] | None) -> list[Source]:
    """A mailbox: each message is "<file>#<n>"; a broken one is named in `problems` and the others are read."""
    sources: list[Source] = []
    bad: list[str] = []
    for number, message in mbox_messages(path, name):
        try:
            sources.extend(_read_message(message, f"{name}{RECORD_SEPARATOR}{number}", problems))
        except SourceError as error:
            if problems is None:
                raise
            bad.append(str(error))
    if not sources:
        raise SourceError(bad[0] if len(bad) == 1 else f"{name}: none of its {len(bad)} messages could be read ({bad[0]})")
    if problems is not None:
        problems.extend(f"{message}; the mailbox's other messages are read" for message in bad)
    return sources


# The reader of each supported suffix: (bytes, path, source name, problems) -> the file's sources.
Reader = Callable[[bytes, Path, str, list[str] | None], list[Source]]
READERS: dict[str, Reader] = {
    **dict.fromkeys(TEXT_SUFFIXES, _read_text),
    **dict.fromkeys(HTML_SUFFIXES, _read_html),
    **dict.fromkeys(IMAGE_SUFFIXES, _read_image),
    JSONL_SUFFIX: _read_jsonl,
    PDF_SUFFIX: _read_pdf,
    DOCX_SUFFIX: _read_docx,
    PPTX_SUFFIX: _read_pptx,
    EPUB_SUFFIX: _read_epub,
    CSV_SUFFIX: _read_csv,
    XLSX_SUFFIX: _read_xlsx,
    EML_SUFFIX: _read_eml,
    MBOX_SUFFIX: _read_mbox,
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
        raise SourceError(f'{name}: a file name with ".jsonl#", ".eml#" or ".mbox#" in it reads as a part of such a file; rename the file')
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
    sources = reader(raw, path, name, problems)
    url = origin_url(path) if name.startswith(f"{WEB_FOLDER}/") else None
    if url:
        sources = [_with_meta(source, url=url) for source in sources]
    return sources


def _with_meta(source: Source, **values: str) -> Source:
    """The source with more metadata, and the identity that goes with it."""
    meta = {**source.meta, **values}
    return replace(source, meta=meta, content_hash=source_identity(source.text, source.units, meta))


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
