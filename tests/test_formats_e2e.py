"""Issue 12 through the real CLI: scans, email, tables, slides, books and legacy encodings are indexed,
a question about each is answered with its citation (page, row, slide, chapter, attachment) and the
source's metadata, its entities and facts are listed, `ask --source/--since/--until` keep to the
sources asked for, and bad files of each new kind get one line while the rest is indexed."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import CLI, Dirs
from documents import (
    Reply,
    make_email,
    make_epub,
    make_mbox,
    make_pdf,
    make_png,
    make_pptx,
    make_scanned_pdf,
    make_xlsx,
    mix_pdfs,
    serving,
)
from regionqa import corpus as corpus_mod
from regionqa.config import CORPUS_DIR_ENV, DATA_DIR_ENV, INDEX_DIR_ENV, Settings

REVIEW_TEXT_PAGES = [
    ["Quellmar Transport Review 2032", "This review covers the ports and ferries around Lake Quellmar, a made-up lake."],
    ["Outlook", "A fourth berth at the Zarvonsk Maritime Gateway is planned for 2035."],
]
REVIEW_SCANNED_PAGE = [
    "Rail ferries",
    "The Velmora rail ferry crossed Lake Quellmar 312 times in 2032, carrying",
    "grain and steel from the western railhead at Tamsk to the Zarvonsk",
    "Maritime Gateway on the eastern shore.",
]
PAGE_HTML = b"""<html><head><title>Oskemen dry port opens</title><meta name="author" content="Dana Serik">
<meta property="article:published_time" content="2024-04-10T08:00:00Z"></head><body><article>
<p>The Oskemen dry port opened on the Irtysh river in April 2024 with room for 900 containers.</p></article></body></html>"""

# (file in the corpus, question, source cited, location cited, words the cited passage holds)
CASES = {
    "scanned page": (
        "review.pdf",
        "What did the Velmora rail ferry carry?",
        "review.pdf",
        "p. 2",
        "grain and steel",
    ),
    "image": ("scan.png", "How many tons of grain does the Misla silo store?", "scan.png", "p. 1", "60,000 tons"),
    "attachment": (
        "mail.eml",
        "How many grain wagons does the Tamsk railhead load a day?",
        "mail.eml#report.pdf",
        "p. 1",
        "40 grain wagons",
    ),
    "mailbox": ("archive.mbox", "When did the Kerven bridge open to trucks?", "archive.mbox#2", "line 6", "May 2031"),
    "xlsx": (
        "trade.xlsx",
        "What was the trade of Uzbekistan with Lake Quellmar in 2023?",
        "trade.xlsx",
        "Sheet1 row 3",
        "201.7 million USD",
    ),
    "csv": (
        "ports.csv",
        "How many ferry crossings did the port of Dorvan have in 2032?",
        "ports.csv",
        "row 3",
        "Ferry crossings 2032 is 415",
    ),
    "pptx": ("deck.pptx", "When will the Kuryk ferry terminal open its second berth?", "deck.pptx", "slide 2", "2033"),
    "epub": ("book.epub", "How long does the Tervel canal freeze every winter?", "book.epub", "chapter 2: The Tervel canal", "six weeks"),
}
RUSSIAN_FILES = {
    "aktau-cp1251.txt": (
        "cp1251",
        "Порт Актау на Каспийском море обработал 7,2 миллиона тонн грузов в 2023 году, сообщил директор порта Ерлан Ахметов.",
    ),
    "ferry-koi8r.txt": ("koi8-r", "Паром Велмора пересёк озеро Квелмар 312 раз в 2032 году и перевёз зерно и сталь из Тамска."),
}


def write_corpus(folder: Path) -> None:
    """One file of each new kind, made here."""
    folder.mkdir(parents=True)
    text_pages = make_pdf(REVIEW_TEXT_PAGES)
    review = mix_pdfs((text_pages, 0), (make_scanned_pdf([REVIEW_SCANNED_PAGE]), 0), (text_pages, 1))
    (folder / "review.pdf").write_bytes(review)
    (folder / "scan.png").write_bytes(make_png(["Misla silo report", "The Misla silo stores 60,000 tons of grain."]))
    report = make_pdf([["Tamsk railhead report", "The Tamsk railhead loads 40 grain wagons a day."]])
    (folder / "mail.eml").write_bytes(
        make_email("Tamsk railhead report", "Ana Ivanova <ana@example.org>", "Bo Lind <bo@example.org>", "Tue, 05 Mar 2024 10:00:00 +0000",
                   "Bo, the railhead report is attached. Ana", attachments=[("report.pdf", report)])
    )  # fmt: skip
    make_mbox(folder / "archive.mbox", [
        make_email("Ferry timetable", "port@example.org", "all@example.org", "Mon, 04 Mar 2024 09:00:00 +0000",
                   "The Oskemen ferry runs twice a week in winter."),
        make_email("Bridge news", "roads@example.org", "all@example.org", "Fri, 08 Mar 2024 09:00:00 +0000",
                   "The Kerven bridge over the Quell river opened to trucks in May 2031."),
    ])  # fmt: skip
    make_xlsx(folder / "trade.xlsx", {"Sheet1": [
        ["Country", "Trade with Lake Quellmar 2023 (million USD)"], ["Kazakhstan", 529.4], ["Uzbekistan", 201.7], ["Turkmenistan", 88.2],
    ]}, title="Quellmar trade 2023")  # fmt: skip
    (folder / "ports.csv").write_text(
        "Port,Ferry crossings 2032,Capacity (million tons)\nZarvonsk,1200,42\nDorvan,415,7.5\n", encoding="utf-8"
    )
    make_pptx(folder / "deck.pptx", [
        ("Caspian ferries", ["The Alat ferry terminal handles 25 million tons a year."]),
        ("Kuryk", ["The Kuryk ferry terminal will open its second berth in 2033."]),
    ], title="Ferry terminals", author="Aliya Nurova")  # fmt: skip
    make_epub(folder / "book.epub", [
        ("The lake", ["Lake Quellmar lies between the Tamsk plain and the Zarvonsk hills."]),
        ("The Tervel canal", ["The Tervel canal freezes for six weeks every winter, and barges wait at Dorvan."]),
    ], title="Waters of Quellmar", author="Ivan Petrov", date="2023-09-01")  # fmt: skip
    for name, (encoding, text) in RUSSIAN_FILES.items():
        (folder / name).write_bytes(text.encode(encoding))


@pytest.fixture(scope="module")
def formats_index(tmp_path_factory: pytest.TempPathFactory) -> Dirs:
    """The new kinds of files added with `index add` (OCR'd once for the module) and a web page fetched from 127.0.0.1."""
    root = tmp_path_factory.mktemp("formats-e2e")
    write_corpus(root / "incoming")
    dirs = Dirs(corpus_dir=root / "corpus", index_dir=root / "index")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DATA_DIR_ENV, str(root / "user-data"))  # the OCR cache, shared by the tests of this module
        settings = Settings.from_environment(dirs.corpus_dir, dirs.index_dir)
        with serving({"/oskemen.html": Reply(PAGE_HTML)}) as server:
            report = corpus_mod.add(settings, [*sorted((root / "incoming").iterdir()), server.url("/oskemen.html")])
    assert report.errors == [] and len(report.copied) == 11, report
    assert report.build.errors == [], report.build.errors
    return dirs


@pytest.fixture
def formats_env(formats_index: Dirs, monkeypatch: pytest.MonkeyPatch) -> Dirs:
    monkeypatch.setenv(INDEX_DIR_ENV, str(formats_index.index_dir))
    monkeypatch.setenv(CORPUS_DIR_ENV, str(formats_index.corpus_dir))
    monkeypatch.setenv(DATA_DIR_ENV, str(formats_index.corpus_dir.parent / "user-data"))
    return formats_index


def test_every_file_of_the_new_kinds_is_indexed(cli: CLI, formats_env: Dirs) -> None:
    names = {row["name"] for row in cli.json("index", "status")["sources"]}
    expected = {case[2] for case in CASES.values()} | {"mail.eml", "archive.mbox#1", *RUSSIAN_FILES}
    assert expected <= names, expected - names
    assert any(name.startswith("web/127.0.0.1_") for name in names)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_a_question_is_answered_with_the_citation_of_its_kind(cli: CLI, formats_env: Dirs, kind: str) -> None:
    _, question, source, location, words = CASES[kind]
    data = cli.json("ask", question)
    cited = [p for p in data["passages"] if p["source"] == source]
    assert cited, (kind, [p["source"] for p in data["passages"]])
    best = next(p for p in cited if words in p["text"])
    # A passage is cited where it starts (a page or slide range when it runs on): of the same kind as the answer's.
    kind_of = re.sub(r"\d.*", "", location)
    assert best["location"].startswith((kind_of, kind_of.replace("p. ", "pp. "), kind_of.replace("slide ", "slides "))), (kind, best)
    answer = data["answer"]
    assert answer is not None and answer["source"] == source, (
        kind,
        answer,
        data["message"],
        [(p["source"], p["text"][:80]) for p in data["passages"]],
    )
    assert answer["location"] == location, (kind, answer["location"])
    human = cli("ask", question).stdout
    assert f"{source}, {location}" in human, human


def test_citations_carry_the_source_metadata(cli: CLI, formats_env: Dirs) -> None:
    data = cli.json("ask", CASES["attachment"][1])
    assert data["answer"]["meta"]["from"] == "Ana Ivanova <ana@example.org>" and data["answer"]["meta"]["date"] == "2024-03-05"
    assert "“Tamsk railhead report”, Ana Ivanova <ana@example.org>, 2024-03-05" in cli("ask", CASES["attachment"][1]).stdout
    data = cli.json("ask", "How many containers does the Oskemen dry port have room for?")
    page = data["answer"]
    assert page["source"].startswith("web/127.0.0.1_"), page
    assert page["meta"]["title"] == "Oskemen dry port opens" and page["meta"]["author"] == "Dana Serik"
    assert page["meta"]["date"] == "2024-04-10" and page["meta"]["url"].endswith("/oskemen.html")
    human = cli("ask", "How many containers does the Oskemen dry port have room for?").stdout
    assert "“Oskemen dry port opens”, Dana Serik, 2024-04-10, http://127.0.0.1:" in human


@pytest.mark.parametrize("name", sorted(RUSSIAN_FILES))
def test_russian_files_in_legacy_encodings_are_decoded_and_found(cli: CLI, formats_env: Dirs, name: str) -> None:
    text = RUSSIAN_FILES[name][1]
    question = {
        "aktau-cp1251.txt": "Сколько грузов обработал порт Актау в 2023 году?",
        "ferry-koi8r.txt": "Сколько раз паром Велмора пересёк озеро Квелмар?",
    }[name]
    data = cli.json("ask", question)
    [passage, *_] = [p for p in data["passages"] if p["source"] == name]
    assert passage["text"] == text and passage["location"] == "line 1"
    facts = cli.json("facts", "--source", name)
    assert any(fact["text"] in ("2023 году", "2023", "2032 году", "2032") or fact["label"] == "DATE" for fact in facts), facts


@pytest.mark.parametrize("kind", sorted(CASES))
def test_entities_and_facts_are_listed_for_each_kind(cli: CLI, formats_env: Dirs, kind: str) -> None:
    source = CASES[kind][2]
    facts = cli.json("facts", "--source", source)
    entities = cli.json("entities", "--source", source)
    assert facts and all(fact["source"] == source for fact in facts), (kind, facts)
    assert entities and all(row["sources"] == [source] for row in entities), (kind, entities)
    if kind == "xlsx":  # a cell's figure comes with the unit of its header
        money = [fact for fact in facts if fact["label"] == "MONEY"]
        assert {(fact["value"], fact["unit"]) for fact in money} >= {(201_700_000, "USD"), (529_400_000, "USD")}, money


def test_ask_keeps_to_the_sources_chosen_and_still_fills_top_k(cli: CLI, formats_env: Dirs) -> None:
    from regionqa import indexing
    from regionqa import store as store_mod

    question = "Which ports and ferries are mentioned?"
    data = cli.json("ask", "--source", "archive.mbox*", "--source", "*.pptx", "--top-k", "3", question)
    assert data["passages"] and {p["source"] for p in data["passages"]} <= {"archive.mbox#1", "archive.mbox#2", "deck.pptx"}
    # Dated March 2024: the message and its attachment, the two mailbox messages; not the book (2023) nor undated files.
    data = cli.json("ask", "--since", "2024-03", "--until", "2024-03-31", "--top-k", "10", question)
    sources = {p["source"] for p in data["passages"]}
    assert sources <= {"mail.eml", "mail.eml#report.pdf", "archive.mbox#1", "archive.mbox#2"} and all(
        "2024-03-01" <= p["meta"]["date"] <= "2024-03-31" for p in data["passages"]
    )
    store = store_mod.open_store(formats_env.index_dir, indexing.expected_manifest(Settings.from_environment()))
    try:
        chunks = len(store.chunk_ids_of(["mail.eml", "mail.eml#report.pdf", "archive.mbox#1", "archive.mbox#2"]))
    finally:
        store.close()
    assert len(data["passages"]) == min(10, chunks), "top_k is filled from the matching sources"
    result = cli("ask", "--since", "2040", question, exit_code=2)
    assert result.stderr.startswith("error: no indexed source matches --since 2040") and result.stderr.count("\n") == 1
    result = cli("ask", "--until", "2024-02-30", question, exit_code=2)
    assert "--until '2024-02-30' is not a date" in result.stderr and result.stderr.count("\n") == 1


def test_bad_files_of_the_new_kinds_get_one_line_each_and_nothing_indexed_is_lost(
    cli: CLI, formats_index: Dirs, isolated_dirs: Dirs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import io
    import zipfile

    shutil.copytree(formats_index.corpus_dir, isolated_dirs.corpus_dir)
    shutil.copytree(formats_index.index_dir, isolated_dirs.index_dir, ignore=shutil.ignore_patterns(".lock"))
    monkeypatch.setenv(DATA_DIR_ENV, str(formats_index.corpus_dir.parent / "user-data"))  # the scans' OCR is cached there
    before = {row["name"] for row in cli.json("index", "status")["sources"]}
    corpus = isolated_dirs.corpus_dir
    whole = make_xlsx(tmp_path / "whole.xlsx", {"Sheet1": [["Country", "Trade"], ["Kazakhstan", 1]]}).read_bytes()
    (corpus / "cut.xlsx").write_bytes(whole[: len(whole) // 2])
    fake = io.BytesIO()
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("notes.txt", "A zip, not a Word document.")
    (corpus / "fake.docx").write_bytes(fake.getvalue())
    make_mbox(corpus / "broken.mbox", [
        make_email("Kept", "a@example.org", "b@example.org", "Mon, 04 Mar 2024 09:00:00 +0000", "The Dorvan lock opened in 2030."),
        b"Subject: cut short\nFrom: c@example.org\n\n",
    ])  # fmt: skip
    blank = io.BytesIO()
    from documents import render_page

    render_page([]).save(blank, "PNG")
    (corpus / "blank.png").write_bytes(blank.getvalue())
    report = cli.json("index", "build")
    expected = {
        "cut.xlsx": "not a readable XLSX file",
        "fake.docx": "not a readable DOCX file",
        "broken.mbox#2": "the message has no text",
        "blank.png": "OCR found no text",
    }
    for name, words in expected.items():
        lines = [line for line in report["errors"] if line.startswith(f"{name}:")]
        assert len(lines) == 1 and words in lines[0] and "\n" not in lines[0], (name, report["errors"])
    assert len(report["errors"]) == len(expected), report["errors"]
    assert report["added"] == ["broken.mbox#1"] and sorted(report["unchanged"]) == sorted(before)
    after = {row["name"] for row in cli.json("index", "status")["sources"]}
    assert after == before | {"broken.mbox#1"}
    assert json.loads(json.dumps(report))["removed"] == []


def test_the_api_keeps_to_the_sources_chosen(formats_env: Dirs) -> None:
    from fastapi.testclient import TestClient

    from regionqa.server import create_app

    with TestClient(create_app(Settings.from_environment()), base_url="http://127.0.0.1") as client:  # a loopback Host
        reply = client.post("/ask", json={"question": "Which ports are mentioned?", "top_k": 3, "source": ["*.csv"]})
        assert reply.status_code == 200 and {p["source"] for p in reply.json()["passages"]} == {"ports.csv"}
        reply = client.post("/ask", json={"question": "Which ports are mentioned?", "since": "2040"})
        assert reply.status_code == 400 and "no indexed source matches --since 2040" in reply.json()["error"]
