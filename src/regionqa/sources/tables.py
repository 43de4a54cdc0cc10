"""Tables: .csv and .xlsx files, each row read as a line of text with its header names, cited by row.

A row of a sheet whose header says "Country" and "Trade 2023 (million USD)" reads
"Country is Kazakhstan, Trade 2023 is 529.4 million USD.": a unit in brackets at the end of a
header is written after the value, so that the figures of the cells are found with their units, as
in running text. The row is written as a sentence because spaCy's tagger reads one: with
"Country: Kazakhstan; Trade 2023: 529.4 million USD" on consecutive lines it took "USD" for an
organisation and the money for a bare number in two rows of three. The first non-empty row is the header; a row is cited as "Sheet1 row 12" (the row
number the spreadsheet shows) or, in a CSV file, "row 12" (the header is row 1).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence

from ..errors import SourceError
from ..models import ROW, Units
from .names import error_summary
from .provenance import clean_meta

CSV_SUFFIX = ".csv"
XLSX_SUFFIX = ".xlsx"
ROW_SEPARATOR = "\n"

# "Trade 2023 (million USD)" -> name "Trade 2023", unit "million USD"; "Share [%]" -> "Share", "%".
_HEADER_UNIT = re.compile(r"^(?P<name>.*?\S)\s*[(\[](?P<unit>[^()\[\]]+)[)\]]$")
_NO_SPACE_UNITS = {"%", "‰"}


def split_header(header: str) -> tuple[str, str]:
    """A header's name and the unit in brackets at its end ("" when there is none)."""
    match = _HEADER_UNIT.match(header.strip())
    return (match.group("name"), match.group("unit").strip()) if match else (header.strip(), "")


def cell_text(value: object) -> str:
    """A cell's value as a person reads it: 529.4, 42 (not 42.0), 2024-03-05, text on one line."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.15g}"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return " ".join(str(value).split())


def row_text(header: Sequence[str], cells: Sequence[object]) -> str:
    """One row as "Name is value unit, Name is value."; empty cells are left out."""
    parts: list[str] = []
    for position, value in enumerate(cells):
        text = cell_text(value)
        if not text:
            continue
        name, unit = split_header(header[position] if position < len(header) and header[position] else f"column {position + 1}")
        if unit:
            text = f"{text}{unit}" if unit in _NO_SPACE_UNITS else f"{text} {unit}"
        parts.append(f"{name} is {text}")
    return ", ".join(parts) + "." if parts else ""


def rows_to_text(rows: Iterable[tuple[str, Sequence[object]]], name: str) -> tuple[str, Units]:
    """The text of (label, cells) rows, the first non-empty one being the header, and where each row starts."""
    lines: list[str] = []
    starts: list[int] = []
    labels: list[str] = []
    header: list[str] | None = None
    offset = 0
    for label, cells in rows:
        if header is None:
            if any(cell_text(cell) for cell in cells):
                header = [cell_text(cell) for cell in cells]
            continue
        line = row_text(header, cells)
        if line:
            lines.append(line)
            starts.append(offset)
            labels.append(label)
            offset += len(line) + len(ROW_SEPARATOR)
    return ROW_SEPARATOR.join(lines), Units(ROW, tuple(starts), tuple(labels))


def csv_to_text(text: str, name: str) -> tuple[str, Units]:
    """A CSV file's rows; the delimiter (comma, semicolon, tab, ...) is found by csv.Sniffer."""
    try:
        dialect = csv.Sniffer().sniff(text[:65_536], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel  # one column, or too little to tell: commas
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), dialect))
    except csv.Error as error:
        raise SourceError(f"{name}: not a readable CSV file ({error}); re-save it as CSV (UTF-8)") from None
    return rows_to_text(((f"row {number}", cells) for number, cells in enumerate(records, start=1)), name)


def xlsx_to_text(raw: bytes, name: str) -> tuple[str, Units, dict[str, str]]:
    """Every sheet's rows of an Excel workbook (values, not formulas), and its title, author and dates."""
    import zipfile

    import openpyxl

    try:
        # data_only: the values Excel last computed, not "=SUM(B2:B9)"; read_only streams big sheets.
        book = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as error:
        raise SourceError(f"{name}: not a readable XLSX file ({error_summary(error)}); re-save it from Excel as .xlsx") from None
    try:
        texts: list[str] = []
        starts: list[int] = []
        labels: list[str] = []
        offset = 0
        for sheet in book.worksheets:
            rows = ((f"{sheet.title} row {number}", row) for number, row in enumerate(sheet.iter_rows(values_only=True), start=1))
            text, units = rows_to_text(rows, name)
            if not text:
                continue
            starts.extend(offset + start for start in units.starts)
            labels.extend(units.labels)
            texts.append(text)
            offset += len(text) + len(ROW_SEPARATOR)
        properties = book.properties
        meta = clean_meta(
            {"title": properties.title, "author": properties.creator, "date": properties.created, "modified": properties.modified}
        )
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as error:  # a part cut short is found while reading
        raise SourceError(f"{name}: not a readable XLSX file ({error_summary(error)}); re-save it from Excel as .xlsx") from None
    finally:
        book.close()
    return ROW_SEPARATOR.join(texts), Units(ROW, tuple(starts), tuple(labels)), meta
