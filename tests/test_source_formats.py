"""The formats of issue 12 read on their own: legacy encodings, tables, email, slides, books and scans
(OCR), each with its citation units and its metadata, and bad files of each kind as one-line errors."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest

from documents import (
    make_email,
    make_epub,
    make_mbox,
    make_pdf,
    make_png,
    make_pptx,
    make_scanned_pdf,
    make_xlsx,
    mix_pdfs,
    render_page,
)
from regionqa.engine import SourceFilter
from regionqa.errors import BadInputError, SourceError
from regionqa.models import CHAPTER, ROW, SLIDE, Units, location_of
from regionqa.sources import file_part, read_file

RUSSIAN = "Порт Актау на Каспийском море обработал 7,2 миллиона тонн грузов в 2023 году, сообщил директор порта."
TURKISH = "İstanbul ve Bakü arasındaki demiryolu hattı 2024 yılında açıldı; yük taşımacılığı üç katına çıktı."
GREEK = "Το λιμάνι του Ακτάου διακίνησε 7,2 εκατομμύρια τόνους φορτίου το 2023, σύμφωνα με τη διοίκηση."
# A clean page of 60 words for the OCR measure: names, figures and punctuation, as a scanned report has them.
OCR_LINES = [
    "The Velmora rail ferry crossed Lake Quellmar 312 times in 2032,",
    "carrying grain and steel from the western railhead at Tamsk to the",
    "Zarvonsk Maritime Gateway on the eastern shore. Its annual cargo",
    "capacity reached 42 million tons after the third berth opened, and",
    "a fourth berth is planned for 2035. The Quellmar Harbour Authority",
    "appointed Elvira Tamsk as its director; she expects 18.5% more trade.",
]


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def one_line_error(error: pytest.ExceptionInfo, *words: str) -> None:
    message = str(error.value)
    assert "\n" not in message, message
    for word in words:
        assert word in message, (word, message)


# ---------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    ("text", "encoding"),
    [(RUSSIAN, "cp1251"), (RUSSIAN, "koi8-r"), (RUSSIAN, "iso-8859-5"), (TURKISH, "cp1254"), (GREEK, "iso-8859-7"), (RUSSIAN, "utf-16-le"),
     ("The Alat port handles 25 million tons of cargo every year.", "utf-16-be")],
)  # fmt: skip
def test_legacy_encodings_are_detected_and_decoded(tmp_path: Path, text: str, encoding: str) -> None:
    [source] = read_file(write(tmp_path / "note.txt", text.encode(encoding)), "note.txt")
    assert source.text == text


@pytest.mark.parametrize(
    "data", [b"\xcf\xee\xf0\xf2 \xc0\xea\xf2\xe0\xf3", bytes(range(0xC0, 0x100)) * 3], ids=["two-words", "letter-soup"]
)
def test_text_whose_encoding_cannot_be_told_is_refused_not_read_as_mojibake(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(SourceError) as error:
        read_file(write(tmp_path / "short.txt", data), "short.txt")
    one_line_error(error, "short.txt", "encoding cannot be told", "UTF-8")


@pytest.mark.parametrize(
    "declaration", ['<meta charset="windows-1251">', '<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">']
)
def test_a_web_page_is_decoded_by_its_meta_charset(tmp_path: Path, declaration: str) -> None:
    encoding = re.search(r"charset=\"?([\w-]+)", declaration).group(1)
    page = f"<html><head>{declaration}<title>Актау</title></head><body><p>Порт Актау</p></body></html>"
    [source] = read_file(write(tmp_path / "page.html", page.encode(encoding)), "page.html")
    # Two words: too few to detect, so only the declaration can decode them right.
    assert source.text == "Порт Актау" and source.meta["title"] == "Актау"


# ---------------------------------------------------------------- provenance


def test_a_web_page_keeps_its_title_author_date_and_url(tmp_path: Path) -> None:
    page = """<html><head><title>Zarvonsk port grows</title><meta name="author" content="Ana Ivanova">
    <meta property="article:published_time" content="2024-05-02T10:00:00Z"><link rel="canonical" href="https://news.example/zarvonsk"></head>
    <body><article><p>The Zarvonsk Maritime Gateway reached 42 million tons of cargo in 2024 after its third berth opened.</p></article></body></html>"""
    [source] = read_file(write(tmp_path / "page.html", page.encode()), "web/news.example/zarvonsk.html")
    assert source.meta == {
        "title": "Zarvonsk port grows",
        "author": "Ana Ivanova",
        "date": "2024-05-02",
        "url": "https://news.example/zarvonsk",
    }


def test_pdf_metadata_is_kept(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["The Misla bridge spans the river."]]))))
    writer.add_metadata({"/Title": "Bridge report", "/Author": "Quellmar Roads Agency", "/CreationDate": "D:20230415093000+00'00'"})
    out = io.BytesIO()
    writer.write(out)
    [source] = read_file(write(tmp_path / "bridge.pdf", out.getvalue()), "bridge.pdf")
    assert source.meta == {"title": "Bridge report", "author": "Quellmar Roads Agency", "date": "2023-04-15"}


# ---------------------------------------------------------------- tables

TRADE = [
    ["Country", "Trade 2023 (million USD)", "Share (%)", "Note"],
    ["Kazakhstan", 529.4, 12.5, None],
    ["Uzbekistan", 201, 4.75, "estimate"],
]


def test_xlsx_rows_read_with_their_headers_and_units(tmp_path: Path) -> None:
    path = make_xlsx(tmp_path / "trade.xlsx", {"Summary": [["Only a title row"]], "Sheet1": TRADE}, title="Caspian trade")
    [source] = read_file(path, "trade.xlsx")
    assert source.text.split("\n") == [
        "Country is Kazakhstan, Trade 2023 is 529.4 million USD, Share is 12.5%.",
        "Country is Uzbekistan, Trade 2023 is 201 million USD, Share is 4.75%, Note is estimate.",
    ]
    assert source.units == Units(ROW, (0, 72), ("Sheet1 row 2", "Sheet1 row 3"))
    assert location_of(source.text, source.units, source.text.index("Uzbekistan")) == "Sheet1 row 3"
    assert source.meta["title"] == "Caspian trade"


def test_csv_rows_with_any_delimiter(tmp_path: Path) -> None:
    data = "Port;Ferry crossings 2032;Capacity (million tons)\nZarvonsk;415;42\n;;\nTamsk;120;7.5\n"
    [source] = read_file(write(tmp_path / "ports.csv", data.encode()), "ports.csv")
    assert source.text.split("\n") == [
        "Port is Zarvonsk, Ferry crossings 2032 is 415, Capacity is 42 million tons.",
        "Port is Tamsk, Ferry crossings 2032 is 120, Capacity is 7.5 million tons.",
    ]
    assert source.units.labels == ("row 2", "row 4"), "a row is cited by its number in the file, the header being row 1"


# ---------------------------------------------------------------- email

REPORT_PDF_LINES = ["Tamsk railhead report", "The Tamsk railhead loads 40 grain wagons a day."]


def test_an_email_and_its_pdf_attachment_are_sources_of_their_own(tmp_path: Path) -> None:
    message = make_email(
        "Tamsk report", "Ana Ivanova <ana@example.org>", "Bo Lind <bo@example.org>", "Tue, 05 Mar 2024 10:00:00 +0000",
        "Bo, the railhead report is attached.", attachments=[("report.pdf", make_pdf([REPORT_PDF_LINES])), ("logo.gif", b"GIF89a")],
    )  # fmt: skip
    mail, attachment = read_file(write(tmp_path / "mail.eml", message), "mail.eml")
    assert mail.name == "mail.eml" and mail.text.endswith("\n\nBo, the railhead report is attached.")
    assert mail.meta == {
        "title": "Tamsk report", "subject": "Tamsk report", "from": "Ana Ivanova <ana@example.org>",
        "to": "Bo Lind <bo@example.org>", "date": "2024-03-05",
    }  # fmt: skip
    assert attachment.name == "mail.eml#report.pdf" and file_part(attachment.name) == "mail.eml"
    assert attachment.text == "\n".join(REPORT_PDF_LINES) and attachment.pages == (0,)
    assert attachment.meta["from"] == "Ana Ivanova <ana@example.org>" and attachment.meta["date"] == "2024-03-05"


def test_an_html_email_reads_like_an_html_file(tmp_path: Path) -> None:
    message = make_email("Bridge", "a@example.org", "b@example.org", "Mon, 04 Mar 2024 09:00:00 +0000",
                         "<html><body><p>The <b>Misla</b> bridge opened.</p><script>x()</script></body></html>", html=True)  # fmt: skip
    [mail] = read_file(write(tmp_path / "bridge.eml", message), "bridge.eml")
    assert mail.text.endswith("\n\nThe Misla bridge opened.")


def test_binary_data_saved_as_eml_is_refused_not_indexed_as_garbage(tmp_path: Path) -> None:
    import random

    noise = bytes(random.Random(7).randrange(256) for _ in range(3000))  # the email parser reads any bytes as a message
    with pytest.raises(SourceError, match="bad.eml: looks like a binary file, not an email message"):
        read_file(write(tmp_path / "bad.eml", noise), "bad.eml")


def test_an_mbox_gives_one_source_a_message_and_names_the_broken_one(tmp_path: Path) -> None:
    messages = [
        make_email("First", "a@example.org", "b@example.org", "Mon, 04 Mar 2024 10:00:00 +0000", "The Misla bridge opened to trucks."),
        b"Subject: cut short\nFrom: c@example.org\n\n",  # headers and nothing else
        make_email("Third", "a@example.org", "b@example.org", "Wed, 06 Mar 2024 10:00:00 +0000", "The ferry runs twice a week.",
                   attachments=[("minutes.pdf", make_pdf([["Minutes of the ferry board."]]))]),
    ]  # fmt: skip
    path = make_mbox(tmp_path / "archive.mbox", messages)
    problems: list[str] = []
    sources = read_file(path, "archive.mbox", problems)
    assert [s.name for s in sources] == ["archive.mbox#1", "archive.mbox#3", "archive.mbox#3#minutes.pdf"]
    assert [file_part(s.name) for s in sources] == ["archive.mbox"] * 3
    assert problems == ["archive.mbox#2: the message has no text and no attachment; the mailbox's other messages are read"]


# ---------------------------------------------------------------- slides and books


def test_pptx_is_read_slide_by_slide(tmp_path: Path) -> None:
    path = make_pptx(tmp_path / "deck.pptx", [("Ports", ["Alat handles 25 million tons"]), ("Ferries", ["Kuryk opens a second berth in 2033", "Tamsk follows"])], title="Caspian ports", author="Ana Ivanova")  # fmt: skip
    [source] = read_file(path, "deck.pptx")
    assert source.text == "Ports\nAlat handles 25 million tons\n\nFerries\nKuryk opens a second berth in 2033\nTamsk follows"
    assert source.units.kind == SLIDE and location_of(source.text, source.units, source.text.index("Kuryk")) == "slide 2"
    assert location_of(source.text, source.units, 0, len(source.text)) == "slides 1–2"
    assert source.meta["title"] == "Caspian ports" and source.meta["author"] == "Ana Ivanova"


def test_epub_is_read_chapter_by_chapter(tmp_path: Path) -> None:
    chapters = [("Ports", ["The Alat port grew."]), ("Rail ferries", ["The Tervel canal freezes for six weeks every January."])]
    path = make_epub(tmp_path / "book.epub", chapters, title="Lake Quellmar", author="Ivan Petrov", date="2024-05-01")
    [source] = read_file(path, "book.epub")
    assert source.text == "Ports\nThe Alat port grew.\n\nRail ferries\nThe Tervel canal freezes for six weeks every January."
    assert source.units.kind == CHAPTER
    assert location_of(source.text, source.units, source.text.index("Tervel")) == "chapter 2: Rail ferries"
    assert source.meta == {"title": "Lake Quellmar", "author": "Ivan Petrov", "date": "2024-05-01"}


# ---------------------------------------------------------------- scans


def words(text: str) -> list[str]:
    return re.findall(r"[\w.%,;]+", text)


def test_ocr_of_a_clean_300_dpi_page_recovers_at_least_98_percent_of_its_words(tmp_path: Path) -> None:
    from collections import Counter

    [source] = read_file(write(tmp_path / "scan.png", make_png(OCR_LINES)), "scan.png")
    expected, found = Counter(words(" ".join(OCR_LINES))), Counter(words(source.text))
    recovered = sum((expected & found).values()) / sum(expected.values())
    assert sum(expected.values()) >= 60 and recovered >= 0.98, (recovered, source.text)
    assert source.pages == (0,)


def test_a_pdf_mixing_text_and_scanned_pages_is_read_page_by_page(tmp_path: Path) -> None:
    text_pages = make_pdf([["Quellmar Transport Review"], ["Outlook: a fourth berth at Zarvonsk is planned for 2035."]])
    scanned = make_scanned_pdf([["The Velmora rail ferry crossed Lake Quellmar 312 times in 2032."]])
    data = mix_pdfs((text_pages, 0), (scanned, 0), (text_pages, 1))
    [source] = read_file(write(tmp_path / "review.pdf", data), "review.pdf")
    pages = [source.text[start:end].strip() for start, end in zip(source.pages, [*source.pages[1:], len(source.text)], strict=True)]
    assert pages[0] == "Quellmar Transport Review" and pages[2] == "Outlook: a fourth berth at Zarvonsk is planned for 2035."
    assert pages[1] == "The Velmora rail ferry crossed Lake Quellmar 312 times in 2032."
    assert location_of(source.text, source.pages, source.text.index("Velmora")) == "p. 2"


def test_without_tesseract_a_scan_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("regionqa.sources.corpus.tesseract_installed", lambda: False)
    monkeypatch.setattr("regionqa.sources.ocr.tesseract_installed", lambda: False)
    for name, data in (("scan.pdf", make_scanned_pdf([["Some words."]])), ("scan.png", make_png(["Some words."]))):
        with pytest.raises(SourceError) as error:
            read_file(write(tmp_path / name, data), name)
        one_line_error(error, name, "apt-get install tesseract-ocr")


# ---------------------------------------------------------------- bad files of the new kinds


def zip_posing_as_docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "A zip file, not a Word document.")
    return out.getvalue()


def truncated_xlsx(tmp_path: Path) -> bytes:
    data = make_xlsx(tmp_path / "whole.xlsx", {"Sheet1": TRADE}).read_bytes()
    return data[: len(data) // 2]


def blank_png() -> bytes:
    out = io.BytesIO()
    render_page([]).save(out, "PNG")
    return out.getvalue()


BAD_FILES = {
    "cut.xlsx": (truncated_xlsx, ["not a readable XLSX file"]),
    "fake.docx": (lambda tmp: zip_posing_as_docx(), ["not a readable DOCX file"]),
    "fake.pptx": (lambda tmp: zip_posing_as_docx(), ["not a readable PPTX file"]),
    "fake.epub": (lambda tmp: b"PK\x03\x04 not a zip", ["not a readable EPUB file"]),
    "blank.png": (lambda tmp: blank_png(), ["OCR found no text in the image"]),
    "broken.png": (lambda tmp: blank_png()[:100], ["not a readable image"]),
    "empty.mbox": (lambda tmp: b"", ["no message found"]),
    "headers.csv": (lambda tmp: b"Country,Trade\n", ["no rows with values"]),
}


@pytest.mark.parametrize("file_name", sorted(BAD_FILES))
def test_bad_files_of_the_new_kinds_give_one_line_errors(tmp_path: Path, file_name: str) -> None:
    make, expected = BAD_FILES[file_name]
    with pytest.raises(SourceError) as error:
        read_file(write(tmp_path / file_name, make(tmp_path)), file_name)
    one_line_error(error, file_name, *expected)


# ---------------------------------------------------------------- choosing sources


@pytest.mark.parametrize(
    ("name", "date", "sources", "taken"),
    [
        ("mail.eml#report.pdf", "2024-03-05", SourceFilter(("*.pdf",)), True),
        ("mail.eml#report.pdf", "2024-03-05", SourceFilter(("mail.eml",)), True),  # an attachment goes with its message
        ("web/a.org/x.html", "2024-03-05", SourceFilter(("web/*",), since="2024-03"), True),
        ("notes.txt", None, SourceFilter(since="2020"), False),  # no date: not in any range
        ("report.pdf", "2024", SourceFilter(since="2024-06-01", until="2024-06-30"), True),  # a year overlaps June
        ("report.pdf", "2023", SourceFilter(since="2024-01-01"), False),
        ("report.pdf", "2024-07", SourceFilter(until="2024-06"), False),
        ("report.pdf", "2024-06-30", SourceFilter(until="2024-06"), True),
    ],
)
def test_source_filter(name: str, date: str | None, sources: SourceFilter, taken: bool) -> None:
    assert sources.matches(name, {"date": date} if date else {}) is taken


@pytest.mark.parametrize(
    ("since", "until", "words"),
    [("2024-13", None, ["--since", "YYYY-MM-DD"]), ("March", None, ["--since"]), ("2025", "2024", ["after --until"])],
)
def test_bad_dates_are_refused_naming_the_option(since: str, until: str | None, words: list[str]) -> None:
    with pytest.raises(BadInputError) as error:
        SourceFilter(since=since, until=until)
    one_line_error(error, *words)


def test_without_tesseract_the_text_pages_of_a_mixed_pdf_are_read_and_the_scans_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("regionqa.sources.corpus.tesseract_installed", lambda: False)
    text_pages = make_pdf([["Quellmar Transport Review"], ["Outlook for 2035."]])
    data = mix_pdfs((text_pages, 0), (make_scanned_pdf([["A scanned page."]]), 0), (text_pages, 1))
    problems: list[str] = []
    [source] = read_file(write(tmp_path / "review.pdf", data), "review.pdf", problems)
    assert len(source.pages) == 3 and location_of(source.text, source.pages, source.text.index("Outlook")) == "p. 3"
    assert len(problems) == 1 and problems[0].startswith("review.pdf: no text layer on page(s) 2,") and "tesseract-ocr" in problems[0]
