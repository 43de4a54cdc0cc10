"""Every --json output, produced by the real CLI on the article index, against its JSON Schema in schemas/."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from conftest import CLI, CORPUS_DIR_ENV, INDEX_DIR_ENV, REPO, Dirs
from test_beir import write_beir

SCHEMAS = REPO / "schemas"
QA_LINES = [
    {
        "id": "q1",
        "question": "How much cargo can the Alat port handle now?",
        "answers": ["25 million tons"],
        "evidence": "from 15 to 25 million tons",
    },
    {"id": "q2", "question": "What is the boiling point of mercury on Mars?", "answers": [], "evidence": None},
]


def load_schemas() -> dict[str, dict]:
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(SCHEMAS.glob("*.schema.json"))}


@pytest.fixture(scope="module")
def registry() -> Registry:
    """All schemas by their $id, so that one can $ref another (index-add refers to index-build)."""
    return Registry().with_resources((schema["$id"], Resource.from_contents(schema)) for schema in load_schemas().values())


def run_ask(cli: CLI, dirs: Dirs, tmp_path: Path):
    return cli("ask", "--json", QA_LINES[0]["question"])


def run_entities(cli, dirs, tmp_path):
    return cli("entities", "--json")


def run_facts(cli, dirs, tmp_path):
    return cli("facts", "--json")


def run_status(cli, dirs, tmp_path):
    return cli("index", "status", "--json")


def run_build(cli, dirs, tmp_path):
    return cli("index", "build", "--json")


def new_file(tmp_path: Path) -> Path:
    path = tmp_path / "incoming" / "port.txt"
    path.parent.mkdir()
    path.write_text("The Zarvonsk port handled 42 million tons of cargo in 2031.\n", encoding="utf-8")
    return path


def run_add(cli, dirs, tmp_path):
    return cli("index", "add", "--json", str(new_file(tmp_path)))


def run_remove(cli, dirs, tmp_path):
    cli("index", "add", str(new_file(tmp_path)))
    return cli("index", "remove", "--json", "port.txt")


def run_eval_qa(cli, dirs, tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in QA_LINES), encoding="utf-8")
    return cli("eval", "--json", str(path))


def run_eval_beir(cli, dirs, tmp_path):
    return cli("--index-dir", str(tmp_path / "beir-index"), "eval", "--json", "--beir", str(write_beir(tmp_path / "tiny")))


def run_doctor(cli, dirs, tmp_path):
    return cli("doctor", "--json", exit_code=None)


# (schema, how to run the command, whether it changes the index: then it runs on a private copy)
CASES: list[tuple[str, Callable, bool]] = [
    ("ask.schema.json", run_ask, False),
    ("entities.schema.json", run_entities, False),
    ("facts.schema.json", run_facts, False),
    ("index-status.schema.json", run_status, False),
    ("index-build.schema.json", run_build, True),
    ("index-add.schema.json", run_add, True),
    ("index-build.schema.json", run_remove, True),
    ("eval-qa.schema.json", run_eval_qa, False),
    ("eval-beir.schema.json", run_eval_beir, False),
    ("doctor.schema.json", run_doctor, False),
]


@pytest.mark.parametrize(("schema_name", "run", "writes"), CASES, ids=[case[1].__name__.removeprefix("run_") for case in CASES])
def test_json_output_follows_its_schema(
    cli: CLI,
    article_index: Dirs,
    isolated_dirs: Dirs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    registry: Registry,
    schema_name: str,
    run,
    writes: bool,
) -> None:
    if writes:
        shutil.copytree(article_index.corpus_dir, isolated_dirs.corpus_dir)
        shutil.copytree(article_index.index_dir, isolated_dirs.index_dir, ignore=shutil.ignore_patterns(".lock"))
        dirs = isolated_dirs
    else:
        dirs = article_index
    monkeypatch.setenv(INDEX_DIR_ENV, str(dirs.index_dir))
    monkeypatch.setenv(CORPUS_DIR_ENV, str(dirs.corpus_dir))
    result = run(cli, dirs, tmp_path)
    data = json.loads(result.stdout)
    validator = Draft202012Validator(load_schemas()[schema_name], registry=registry)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]
    assert errors == [], errors


def test_every_schema_is_valid_and_checked_against_a_command() -> None:
    schemas = load_schemas()
    for name, schema in schemas.items():
        Draft202012Validator.check_schema(schema)
        assert schema["$id"].endswith("/" + name), name
    assert set(schemas) == {case[0] for case in CASES}, "a schema without a test, or a test without a schema"
