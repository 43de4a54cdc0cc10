"""PDF files: the text of each page, with lines wrapped inside a paragraph joined again, and the document's title, author and dates.

Offsets index the text read here, not the file's bytes: a PDF keeps the offset where each
page starts, so that a citation can say the page.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ..errors import SourceError
from .names import error_summary

PDF_SUFFIX = ".pdf"
PAGE_SEPARATOR = "\n\n"  # between the pages of a PDF: a paragraph break, never inside a sentence


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
    """The text of a PDF, page after page, and the offset where each page starts in it (see pdf_pages)."""
    return join_pages(pdf_pages(raw, name)[0])


def pdf_pages(raw: bytes, name: str) -> tuple[list[str], dict[str, str]]:
    """The text of each page of a PDF (empty for a page without a text layer), and its title,
    author and dates (`Source.meta` keys).

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
                    raise SourceError(
                        f"{name}: page {number} cannot be read ({error_summary(error)}); re-save or re-export the PDF"
                    ) from None
            meta = _pdf_meta(reader)
        except SourceError:
            raise
        except FileNotDecryptedError:
            raise SourceError(f"{name}: the PDF is password-protected; save a copy without the password and add that") from None
        except DependencyError as error:
            raise SourceError(f"{name}: the PDF's encryption cannot be read ({error_summary(error)})") from None
        except Exception as error:  # a damaged file can fail anywhere in the parser
            raise SourceError(f"{name}: not a readable PDF ({error_summary(error)}); re-save or re-export it") from None
    return texts, meta


def _pdf_meta(reader) -> dict[str, str]:
    """The document information of a PDF; a damaged information dictionary gives nothing, not an error."""
    from .provenance import clean_meta

    try:
        info = reader.metadata
        if info is None:
            return {}
        return clean_meta({"title": info.title, "author": info.author, "date": info.creation_date, "modified": info.modification_date})
    except Exception:  # pypdf parses the dates and strings lazily: a malformed one raises here
        return {}
