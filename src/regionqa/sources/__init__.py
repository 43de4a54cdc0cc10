"""Read source documents from files: .txt, .md, .html/.htm, .pdf, .docx and .jsonl (one {"id","title","text"} a line).

One module per family of formats (text, html, pdf, office, jsonl); `corpus` finds the files of a
corpus folder and reads each with the reader of its suffix; `names` says how a source is named
and identified. A source's name is its path relative to the corpus folder (POSIX form), plus
"#<id>" for a JSONL record; its identity for incremental builds is the sha256 of its text (and
of its page starts, for a PDF). Offsets index the text read here, not the file's bytes.

To add a format: a function from the file's bytes to its text in the module of its family, and
a row in `corpus.READERS`. Heavy parsers (pypdf, python-docx, selectolax, trafilatura) are
imported inside the functions that use them, so that `regionqa --help` and `ask` stay fast.
"""

from .corpus import MAX_FILE_BYTES, READERS, SUPPORTED_SUFFIXES, LoadReport, discover, load_corpus, matches_globs, read_file, source_name
from .html import HTML_SUFFIXES, html_to_text, is_web_page, too_deep, web_page_to_text
from .jsonl import JSONL_SUFFIX, MAX_LINE_PROBLEMS
from .names import RECORD_SEPARATOR, WEB_FOLDER, content_hash, file_part, is_utf8, printable
from .office import DOCX_SUFFIX, docx_to_text
from .pdf import PAGE_SEPARATOR, PDF_SUFFIX, join_pages, pdf_to_text, reflow
from .text import TEXT_SUFFIXES, decode

__all__ = [
    "DOCX_SUFFIX",
    "HTML_SUFFIXES",
    "JSONL_SUFFIX",
    "MAX_FILE_BYTES",
    "MAX_LINE_PROBLEMS",
    "PAGE_SEPARATOR",
    "PDF_SUFFIX",
    "READERS",
    "RECORD_SEPARATOR",
    "SUPPORTED_SUFFIXES",
    "TEXT_SUFFIXES",
    "WEB_FOLDER",
    "LoadReport",
    "content_hash",
    "decode",
    "discover",
    "docx_to_text",
    "file_part",
    "html_to_text",
    "is_utf8",
    "is_web_page",
    "join_pages",
    "load_corpus",
    "matches_globs",
    "pdf_to_text",
    "printable",
    "read_file",
    "reflow",
    "source_name",
    "too_deep",
    "web_page_to_text",
]
