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

from importlib import import_module

# Each name and the module that defines it. Loaded on first use (PEP 562), so that importing one
# light module, such as `sources.names` on the question path, does not load every reader.
_HOMES = {
    "corpus": (
        "MAX_FILE_BYTES",
        "READERS",
        "SUPPORTED_SUFFIXES",
        "LoadReport",
        "discover",
        "load_corpus",
        "matches_globs",
        "read_file",
        "source_name",
    ),
    "html": ("HTML_SUFFIXES", "html_to_text", "is_web_page", "too_deep", "web_page_to_text"),
    "jsonl": ("JSONL_SUFFIX", "MAX_LINE_PROBLEMS"),
    "names": ("RECORD_SEPARATOR", "WEB_FOLDER", "content_hash", "file_part", "is_utf8", "printable"),
    "office": ("DOCX_SUFFIX", "docx_to_text"),
    "pdf": ("PAGE_SEPARATOR", "PDF_SUFFIX", "join_pages", "pdf_to_text", "reflow"),
    "text": ("TEXT_SUFFIXES", "decode"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)
