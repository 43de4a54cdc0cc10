"""End to end through the real CLI with the real models: ask, batch, entities, facts, help, errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from conftest import ARTICLE_NAME, CLI, Dirs, assert_one_line_error

# Questions of several kinds (and one the article cannot answer); no test asserts what their answers are.
QUESTIONS = [
    "How much cargo can the Alat port handle now?",
    "Who is the President of Kazakhstan?",
    "What was the trade turnover between Azerbaijan and Uzbekistan?",
    "By what percent did rail freight between Kazakhstan and Uzbekistan increase?",
    "Which organisations does Kazakhstan belong to?",
    "What is the boiling point of mercury on Mars?",
]


def check_spans(dirs: Dirs, data: dict) -> None:
    """Every span of an `ask --json` object is found at its offsets in its source file, and the
    answer and passages name the line they start on."""
    answer = data["answer"]
    if answer is not None:
        text = dirs.source_text(answer["source"])
        assert text[answer["start"] : answer["end"]] == answer["text"]
        assert answer["text"] in answer["sentence"]
        assert answer["sentence"] in text
        assert answer["location"] == f"line {text.count(chr(10), 0, answer['start']) + 1}"
    else:
        assert data["message"]
    for passage in data["passages"]:
        text = dirs.source_text(passage["source"])
        assert text[passage["start"] : passage["end"]] == passage["text"]
        assert passage["location"] == f"line {text.count(chr(10), 0, passage['start']) + 1}"
    for fact in data["facts"]:
        text = dirs.source_text(fact["source"])
        assert text[fact["start"] : fact["end"]] == fact["text"]
        assert fact["text"] in fact["sentence"]


def test_ask_json_follows_the_schema_and_offsets_point_at_the_text(cli: CLI, article_env: Dirs, ask_schema: dict) -> None:
    validator = Draft202012Validator(ask_schema)
    answered = 0
    for question in QUESTIONS:
        data = cli.json("ask", question)
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
        assert errors == [], (question, errors)
        assert data["question"] == question
        assert [p["rank"] for p in data["passages"]] == list(range(1, 6))
        scores = [p["score"] for p in data["passages"]]
        assert scores == sorted(scores, reverse=True)
        assert len({p["chunk_id"] for p in data["passages"]}) == 5
        check_spans(article_env, data)
        answered += data["answer"] is not None
    assert answered >= len(QUESTIONS) // 2, "most in-corpus questions should get an answer to check the offsets of"


def test_ask_top_k_sets_the_number_of_passages(cli: CLI, article_env: Dirs) -> None:
    for k in ("1", "3", "8"):
        data = cli.json("ask", "--top-k", k, QUESTIONS[0])
        assert len(data["passages"]) == int(k)


def test_ask_collapses_whitespace_in_the_question(cli: CLI, article_env: Dirs) -> None:
    data = cli.json("ask", "  How much cargo\tcan the Alat port\n handle now?  ")
    assert data["question"] == QUESTIONS[0]


def test_ask_human_output_cites_the_source_with_a_correct_line(cli: CLI, article_env: Dirs) -> None:
    result = cli("ask", QUESTIONS[0])
    assert result.stdout.startswith(("Answer:", "No answer:"))
    assert "Passages" in result.stdout
    text = article_env.source_text(ARTICLE_NAME)
    citations = re.findall(r"^\[(\d)\] (\S+), line (\d+), chars (\d+)–(\d+)", result.stdout, re.MULTILINE)
    assert [int(rank) for rank, *_ in citations] == [1, 2, 3, 4, 5]
    for _, source, line, start, end in citations:
        assert source == ARTICLE_NAME
        assert int(line) == text.count("\n", 0, int(start)) + 1
        assert text[int(start) : int(end)].split("\n")[0] in result.stdout


def test_batch_file_prints_one_json_object_per_question(cli: CLI, article_env: Dirs, tmp_path: Path, ask_schema: dict) -> None:
    questions = QUESTIONS[:3]
    path = tmp_path / "questions.txt"
    path.write_text(f"{questions[0]}\n\n   \n{questions[1]}\n{questions[2]}", encoding="utf-8")
    result = cli("ask", "--batch", str(path))
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["question"] for row in rows] == questions
    for row in rows:
        Draft202012Validator(ask_schema).validate(row)
        check_spans(article_env, row)


def test_batch_from_stdin_reports_a_bad_line_and_goes_on(cli: CLI, article_env: Dirs) -> None:
    stdin = f"{QUESTIONS[0]}\n\n{'x' * 3000}\n{QUESTIONS[1]}\n"
    result = cli("ask", "--batch", "-", input=stdin)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 3
    assert rows[0]["question"] == QUESTIONS[0] and rows[2]["question"] == QUESTIONS[1]
    assert "passages" in rows[0] and "passages" in rows[2]
    assert set(rows[1]) == {"question", "error"} and "characters" in rows[1]["error"]


def test_batch_with_a_missing_file_is_bad_input(cli: CLI, article_env: Dirs, tmp_path: Path) -> None:
    result = cli("ask", "--batch", str(tmp_path / "nope.txt"), exit_code=2)
    assert "nope.txt" in result.stderr and result.stderr.count("\n") == 1


PEOPLE = ["Ilham Aliyev", "Shavkat Mirziyoyev", "Kassym-Jomart Tokayev", "Orkhan Zeynalov"]
ORGANISATIONS = ["CESI", "CIS", "SCO", "EAEU"]
COUNTRIES = ["Azerbaijan", "Kazakhstan", "Uzbekistan", "Kyrgyzstan", "Tajikistan", "Turkmenistan", "China", "Russia"]


def test_entities_lists_people_organisations_and_countries(cli: CLI, article_env: Dirs) -> None:
    rows = cli.json("entities")
    labels = {(row["text"], row["label"]) for row in rows}
    for name in PEOPLE:
        assert (name, "PERSON") in labels
    for name in ORGANISATIONS:
        assert (name, "ORG") in labels
    for name in COUNTRIES:
        assert (name, "GPE") in labels
    for row in rows:
        assert row["count"] >= 1 and row["sources"] == [ARTICLE_NAME]
    counts = [row["count"] for row in rows]
    assert counts == sorted(counts, reverse=True)


@pytest.mark.parametrize("label", ["PERSON", "person"])
def test_entities_label_filter(cli: CLI, article_env: Dirs, label: str) -> None:
    rows = cli.json("entities", "--label", label)
    assert {row["label"] for row in rows} == {"PERSON"}
    assert set(PEOPLE) <= {row["text"] for row in rows}


def test_entities_source_filter(cli: CLI, article_env: Dirs) -> None:
    assert cli.json("entities", "--source", ARTICLE_NAME) == cli.json("entities")
    assert cli.json("entities", "--source", "other.txt") == []


def test_entities_human_output_is_a_table(cli: CLI, article_env: Dirs) -> None:
    result = cli("entities", "--label", "ORG")
    for name in ORGANISATIONS:
        assert re.search(rf"\b{name}\b", result.stdout)


def test_facts_normalise_money_and_tonnage(cli: CLI, article_env: Dirs) -> None:
    facts = cli.json("facts")
    text = article_env.source_text(ARTICLE_NAME)
    for fact in facts:
        assert text[fact["start"] : fact["end"]] == fact["text"]
        assert fact["text"] in fact["sentence"] and fact["source"] == ARTICLE_NAME
    money = [f for f in facts if f["text"] == "$773.9 million"]
    assert money and money[0]["label"] == "MONEY"
    assert money[0]["value"] == 773_900_000 and money[0]["unit"] == "USD" and money[0]["value_max"] is None
    tonnage = [f for f in facts if f["label"] == "QUANTITY" and f["value"] == 15_000_000 and f["value_max"] == 25_000_000]
    assert tonnage and tonnage[0]["unit"] == "t"
    assert "15" in tonnage[0]["text"] and "25 million tons" in tonnage[0]["text"]
    assert any(f["label"] == "PERCENT" and f["value"] == pytest.approx(0.172) and f["unit"] == "fraction" for f in facts)


def test_facts_filters(cli: CLI, article_env: Dirs) -> None:
    money = cli.json("facts", "--label", "money")
    assert money and {f["label"] for f in money} == {"MONEY"} and {f["unit"] for f in money} == {"USD"}
    assert cli.json("facts", "--source", "other.txt") == []
    result = cli("facts", "--label", "QUANTITY")
    assert "million tons" in result.stdout


def _command_paths() -> list[list[str]]:
    import typer.main

    from regionqa.cli import app

    paths: list[list[str]] = []

    def walk(command, prefix: list[str]) -> None:
        paths.append(prefix)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, prefix + [name])

    walk(typer.main.get_command(app), [])
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "regionqa")
def test_every_command_has_help(cli: CLI, path: list[str]) -> None:
    result = cli(*path, "--help")
    assert "Usage:" in result.stdout and "--help" in result.stdout


def test_the_command_tree_is_complete() -> None:
    names = {" ".join(p) for p in _command_paths()}
    assert {"ask", "entities", "facts", "eval", "index", "index build", "index add", "index remove", "index status"} <= names


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["ask", ""], ["question", "empty"]),
        (["ask", "   \t\n "], ["question", "empty"]),
        (["ask", "--top-k", "0", "What?"], ["--top-k", "got 0"]),
        (["ask", "--top-k", "-1", "What?"], ["--top-k", "got -1"]),
        (["ask", "--top-k", "101", "What?"], ["--top-k", "100"]),
        (["ask", "w" * 100_000], ["100,000 characters", "at most"]),
        (["ask"], ["QUESTION", "--batch"]),
        (["ask", "What?", "--batch", "-"], ["QUESTION", "--batch"]),
        (["index", "remove", "nope.txt"], ["nope.txt", "not in the corpus"]),
        (["index", "remove", "../outside.txt"], ["../outside.txt", "not a source name"]),
        (["eval"], ["QA_FILE", "--beir"]),
    ],
    ids=[
        "empty",
        "whitespace",
        "top-k 0",
        "top-k -1",
        "top-k 101",
        "100 kB",
        "no question",
        "both",
        "remove unknown",
        "remove outside",
        "eval nothing",
    ],
)
def test_bad_input_exits_2_with_one_line_on_stderr(cli: CLI, isolated_dirs: Dirs, args: list[str], words: list[str]) -> None:
    assert_one_line_error(cli(*args, exit_code=2), *words)
    assert not isolated_dirs.index_dir.exists(), "bad input must be refused before any index is built"


def test_ask_without_an_index_builds_it_first(cli: CLI, isolated_dirs: Dirs, article_index: Dirs) -> None:
    isolated_dirs.corpus_dir.mkdir()
    (isolated_dirs.corpus_dir / ARTICLE_NAME).write_bytes((article_index.corpus_dir / ARTICLE_NAME).read_bytes())
    result = cli("ask", "--json", QUESTIONS[0])
    assert "no index" in result.stderr and "building" in result.stderr
    assert (isolated_dirs.index_dir / "CURRENT").is_file()
    data = json.loads(result.stdout)
    assert data["passages"] and data["passages"][0]["source"] == ARTICLE_NAME
    assert "no index" not in cli("ask", "--json", QUESTIONS[0]).stderr  # built once, then reused


def test_ask_without_an_index_or_a_corpus_says_so(cli: CLI, isolated_dirs: Dirs) -> None:
    result = cli("ask", "What?", exit_code=2)
    assert str(isolated_dirs.corpus_dir) in result.stderr and "does not exist" in result.stderr


def _current_generation(dirs: Dirs) -> Path:
    return dirs.index_dir / (dirs.index_dir / "CURRENT").read_text(encoding="utf-8").strip()


@pytest.mark.parametrize("part", ["meta.sqlite", "vectors.faiss"])
def test_a_corrupted_index_exits_3_and_says_how_to_rebuild(cli: CLI, index_copy: Dirs, part: str) -> None:
    path = _current_generation(index_copy) / part
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    for args in (["ask", QUESTIONS[0]], ["entities"], ["facts", "--json"], ["index", "build"]):
        result = cli(*args, exit_code=3)
        assert "regionqa index build --full" in result.stderr, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and result.stdout == ""
    status = cli("index", "status", "--json", exit_code=3)
    assert "index build --full" in json.loads(status.stdout)["problem"]
    # The hint works: a full rebuild repairs the index.
    cli("index", "build", "--full")
    assert cli.json("ask", QUESTIONS[0])["passages"]


def test_an_index_pointing_at_a_missing_generation_exits_3(cli: CLI, index_copy: Dirs) -> None:
    (index_copy.index_dir / "CURRENT").write_text("gen-missing\n", encoding="utf-8")
    result = cli("ask", QUESTIONS[0], exit_code=3)
    assert "gen-missing" in result.stderr and "regionqa index build --full" in result.stderr


def test_version(cli: CLI) -> None:
    from regionqa import __version__

    assert cli("--version").stdout.strip() == f"regionqa {__version__}"


def _console_script() -> str:
    return str(Path(sys.executable).with_name("regionqa"))


def test_console_script_help_in_a_subprocess() -> None:
    done = subprocess.run([_console_script(), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout and "ask" in done.stdout and "index" in done.stdout


def test_console_script_bad_input_exit_code_in_a_subprocess(isolated_dirs: Dirs) -> None:
    done = subprocess.run([_console_script(), "ask", "  "], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stdout == "" and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_index_add_help_names_every_file_type_it_reads(cli: CLI) -> None:
    from regionqa.sources import SUPPORTED_SUFFIXES

    shown = set(re.findall(r"\.[a-z]+\b", " ".join(cli("index", "add", "--help").stdout.split())))
    assert SUPPORTED_SUFFIXES <= shown, sorted(SUPPORTED_SUFFIXES - shown)
