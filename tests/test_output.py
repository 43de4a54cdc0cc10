"""Human output, colour, listings in table/csv/json, the co-occurrence network, and build progress."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import ARTICLE_NAME, CLI, Dirs
from regionqa import render
from regionqa.graph import cooccurrence_graph
from regionqa.models import Answer, Chunk, Fact, Hit, Result
from regionqa.progress import build_progress

QUESTION = "How much cargo can the Alat port handle now?"
ANSI = re.compile(r"\x1b\[([0-9;]*)m")
# SGR parameters that set a colour (foreground, background, 256/true colour, bright); 39/49 reset it.
COLOUR_PARAMETERS = {*map(str, range(30, 39)), *map(str, range(40, 49)), *map(str, range(90, 98)), *map(str, range(100, 108))}


def colour_codes(text: str) -> list[str]:
    return [codes for codes in ANSI.findall(text) if COLOUR_PARAMETERS & set(codes.split(";"))]


# ---------------------------------------------------------------- colour and streams


@pytest.mark.parametrize("args", [["ask", QUESTION], ["entities"], ["facts"], ["doctor"]], ids=lambda a: a[0])
def test_no_escape_codes_when_stdout_is_not_a_terminal(
    cli: CLI, article_env: Dirs, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    result = cli(*args, exit_code=None)
    assert result.stdout and "\x1b[" not in result.stdout and "\x1b[" not in result.stderr


@pytest.mark.parametrize("args", [["ask", QUESTION], ["entities"], ["doctor"]], ids=lambda a: a[0])
def test_colour_on_a_terminal_and_none_with_no_color(cli: CLI, article_env: Dirs, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # Rich then writes as to a terminal
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert colour_codes(cli(*args, exit_code=None).stdout), "a terminal gets colour"
    monkeypatch.setenv("NO_COLOR", "1")
    coloured = cli(*args, exit_code=None).stdout
    assert ANSI.search(coloured), "still a terminal: bold and underline stay"
    assert colour_codes(coloured) == []


def test_ask_prints_data_on_stdout_and_nothing_on_stderr(cli: CLI, article_env: Dirs) -> None:
    result = cli("ask", QUESTION)
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Answer: ") and "25 million tons" in lines[0]
    assert "25 million tons" in lines[1] and lines[1].startswith("  “")
    assert lines[2].startswith(f"  — {ARTICLE_NAME}, line ")
    assert lines.index("Passages") < next(i for i, line in enumerate(lines) if line.startswith("Facts"))
    header = next(line for line in lines if " label " in line and " value " in line)
    assert "where" in header
    assert "17.2 %" in cli("ask", "By what percent did rail freight between Kazakhstan and Uzbekistan increase?").stdout


def fake_result() -> Result:
    text = "The port grew. Its capacity rose from 15 to 25 million tons in 2023. It is busy."
    start = text.index("25 million tons")
    sentence_start = text.index("Its")
    sentence = text[sentence_start : text.index("2023.") + 5]
    answer = Answer("a.txt", start, start + 15, "25 million tons", 0.8, sentence, sentence_start, "QUANTITY")
    hit = Hit(Chunk("a.txt", 0, len(text), text, 1), 0.9, 1)
    fact = Fact("a.txt", 0, 4, "17.2 percent", "PERCENT", "x", value=0.172, unit="fraction")
    return Result("How much?", answer, [hit], [fact])


def test_the_answer_is_highlighted_in_its_sentence_and_in_the_passage() -> None:
    from rich.console import Console

    console = Console(record=True, force_terminal=True, color_system="truecolor", width=100, file=io.StringIO())
    render.print_result(fake_result(), console)
    html = console.export_html(inline_styles=True, clear=False)
    highlighted = [style for style in re.findall(r'<span style="([^"]*)">25 million tons</span>', html) if "underline" in style]
    assert len(highlighted) == 2, html  # once in the quoted sentence, once in the passage (the headline is bold only)
    text = console.export_text()
    assert text.index("Answer:") < text.index("Passages") < text.index("Facts")
    assert "17.2 %" in text


def test_piped_passages_keep_each_line_whole_and_indented() -> None:
    from rich.console import Console

    out = io.StringIO()
    result = fake_result()
    long_line = "word " * 60
    text = f"{long_line.strip()}\nsecond line"
    passage = Hit(Chunk("a.txt", 0, len(text), text, 2), 0.5, 1)
    console = Console(file=out, width=40, soft_wrap=True)  # not a terminal
    render.print_result(Result(result.question, None, [passage], [], message="nothing"), console)
    assert f"    {long_line.strip()}\n    second line\n" in out.getvalue()


@pytest.mark.parametrize(
    ("value", "value_max", "unit", "shown"),
    [
        (0.172, None, "fraction", "17.2 %"),
        (450e9, None, "USD", "450,000,000,000 USD"),
        (15e6, 25e6, "t", "15,000,000 – 25,000,000 t"),
        (1.5, None, "times", "1.5 times"),
        (2023, None, None, "2,023"),
        (None, None, "USD", ""),
    ],
)
def test_format_value(value, value_max, unit, shown: str) -> None:
    assert render.format_value(Fact("a", 0, 1, "x", "X", "", value=value, value_max=value_max, unit=unit)) == shown


# ---------------------------------------------------------------- entities and facts listings


def test_bar_lengths() -> None:
    assert render.bar(0, 10) == "" and render.bar(3, 0) == ""
    assert render.bar(10, 10) == "█" * render.BAR_WIDTH
    assert render.bar(1, 10_000) != "", "a positive count always shows"
    eighths = [
        8 * render.bar(n, 40).count("█") + (" " + render._EIGHTHS.strip()).index(render.bar(n, 40).lstrip("█") or " ") for n in range(1, 41)
    ]
    assert eighths == sorted(eighths) and eighths[-1] == 8 * render.BAR_WIDTH


def test_entities_table_is_a_bar_chart(cli: CLI, article_env: Dirs) -> None:
    out = cli("entities", "--label", "GPE").stdout
    assert out.splitlines()[0].endswith(f"entities in {ARTICLE_NAME}")
    first = next(line for line in out.splitlines() if "Azerbaijan" in line)
    assert "█" * render.BAR_WIDTH in first, "the most frequent entity has the longest bar"


def test_empty_listings_say_so(cli: CLI, article_env: Dirs) -> None:
    assert "no entities" in cli("entities", "--source", "nothing.txt").stdout
    assert "no facts" in cli("facts", "--source", "nothing.txt").stdout


def test_entities_csv_and_json_agree(cli: CLI, article_env: Dirs) -> None:
    as_json = cli.json("entities")
    assert cli("entities", "--format", "json").stdout == cli("entities", "--json").stdout
    rows = list(csv.DictReader(io.StringIO(cli("entities", "-f", "csv").stdout)))
    assert list(rows[0]) == ["text", "label", "count", "sources"]
    assert [(r["text"], r["label"], int(r["count"]), r["sources"].split("; ")) for r in rows] == [
        (e["text"], e["label"], e["count"], e["sources"]) for e in as_json
    ]


def test_facts_csv_and_json_agree(cli: CLI, article_env: Dirs) -> None:
    as_json = cli.json("facts")
    rows = list(csv.DictReader(io.StringIO(cli("facts", "--format", "csv").stdout)))
    assert list(rows[0]) == list(render.FACT_CSV_COLUMNS)
    assert len(rows) == len(as_json)
    for row, fact in zip(rows, as_json):
        assert row["text"] == fact["text"] and row["sentence"] == fact["sentence"] and int(row["start"]) == fact["start"]
        assert (float(row["value"]) if row["value"] else None) == fact["value"]
        assert row["unit"] == (fact["unit"] or "")


@pytest.mark.parametrize(
    "args",
    [
        ["entities", "--json", "--format", "csv"],
        ["facts", "--json", "--format", "table"],
        ["entities", "--graphml", "x.graphml", "--json"],
        ["entities", "--format", "xml"],
    ],
    ids=["entities json+csv", "facts json+table", "graphml+json", "unknown format"],
)
def test_conflicting_or_unknown_formats_are_bad_input(cli: CLI, article_env: Dirs, args: list[str]) -> None:
    result = cli(*args, exit_code=2)
    assert result.stdout == "" and "Traceback" not in result.stderr


# ---------------------------------------------------------------- the co-occurrence network


def test_cooccurrence_graph_counts_shared_sentences() -> None:
    sentences = {"a.txt": [(0, 10), (10, 20), (20, 30)], "b.txt": [(0, 50)]}
    mentions = [
        ("Baku", "GPE", "a.txt", 0, 4), ("SCO", "ORG", "a.txt", 5, 8),  # sentence 1: Baku, SCO
        ("Baku", "GPE", "a.txt", 11, 15), ("SCO", "ORG", "a.txt", 16, 19), ("Baku", "GPE", "a.txt", 17, 19),  # sentence 2, Baku twice
        ("Aliyev", "PERSON", "a.txt", 21, 27),  # sentence 3: alone
        ("Baku", "GPE", "b.txt", 0, 4), ("Aliyev", "PERSON", "b.txt", 10, 16),
        ("Baku", "ORG", "b.txt", 20, 24),  # another label: another node
    ]  # fmt: skip
    graph = cooccurrence_graph(mentions, sentences)
    assert dict(graph.nodes(data="count")) == {"GPE:Baku": 4, "ORG:SCO": 2, "PERSON:Aliyev": 2, "ORG:Baku": 1}
    assert graph.nodes["GPE:Baku"]["label"] == "Baku" and graph.nodes["GPE:Baku"]["entity_label"] == "GPE"
    weights = {tuple(sorted((a, b))): w for a, b, w in graph.edges(data="weight")}
    assert weights == {
        ("GPE:Baku", "ORG:SCO"): 2,
        ("GPE:Baku", "PERSON:Aliyev"): 1,
        ("GPE:Baku", "ORG:Baku"): 1,
        ("ORG:Baku", "PERSON:Aliyev"): 1,
    }
    assert not any(a == b for a, b in graph.edges), "no self-loops"


def test_empty_inputs_give_an_empty_graph() -> None:
    assert cooccurrence_graph([], {}).number_of_nodes() == 0


def test_graphml_export_matches_a_brute_force_count(cli: CLI, article_env: Dirs, tmp_path: Path) -> None:
    import networkx as nx

    from regionqa import engine as engine_mod
    from regionqa.config import Settings

    path = tmp_path / "net.graphml"
    result = cli("entities", "--graphml", str(path))
    assert result.stdout == "" and str(path) in result.stderr
    graph = nx.read_graphml(path)
    entities = cli.json("entities")
    assert {f"{e['label']}:{e['text']}": e["count"] for e in entities} == dict(graph.nodes(data="count"))
    assert graph.edges["GPE:Azerbaijan", "GPE:Kazakhstan"]["weight"] >= 1
    # Brute force: every sentence of the article, every pair of entities starting inside it.
    engine = engine_mod.open_engine(Settings(corpus_dir=article_env.corpus_dir, index_dir=article_env.index_dir))
    try:
        mentions = engine.store.all_entities()
        expected: dict[tuple[str, str], int] = {}
        for sentence in engine.store.sentences(ARTICLE_NAME, 0, 10**9):
            inside = sorted({f"{label}:{text}" for text, label, _, start, _ in mentions if sentence.start <= start < sentence.end})
            for i, a in enumerate(inside):
                for b in inside[i + 1 :]:
                    expected[(a, b)] = expected.get((a, b), 0) + 1
    finally:
        engine.close()
    assert {tuple(sorted((a, b))): int(w) for a, b, w in graph.edges(data="weight")} == expected


def test_graphml_to_stdout_with_filters(cli: CLI, article_env: Dirs) -> None:
    import networkx as nx

    out = cli("entities", "--label", "person", "--graphml", "-").stdout
    graph = nx.parse_graphml(out)
    assert graph.number_of_nodes() > 0 and {label for _, label in graph.nodes(data="entity_label")} == {"PERSON"}


def test_graphml_to_an_unwritable_path_is_bad_input(cli: CLI, article_env: Dirs, tmp_path: Path) -> None:
    result = cli("entities", "--graphml", str(tmp_path / "missing-folder" / "net.graphml"), exit_code=2)
    assert "cannot write" in result.stderr and result.stderr.count("\n") == 1


# ---------------------------------------------------------------- progress


def test_build_progress_is_off_when_not_a_terminal_or_quiet() -> None:
    from rich.console import Console

    with build_progress(Console(file=io.StringIO())) as progress:
        assert progress is None
    with build_progress(Console(file=io.StringIO(), force_terminal=True), enabled=False) as progress:
        assert progress is None


def test_build_progress_draws_the_stages_on_a_terminal() -> None:
    from rich.console import Console

    out = io.StringIO()
    with build_progress(Console(file=out, force_terminal=True, width=120)) as progress:
        assert progress is not None
        progress("analysed", 0, 2)
        progress("chunked", 300, -1)
        progress("analysed", 1, 2)
        progress("embedded", 128, -1)
        progress("chunked", 500, -1)
        progress("analysed", 2, 2)
        progress("embedded", 256, -1)
        tasks = {task.description: task for task in progress.progress.tasks}
        assert (tasks["analysing sources"].completed, tasks["analysing sources"].total) == (2, 2)
        assert (tasks["embedding chunks"].completed, tasks["embedding chunks"].total) == (256, 500)
        progress("exporting", 0, -1)
        progress("exporting", 1, -1)
        assert all(task.finished for task in progress.progress.tasks if task.description != "embedding chunks")
        progress.progress.refresh()
    drawn = out.getvalue()
    assert "analysing sources" in drawn and "embedding chunks" in drawn and "256/500" in drawn and "elapsed" in drawn


def test_build_progress_takes_reports_from_two_threads() -> None:
    """A build reports "embedded" from its embedding thread while the main thread reports the rest."""
    import threading

    from rich.console import Console

    with build_progress(Console(file=io.StringIO(), force_terminal=True, width=120)) as progress:
        assert progress is not None

        def embedding() -> None:
            for done in range(0, 2000, 5):
                progress("embedded", done, -1)

        worker = threading.Thread(target=embedding)
        worker.start()
        for cut in range(0, 4000, 2):
            progress("chunked", cut, -1)
        worker.join()
        bars = [task for task in progress.progress.tasks if task.description == "embedding chunks"]
        assert len(bars) == 1 and bars[0].completed == 1995 and bars[0].total == 3998


def test_pipeline_reports_analysed_then_chunked_and_embedded(tmp_path: Path) -> None:
    from fakes import fake_models
    from regionqa import indexing
    from regionqa.config import Settings

    corpus = tmp_path / "c"
    corpus.mkdir()
    for n in range(3):
        (corpus / f"doc{n}.txt").write_text(
            " ".join(f"Sentence {i} of document {n} is here." for i in range(40 * (n + 1))), encoding="utf-8"
        )
    events: list[tuple[str, int, int]] = []
    report = indexing.build(
        Settings(corpus_dir=corpus, index_dir=tmp_path / "i"), progress=lambda *e: events.append(e), models=fake_models()
    )
    assert events[0] == ("analysed", 0, 3)
    analysed = [done for stage, done, total in events if stage == "analysed"]
    chunked = [done for stage, done, _ in events if stage == "chunked"]
    embedded = [done for stage, done, _ in events if stage == "embedded"]
    assert analysed == sorted(analysed) and analysed[-1] == 3
    assert chunked == sorted(chunked) and chunked[-1] == report.chunks_embedded
    assert embedded == sorted(embedded) and embedded[-1] == report.chunks_embedded
    assert all(total == 3 for stage, _, total in events if stage == "analysed")
    for index, (stage, done, _) in enumerate(events):
        if stage == "embedded":  # never ahead of the chunks cut so far
            assert done <= max(d for s, d, _ in events[:index] if s == "chunked")


def test_a_build_without_changes_reports_only_the_query_encoder(index_copy: Dirs) -> None:
    from regionqa import indexing
    from regionqa.config import Settings

    events: list[tuple[str, int, int]] = []
    indexing.build(Settings(corpus_dir=index_copy.corpus_dir, index_dir=index_copy.index_dir), progress=lambda *e: events.append(e))
    assert events == [("exporting", 0, -1), ("exporting", 1, -1)]


def test_no_progress_bar_when_stderr_is_not_a_terminal_and_quiet_hides_notes(cli: CLI, index_copy: Dirs) -> None:
    result = cli("index", "build", "--full")
    assert "━" not in result.stderr and "analysing" not in result.stderr
    assert "1 added" in result.stderr
    # -q: the note that the index is being built is not printed; the answer still is.
    (index_copy.index_dir / "CURRENT").unlink()
    for generation in index_copy.index_dir.glob("gen-*"):  # no index left (a built one would be refused, not rebuilt)
        shutil.rmtree(generation)
    quiet = cli("-q", "ask", "--json", QUESTION)
    assert quiet.stderr == "" and json.loads(quiet.stdout)["passages"]
