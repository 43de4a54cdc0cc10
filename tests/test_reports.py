"""`ask --format md|html|csv`: reports that hold the answer, its citation, the passages and the facts,
with document text escaped."""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser

import pytest

from conftest import CLI, SMALL_NAME, Dirs, assert_one_line_error
from regionqa.report import md_escape

QUESTION = "How much cargo can the Alat port handle now?"
TRAP_NAME = "markup-trap.txt"
# A source whose text is markup in every report format: it must come out as text.
TRAP_TEXT = (
    'The Brenholt Canal <script>alert("x")</script> carries *17 million tons* of grain & ore a year.\n'
    "# Not a heading\n- not a list\n1. not a numbered list | not a table cell\n"
    "The canal was dug by the engineer Oskar Brenholt in 1911, a [link](http://example.invalid) notwithstanding.\n"
)
TRAP_QUESTION = "How much grain does the Brenholt Canal carry?"


@pytest.fixture
def trap_index(cli: CLI, small_copy: Dirs) -> Dirs:
    (small_copy.corpus_dir / TRAP_NAME).write_text(TRAP_TEXT, encoding="utf-8")
    cli("index", "build")
    return small_copy


def test_csv_has_the_answer_passages_and_facts_with_offsets_into_the_source(cli: CLI, article_env: Dirs) -> None:
    data = cli.json("ask", QUESTION)
    rows = list(csv.DictReader(io.StringIO(cli("ask", "--format", "csv", QUESTION).stdout)))
    kinds = [row["kind"] for row in rows]
    assert kinds.count("passage") == len(data["passages"]) and kinds.count("fact") == len(data["facts"])
    assert kinds[0] == ("answer" if data["answer"] else "no answer")
    assert {row["question"] for row in rows} == {QUESTION}
    for row in rows:
        if row["kind"] in ("answer", "passage", "fact"):
            text = article_env.source_text(row["source"])
            assert text[int(row["start"]) : int(row["end"])] == row["text"]
    for row, passage in zip([r for r in rows if r["kind"] == "passage"], data["passages"]):
        assert (row["rank"], row["location"]) == (str(passage["rank"]), passage["location"])


def test_markdown_cites_every_passage(cli: CLI, article_env: Dirs) -> None:
    data = cli.json("ask", QUESTION)
    report = cli("ask", "-f", "md", QUESTION).stdout
    assert report.startswith("# regionqa answers")
    assert f"## {md_escape(QUESTION)}" in report
    for passage in data["passages"]:
        assert f"{passage['source']}, {passage['location']}, chars {passage['start']}–{passage['end']}" in md_unescape(report)
    if data["answer"]:
        assert f"**Answer:** {md_escape(data['answer']['text'])}" in report


def md_unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text).replace("&lt;", "<").replace("&amp;", "&")


class TextOf(HTMLParser):
    """The text of an HTML page and the tags in it, as a browser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)

    def handle_data(self, data) -> None:
        self.text.append(data)


def test_html_escapes_document_text_and_marks_the_answer(cli: CLI, trap_index: Dirs) -> None:
    data = cli.json("ask", TRAP_QUESTION)
    assert TRAP_NAME in {p["source"] for p in data["passages"]}
    page = cli("ask", "--format", "html", TRAP_QUESTION).stdout
    parsed = TextOf()
    parsed.feed(page)
    assert "script" not in parsed.tags and "a" not in parsed.tags, "no tag of the document reaches the page"
    text = "".join(parsed.text)
    assert '<script>alert("x")</script>' in text, "the document's markup is shown as text"
    assert "grain & ore" in text
    if data["answer"] and data["answer"]["source"] == TRAP_NAME:
        assert "mark" in parsed.tags


def test_markdown_escapes_document_text(cli: CLI, trap_index: Dirs) -> None:
    report = cli("ask", "--format", "md", TRAP_QUESTION).stdout
    assert "<script>" not in report and "&lt;script\\>" in report
    assert "*17 million tons*" not in report and "\\*17 million tons\\*" in report
    assert "\n> \\# Not a heading" in report and "\n> \\- not a list" in report and "\n> 1\\. not a numbered list \\|" in report
    assert md_unescape(md_escape(TRAP_TEXT)) == TRAP_TEXT


def test_a_batch_is_one_report_with_a_section_per_question(cli: CLI, small_copy: Dirs) -> None:
    questions = ["What is the annual cargo capacity of the Zarvonsk Maritime Gateway?", "Who directs the Quellmar Harbour Authority?", " "]
    report = cli("ask", "--batch", "-", "--format", "md", input="\n".join(questions) + "\n").stdout
    assert report.count("\n## ") == 2 and report.count("# regionqa answers") == 1
    page = cli("ask", "--batch", "-", "--format", "html", input="\n".join(questions) + "\n").stdout
    assert page.count("<section>") == 2 and SMALL_NAME in page
    rows = list(csv.DictReader(io.StringIO(cli("ask", "--batch", "-", "-f", "csv", input="\n".join(questions) + "\n").stdout)))
    assert {row["question"] for row in rows} == set(questions[:2])


def test_json_and_a_report_format_together_are_refused(cli: CLI, article_env: Dirs) -> None:
    assert_one_line_error(cli("ask", "--json", "--format", "md", QUESTION, exit_code=2), "--json", "--format md")
