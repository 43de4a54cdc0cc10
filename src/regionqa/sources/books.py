"""Books: EPUB files read with ebooklib, chapter after chapter in reading order, cited by chapter."""

from __future__ import annotations

import io

from ..errors import SourceError
from .html import html_to_text
from .names import error_summary
from .provenance import clean_meta

EPUB_SUFFIX = ".epub"


def _toc_titles(toc) -> dict[str, str]:
    """{file name: title} from a book's table of contents (nested sections included)."""
    titles: dict[str, str] = {}
    for entry in toc:
        if isinstance(entry, tuple | list):  # (section, [children])
            section, children = entry[0], entry[1]
            titles.update(_toc_titles([section, *children]))
        elif getattr(entry, "href", None):
            titles.setdefault(entry.href.split("#", 1)[0], " ".join(str(entry.title or "").split()))
    return titles


def _first_value(book, key: str) -> str | None:
    values = book.get_metadata("DC", key)
    return values[0][0] if values else None


def epub_chapters(raw: bytes, name: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(label, text) of each chapter with text, in the spine's order ("chapter 2: Rail ferries", or
    "chapter 2" when the table of contents does not name it), and the book's title, author and date."""
    import ebooklib
    from ebooklib import epub

    try:
        book = epub.read_epub(io.BytesIO(raw), options={"ignore_ncx": False})
        titles = _toc_titles(book.toc)
        chapters: list[tuple[str, str]] = []
        for item_id, _ in book.spine:
            item = book.get_item_with_id(item_id)
            if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT or isinstance(item, epub.EpubNav):
                continue
            text = html_to_text(item.get_content().decode("utf-8", errors="replace"))
            if not text.strip():
                continue  # a cover or a blank page is no chapter
            number = len(chapters) + 1
            title = titles.get(item.get_name(), "")
            chapters.append((f"chapter {number}: {title}" if title else f"chapter {number}", text))
        meta = clean_meta(
            {"title": _first_value(book, "title"), "author": _first_value(book, "creator"), "date": _first_value(book, "date")}
        )
    except Exception as error:  # ebooklib raises zip, XML and its own errors for a damaged book
        raise SourceError(f"{name}: not a readable EPUB file ({error_summary(error)}); re-export the book as EPUB") from None
    return chapters, meta
