"""PDF, DOCX and web pages end to end: indexed with offsets that hold, cited by page or line, added
from folders (with --include/--exclude) and from URLs served on 127.0.0.1."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from conftest import ARTICLE_NAME, CLI, Dirs
from documents import Reply, make_docx, make_pdf, serving
from regionqa import corpus as corpus_mod
from regionqa import fetch, indexing
from regionqa import store as store_mod
from regionqa.config import Settings
from regionqa.sources import read_file

REVIEW_PAGES = [
    [
        "Quellmar Transport Review 2032",
        "This review covers the ports, ferries and railways around Lake Quellmar, a made-up lake",
        "used to test regionqa, and the traffic that crossed it in the year 2032.",
    ],
    [
        "Rail ferries",
        "The Velmora rail ferry crossed Lake Quellmar 312 times in 2032, carrying grain and steel",
        "from the western railhead at Tamsk to the Zarvonsk Maritime Gateway on the eastern shore.",
    ],
    ["Outlook", "A fourth berth at Zarvonsk is planned for 2035."],
]
REVIEW_QUESTION = "How many times did the Velmora rail ferry cross Lake Quellmar in 2032?"
MEMO_BLOCKS = [
    "# Harbour memo",
    "The Quellmar Harbour Authority appointed Elvira Tamsk as its director in 2030.",
    [["Berth", "Opened"], ["Berth three", "2031"]],
]
MEMO_QUESTION = "Who did the Quellmar Harbour Authority appoint as its director?"
PORT_PAGE = b"""<!doctype html><html><head><title>Zarvonsk</title></head><body>
<nav><a href="/">Home</a> | <a href="/about">About the Quellmar news site</a></nav>
<main><article><h1>The Zarvonsk Maritime Gateway</h1>
<p>The Zarvonsk Maritime Gateway is a fictional deep-water port on the eastern shore of Lake Quellmar.</p>
<p>Its annual cargo capacity reached 42 million tons in 2031 after the third berth opened.</p></article></main>
<footer>Copyright 2031 Quellmar News. Cookie policy and newsletter sign-up.</footer></body></html>"""
PORT_QUESTION = "What is the annual cargo capacity of the Zarvonsk Maritime Gateway?"
NOTES_TEXT = b"Field notes.\nThe Tamsk railhead loads 40 grain wagons a day.\n"


@pytest.fixture(scope="module")
def server():
    routes = {
        "/port.html": Reply(PORT_PAGE),
        "/notes.txt": Reply(NOTES_TEXT, "text/plain; charset=utf-8"),
        "/review.pdf": Reply(make_pdf(REVIEW_PAGES), "application/pdf"),
        "/big.txt": Reply(b"x" * 5000, "text/plain"),
    }
    with serving(routes) as running:
        yield running


def host_folder(server) -> str:
    return f"web/127.0.0.1_{server.httpd.server_address[1]}"


def write_documents(folder: Path) -> None:
    (folder / "old").mkdir(parents=True)
    (folder / "review.pdf").write_bytes(make_pdf(REVIEW_PAGES))
    make_docx(folder / "memo.docx", MEMO_BLOCKS)
    (folder / "notes.txt").write_text("Notes that --include leaves out.", encoding="utf-8")
    (folder / "old" / "review-2031.pdf").write_bytes(make_pdf([["An older review that --exclude leaves out."]]))
    (folder / "~$memo.docx").write_bytes(b"Word's lock file")


# ---------------------------------------------------------------- offsets and pages, per format


@pytest.fixture(scope="module")
def formats_store(tmp_path_factory: pytest.TempPathFactory, server):
    """An index of one PDF, one DOCX and one fetched web page (no article), opened read-only."""
    root = tmp_path_factory.mktemp("formats")
    write_documents(root / "docs")
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index")
    report = corpus_mod.add(settings, [str(root / "docs"), server.url("/port.html")], include=["*.pdf", "*.docx"], exclude=["old/*"])
    assert sorted(report.copied) == ["docs/memo.docx", "docs/review.pdf", f"{host_folder(server)}/port.html"], report
    generation = store_mod.current_generation(settings.index_dir)
    opened = store_mod.Store(generation, store_mod.read_manifest(generation))
    yield opened, settings.corpus_dir, {"pdf": "docs/review.pdf", "docx": "docs/memo.docx", "web-html": f"{host_folder(server)}/port.html"}
    opened.close()


@pytest.mark.parametrize("kind", ["pdf", "docx", "web-html"])
def test_every_span_points_at_the_source_text(formats_store, kind: str) -> None:
    store, corpus, names = formats_store
    name = names[kind]
    text = store.source_text(name)
    assert text == read_file(corpus / name, name)[0].text, "the stored text is the text the reader gives"
    ids = [row[0] for row in store.db.execute("SELECT id FROM chunks WHERE source = ?", (name,))]
    chunks = store.chunks(ids).values()
    assert chunks
    spans = [*chunks, *store.sentences(name, 0, len(text)), *store.entities(name, 0, len(text)), *store.figures(name, 0, len(text))]
    assert len(spans) > len(chunks)
    for span in spans:
        assert text[span.start : span.end] == span.text, (kind, span)


def test_pdf_locations_are_the_pages_the_text_is_on(formats_store) -> None:
    from pypdf import PdfReader

    store, corpus, names = formats_store
    name = names["pdf"]
    pages = [" ".join(page.extract_text().split()) for page in PdfReader(corpus / name).pages]
    text = store.source_text(name)
    for sentence in store.sentences(name, 0, len(text)):
        page = int(store.location(name, sentence.start).removeprefix("p. "))
        assert " ".join(sentence.text.split()) in pages[page - 1], (sentence.text, page)
    assert store.location(name, text.index("The Velmora rail ferry")) == "p. 2"
    assert store.location(names["docx"], store.source_text(names["docx"]).index("Berth three")) == "line 5"


def test_the_sources_table_keeps_pages_only_for_pdfs(formats_store) -> None:
    store, _, names = formats_store
    rows = dict(store.db.execute("SELECT name, units FROM sources"))
    pdf = json.loads(rows[names["pdf"]])
    assert pdf["kind"] == "page" and pdf["starts"][0] == 0 and len(pdf["starts"]) == 3
    assert rows[names["docx"]] is None and rows[names["web-html"]] is None


# ---------------------------------------------------------------- the CLI


def stored_text(dirs: Dirs, name: str) -> str:
    """A source's text as the index keeps it (for HTML, the readable text, not the file)."""
    opened = store_mod.open_store(
        dirs.index_dir, indexing.expected_manifest(Settings(corpus_dir=dirs.corpus_dir, index_dir=dirs.index_dir))
    )
    try:
        return opened.source_text(name)
    finally:
        opened.close()


def pages_of(location: str) -> range:
    """The pages a "p. 3" or "pp. 3–4" location names."""
    first, _, last = location.removeprefix("pp. ").removeprefix("p. ").partition("–")
    return range(int(first), int(last or first) + 1)


def passage_cites(data: dict, source: str) -> list[dict]:
    return [p for p in data["passages"] if p["source"] == source]


def test_add_a_folder_with_globs_then_ask_cites_page_and_line(cli: CLI, index_copy: Dirs, tmp_path: Path) -> None:
    write_documents(tmp_path / "docs")
    report = cli.json("index", "add", str(tmp_path / "docs"), "--include", "*.pdf", "--include", "*.DOCX", "--exclude", "old/*")
    assert sorted(report["copied"]) == ["docs/memo.docx", "docs/review.pdf"] and report["errors"] == []
    assert report["build"]["added"] == ["docs/memo.docx", "docs/review.pdf"] and report["build"]["unchanged"] == [ARTICLE_NAME]

    data = cli.json("ask", REVIEW_QUESTION)
    [first, *_] = passage_cites(data, "docs/review.pdf")
    assert re.fullmatch(r"pp?\. [\d–]+", first["location"]) and "312 times" in first["text"]
    assert 2 in pages_of(first["location"]), "the passage runs over page 2, where the answer is"
    assert data["answer"]["source"] == "docs/review.pdf" and data["answer"]["location"] == "p. 2"
    human = cli("ask", REVIEW_QUESTION).stdout
    assert re.search(rf"^\[\d\] docs/review\.pdf, {re.escape(first['location'])}, chars \d+–\d+", human, re.MULTILINE), human

    data = cli.json("ask", MEMO_QUESTION)
    [memo, *_] = passage_cites(data, "docs/memo.docx")
    assert memo["location"] == "line 1" and "Elvira Tamsk" in memo["text"]
    assert "docs/memo.docx, line 1" in cli("ask", MEMO_QUESTION).stdout
    # An article passage keeps its line number too.
    article = passage_cites(cli.json("ask", "--top-k", "10", "Who is the President of Kazakhstan?"), ARTICLE_NAME)
    text = index_copy.source_text(ARTICLE_NAME)
    assert article and all(p["location"] == f"line {text.count(chr(10), 0, p['start']) + 1}" for p in article)


def test_add_urls_then_ask_cites_the_pages(cli: CLI, index_copy: Dirs, server) -> None:
    web = host_folder(server)
    urls = [server.url(path) for path in ("/port.html", "/notes.txt", "/review.pdf")]
    report = cli.json("index", "add", *urls)
    assert sorted(report["copied"]) == [f"{web}/notes.txt", f"{web}/port.html", f"{web}/review.pdf"], report
    assert (index_copy.corpus_dir / web / "port.html").read_bytes() == PORT_PAGE, "the page is kept as it was served"

    data = cli.json("ask", PORT_QUESTION)
    [page, *_] = passage_cites(data, f"{web}/port.html")
    stored = stored_text(index_copy, f"{web}/port.html")
    assert stored[page["start"] : page["end"]] == page["text"] and "42 million tons" in page["text"]
    assert page["location"] == f"line {stored.count(chr(10), 0, page['start']) + 1}"
    assert "Cookie policy" not in stored and "About the Quellmar" not in stored, "boilerplate is left out"
    assert f"{web}/port.html, line " in cli("ask", PORT_QUESTION).stdout

    data = cli.json("ask", REVIEW_QUESTION)
    assert 2 in pages_of(passage_cites(data, f"{web}/review.pdf")[0]["location"])

    again = cli.json("index", "add", urls[0])
    assert again["copied"] == [] and "already in the corpus" in again["skipped"][0]
    assert again["build"]["chunks_embedded"] == 0


@pytest.mark.parametrize(("path", "words"), [("/missing.html", ["404 Not Found"]), ("/big.txt", ["limit"])])
def test_a_failed_download_is_a_one_line_error(
    cli: CLI, isolated_dirs: Dirs, server, monkeypatch: pytest.MonkeyPatch, path: str, words: list[str]
) -> None:
    monkeypatch.setattr(fetch, "MAX_BYTES", 1000)
    url = server.url(path)
    result = cli("index", "add", url, exit_code=2)
    assert result.stderr.startswith("error: nothing was added: ") and result.stderr.count("\n") == 1, result.stderr
    assert url in result.stderr and all(word in result.stderr for word in words), result.stderr
    assert not (isolated_dirs.corpus_dir / "web").exists()


def test_a_folder_with_nothing_to_add_says_so(cli: CLI, isolated_dirs: Dirs, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("Some notes.", encoding="utf-8")
    result = cli("index", "add", str(tmp_path / "docs"), "--include", "*.pdf", exit_code=2)
    assert "docs: no file to add with --include/--exclude as given" in result.stderr and result.stderr.count("\n") == 1


def test_pdf_bytes_are_not_changed_by_the_fixture_writer() -> None:
    """The hand-made PDF is valid for pypdf without repairs (so the tests above test regionqa, not a repair)."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(make_pdf(REVIEW_PAGES)), strict=True)
    assert len(reader.pages) == 3 and "312 times" in reader.pages[1].extract_text()
