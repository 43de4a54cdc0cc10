"""Slides: PowerPoint .pptx files read with python-pptx, one slide after another, cited by slide."""

from __future__ import annotations

import io

from ..errors import SourceError
from .names import error_summary
from .provenance import clean_meta

PPTX_SUFFIX = ".pptx"


def _shape_lines(shape) -> list[str]:
    """The text of a shape in reading order: its paragraphs, a table's cells, a group's shapes."""
    if hasattr(shape, "shapes"):  # a group of shapes
        return [line for inner in shape.shapes for line in _shape_lines(inner)]
    if getattr(shape, "has_table", False) and shape.has_table:
        return [cell.text for row in shape.table.rows for cell in row.cells]
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        return [paragraph.text for paragraph in shape.text_frame.paragraphs]
    return []


def pptx_slides(raw: bytes, name: str) -> tuple[list[str], dict[str, str]]:
    """The text of each slide (its shapes, then its speaker notes), and the deck's title, author and dates."""
    import zipfile

    from pptx import Presentation

    try:
        deck = Presentation(io.BytesIO(raw))
        slides: list[str] = []
        for slide in deck.slides:
            lines = [line for shape in slide.shapes for line in _shape_lines(shape)]
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                lines += slide.notes_slide.notes_text_frame.text.splitlines()
            cleaned = (" ".join(line.split()) for line in lines)
            slides.append("\n".join(line for line in cleaned if line))
        core = deck.core_properties
        meta = clean_meta({"title": core.title, "author": core.author, "date": core.created, "modified": core.modified})
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise SourceError(f"{name}: not a readable PPTX file ({error_summary(error)}); re-save it from PowerPoint as .pptx") from None
    except Exception as error:  # python-pptx raises many kinds of error for a damaged part
        raise SourceError(f"{name}: not a readable PPTX file ({error_summary(error)}); re-save it from PowerPoint as .pptx") from None
    return slides, meta
