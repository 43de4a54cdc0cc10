"""Reading source files: formats, encodings, one-line errors that name the file, corpus discovery."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from documents import encrypt_pdf, make_docx, make_pdf
from regionqa.errors import BadInputError, SourceError
from regionqa.models import location_of
from regionqa.sources import content_hash, discover, file_part, load_corpus, matches_globs, read_file, reflow, source_identity


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix", [".txt", ".md", ".TXT"])
def test_plain_text_is_read_as_is(tmp_path: Path, suffix: str) -> None:
    text = "# Ports\n\nThe Alat port handles 25 million tons.\n"
    [source] = read_file(write(tmp_path / f"ports{suffix}", text), f"ports{suffix}")
    assert source.name == f"ports{suffix}"
    assert source.text == text
    assert source.title == "ports"
    assert source.content_hash == content_hash(text)


def test_html_keeps_readable_text_and_drops_scripts_and_styles(tmp_path: Path) -> None:
    html = """<!doctype html><html><head><title>Page title</title><style>p { color: red }</style>
    <script>var secret = "tracking";</script></head>
    <body><h1>Ports</h1><p>The   Alat port
    handles 25 million tons.</p><script>alert("x")</script><noscript>Enable JS</noscript><p>Second block.</p></body></html>"""
    [source] = read_file(write(tmp_path / "page.html", html), "page.html")
    assert source.text == "Ports\nThe Alat port handles 25 million tons.\nSecond block."
    for hidden in ("secret", "tracking", "color", "alert", "Enable JS", "Page title", "<"):
        assert hidden not in source.text


def test_jsonl_gives_one_source_per_record(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "a1", "title": "First", "text": "Baku is a port city."}),
        "",
        json.dumps({"id": 7, "text": "Astana hosted the summit."}),
    ]
    sources = read_file(write(tmp_path / "news.jsonl", "\n".join(lines) + "\n"), "news.jsonl")
    assert [(s.name, s.title, s.text) for s in sources] == [
        ("news.jsonl#a1", "First", "Baku is a port city."),
        ("news.jsonl#7", "", "Astana hosted the summit."),
    ]
    assert file_part(sources[0].name) == "news.jsonl"


def test_html_inline_markup_does_not_cut_sentences(tmp_path: Path) -> None:
    html = "<body><p>The <b>Alat</b> port handles <a href='#'>25&nbsp;million</a> tons.</p><ul><li>One</li><li>Two</li></ul>A<br>B</body>"
    [source] = read_file(write(tmp_path / "inline.htm", html), "inline.htm")
    assert source.text.splitlines() == ["The Alat port handles 25 million tons.", "One", "Two", "A", "B"]


def test_latin1_text_decodes(tmp_path: Path) -> None:
    text = "Café in Bakı? No: café façade, naïve résumé, 25 °C."
    latin = "Café façade, naïve résumé, 25 °C."
    [source] = read_file(write(tmp_path / "old.txt", latin.encode("latin-1")), "old.txt")
    assert source.text == latin
    [utf8] = read_file(write(tmp_path / "new.txt", text.encode("utf-8")), "new.txt")
    assert utf8.text == text


def test_windows_1252_quotes_and_dashes_decode(tmp_path: Path) -> None:
    text = "The “Middle Corridor” – a route of 6,500 km – opened in 2024… at last."
    [source] = read_file(write(tmp_path / "windows.txt", text.encode("cp1252")), "windows.txt")
    assert source.text == text


def test_windows_1252_with_an_undefined_byte_still_decodes(tmp_path: Path) -> None:
    """0x81 is undefined in Windows-1252: it keeps its Latin-1 meaning instead of sending the whole
    file to Latin-1 (where the curly quotes would turn into control characters, read as binary)."""
    data = ("The “Middle Corridor” – " * 20).encode("cp1252") + b"\x81 end."
    [source] = read_file(write(tmp_path / "windows.txt", data), "windows.txt")
    assert source.text.startswith("The “Middle Corridor” – ") and source.text.endswith("\x81 end.")


@pytest.mark.parametrize(
    ("name", "data"),
    [("note.txt", b"A short note saved by an old editor.\x1a"), ("build.txt", b"\x1b[32mok\x1b[0m the port build passed\n" * 30)],
    ids=["dos-end-of-file", "coloured-log"],
)
def test_text_with_a_few_control_characters_is_still_text(tmp_path: Path, name: str, data: bytes) -> None:
    [source] = read_file(write(tmp_path / name, data), name)
    assert "port build passed" in source.text or source.text.startswith("A short note")


def test_jsonl_strings_may_hold_unicode_line_separators(tmp_path: Path) -> None:
    """JSON allows U+2028 and U+0085 unescaped in a string: they do not end a line of the file."""
    lines = [json.dumps({"id": "a", "text": "One\u2028two\u0085three."}, ensure_ascii=False), '{"id": "b", "text": "Next."}']
    sources = read_file(write(tmp_path / "data.jsonl", "\n".join(lines) + "\n"), "data.jsonl")
    assert [s.text for s in sources] == ["One\u2028two\u0085three.", "Next."]


def test_a_jsonl_record_with_a_lone_surrogate_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "data.jsonl", '{"id": "x", "text": "Bad \\ud800 text"}\n{"id": "y", "text": "Fine."}\n')
    problems: list[str] = []
    assert [s.name for s in read_file(path, "data.jsonl", problems)] == ["data.jsonl#y"]
    assert len(problems) == 1 and problems[0].startswith("data.jsonl line 1: the record holds a lone surrogate")


def test_a_file_name_that_reads_as_a_jsonl_record_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "log.jsonl#old.txt", "Plain text under a confusing name.")
    with pytest.raises(SourceError) as error:
        read_file(path, "log.jsonl#old.txt")
    assert_one_line_error(error, "log.jsonl#old.txt", "rename the file")


def test_unclosed_tags_do_not_stall_the_html_readers() -> None:
    """An unclosed "<" used to make each tag pattern scan to the end of the page, once per "<"."""
    from regionqa.sources.html import _flat_html_text, too_deep

    assert not too_deep("<a " * 100_000)
    assert _flat_html_text("<p>Kept</p>" + "<script " * 20_000) == "Kept"
    assert _flat_html_text("<p>Before</p><SCRIPT>var s = '<p>no</p>';</script><p>After</p>") == "Before\nAfter"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig"])
def test_text_with_a_byte_order_mark_decodes(tmp_path: Path, encoding: str) -> None:
    text = "Ilham Aliyev — “Central Asia” summit, Bakı."
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    [source] = read_file(write(tmp_path / "bom.txt", data), "bom.txt")
    assert source.text == text


def assert_one_line_error(error: pytest.ExceptionInfo, *words: str) -> None:
    message = str(error.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)


@pytest.mark.parametrize(
    ("file_name", "data", "words"),
    [
        ("empty.txt", b"", ["empty.txt", "no text"]),
        ("blank.md", b"  \n\t\n  ", ["blank.md", "no text"]),
        ("blank.html", b"<html><body><script>x()</script>  </body></html>", ["blank.html", "no text"]),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", ["image.txt", "binary"]),
        ("empty.jsonl", b"\n\n", ["empty.jsonl", "no records"]),
        ("notes.pdf", b"%PDF-1.4", ["notes.pdf", "not a readable PDF"]),
        ("notes.pages", b"%PDF-1.4", ["notes.pages", "unsupported", ".pdf", ".docx"]),
        ("memo.docx", b"PK\x03\x04 not really a zip", ["memo.docx", "not a readable DOCX"]),
        ("locked.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), ["locked.docx", "password-protected"]),
    ],
)
def test_unreadable_files_give_one_line_errors_naming_the_file(tmp_path: Path, file_name: str, data: bytes, words: list[str]) -> None:
    path = write(tmp_path / file_name, data)
    with pytest.raises(SourceError) as error:
        read_file(path, file_name)
    assert_one_line_error(error, *words)
    assert isinstance(error.value, BadInputError) and error.value.exit_code == 2


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        (['{"id": "a", "text": "ok"}', '{"id": "b", "text": '], ["data.jsonl line 2", "not valid JSON"]),
        (['{"id": "a", "text": "ok"}', "", '{"id": "a", "text": "again"}'], ["data.jsonl line 3", "'a'", "twice"]),
        (['["a list"]'], ["data.jsonl line 1", "text"]),
        (['{"id": "a", "text": 5}'], ["data.jsonl line 1", "text"]),
        (['{"id": "a/b", "text": "slash"}'], ["data.jsonl line 1", "'a/b'"]),
        (['{"id": "a", "text": "   "}'], ["data.jsonl line 1", "no text"]),
    ],
)
def test_bad_jsonl_lines_are_reported_with_file_and_line(tmp_path: Path, lines: list[str], words: list[str]) -> None:
    path = write(tmp_path / "data.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(SourceError) as error:
        read_file(path, "data.jsonl")
    assert_one_line_error(error, *words)


def test_a_jsonl_file_keeps_its_good_records_and_names_its_bad_lines(tmp_path: Path) -> None:
    lines = ['{"id": "a", "text": "Alpha."}'] + ["{broken"] * 7 + ['{"id": "a", "text": "Again."}', '{"id": "b", "text": "Beta."}']
    path = write(tmp_path / "data.jsonl", "\n".join(lines) + "\n")
    problems: list[str] = []
    sources = read_file(path, "data.jsonl", problems)
    assert [s.name for s in sources] == ["data.jsonl#a", "data.jsonl#b"]
    assert [p.split(":")[0] for p in problems] == [f"data.jsonl line {n}" for n in range(2, 7)] + ["data.jsonl"]
    assert problems[-1] == "data.jsonl: 3 more bad lines skipped"  # lines 7 and 8, and the second id "a"
    assert all("\n" not in p for p in problems)


def test_discover_skips_hidden_and_unsupported_files(tmp_path: Path) -> None:
    names = ["b.txt", "a.md", "sub/c.html", "sub/d.jsonl", ".hidden.txt", ".git/e.txt", "sub/.f.md", "g.pdf", "h", "sub/.cache/i.txt"]
    for name in names + ["k.docx", "~$k.docx", "l.doc", "m.PDF"]:
        write(tmp_path / name, "Some text.")
    found = [p.relative_to(tmp_path).as_posix() for p in discover(tmp_path)]
    assert found == ["a.md", "b.txt", "g.pdf", "k.docx", "m.PDF", "sub/c.html", "sub/d.jsonl"]


def test_discover_does_not_loop_on_a_symlink_loop(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "Some text.")
    write(tmp_path / "sub" / "b.txt", "Other text.")
    os.symlink(tmp_path, tmp_path / "sub" / "loop")  # sub/loop -> the corpus itself
    os.symlink(tmp_path / "sub" / "x.txt", tmp_path / "sub" / "y.txt")  # file links pointing at each other
    os.symlink(tmp_path / "sub" / "y.txt", tmp_path / "sub" / "x.txt")
    found = [p.relative_to(tmp_path).as_posix() for p in discover(tmp_path)]
    assert found[:2] == ["a.txt", "sub/b.txt"]
    report = load_corpus(tmp_path)  # the looping file links are reported, the rest still loads
    assert sorted(s.name for s in report.sources) == ["a.txt", "sub/b.txt"]
    assert all("\n" not in e for e in report.errors)
    assert {e.split(":")[0] for e in report.errors} <= {"sub/x.txt", "sub/y.txt"}


def test_load_corpus_reports_bad_files_and_keeps_the_good_ones(tmp_path: Path) -> None:
    write(tmp_path / "good.txt", "The Alat port handles 25 million tons.")
    write(tmp_path / "empty.txt", "")
    write(tmp_path / "bad.jsonl", "{oops\n")
    report = load_corpus(tmp_path)
    assert [s.name for s in report.sources] == ["good.txt"]
    assert len(report.errors) == 2
    assert any(e.startswith("empty.txt:") for e in report.errors)
    assert any(e.startswith("bad.jsonl line 1:") for e in report.errors)


# ---------------------------------------------------------------- PDF, DOCX, web pages

REPORT_PAGES = [
    [
        "Caspian Ports Review",
        "The Alat port on the Caspian Sea handles cargo for the Middle Corridor and it has",
        "grown every year since the new ferry terminal opened.",
    ],
    [],  # a page without text (a picture) still counts
    ["Capacity", "The Zarvonsk Maritime Gateway handled 42 million tons of cargo in 2031.", "• Berth one", "• Berth two (planned)"],
]


def test_pdf_text_is_read_page_by_page_with_page_starts(tmp_path: Path) -> None:
    [source] = read_file(write(tmp_path / "report.pdf", make_pdf(REPORT_PAGES)), "report.pdf")
    text, pages = source.text, source.pages
    assert source.name == "report.pdf" and source.title == "report" and len(pages) == 3 and pages[0] == 0
    # Lines wrapped inside a paragraph are joined; a heading and list items keep their own lines.
    assert text[: pages[1]].rstrip("\n").split("\n") == [
        "Caspian Ports Review",
        "The Alat port on the Caspian Sea handles cargo for the Middle Corridor and it has grown every year since the new ferry terminal opened.",
    ]
    assert text[pages[2] :].split("\n") == ["Capacity", REPORT_PAGES[2][1], "• Berth one", "• Berth two (planned)"]
    for page, line in ((1, "Caspian Ports Review"), (3, "The Zarvonsk Maritime Gateway handled")):
        offset = text.index(line)
        assert location_of(text, pages, offset) == location_of(text, pages, offset + len(line) - 1) == f"p. {page}"
    assert location_of(text, pages, len(text) - 1) == "p. 3"
    assert source.content_hash != content_hash(text), "the page starts are part of the identity"


def test_a_pdf_with_only_an_owner_password_is_read(tmp_path: Path) -> None:
    plain = make_pdf([["The Misla bridge spans the river."]])
    for algorithm in ("RC4-128", "AES-128"):
        data = encrypt_pdf(plain, user_password="", owner_password="owner-secret", algorithm=algorithm)
        [source] = read_file(write(tmp_path / f"{algorithm}.pdf", data), f"{algorithm}.pdf")
        assert source.text == "The Misla bridge spans the river."


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (lambda: encrypt_pdf(make_pdf([["Secret text."]]), user_password="open sesame"), ["password-protected"]),
        (lambda: make_pdf([["Some text."]])[:300], ["not a readable PDF"]),
        (lambda: b"%PDF-1.7\n" + bytes(range(256)) * 4, ["not a readable PDF"]),
        (lambda: make_pdf([[], []]), ["no text layer", "OCR"]),
    ],
    ids=["user-password", "truncated", "garbage", "no-text"],
)
def test_unreadable_pdfs_give_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture, data, words: list[str]) -> None:
    with pytest.raises(SourceError) as error:
        read_file(write(tmp_path / "report.pdf", data()), "report.pdf")
    assert_one_line_error(error, "report.pdf", *words)
    assert capsys.readouterr().err == "", "pypdf's repair warnings stay quiet"


def test_docx_paragraphs_and_table_cells_are_lines(tmp_path: Path) -> None:
    blocks = [
        "# Ports of the Caspian",
        "The Alat port handles 25 million tons.",
        "",
        [["Port", "Capacity"], ["Kuryk", "6 million tons"]],
        "Tables come in reading order.",
    ]
    path = make_docx(tmp_path / "memo.docx", blocks)
    [source] = read_file(path, "memo.docx")
    assert source.text.split("\n") == [
        "Ports of the Caspian", "The Alat port handles 25 million tons.", "Port", "Capacity", "Kuryk", "6 million tons",
        "Tables come in reading order.",
    ]  # fmt: skip
    assert source.pages == () and source.units is None
    # The document's own metadata is kept, and is part of its identity (a corrected title refreshes the index).
    assert source.meta["author"] == "python-docx" and source.content_hash == source_identity(source.text, None, source.meta)


def test_docx_merged_cells_are_read_once(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    table = document.add_table(rows=2, cols=3)
    table.cell(0, 0).merge(table.cell(0, 2)).text = "Rail freight, 2024"
    for c, value in enumerate(["Baku", "Aktau", "Turkmenbashi"]):
        table.cell(1, c).text = value
    document.save(str(tmp_path / "merged.docx"))
    [source] = read_file(tmp_path / "merged.docx", "merged.docx")
    assert source.text.split("\n") == ["Rail freight, 2024", "Baku", "Aktau", "Turkmenbashi"]


PAGE_WITH_BOILERPLATE = """<!doctype html><html><head><title>Zarvonsk</title></head><body>
<nav><a href="/">Home</a> | <a href="/about">About us</a></nav>
<main><article><h1>The Zarvonsk Maritime Gateway</h1>
<p>The Zarvonsk Maritime Gateway is a fictional deep-water port on the eastern shore of Lake Quellmar.</p>
<p>Its annual cargo capacity reached 42 million tons in 2031 after the third berth opened.</p></article></main>
<footer>Copyright 2031 Example Corp. All rights reserved. Cookie policy.</footer></body></html>"""


def test_web_pages_drop_boilerplate_and_local_html_keeps_everything(tmp_path: Path) -> None:
    path = write(tmp_path / "page.html", PAGE_WITH_BOILERPLATE)
    [web] = read_file(path, "web/example.org/page.html")
    [local] = read_file(path, "pages/page.html")
    assert "42 million tons in 2031" in web.text and "42 million tons in 2031" in local.text
    for boilerplate in ("About us", "Cookie policy"):
        assert boilerplate not in web.text and boilerplate in local.text
    assert web.text.split("\n")[0] == "The Zarvonsk Maritime Gateway"


@pytest.mark.parametrize(
    ("path", "include", "exclude", "taken"),
    [
        ("report.pdf", [], [], True),
        ("sub/deep/report.PDF", ["*.pdf"], [], True),
        ("notes.txt", ["*.pdf", "*.docx"], [], False),
        ("drafts/report.pdf", [], ["drafts/*"], False),
        ("sub/drafts/report.pdf", [], ["drafts/*"], True),  # a pattern with "/" is matched from the folder's top
        ("sub/draft-2.txt", [], ["draft*"], False),  # a pattern without "/" also matches the file name
        ("sub/final.txt", ["sub/*"], ["*.md"], True),
        ("sub/final.md", ["sub/*"], ["*.md"], False),
    ],
)
def test_include_and_exclude_globs(path: str, include: list[str], exclude: list[str], taken: bool) -> None:
    assert matches_globs(path, include, exclude) is taken


@pytest.mark.parametrize(
    ("page_text", "expected"),
    [
        ("", ""),
        (
            "Capacity\nThe gateway handled 42 million tons of cargo in 2031.",
            "Capacity\nThe gateway handled 42 million tons of cargo in 2031.",
        ),
        (
            "A heading\nA long line of a paragraph that the PDF wrapped at the right\nmargin of the page.",
            "A heading\nA long line of a paragraph that the PDF wrapped at the right margin of the page.",
        ),
        (
            "The first sentence ends at the end of this line right here.\nThe next sentence starts a new line.",
            "The first sentence ends at the end of this line right here.\nThe next sentence starts a new line.",
        ),
        (
            "A long line about the list that follows it on this page of text\n• one item\n• two items",
            "A long line about the list that follows it on this page of text\n• one item\n• two items",
        ),
        (
            "A long line that ends in the middle of a well-\nknown word, hyphenated at the margin.",
            "A long line that ends in the middle of a well-known word, hyphenated at the margin.",
        ),
        ("  spaced   out  \x00text\n\n\n\nafter blank lines  ", "spaced out text\n\nafter blank lines"),
    ],
)
def test_reflow_joins_wrapped_lines_only(page_text: str, expected: str) -> None:
    assert reflow(page_text) == expected


@pytest.mark.parametrize(
    ("text", "pages", "offset", "expected"),
    [
        ("one\ntwo\nthree", (), 0, "line 1"),
        ("one\ntwo\nthree", (), 4, "line 2"),
        ("one\ntwo\nthree", (), 3, "line 1"),  # the line end belongs to its line
        ("page one\n\npage two", (0, 10), 0, "p. 1"),
        ("page one\n\npage two", (0, 10), 9, "p. 1"),  # the blank line between pages belongs to the first
        ("page one\n\npage two", (0, 10), 10, "p. 2"),
    ],
)
def test_location_of(text: str, pages: tuple[int, ...], offset: int, expected: str) -> None:
    assert location_of(text, pages, offset) == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [(0, 8, "p. 1"), (0, 10, "p. 1"), (0, 11, "pp. 1–2"), (12, 25, "pp. 2–3"), (5, 5, "p. 1"), (20, None, "p. 3")],
)
def test_a_span_across_pages_gives_the_page_range(start: int, end: int | None, expected: str) -> None:
    text, pages = "page one\n\npage two\n\npage three", (0, 10, 20)
    assert location_of(text, pages, start, end) == expected
    assert location_of(text, (), start, end) == f"line {text.count(chr(10), 0, start) + 1}", "a text cites its start line"
