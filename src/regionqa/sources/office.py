"""Office documents: Word .docx files, paragraphs and table cells in reading order, and their title, author and dates."""

from __future__ import annotations

import io

from ..errors import SourceError
from .names import error_summary
from .provenance import clean_meta

DOCX_SUFFIX = ".docx"

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # a compound file: an old .doc, or a password-protected .docx


def docx_to_text(raw: bytes, name: str) -> str:
    """The text of a Word document in reading order: each paragraph and each table cell on a line of its own."""
    return read_docx(raw, name)[0]


def read_docx(raw: bytes, name: str) -> tuple[str, dict[str, str]]:
    """The text of a Word document (see docx_to_text) and its title, author and dates."""
    if raw.startswith(_OLE_MAGIC):
        raise SourceError(f"{name}: the file is password-protected or an old Word .doc; save it from Word as .docx without a password")
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(raw))
    except Exception as error:  # not a zip, parts missing, bad XML: python-docx raises many kinds of error
        raise SourceError(f"{name}: not a readable DOCX file ({error_summary(error)}); re-save it from Word as .docx") from None
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
    core = document.core_properties
    meta = clean_meta({"title": core.title, "author": core.author, "date": core.created, "modified": core.modified})
    return "\n".join(line for line in cleaned if line), meta
