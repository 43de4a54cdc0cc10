"""Read source documents from files: text (.txt, .md, .html/.htm, .jsonl), PDFs and scans (.pdf, .png, .jpg, .tif),
office files (.docx, .pptx, .xlsx, .csv), books (.epub) and email (.eml, .mbox).

One module per family of formats (text, html, pdf, ocr, office, slides, tables, books, mail,
jsonl); `corpus` finds the files of a corpus folder and reads each with the reader of its
suffix; `names` says how a source is named and identified; `provenance` writes what a file says
about itself (title, author, dates) as `Source.meta`. A source's name is its path relative to the
corpus folder (POSIX form), plus "#<part>" for a JSONL record, a message of a mailbox or an
attachment ("mail.eml#report.pdf"); its identity for incremental builds is the sha256 of its
text, units and metadata. Offsets index the text read here, not the file's bytes; `Source.units`
say where its pages, rows, slides or chapters start, for citations.

To add a format: a function from the file's bytes to its text (and units and metadata) in the
module of its family, and a row in `corpus.READERS`. Heavy parsers (pypdf, python-docx,
openpyxl, python-pptx, ebooklib, ocrmypdf, selectolax, trafilatura) are imported inside the
functions that use them, so that `regionqa --help` and `ask` stay fast.
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
        "read_file",
        "source_name",
    ),
    "books": ("EPUB_SUFFIX", "epub_chapters"),
    "html": ("HTML_SUFFIXES", "declared_charset", "html_to_text", "is_web_page", "page_metadata", "too_deep", "web_page_to_text"),
    "jsonl": ("JSONL_SUFFIX", "MAX_LINE_PROBLEMS"),
    "mail": ("EML_SUFFIX", "MBOX_SUFFIX", "parse_message"),
    "names": (
        "CONTAINER_SUFFIXES",
        "RECORD_SEPARATOR",
        "WEB_FOLDER",
        "source_identity",
        "content_hash",
        "file_part",
        "is_utf8",
        "matches_globs",
        "printable",
    ),
    "ocr": ("CACHE_FOLDER", "IMAGE_SUFFIXES", "INSTALL_TESSERACT", "ocr_cache", "tesseract_installed"),
    "office": ("DOCX_SUFFIX", "docx_to_text", "read_docx"),
    "pdf": ("PAGE_SEPARATOR", "PDF_SUFFIX", "join_pages", "pdf_pages", "pdf_to_text", "reflow"),
    "provenance": ("clean_meta", "metadata_date"),
    "slides": ("PPTX_SUFFIX", "pptx_slides"),
    "tables": ("CSV_SUFFIX", "XLSX_SUFFIX", "csv_to_text", "xlsx_to_text"),
    "text": ("TEXT_SUFFIXES", "decode"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)
