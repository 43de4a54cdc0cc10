"""Reading source files: formats, encodings, one-line errors that name the file, corpus discovery."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from regionqa.errors import BadInputError, SourceError
from regionqa.sources import content_hash, discover, file_part, load_corpus, read_file


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
        ("notes.pdf", b"%PDF-1.4", ["notes.pdf", "unsupported", ".pdf"]),
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


def test_discover_skips_hidden_and_unsupported_files(tmp_path: Path) -> None:
    for name in ["b.txt", "a.md", "sub/c.html", "sub/d.jsonl", ".hidden.txt", ".git/e.txt", "sub/.f.md", "g.pdf", "h", "sub/.cache/i.txt"]:
        write(tmp_path / name, "Some text.")
    found = [p.relative_to(tmp_path).as_posix() for p in discover(tmp_path)]
    assert found == ["a.md", "b.txt", "sub/c.html", "sub/d.jsonl"]


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
