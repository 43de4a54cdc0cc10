"""Odd questions through the real CLI: other scripts, control characters, search syntax, odd --top-k.

Each gets a sensible answer (valid JSON, possibly "no answer") or a one-line message with exit 2,
never a traceback. (Empty, whitespace-only, 100 kB questions and --top-k 0/-1/101 are in test_cli.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from conftest import CLI, Dirs, assert_one_line_error

ANSWERED = {
    "Cyrillic": "Кто является президентом Казахстана?",
    "Chinese": "哈萨克斯坦的总统是谁？",
    "Arabic": "من هو رئيس كازاخستان؟",
    "mixed scripts": "Who is the Президент of Kazakhstan?",
    "right-to-left marks": "\u200fWho is the President of Kazakhstan?\u200e",
    "emoji": "🚢 How much cargo can the Alat port handle now? 🚢",
    "search syntax": 'NEAR(Alat port) AND "OR" NOT * ^ Kazakhstan:',
    "quotes and brackets": "What is “Central Asia’s Renaissance” (the article) [by Tokayev]?",
    "punctuation only": "?!?...",
    "stop words only": "the of and a to",
    "one letter": "a",
    "digits only": "2024",
    "combining marks": "Wh\u0301o\u0308 is the Pre\u0301sident?",
    "near the length limit": " ".join(["Kazakhstan"] * 180),
}


@pytest.mark.parametrize("question", ANSWERED.values(), ids=list(ANSWERED))
def test_odd_questions_get_a_valid_answer_or_a_reasoned_abstention(cli: CLI, article_env: Dirs, ask_schema: dict, question: str) -> None:
    data = cli.json("ask", question)
    Draft202012Validator(ask_schema).validate(data)
    assert data["answer"] is not None or data["message"]
    text = article_env.source_text(data["passages"][0]["source"]) if data["passages"] else ""
    for passage in data["passages"]:
        assert text[passage["start"] : passage["end"]] == passage["text"]


def test_control_characters_are_cleaned_out_of_the_question(cli: CLI, article_env: Dirs) -> None:
    data = cli.json("ask", "Who is the\x00 President\x07 of\x1b[31m Kazakhstan?\x7f\u2028")
    assert data["question"] == "Who is the President of [31m Kazakhstan?"
    assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in data["question"])
    human = cli("ask", "\x1b]0;title\x07Who is the President of Kazakhstan?")
    assert "\x1b" not in human.stdout.split("\n", 1)[0]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["ask", "\x00\x01\x02\x1b"], ["question", "empty"]),
        (["ask", "\u200b\u200b\u2060"], ["question", "empty"]),  # zero-width characters only
        (["ask", "总" * 2001], ["2,001 characters", "at most 2,000"]),
        (["ask", "--top-k", str(10**30), "What?"], ["--top-k", "between 1 and 100"]),
        (["ask", "--top-k", "-100000", "What?"], ["--top-k", "got -100000"]),
        (["ask"], ["give a QUESTION", "--batch FILE"]),
        (["ask", "What?", "--batch", "-"], ["either a QUESTION or --batch FILE, not both"]),
    ],
    ids=["control characters only", "zero-width only", "2,001 Chinese characters", "top-k 10^30", "top-k very negative", "nothing", "both"],
)
def test_bad_questions_exit_2_with_one_line(cli: CLI, article_env: Dirs, args: list[str], words: list[str]) -> None:
    assert_one_line_error(cli(*args, exit_code=2), *words)


@pytest.mark.parametrize("value", ["abc", "1.5", ""])
def test_a_top_k_that_is_not_a_number_is_a_usage_error(cli: CLI, article_env: Dirs, value: str) -> None:
    result = cli("ask", "--top-k", value, "What?", exit_code=2)
    message = " ".join(result.stderr.translate(str.maketrans("", "", "│╭╮╰╯─")).split())  # Typer draws a box
    assert "Invalid value for '--top-k'" in message and "int" in message  # "integer" or "int", by Typer version


def test_a_batch_of_odd_questions_answers_every_line(cli: CLI, article_env: Dirs) -> None:
    lines = list(ANSWERED.values())[:6] + ["\x00\x01", "x" * 3000]
    result = cli("ask", "--batch", "-", input="\n".join(lines) + "\n")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == len(lines)
    assert all("passages" in row for row in rows[:6])
    assert "empty" in rows[6]["error"] and "characters" in rows[7]["error"]


def test_a_batch_file_with_bytes_that_are_not_utf8_answers_every_line(cli: CLI, article_env: Dirs, tmp_path: Path) -> None:
    path = tmp_path / "questions.txt"
    path.write_bytes(b"Who is the President of Azerbaijan?\n\xff\xfe\n\xe9t\xe9 Baku port?\n")
    rows = [json.loads(line) for line in cli("ask", "--batch", str(path)).stdout.splitlines()]
    assert len(rows) == 3
    assert rows[0]["answer"]["text"] == "Ilham Aliyev"
    assert "empty" in rows[1]["error"] and "passages" in rows[2]


@pytest.mark.parametrize("option", ["--source", "--label"])
@pytest.mark.parametrize("command", ["entities", "facts"])
def test_a_filter_that_is_not_utf8_is_a_one_line_error(cli: CLI, article_env: Dirs, command: str, option: str) -> None:
    result = cli(command, option, "caf\udce9", exit_code=2)  # how Python hands over the byte 0xE9 of argv
    assert result.stderr.lower().startswith(f"error: {option} 'caf\ufffd' is not valid utf-8") and result.stderr.count("\n") == 1


def test_a_batch_of_no_questions_or_of_binary_data_is_one_line(cli: CLI, article_env: Dirs, tmp_path: Path) -> None:
    empty, image = tmp_path / "empty.txt", tmp_path / "photo.jpg"
    empty.write_text("\n   \n", encoding="utf-8")
    image.write_bytes(bytes(range(256)) * 20)  # each of its "lines" would be asked
    assert_one_line_error(cli("ask", "--batch", str(empty), exit_code=2), "empty.txt", "no question in the file")
    assert_one_line_error(cli("ask", "--batch", str(image), exit_code=2), "photo.jpg", "binary")
    assert_one_line_error(cli("ask", "--batch", "-", input="\n\n", exit_code=2), "no question in the batch")
